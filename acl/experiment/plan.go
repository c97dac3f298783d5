// Package experiment runs the evidence that pretraining learns: a Plan of rows (method ×
// variant pretrainings, and the two baselines that frame them: the encoder as initialised
// and a supervised adversarially trained one of the same size and budget) × seeds, each
// row pretrained with the kNN monitor, finetuned with the same protocol (SLF, optionally
// ALF) and attacked (PGD-20 in the finetuning, AutoAttack on one seed per row), every piece
// in a run directory and skipped when a rerun finds it finished (Run); then a report
// generated from those run directories alone (Collect, Results.WriteReport): means with
// 95% t-intervals over seeds, paired differences of the variants against base, the kNN
// curves, wall and CPU time per row, the machine, its load and the exact commands.
//
// The presets (Presets) are the README's main job (quickstart), the notebooks' smoke run,
// the CPU-scale ablation two cores finish in about two hours (cpu-ablation) and its dry
// run at toy size (cpu-ablation-dryrun), and the GPU slice (gpu-slice).
package experiment

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/datasets"
)

// Baselines a Row can be.
const (
	// RandomInit is the encoder as initialised (a pretraining of 0 epochs, RoCL's
	// single-BN architecture): "nothing learned".
	RandomInit = "random-init"
	// SupervisedAT is the supervised adversarially trained encoder (pretrain.Supervised,
	// PGD-AT): "labels used".
	SupervisedAT = "supervised"
)

// Row is one line of an experiment: a pretraining method and variant, or a baseline.
type Row struct {
	// Name is the row's folder under the runs folder, e.g. "rocl-ip", "random-init".
	Name string `json:"name"`
	// Label is how tables name the row, e.g. "RoCL IP", "random encoder (baseline)".
	Label string `json:"label"`
	// Method and Variant are the pretraining's (pretrain.MethodNames, its Variants).
	Method  string `json:"method"`
	Variant string `json:"variant"`
	// Baseline is RandomInit, SupervisedAT or "" for a contrastive pretraining.
	Baseline string `json:"baseline,omitempty"`
}

// MethodRow is the row of a contrastive method and variant ("rocl-ip", "RoCL IP").
func MethodRow(method, variant string) Row {
	label := map[string]string{"rocl": "RoCL", "advcl": "AdvCL", "acl": "ACL-DS", "dynacl": "DynACL"}[method]
	if label == "" {
		label = method
	}
	v := strings.ToUpper(variant)
	if variant == "base" {
		v = "base"
	}
	return Row{Name: method + "-" + variant, Label: label + " " + v, Method: method, Variant: variant}
}

// RandomRow is the random-encoder baseline: RoCL's encoder as initialised (0 epochs).
func RandomRow() Row {
	return Row{Name: RandomInit, Label: "random encoder (baseline)", Method: "rocl", Variant: "base", Baseline: RandomInit}
}

// SupervisedRow is the supervised adversarial training baseline (PGD-AT).
func SupervisedRow() Row {
	return Row{Name: "pgd-at", Label: "supervised PGD-AT (baseline)", Method: "supervised", Variant: "base", Baseline: SupervisedAT}
}

