package acl

import (
	"fmt"
	"path/filepath"

	"github.com/ainfonce/goacl/acl/pretrain"

	"github.com/ainfonce/goacl/acl/rundir"

	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/engine"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// RunModel is the trained model of a pretraining run (encoder and projection head,
// restored from the run's newest checkpoint) with the run's configuration and data: what
// notebooks analyse and attack. Only the RoCL family is supported so far; other methods'
// runs are refused with an error.
type RunModel struct {
	RunDir     string
	Config     pretrain.Config
	Encoder    layers.Encoder
	Checkpoint *rundir.Checkpoint

	backend backends.Backend
	ctx     *context.Context
	method  pretrain.Method
	splits  map[datasets.Split]*datasets.Dataset
}

// RunConfig reads the pretraining configuration (config.json) of a run directory.
func RunConfig(runDir string) (*pretrain.Config, error) {
	run, err := rundir.Open(runDir)
	if err != nil {
		return nil, err
	}
	var cfg pretrain.Config
	if err := run.ReadJSON(rundir.ConfigFile, &cfg); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// RunEncoder returns the encoder a pretraining run trained, built by EncoderFor from the
// run's recorded configuration (config.json: architecture, width and input
// normalisation), with that configuration. Everything that reloads a run's checkpoint
// builds its encoder here, because the input normalisation has no variables and so is
// not in the checkpoint: an ACL or DynACL run (input_norm "imagenet") normalises its [0,1]
// input per channel with the ImageNet mean/std inside the model, as the official ACL and
// DynACL models do (their first layer, NormalizeByChannelMeanStd in
// models/resnet_multi_bn.py, the ACL source of spec §4.3; see InputNormImageNet), while
// RoCL and AdvCL runs see the pixels as they are (spec §6). Evaluating an ACL encoder on
// un-normalised pixels would measure a different model from the one trained.
func RunEncoder(runDir string) (layers.Encoder, *pretrain.Config, error) {
	cfg, err := pretrain.ReadConfig(runDir)
	if err != nil {
		return nil, nil, err
	}
	enc, err := pretrain.EncoderFor(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", filepath.Join(runDir, rundir.ConfigFile), err)
	}
	return enc, cfg, nil
}

// LoadRunModel restores the newest checkpoint of runDir into a fresh context, with the
// run's encoder as RunEncoder builds it (input normalisation included). backend nil means
// engine.New().
func LoadRunModel(backend backends.Backend, runDir string) (*RunModel, error) {
	enc, cfgp, err := RunEncoder(runDir)
	if err != nil {
		return nil, err
	}
	cfg := *cfgp
	method, err := pretrain.MethodByName(cfg.Method)
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", runDir, err)
	}
	if cfg.Method != "rocl" {
		return nil, fmt.Errorf("run %s: analysing %s runs is not supported yet (RoCL runs only)", runDir, cfg.Method)
	}
	ckpt, _, err := rundir.LatestCheckpoint(filepath.Join(runDir, rundir.CheckpointsDir))
	if err != nil {
		return nil, fmt.Errorf("run %s: %w", runDir, err)
	}
	ctx := context.New().Checked(false)
	if err := ckpt.Restore(ctx, rundir.RestoreOptions{}); err != nil {
		return nil, err
	}
	if backend == nil {
		if backend, err = engine.New(); err != nil {
			return nil, err
		}
	}
	return &RunModel{RunDir: runDir, Config: cfg, Encoder: enc, Checkpoint: ckpt, backend: backend, ctx: ctx,
		method: method, splits: map[datasets.Split]*datasets.Dataset{}}, nil
}

// Split returns the train or test split of the run's data set (loaded once).
func (m *RunModel) Split(split datasets.Split) (*datasets.Dataset, error) {
	if ds, ok := m.splits[split]; ok {
		return ds, nil
	}
	var ds *datasets.Dataset
	var err error
	switch m.Config.Dataset {
	case datasets.CIFAR10:
		ds, err = datasets.LoadCIFAR10Split(m.Config.DataDir, split)
	case datasets.CIFAR100:
		ds, err = datasets.LoadCIFAR100Split(m.Config.DataDir, split)
	default:
		err = fmt.Errorf("run %s: data set %q: want %s or %s", m.RunDir, m.Config.Dataset, datasets.CIFAR10, datasets.CIFAR100)
	}
	if err != nil {
		return nil, err
	}
	m.splits[split] = ds
	return ds, nil
}

// ViewBatch returns n images of a split (a seeded random subset) with the method's
// training views, as the loader makes them (for RoCL: "ori", "x1", "x2").
func (m *RunModel) ViewBatch(split datasets.Split, n int, seed uint64) (*datasets.Batch, error) {
	ds, err := m.Split(split)
	if err != nil {
		return nil, err
	}
	if n < 2 || n > ds.Len() {
		return nil, fmt.Errorf("view batch: n = %d: want 2 ≤ n ≤ %d", n, ds.Len())
	}
	views := m.method.Inputs(&m.Config, 0).Views
	return SampleViews(ds, views, n, seed)
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

// BatchView returns the view called name of a batch.
func BatchView(b *datasets.Batch, name string) (datasets.ViewBatch, error) {
	for _, v := range b.Views {
		if v.Name == name {
			return v, nil
		}
	}
	names := make([]string, len(b.Views))
	for i, v := range b.Views {
		names[i] = v.Name
	}
	return datasets.ViewBatch{}, fmt.Errorf("batch has no view %q (views: %v)", name, names)
}

// embed is the method's projection of a batch of images (RoCL: encoder + RoCL projector).
func (m *RunModel) embed(ctx *context.Context, x *graph.Node) *graph.Node {
	return pretrain.RoCLEmbed(ctx, m.Encoder, x)
}

// viewTensor turns a view batch into an [N,H,W,C] tensor.
func viewTensor(v datasets.ViewBatch) *tensors.Tensor {
	return tensors.FromFlatDataAndDimensions(v.Data, v.N, v.H, v.W, v.C)
}
