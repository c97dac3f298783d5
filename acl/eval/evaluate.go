package eval

import (
	"fmt"
	"io"
	"math"
	"time"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/acl/field"
	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/engine"
	"github.com/gomlx/gomlx/backends"
)

// Options are the settings of PGD and AutoAttack (which reads Backend, Epsilon,
// TestSubset, BatchSize and Seed); zero fields take the finetuning's own evaluation
// settings.
type Options struct {
	// Backend runs the evaluation (nil: the default backend).
	Backend backends.Backend
	// Attack replaces the finetuning protocol's PGD (e.g. attack.PGD20RoCL()); Epsilon,
	// StepSize and Steps, when > 0, then override single fields.
	Attack   *attack.PGDConfig
	Epsilon  float64
	StepSize float64
	Steps    int
	// Restarts of the attack (0: 1).
	Restarts int
	// TestSubset evaluates on this many test images (0: the finetuning's test subset;
	// −1: all).
	TestSubset int
	// BatchSize is the evaluation batch (0: the finetuning's).
	BatchSize int
	// Seed of the subset and the attack (0: the finetuning's seed).
	Seed uint64
	// DataDir, when set, replaces the run's data folder (finetune.LoadOptions.DataDir;
	// recorded in Record.Data).
	DataDir string
}

// MaxRestarts bounds Options.Restarts: each restart repeats the whole attack.
const MaxRestarts = 100

// Validate checks every option before anything is loaded or evaluated and returns a
// *field.Error naming the first bad one by its key (epsilon, step_size, steps, restarts,
// test_subset, batch_size): ε and the step in [0, 1] (0: the default), 0 ≤ steps ≤
// attack.MaxPGDSteps (0: 20), 0 ≤ restarts ≤ MaxRestarts (0: 1), test_subset ≥ −1 (a
// subset larger than the test split is refused once the run's data set is known), batch
// ≥ 0 (0: the default).
func (o Options) Validate() error {
	switch {
	case !(o.Epsilon >= 0 && o.Epsilon <= 1):
		return field.Errorf("epsilon", "{epsilon} = %g: must be in [0, 1] (0: the attack's default; 8/255 = 0.0314 is the protocols')", o.Epsilon)
	case !(o.StepSize >= 0 && o.StepSize <= 1):
		return field.Errorf("step_size", "{step_size} = %g: must be in [0, 1] (0: the finetuning's)", o.StepSize)
	case o.Steps < 0 || o.Steps > attack.MaxPGDSteps:
		return field.Errorf("steps", "{steps} = %d: must be in [0, %d] (0: 20)", o.Steps, attack.MaxPGDSteps)
	case o.Restarts < 0 || o.Restarts > MaxRestarts:
		return field.Errorf("restarts", "{restarts} = %d: must be in [1, %d]", o.Restarts, MaxRestarts)
	case o.TestSubset < -1:
		return field.Errorf("test_subset", "{test_subset} = %d: must be ≥ 1, or 0 (the finetuning's own test images) or −1 (all)", o.TestSubset)
	case o.BatchSize < 0:
		return field.Errorf("batch_size", "{batch_size} = %d: must be ≥ 1 (0: the default)", o.BatchSize)
	}
	return nil
}

// load validates opts, loads the model the mode finetuning selected and checks that the
// run's results folder is writable, all before any evaluation.
func load(runDir string, mode finetune.Mode, opts Options) (*finetune.Model, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	run, err := rundir.Open(runDir)
	if err != nil {
		return nil, err
	}
	if err := run.CheckWritable(rundir.ResultsDir); err != nil {
		return nil, err
	}
	return finetune.Load(opts.Backend, runDir, finetune.LoadOptions{Finetuned: mode, DataDir: opts.DataDir})
}