// Eval is how every row's encoder is measured, the same for all rows.
type Eval struct {
	// Modes are the finetunings (finetune.SLF; finetune.ALF where time allows), Protocol
	// the finetuning protocol of every row (finetune.ProtocolAdvCL: PGD-20 at ε 8/255,
	// step 2/255, so that every row's RA is measured alike).
	Modes    []finetune.Mode `json:"modes"`
	Protocol string          `json:"protocol"`
	// Epochs (LR milestones scaled with them), BatchSize, TrainSubset, TestSubset and
	// EvalBatch replace the protocol's values when > 0; ValSize always does (0: no
	// validation split, for plans that report the last epoch); Selection is the epoch
	// selection; Seed the finetunings' seed (one for every row and pretraining seed: the
	// same test images, head initialisation and data order, so that the spread over seeds
	// is the pretraining's).
	Epochs      int                `json:"epochs"`
	BatchSize   int                `json:"batch_size"`
	TrainSubset int                `json:"train_subset"`
	ValSize     int                `json:"val_size"`
	TestSubset  int                `json:"test_subset"`
	EvalBatch   int                `json:"eval_batch"`
	Selection   finetune.Selection `json:"selection"`
	Seed        uint64             `json:"seed"`
	// AutoAttack is the AutoAttack preset run on the SLF classifier of the first
	// AutoAttackSeeds seeds of every row ("" or 0 seeds: none), on AutoAttackImages test
	// images (the first of the same seeded draw as TestSubset).
	AutoAttack       string `json:"autoattack,omitempty"`
	AutoAttackImages int    `json:"autoattack_images,omitempty"`
	AutoAttackSeeds  int    `json:"autoattack_seeds,omitempty"`
}

// Plan is an experiment: rows × seeds on one data set at one scale, measured alike.
type Plan struct {
	// Name is the preset's name, Title the report's heading and Purpose one sentence on
	// what the plan is for.
	Name    string `json:"name"`
	Title   string `json:"title"`
	Purpose string `json:"purpose"`
	// Rows are the pretrainings and baselines, Seeds the pretraining seeds of each.
	Rows  []Row    `json:"rows"`
	Seeds []uint64 `json:"seeds"`
	// Dataset is the data set, Scale the pretraining's scale knobs (the kNN monitor
	// included) and AttackSteps, when > 0, the pretraining attack's steps (toy plans only:
	// the official counts otherwise).
	Dataset     string         `json:"dataset"`
	Scale       pretrain.Scale `json:"scale"`
	AttackSteps int            `json:"attack_steps,omitempty"`
	// Eval is the measurement of every row.
	Eval Eval `json:"eval"`
}

// Validate checks the plan before any work: rows with unique names, methods and variants
// that exist, at least one seed, a valid scale and evaluation.
func (p *Plan) Validate() error {
	if p.Name == "" || len(p.Rows) == 0 || len(p.Seeds) == 0 {
		return fmt.Errorf("experiment plan %q: needs a name, rows and seeds", p.Name)
	}
	seen := map[string]bool{}
	for _, r := range p.Rows {
		if r.Name == "" || strings.ContainsAny(r.Name, `/\ `) || seen[r.Name] {
			return fmt.Errorf("experiment plan %s: row name %q is empty, has a path separator or repeats", p.Name, r.Name)
		}
		seen[r.Name] = true
		m, err := pretrain.MethodByName(r.Method)
		if err != nil {
			return fmt.Errorf("experiment plan %s, row %s: %w", p.Name, r.Name, err)
		}
		if !slices.Contains(m.Variants(), r.Variant) {
			return fmt.Errorf("experiment plan %s, row %s: method %s has no variant %q", p.Name, r.Name, r.Method, r.Variant)
		}
	}
	if p.Scale.Epochs < 1 || p.Scale.BatchSize < 2 {
		return fmt.Errorf("experiment plan %s: %d epochs of batch %d: want ≥ 1 epoch of batch ≥ 2", p.Name, p.Scale.Epochs, p.Scale.BatchSize)
	}
	if len(p.Eval.Modes) == 0 {
		return fmt.Errorf("experiment plan %s: no finetuning mode", p.Name)
	}
	for _, m := range p.Eval.Modes {
		if _, err := finetune.ParseMode(string(m)); err != nil {
			return fmt.Errorf("experiment plan %s: %w", p.Name, err)
		}
	}
	if p.Eval.AutoAttack != "" {
		if _, err := attack.AutoAttackName(p.Eval.AutoAttack); err != nil {
			return fmt.Errorf("experiment plan %s: %w", p.Name, err)
		}
	}
	return nil
}

