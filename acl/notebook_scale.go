package acl

import (
	"bytes"
	gocontext "context"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ainfonce/goacl/acl/pretrain"

	"github.com/ainfonce/goacl/acl/rundir"

	"github.com/ainfonce/goacl/acl/attack"

	"github.com/ainfonce/goacl/engine"
	"github.com/gomlx/gomlx/backends"
)

// Environment variables read by OpenNotebook.
const (
	// NotebookScaleEnv selects the notebooks' scale: smoke (default), cpu or gpu.
	NotebookScaleEnv = "ACL_NOTEBOOK_SCALE"
	// NotebookRunsEnv is the folder holding the notebooks' run directories (default
	// <repo>/notebooks/runs); each scale uses its own sub-folder.
	NotebookRunsEnv = "ACL_NOTEBOOK_RUNS"
	// NotebookDataEnv is the CIFAR-10 folder (default <repo>/../shared/datasets/cifar-10,
	// the same default as `acl pretrain -data`). It is the variable the tests read too.
	NotebookDataEnv = "ACL_CIFAR10_DIR"
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
	Probe ProbeConfig `json:"probe"`
	// Sweeps are the sensitivity sweeps of notebook 5.
	Sweeps []Sweep `json:"sweeps"`
	// SweepSubset and SweepEpochs shrink the sweep runs (0: the preset's values).
	SweepSubset int `json:"sweep_subset"`
	SweepEpochs int `json:"sweep_epochs"`
	// SweepProbe is the linear probe of the sweep runs.
	SweepProbe ProbeConfig `json:"sweep_probe"`
	// Finetune is the scale of the finetunings and evaluations (notebooks 3, 4 and 6).
	Finetune NotebookFinetune `json:"finetune"`
}

// NotebookFinetune shrinks the official finetuning and evaluation (AdvCL protocol, spec
// §5.1) to a notebook's scale: each field > 0 replaces the official value, 0 keeps it.
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
	probe := DefaultProbeConfig()
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

// Notebook is the environment of a notebook: its scale, where the data and the run
// directories are, and the settings of the scale. Every GoNB cell is a new process, so
// cells call OpenNotebook again and find earlier cells' work in the run directories.
type Notebook struct {
	Scale NotebookScale `json:"scale"`
	// Preset is the pretraining preset of the scale (smoke, cpu or paper).
	Preset string `json:"preset"`
	// DataDir holds CIFAR-10's binary files.
	DataDir string `json:"data_dir"`
	// RunsDir holds this scale's run directories (<runs folder>/<scale>).
	RunsDir string `json:"runs_dir"`
	// RepoRoot is the repository the notebook belongs to ("" if not found).
	RepoRoot string `json:"repo_root"`
	// Settings are the scale's sizes.
	Settings NotebookSettings `json:"settings"`

	backend backends.Backend
}

// OpenNotebook reads the scale (ACL_NOTEBOOK_SCALE, default smoke), the data folder
// (ACL_CIFAR10_DIR, default <repo>/../shared/datasets/cifar-10) and the runs folder
// (ACL_NOTEBOOK_RUNS, default <repo>/notebooks/runs) and returns the notebook's
// environment. The repository is found by walking up from $GONB_DIR (the notebook's
// folder under GoNB) or the working directory to the go.mod of this module.
func OpenNotebook() (*Notebook, error) {
	scale, err := ParseNotebookScale(os.Getenv(NotebookScaleEnv))
	if err != nil {
		return nil, err
	}
	nb := &Notebook{Scale: scale, Preset: scale.Preset(), Settings: DefaultNotebookSettings(scale)}
	start := os.Getenv("GONB_DIR")
	if start == "" {
		if start, err = os.Getwd(); err != nil {
			return nil, err
		}
	}
	nb.RepoRoot = findModuleRoot(start)
	nb.DataDir = os.Getenv(NotebookDataEnv)
	if nb.DataDir == "" {
		if nb.RepoRoot == "" {
			return nil, fmt.Errorf("set %s to the CIFAR-10 folder (no goacl repository above %s to find the default)", NotebookDataEnv, start)
		}
		nb.DataDir = filepath.Join(filepath.Dir(nb.RepoRoot), "shared", "datasets", "cifar-10")
	}
	runs := os.Getenv(NotebookRunsEnv)
	if runs == "" {
		if nb.RepoRoot == "" {
			return nil, fmt.Errorf("set %s to a folder for the notebooks' run directories (no goacl repository above %s to find the default)", NotebookRunsEnv, start)
		}
		runs = filepath.Join(nb.RepoRoot, "notebooks", "runs")
	}
	if nb.DataDir, err = filepath.Abs(nb.DataDir); err != nil {
		return nil, err
	}
	if nb.RunsDir, err = filepath.Abs(filepath.Join(runs, string(scale))); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(nb.RunsDir, 0o755); err != nil {
		return nil, fmt.Errorf("%s: cannot create the runs folder %s: %w", NotebookRunsEnv, nb.RunsDir, err)
	}
	return nb, nil
}

