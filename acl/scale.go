package acl

import (
	"fmt"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/pretrain"
)

// NotebookScale is how big the runs a notebook trains are. Every notebook reads it from
// ACL_NOTEBOOK_SCALE, so one notebook runs unchanged from CI to a GPU.
type NotebookScale string

const (
	// NotebookSmoke is what CI runs: the smoke preset (small CNN, 256 images, 1 epoch),
	// small probes and short sweeps; minutes on 2 cores. Its numbers only show that the
	// pipeline works: they say nothing about the paper.
	NotebookSmoke NotebookScale = "smoke"
	// NotebookCPU is a night on a 2-core CPU (notebook 4's grid ≈ 8 h, measured in
	// docs/results/ablation-cpu-grid.md): the cpu preset (ResNet-18 width 16, 2,000
	// images, 10 epochs) with larger probes and full sweeps.
	NotebookCPU NotebookScale = "cpu"
	// NotebookGPU is the paper's setting (the paper preset: ResNet-18 width 64, the whole
	// training split, official epochs). Train those runs from the command line on a GPU
	// (notebook 6) into the notebooks' run folder; the notebooks then reuse them.
	NotebookGPU NotebookScale = "gpu"
)

// NotebookScales lists the accepted scales.
func NotebookScales() []NotebookScale {
	return []NotebookScale{NotebookSmoke, NotebookCPU, NotebookGPU}
}

// ParseNotebookScale checks s against NotebookScales; "" means NotebookSmoke.
func ParseNotebookScale(s string) (NotebookScale, error) {
	if s == "" {
		return NotebookSmoke, nil
	}
	for _, v := range NotebookScales() {
		if string(v) == s {
			return v, nil
		}
	}
	return "", fmt.Errorf("%s=%q: use smoke (CI, minutes on 2 cores), cpu (hours on a 2-core CPU) or gpu (the paper's settings)", NotebookScaleEnv, s)
}

// Preset returns the pretraining preset of the scale: smoke, cpu or paper.
func (s NotebookScale) Preset() string {
	switch s {
	case NotebookCPU:
		return pretrain.ScaleCPU
	case NotebookGPU:
		return pretrain.ScalePaper
	}
	return pretrain.ScaleSmoke
}

// Describe says in one sentence what the scale means.
func (s NotebookScale) Describe() string {
	switch s {
	case NotebookCPU:
		return "cpu: hours on a 2-core CPU, notebook 4's grid about 8 h (ResNet-18 width 16, 2,000 training images, 10 epochs)"
	case NotebookGPU:
		return "gpu: the paper's settings (ResNet-18 width 64, the whole training split, official epochs)"
	}
	return "smoke: what CI runs (a small CNN on 256 images for 1 epoch); the numbers only show that the pipeline works, not the paper's results"
}

// NotebookSettings are the sizes a notebook uses at its scale, besides the pretraining
// preset: how many images it shows, analyses and attacks, how big the linear probes are,
// and which hyperparameter values the sensitivity sweeps visit.
type NotebookSettings struct {
	// ShowImages is the number of images in image grids.
	ShowImages int `json:"show_images"`
	// AnalysisBatch is the batch size B of the embeddings analysed in notebook 2 (3B rows).
	AnalysisBatch int `json:"analysis_batch"`
	// AttackImages is the number of test images attacked in notebook 3 and in the
	// sensitivity sweeps' robustness measurement.
	AttackImages int `json:"attack_images"`
	// AttackSteps is the number of PGD steps of the trajectories of notebook 3.
	AttackSteps int `json:"attack_steps"`
	// Epsilons are the attack radii of notebook 3, in units of 1/255.
	Epsilons []float64 `json:"epsilons"`
	// Probe is the linear probe of every notebook run.
	Probe finetune.ProbeConfig `json:"probe"`
	// Sweeps are the sensitivity sweeps of notebook 5.
	Sweeps []Sweep `json:"sweeps"`
	// SweepSubset and SweepEpochs shrink the sweep runs (0: the preset's values).
	SweepSubset int `json:"sweep_subset"`
	SweepEpochs int `json:"sweep_epochs"`
	// SweepProbe is the linear probe of the sweep runs.
	SweepProbe finetune.ProbeConfig `json:"sweep_probe"`
	// Finetune is the scale of the finetunings and evaluations (notebooks 3, 4 and 6).
	Finetune NotebookFinetune `json:"finetune"`
}