// RunDir is the run directory of row at seed under the runs folder runs.
func RunDir(runs string, row Row, seed uint64) string {
	return filepath.Join(runs, row.Name, fmt.Sprintf("seed-%d", seed))
}

// PretrainConfig is the pretraining of row at seed: the method's official setting shrunk
// to the plan's scale (pretrain.ScaledPreset), the seed, AdvCL's pseudo labels from
// pseudoDir when given, and 0 epochs for the random-encoder baseline.
func (p *Plan) PretrainConfig(row Row, seed uint64, dataDir, pseudoDir string) (pretrain.Config, error) {
	scale := p.Scale
	cfg, err := pretrain.ScaledPreset(row.Method, row.Variant, p.Dataset, dataDir, &scale)
	if err != nil {
		return cfg, err
	}
	cfg.Preset = "experiment " + p.Name
	cfg.Seed = seed
	if p.AttackSteps > 0 {
		cfg.Attack.Steps = p.AttackSteps
	}
	if pseudoDir != "" && row.Method == "advcl" {
		cfg.PseudoLabelDir = pseudoDir
	}
	if row.Baseline == RandomInit {
		cfg.Epochs = 0
	}
	return cfg, cfg.Validate()
}

// FinetuneConfig is the finetuning of mode of the pretraining pre: the plan's protocol
// with the plan's sizes, selection and seed.
func (p *Plan) FinetuneConfig(pre *pretrain.Config, mode finetune.Mode) (finetune.Config, error) {
	e := p.Eval
	c, err := finetune.DefaultConfig(pre, mode, e.Protocol)
	if err != nil {
		return c, err
	}
	c.Resize(finetune.Sizes{Epochs: e.Epochs, BatchSize: e.BatchSize, TrainSubset: e.TrainSubset,
		TestSubset: e.TestSubset, EvalBatch: e.EvalBatch})
	c.ValSize = e.ValSize // 0 too (Eval.ValSize)
	if e.Selection != "" {
		c.Selection = e.Selection
	}
	c.Seed = e.Seed
	return c, c.Validate()
}

// Describe is one sentence on the plan's scale, for reports.
func (p *Plan) Describe() string {
	s := p.Scale
	images := "all"
	if s.Subset > 0 {
		images = fmt.Sprintf("%d", s.Subset)
	}
	enc := s.Encoder
	if enc == "resnet18" {
		enc = "ResNet-18"
	}
	modes := make([]string, len(p.Eval.Modes))
	for i, m := range p.Eval.Modes {
		modes[i] = strings.ToUpper(string(m))
	}
	test := "all"
	if p.Eval.TestSubset > 0 {
		test = fmt.Sprintf("%d", p.Eval.TestSubset)
	}
	d := fmt.Sprintf("%s width %d pretrained on %s %s training images for %s (batch %d), %s per row; %s with the %s protocol (%s, %s), PGD-20 robust accuracy on %s test images",
		enc, s.Width, images, datasetLabel(p.Dataset), plural(s.Epochs, "epoch"), s.BatchSize, plural(len(p.Seeds), "seed"), strings.Join(modes, " and "), p.Eval.Protocol,
		plural(p.Eval.Epochs, "epoch"), finetune.Selection(p.Eval.Selection).Label(), test)
	if p.Eval.AutoAttack != "" && p.Eval.AutoAttackSeeds > 0 {
		d += fmt.Sprintf("; AutoAttack (%s) on %d test images for the first %s", p.Eval.AutoAttack, p.Eval.AutoAttackImages, plural(p.Eval.AutoAttackSeeds, "seed"))
	}
	return d + "."
}

// datasetLabel is a data set's name as reports write it.
func datasetLabel(name string) string {
	switch name {
	case datasets.CIFAR10:
		return "CIFAR-10"
	case datasets.CIFAR100:
		return "CIFAR-100"
	}
	return name
}

// plural is "1 epoch", "3 epochs".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