// findModuleRoot walks up from dir to the folder whose go.mod declares this module.
func findModuleRoot(dir string) string {
	dir, _ = filepath.Abs(dir)
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.Contains(string(data), "module github.com/ainfonce/goacl\n") {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// Backend returns the backend the notebook's runs and analyses use (engine.New: the
// pure-Go backend unless GOMLX_BACKEND selects XLA), created once per process.
func (nb *Notebook) Backend() (backends.Backend, error) {
	if nb.backend == nil {
		b, err := engine.New()
		if err != nil {
			return nil, err
		}
		nb.backend = b
	}
	return nb.backend, nil
}

// loadRunModel loads the model of the run in runDir on the notebook's backend.
func (nb *Notebook) loadRunModel(runDir string) (*RunModel, error) {
	backend, err := nb.Backend()
	if err != nil {
		return nil, err
	}
	return LoadRunModel(backend, runDir)
}

// BannerHTML is the HTML block every notebook shows first: the scale and what it means,
// the data and run folders, and how to change the scale.
func (nb *Notebook) BannerHTML(title string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `<div class="acl-banner" data-scale="%s" style="border:1px solid #888;padding:6px 10px">`, nb.Scale)
	fmt.Fprintf(&b, "<b>%s</b><br>", html.EscapeString(title))
	fmt.Fprintf(&b, "Scale: <b>%s</b> — %s<br>", nb.Scale, html.EscapeString(strings.TrimPrefix(nb.Scale.Describe(), string(nb.Scale)+": ")))
	fmt.Fprintf(&b, "Pretraining preset <code>%s</code>; runs in <code>%s</code>; data in <code>%s</code>.<br>",
		nb.Preset, html.EscapeString(nb.DisplayPath(nb.RunsDir)), html.EscapeString(nb.DisplayPath(nb.DataDir)))
	fmt.Fprintf(&b, "Change the scale with <code>%s=smoke|cpu|gpu</code> and the runs folder with <code>%s</code> before starting Jupyter.</div>",
		NotebookScaleEnv, NotebookRunsEnv)
	return b.String()
}

// DisplayPath returns p relative to the repository when it lies in it or next to it
// (e.g. "notebooks/runs/smoke/rocl-ip", "../shared/datasets/cifar-10"), else p: paths as
// notebooks show them, the same on every machine.
func (nb *Notebook) DisplayPath(p string) string {
	if nb.RepoRoot == "" {
		return p
	}
	rel, err := filepath.Rel(nb.RepoRoot, p)
	if err != nil || strings.HasPrefix(rel, filepath.Join("..", "..")) {
		return p
	}
	return rel
}

// RunDir returns the path of the notebook run called name.
func (nb *Notebook) RunDir(name string) string { return filepath.Join(nb.RunsDir, name) }

// PretrainConfig returns the configuration of a method/variant at the notebook's scale
// (Preset with the scale's preset and the notebook's data folder).
func (nb *Notebook) PretrainConfig(method, variant string) (pretrain.Config, error) {
	return pretrain.Preset(method, variant, nb.Preset, nb.DataDir)
}

// Pretrain trains the notebook run called name with cfg, or reuses it: a finished run
// directory with the same training configuration (data folders aside, so runs trained on
// another machine and copied here are found) is returned as is (a line on progress says
// so), an interrupted or stopped one is resumed from its newest checkpoint, and a
// fresh one is trained. A run directory holding a different configuration, or a failed
// run, is an error naming the folder to remove. Progress lines (one per logged step) go to
// progress while the run trains.
func (nb *Notebook) Pretrain(name string, cfg pretrain.Config, progress io.Writer) (string, error) {
	dir := nb.RunDir(name)
	var st rundir.Status
	run, openErr := rundir.Open(dir)
	resume := false
	if openErr == nil {
		var stored pretrain.Config
		if err := run.ReadJSON(rundir.ConfigFile, &stored); err != nil {
			return "", err
		}
		// The data folders may differ (runs trained elsewhere and copied here).
		cmp := cfg
		cmp.DataDir, cmp.PseudoLabelDir = stored.DataDir, stored.PseudoLabelDir
		if err := pretrain.SameTraining(stored, cmp); err != nil {
			return "", fmt.Errorf("notebook run %s was trained with another configuration (%v): remove the folder to retrain it, or point %s elsewhere", dir, err, NotebookRunsEnv)
		}
		if err := run.ReadJSON(rundir.StatusFile, &st); err == nil {
			switch st.State {
			case "done":
				progressf(progress, "reusing finished run %s (%d steps)\n", nb.DisplayPath(dir), st.Step)
				return dir, nil
			case "failed":
				return "", fmt.Errorf("notebook run %s failed: %s; remove the folder to retrain it", dir, st.Reason)
			}
		}
		_, _, ckErr := rundir.LatestCheckpoint(run.File(rundir.CheckpointsDir))
		resume = ckErr == nil
	}
	backend, err := nb.Backend()
	if err != nil {
		return "", err
	}
	if resume {
		progressf(progress, "resuming run %s from step %d\n", nb.DisplayPath(dir), st.Step)
	} else {
		progressf(progress, "training %s (%s %s, %s width %d, %d images, %d epochs, batch %d) into %s\n",
			name, cfg.Method, cfg.Variant, cfg.Encoder, cfg.Width, cfg.Subset, cfg.Epochs, cfg.BatchSize, nb.DisplayPath(dir))
	}
	res, err := pretrain.Pretrain(gocontext.Background(), cfg, dir, pretrain.Options{Backend: backend, Resume: resume, Progress: progress})
	if err != nil {
		return "", err
	}
	if res.Stopped {
		return "", fmt.Errorf("notebook run %s stopped after %d steps (max_steps); rerun the cell to resume it", dir, res.Steps)
	}
	return dir, nil
}

// Probe returns the linear-probe result of a run directory for pc (clean train and test
// accuracy, LinearProbe), computing it once: the result is stored in the run's
// results/notebook-probe.json with pc and reused while pc and the run's newest checkpoint
// are unchanged.
func (nb *Notebook) Probe(runDir string, pc ProbeConfig, progress io.Writer) (*ProbeResult, error) {
	return cachedResult(runDir, "notebook-probe.json", pc, func() (*ProbeResult, error) {
		backend, err := nb.Backend()
		if err != nil {
			return nil, err
		}
		return LinearProbe(backend, runDir, pc, progress)
	})
}

// cachedResult returns the value stored in results/<name> of a run when it was computed
// for key (compared as JSON) from the run's newest checkpoint; otherwise it calls compute
// and stores the value with the key.
func cachedResult[T any](runDir, name string, key any, compute func() (T, error)) (T, error) {
	var zero T
	run, err := rundir.Open(runDir)
	if err != nil {
		return zero, err
	}
	ckpt, _, err := rundir.LatestCheckpoint(run.File(rundir.CheckpointsDir))
	if err != nil {
		return zero, fmt.Errorf("run %s: %w", runDir, err)
	}
	keyJSON, err := json.Marshal(key)
	if err != nil {
		return zero, err
	}
	type record struct {
		Key        json.RawMessage `json:"key"`
		Checkpoint string          `json:"checkpoint"`
		Value      T               `json:"value"`
	}
	file := filepath.Join(rundir.ResultsDir, name)
	var rec record
	// A missing, stale or damaged cache is recomputed.
	if err := run.ReadJSON(file, &rec); err == nil && rec.Checkpoint == ckpt.Path {
		var stored bytes.Buffer // WriteJSON indents the stored key
		if json.Compact(&stored, rec.Key) == nil && stored.String() == string(keyJSON) {
			return rec.Value, nil
		}
	}
	v, err := compute()
	if err != nil {
		return zero, err
	}
	if err := run.WriteJSON(file, record{Key: keyJSON, Checkpoint: ckpt.Path, Value: v}); err != nil {
		return zero, err
	}
	return v, nil
}