// NotebookFinetune shrinks the official finetuning and evaluation (each run's own
// method's protocol, docs/evaluation.md) to a notebook's scale: each field > 0 replaces the official value, 0 keeps it.
type NotebookFinetune struct {
	// Epochs (the LR milestones move with them), BatchSize, TrainSubset, ValSize,
	// TestSubset and EvalBatch are FinetuneConfig's fields of the same names.
	Epochs      int `json:"epochs"`
	BatchSize   int `json:"batch_size"`
	TrainSubset int `json:"train_subset"`
	ValSize     int `json:"val_size"`
	TestSubset  int `json:"test_subset"`
	EvalBatch   int `json:"eval_batch"`
	// AutoAttackPreset is the AutoAttack version run by the notebooks ("standard").
	AutoAttackPreset string `json:"autoattack_preset"`
	// TableAutoAttack also runs AutoAttack on every finetuning of the ablation table (the
	// AA columns); otherwise only notebook 3's model is attacked with it.
	TableAutoAttack bool `json:"table_autoattack"`
}

// DefaultNotebookSettings returns the settings of a scale.
func DefaultNotebookSettings(s NotebookScale) NotebookSettings {
	probe := finetune.DefaultProbeConfig()
	switch s {
	case NotebookCPU:
		probe.TrainSubset, probe.TestSubset, probe.Epochs = 2000, 2000, 30
		return NotebookSettings{ShowImages: 8, AnalysisBatch: 64, AttackImages: 64, AttackSteps: 20,
			Epsilons: []float64{0, 1, 2, 4, 8, 16}, Probe: probe, Sweeps: fullSweeps(),
			SweepProbe: probe,
			Finetune: NotebookFinetune{Epochs: 10, BatchSize: 128, TrainSubset: 5000, ValSize: 1000, TestSubset: 1000,
				EvalBatch: 250, AutoAttackPreset: attack.AutoAttackStandardPreset}}
	case NotebookGPU:
		probe.TrainSubset, probe.TestSubset, probe.Epochs = 0, 0, 100
		return NotebookSettings{ShowImages: 8, AnalysisBatch: 256, AttackImages: 1000, AttackSteps: 20,
			Epsilons: []float64{0, 1, 2, 4, 8, 16}, Probe: probe, Sweeps: fullSweeps(),
			SweepProbe: probe,
			Finetune:   NotebookFinetune{AutoAttackPreset: attack.AutoAttackStandardPreset, TableAutoAttack: true}}
	}
	probe.TrainSubset, probe.TestSubset, probe.Epochs = 256, 500, 20
	sweepProbe := probe
	sweepProbe.TrainSubset, sweepProbe.TestSubset, sweepProbe.Epochs = 128, 256, 10
	return NotebookSettings{ShowImages: 6, AnalysisBatch: 16, AttackImages: 32, AttackSteps: 10,
		Epsilons: []float64{0, 2, 4, 8, 16}, Probe: probe, SweepSubset: 64, SweepEpochs: 1,
		SweepProbe: sweepProbe,
		Finetune: NotebookFinetune{Epochs: 1, BatchSize: 32, TrainSubset: 64, ValSize: 32, TestSubset: 32, EvalBatch: 32,
			AutoAttackPreset: attack.AutoAttackStandardPreset},
		Sweeps: []Sweep{
			// The official values (α 0.2, λ 1; β 1, τ⁺ 0.12) are shared between the sweeps
			// of a variant: 7 runs in all.
			{Param: SweepAlpha, Values: []float64{0, 0.2, 1}},
			{Param: SweepLambda, Values: []float64{1, 2}},
			{Param: SweepBeta, Values: []float64{1, 2}},
			{Param: SweepTauPlus, Values: []float64{0.12, 0.3}},
		}}
}

// fullSweeps are the cpu/gpu sweeps: the official value of each parameter and values
// around it (spec §4.4: α = 0.2, λ = 1, β = 1, τ⁺ = 0.12 on CIFAR-10 RoCL).
func fullSweeps() []Sweep {
	return []Sweep{
		{Param: SweepAlpha, Values: []float64{0, 0.1, 0.2, 0.3, 0.5, 0.75, 1}},
		{Param: SweepLambda, Values: []float64{0.25, 0.5, 1, 2, 4}},
		{Param: SweepBeta, Values: []float64{0, 0.5, 1, 2, 4}},
		{Param: SweepTauPlus, Values: []float64{0, 0.05, 0.1, 0.12, 0.2, 0.3}},
	}
}
