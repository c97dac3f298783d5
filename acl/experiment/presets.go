package experiment

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/datasets"
)

// The presets' names (Preset).
const (
	// PresetQuickstart is the README's main job: one RoCL-IP pretraining beside the
	// random encoder, a few minutes on two cores.
	PresetQuickstart = "quickstart"
	// PresetSmoke is what the notebooks run in CI: every kind of row at toy size, two
	// seeds, in about a minute.
	PresetSmoke = "smoke"
	// PresetCPUAblation is the CPU-scale ablation: RoCL and AdvCL × {base, IP}, the two
	// baselines, 3 seeds, about two hours on two cores (docs/results/cpu-ablation).
	PresetCPUAblation = "cpu-ablation"
	// PresetCPUAblationDryRun is the CPU-scale ablation's every piece at toy size: run it
	// before the full one to know it will not fail late.
	PresetCPUAblationDryRun = "cpu-ablation-dryrun"
	// PresetGPUSlice is the same rows on the whole CIFAR-10 with ResNet-18 width 64, for
	// as many epochs as fit in about 8 minutes of one GPU (scripts/gpu-slice.sh sets
	// them).
	PresetGPUSlice = "gpu-slice"
)

// ablationRows are the rows of the CPU ablation and the GPU slice.
func ablationRows() []Row {
	return []Row{MethodRow("rocl", "base"), MethodRow("rocl", "ip"), MethodRow("advcl", "base"), MethodRow("advcl", "ip"), RandomRow(), SupervisedRow()}
}

// slf is SLF with the AdvCL protocol (every row's RA measured alike), the last epoch
// reported, finetuning seed 1.
func slf(epochs, batch, train, test, evalBatch int) Eval {
	return Eval{Modes: []finetune.Mode{finetune.SLF}, Protocol: finetune.ProtocolAdvCL, Epochs: epochs, BatchSize: batch,
		TrainSubset: train, TestSubset: test, EvalBatch: evalBatch, Selection: finetune.SelectLast, Seed: 1}
}

// presets builds each preset's plan.
var presets = map[string]func() Plan{
	PresetQuickstart: func() Plan {
		p := Plan{Name: PresetQuickstart, Title: "Does a short adversarial contrastive pretraining learn? (quickstart)",
			Purpose: "The README's first command: a few minutes of RoCL-IP pretraining on two CPU cores, measured beside the same encoder as initialised. " +
				"At this tiny scale only the gap to the random encoder means something; the paper's numbers need a GPU (docs/gpu.md).",
			Rows: []Row{RandomRow(), MethodRow("rocl", "ip")}, Seeds: []uint64{1}, Dataset: datasets.CIFAR10,
			Scale: pretrain.Scale{Encoder: "resnet18", Width: 16, Subset: 2000, Epochs: 3, BatchSize: 64, LogEvery: 10, KNN: pretrain.DefaultKNN(1, 1000)},
			Eval:  slf(5, 256, 5000, 1000, 250)}
		return p
	},
	PresetSmoke: func() Plan {
		p := Plan{Name: PresetSmoke, Title: "The evidence pipeline at smoke scale",
			Purpose: "What CI runs: every kind of row (pretraining, variant, both baselines) at toy size with two seeds. Its numbers only show that the pipeline works.",
			Rows:    []Row{MethodRow("rocl", "base"), MethodRow("rocl", "ip"), RandomRow(), SupervisedRow()}, Seeds: []uint64{1, 2},
			Dataset: datasets.CIFAR10,
			Scale:   pretrain.Scale{Encoder: "smallcnn", Width: 8, Subset: 256, Epochs: 1, BatchSize: 32, LogEvery: 4, KNN: pretrain.DefaultKNN(1, 200)},
			Eval:    slf(1, 64, 256, 200, 100)}
		p.Eval.AutoAttack, p.Eval.AutoAttackImages, p.Eval.AutoAttackSeeds = attack.AutoAttackStandardPreset, 32, 1
		return p
	},
	PresetCPUAblation:       cpuAblation,
	PresetCPUAblationDryRun: cpuAblationDryRun,
	PresetGPUSlice: func() Plan {
		p := cpuAblation()
		p.Name, p.Title = PresetGPUSlice, "A-InfoNCE ablation, GPU slice: RoCL and AdvCL × {base, IP} on all of CIFAR-10"
		p.Purpose = "The CPU ablation's rows on the whole CIFAR-10 training split with the paper's encoder (ResNet-18 width 64, batch 512), for as many epochs as fit in about 8 minutes of one GPU (scripts/gpu-slice.sh measures the step and sets them). " +
			"Still a slice: the paper trains 400–1000 epochs."
		p.Scale = pretrain.Scale{Encoder: "resnet18", Width: 64, Subset: 0, Epochs: 1, BatchSize: 512, LogEvery: 10, KNN: pretrain.DefaultKNN(1, 2000)}
		p.Eval = slf(10, 512, 0, 2000, 500)
		p.Eval.AutoAttack, p.Eval.AutoAttackImages, p.Eval.AutoAttackSeeds = attack.AutoAttackStandardPreset, 500, 1
		return p
	},
}