// PGD evaluates the mode finetuning of a run with PGD (by default the protocol's PGD-20
// on the finetuning's test subset and seed; see Options) on the checkpoint the finetuning
// selected, and writes the record to DIR/results/eval-<mode>-pgd20.json.
func PGD(runDir string, mode finetune.Mode, opts Options) (*Record, error) {
	m, err := load(runDir, mode, opts)
	if err != nil {
		return nil, err
	}
	atk := m.Finetuning.Config.EvalAttack
	if opts.Attack != nil {
		atk = *opts.Attack
	}
	if opts.Epsilon > 0 {
		atk.Epsilon = opts.Epsilon
	}
	if opts.StepSize > 0 {
		atk.StepSize = opts.StepSize
	}
	if opts.Steps > 0 {
		atk.Steps = opts.Steps
	}
	rec, test, err := newRecord(m, opts.TestSubset, opts.Seed, opts.BatchSize)
	if err != nil {
		return nil, err
	}
	ev, err := finetune.NewPGDEvaluator(m.Classifier, atk, max(opts.Restarts, 1), rec.BatchSize, rec.Seed)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	acc, err := ev.Evaluate(test)
	if err != nil {
		return nil, err
	}
	rec.Attack = ev.Settings()
	rec.Accuracy = *acc
	rec.Seconds = time.Since(start).Seconds()
	oracle, err := m.Classifier.Oracle()
	if err != nil {
		return nil, err
	}
	if err := addChecks(rec, oracle, test); err != nil {
		return nil, err
	}
	if aa, ok, err := Read(runDir, mode, attack.NameAutoAttack); err == nil && ok {
		if w := CompareWithAutoAttack(rec, aa); w != "" {
			rec.Warnings = append(rec.Warnings, w)
		}
	}
	return rec, Write(runDir, rec)
}

// addChecks runs the model checks (Checks) on the evaluated images and adds what fired
// to rec's warnings.
func addChecks(rec *Record, oracle attack.Oracle, test *datasets.Dataset) error {
	n := min(test.Len(), checkImages)
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	x, y, err := test.Float32Batch(idx)
	if err != nil {
		return err
	}
	w, err := Checks(oracle, x, y, n, attack.ImageShape{H: test.Height, W: test.Width, C: test.Channels})
	if err != nil {
		return fmt.Errorf("evaluation checks: %w", err)
	}
	rec.Warnings = append(rec.Warnings, w...)
	return nil
}

// AutoAttack runs an AutoAttack preset (attack.AutoAttackStandardPreset or
// attack.AutoAttackAPGDPreset; L∞, opts.Epsilon or 8/255; batch opts.BatchSize or 128)
// on the checkpoint the mode finetuning of a run selected, through its oracle in eval
// mode, on the finetuning's test images (opts.TestSubset and opts.Seed as PGD), and
// writes the record to DIR/results/eval-<mode>-<attack>.json with the per-attack robust
// accuracies in Extra["autoattack"]. Per-batch lines go to log. The third-party protocol
// (RobustSSL, spec §5.3) is the "standard" preset at ε = 8/255.
func AutoAttack(runDir string, mode finetune.Mode, preset string, opts Options, log io.Writer) (*Record, *attack.AutoAttackResult, error) {
	name, err := attack.AutoAttackName(preset)
	if err != nil {
		return nil, nil, err
	}
	m, err := load(runDir, mode, opts)
	if err != nil {
		return nil, nil, err
	}
	rec, test, err := newRecord(m, opts.TestSubset, opts.Seed, opts.BatchSize)
	if err != nil {
		return nil, nil, err
	}
	eps := opts.Epsilon
	if eps == 0 {
		eps = 8.0 / 255
	}
	aa, err := attack.AutoAttackPreset(preset, eps)
	if err != nil {
		return nil, nil, err
	}
	if opts.BatchSize > 0 {
		aa.BatchSize = opts.BatchSize
	}
	aa.Seed, aa.Log = rec.Seed, log
	oracle, err := m.Classifier.Oracle()
	if err != nil {
		return nil, nil, err
	}
	idx := make([]int, test.Len())
	for i := range idx {
		idx[i] = i
	}
	x, y, err := test.Float32Batch(idx)
	if err != nil {
		return nil, nil, err
	}
	start := time.Now()
	res, err := aa.Run(oracle, x, y, attack.ImageShape{H: test.Height, W: test.Width, C: test.Channels})
	if err != nil {
		return nil, nil, err
	}
	robust := 0
	for _, r := range res.Robust {
		if r {
			robust++
		}
	}
	rec.Attack = attack.Settings{Name: name, Norm: "Linf", Epsilon: eps, Restarts: 1, Version: preset}
	rec.Accuracy = finetune.Accuracy{Images: res.Images, CleanCorrect: int(math.Round(res.CleanAccuracy * float64(res.Images))),
		RobustCorrect: robust, Clean: res.CleanAccuracy, Robust: res.RobustAccuracy}
	rec.BatchSize = aa.BatchSize
	rec.Extra = map[string]any{"autoattack": res}
	rec.Seconds = time.Since(start).Seconds()
	if err := addChecks(rec, oracle, test); err != nil {
		return nil, nil, err
	}
	if name == attack.NameAutoAttack {
		if pgd, ok, err := Read(runDir, mode, attack.NamePGD20); err == nil && ok {
			if w := CompareWithAutoAttack(pgd, rec); w != "" {
				rec.Warnings = append(rec.Warnings, w)
			}
		}
	}
	return rec, res, Write(runDir, rec)
}

