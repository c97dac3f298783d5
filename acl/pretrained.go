package acl

import (
	"fmt"

	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/datasets"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Pretrained is the trained model of a pretraining run — encoder and projection head,
// every variable of the run's newest checkpoint (finetune.Load with All) — with the run's
// configuration and data: what the notebooks analyse and attack (InstanceAttack,
// EpsilonStudy, PairFeatures). Only RoCL runs are supported so far; other methods' runs
// are refused with an error.
type Pretrained struct {
	*finetune.Model
	method pretrain.Method
	splits map[datasets.Split]*datasets.Dataset
}

// LoadPretrained loads the pretrained model of a RoCL run (backend nil: engine.New()).
func LoadPretrained(backend backends.Backend, runDir string) (*Pretrained, error) {
	m, err := finetune.Load(backend, runDir, finetune.LoadOptions{All: true})
	if err != nil {
		return nil, err
	}
	method, err := pretrain.MethodByName(m.Config.Method)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", runDir, err)
	}
	if _, ok := method.(pretrain.RoCL); !ok {
		return nil, fmt.Errorf("run %s: analysing %s runs is not supported yet (RoCL runs only)", runDir, m.Config.Method)
	}
	return &Pretrained{Model: m, method: method, splits: map[datasets.Split]*datasets.Dataset{}}, nil
}

// Split returns the train or test split of the run's data set (loaded once).
func (p *Pretrained) Split(split datasets.Split) (*datasets.Dataset, error) {
	if ds, ok := p.splits[split]; ok {
		return ds, nil
	}
	data, err := p.Data()
	if err != nil {
		return nil, err
	}
	ds, err := datasets.LoadSplit(p.Config.Dataset, data.Dir, split)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", p.RunDir, err)
	}
	p.splits[split] = ds
	return ds, nil
}

// ViewBatch returns n images of a split (a seeded random subset) with the method's
// training views, as the loader makes them (for RoCL: "ori", "x1", "x2").
func (p *Pretrained) ViewBatch(split datasets.Split, n int, seed uint64) (*datasets.Batch, error) {
	ds, err := p.Split(split)
	if err != nil {
		return nil, err
	}
	if n < 2 || n > ds.Len() {
		return nil, fmt.Errorf("view batch: n = %d: want 2 ≤ n ≤ %d", n, ds.Len())
	}
	return SampleViews(ds, p.method.Inputs(p.Config, 0).Views, n, seed)
}

// SampleViews returns one batch of n images of ds (a seeded random subset, n ≤ ds.Len())
// with the given views, exactly as the training loader makes them.
func SampleViews(ds *datasets.Dataset, views []datasets.View, n int, seed uint64) (*datasets.Batch, error) {
	if n < 1 || n > ds.Len() {
		return nil, fmt.Errorf("sample views: n = %d: want 1 ≤ n ≤ %d", n, ds.Len())
	}
	loader, err := datasets.NewLoader(ds.Subset(n, seed), views, datasets.LoaderConfig{BatchSize: n, Seed: seed, Workers: 1})
	if err != nil {
		return nil, err
	}
	return loader.Batch(0, 0)
}

// embed is the method's projection of a batch of images (RoCL: encoder + RoCL projector).
func (p *Pretrained) embed(ctx *context.Context, x *graph.Node) *graph.Node {
	return pretrain.RoCLEmbed(ctx, p.Encoder, x)
}