// Presets lists the preset names, sorted.
func Presets() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Preset returns the plan of a preset (Presets).
func Preset(name string) (Plan, error) {
	f, ok := presets[name]
	if !ok {
		return Plan{}, fmt.Errorf("experiment preset %q unknown: use one of %s", name, strings.Join(Presets(), ", "))
	}
	return f(), nil
}

// Overrides change a preset's plan from the command line: each field set (> 0, or
// non-empty) replaces the plan's.
type Overrides struct {
	// Epochs of pretraining; Subset training images (-1: all); Seeds the number of seeds
	// (1, 2, …); Rows the names of the rows kept, in the plan's order.
	Epochs, Subset, Seeds int
	Rows                  []string
	// Width and BatchSize of the pretraining; EvalTrain, EvalTest and AutoAttackImages the
	// finetunings' training and test images and AutoAttack's images (scripts shrink a plan
	// with them for a dry run).
	Width, BatchSize, EvalTrain, EvalTest, AutoAttackImages int
	// Note is appended to the plan's purpose (e.g. which data a machine had).
	Note string
}

// Apply changes p by o; an unknown row name is an error.
func (o Overrides) Apply(p *Plan) error {
	for _, kv := range []struct {
		dst *int
		v   int
	}{{&p.Scale.Epochs, o.Epochs}, {&p.Scale.Width, o.Width}, {&p.Scale.BatchSize, o.BatchSize},
		{&p.Eval.TrainSubset, o.EvalTrain}, {&p.Eval.TestSubset, o.EvalTest}, {&p.Eval.AutoAttackImages, o.AutoAttackImages}} {
		if kv.v > 0 {
			*kv.dst = kv.v
		}
	}
	if o.Note != "" {
		p.Purpose += " " + o.Note
	}
	if o.Subset > 0 {
		p.Scale.Subset = o.Subset
	} else if o.Subset < 0 {
		p.Scale.Subset = 0
	}
	if o.Seeds > 0 {
		p.Seeds = p.Seeds[:0]
		for s := 1; s <= o.Seeds; s++ {
			p.Seeds = append(p.Seeds, uint64(s))
		}
	}
	if len(o.Rows) > 0 {
		var kept []Row
		for _, r := range p.Rows {
			for _, name := range o.Rows {
				if r.Name == name {
					kept = append(kept, r)
				}
			}
		}
		if len(kept) != len(o.Rows) {
			names := make([]string, len(p.Rows))
			for i, r := range p.Rows {
				names[i] = r.Name
			}
			return fmt.Errorf("rows %v: plan %s has rows %s", o.Rows, p.Name, strings.Join(names, ", "))
		}
		p.Rows = kept
	}
	return nil
}