// newRecord starts the record of an evaluation of the finetuned model m (attack and
// accuracy left for the caller) and returns the test images it covers: testSubset images
// (0: the finetuning's own test subset, −1: all), seed (0: the finetuning's), batch size
// (0: the finetuning's evaluation batch).
func newRecord(m *finetune.Model, testSubset int, seed uint64, batchSize int) (*Record, *datasets.Dataset, error) {
	res := m.Finetuning
	if testSubset == 0 {
		testSubset = res.Config.TestSubset
	} else if testSubset < 0 {
		testSubset = 0
	}
	if seed == 0 {
		seed = res.Config.Seed
	}
	if batchSize <= 0 {
		batchSize = res.Config.EvalBatch
	}
	data, err := m.Data()
	if err != nil {
		return nil, nil, err
	}
	test, err := finetune.TestSplit(m.Config.Dataset, data.Dir, testSubset, seed)
	if err != nil {
		return nil, nil, err
	}
	var warnings []string
	// The finetuning should be of the checkpoint the run ends with now; say so when not.
	if res.Config.Selection == finetune.SelectImported {
		// A classifier imported from PyTorch (acl import) has no pretraining checkpoint to
		// be checked against: its run's provenance.json names the file it came from.
	} else if final, err := finetune.PretrainedCheckpoint(m.RunDir); err != nil {
		warnings = append(warnings, fmt.Sprintf("the pretraining's final checkpoint cannot be checked against the finetuning: %v", err))
	} else if l := res.EncoderLoad; l == nil || l.Step != final.Step || (l.SHA256 != "" && l.SHA256 != final.SHA256) {
		from := "an unrecorded checkpoint"
		if l != nil {
			from = fmt.Sprintf("the step-%d checkpoint", l.Step)
		}
		warnings = append(warnings, fmt.Sprintf("stale finetuning: it finetuned %s, the run now ends with step %d (%s): finetune again", from, final.Step, final.Path))
	}
	rec := &Record{Warnings: warnings, Run: m.RunDir, Mode: res.Config.Mode, Method: m.Config.Method, Variant: m.Config.Variant,
		Dataset: m.Config.Dataset, Protocol: res.Config.Protocol, Selection: res.Config.Selection,
		SelectionLabel: res.Config.Selection.Label(), Checkpoint: res.Checkpoint, CheckpointStep: m.Checkpoint.Step,
		CheckpointSHA256: m.Checkpoint.SHA256, FinetuningSHA256: m.FinetuningSHA256, Pretrained: res.EncoderLoad,
		TestSubset: testSubset, Seed: seed, BatchSize: batchSize, Data: data, Backend: engine.Describe(m.Backend)}
	return rec, test, nil
}
