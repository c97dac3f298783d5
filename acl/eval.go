package acl

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/layers"

	"github.com/ainfonce/goacl/acl/rundir"

	"github.com/ainfonce/goacl/acl/attack"

	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/engine"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Accuracy is the outcome of evaluating a classifier on a set of images.
type Accuracy struct {
	Images        int     `json:"images"`
	CleanCorrect  int     `json:"clean_correct"`
	RobustCorrect int     `json:"robust_correct"`
	Clean         float64 `json:"clean_accuracy"`
	Robust        float64 `json:"robust_accuracy"`
}

// PGDEvaluator measures clean accuracy and robust accuracy under PGD on the cross-entropy
// (the model in eval mode): an image counts as robust when the adversarial example of
// every restart is classified correctly (the official RA counts the adversarial
// prediction alone, with one restart). Its compiled graphs are kept between calls.
type PGDEvaluator struct {
	clf       *Classifier
	attack    attack.PGDConfig
	restarts  int
	batchSize int
	seed      uint64
	exec      *context.Exec
}

// NewPGDEvaluator returns an evaluator of clf under attack (restarts ≥ 1) in batches of
// batchSize; seed fixes the random starts, so the same seed gives the same result.
func NewPGDEvaluator(clf *Classifier, atk attack.PGDConfig, restarts, batchSize int, seed uint64) (*PGDEvaluator, error) {
	if err := atk.Validate(); err != nil {
		return nil, err
	}
	if restarts < 1 || batchSize < 1 {
		return nil, fmt.Errorf("evaluation: restarts (%d) and batch size (%d) must be ≥ 1", restarts, batchSize)
	}
	e := &PGDEvaluator{clf: clf, attack: atk, restarts: restarts, batchSize: batchSize, seed: seed}
	var err error
	e.exec, err = context.NewExec(clf.Backend, clf.Ctx, func(ctx *context.Context, x, y *graph.Node) []*graph.Node {
		g := x.Graph()
		var clean, adv *graph.Node
		layers.InMode(ctx, g, false, false, func() {
			clean = graph.ArgMax(clf.Logits(ctx, x), -1, dtypes.Int32)
			advX := attack.PGD(ctx, []*graph.Node{x}, atk, func(advs []*graph.Node) *graph.Node {
				return graph.ReduceAllSum(attack.PerExampleAttackLoss(attack.LossCE, clf.Logits(ctx, advs[0]), y, nil))
			})[0]
			adv = graph.ArgMax(clf.Logits(ctx, advX), -1, dtypes.Int32)
		})
		return []*graph.Node{graph.Equal(clean, y), graph.Equal(adv, y)}
	})
	return e, err
}

// Settings describes the evaluator's attack.
func (e *PGDEvaluator) Settings() attack.Settings { return e.attack.Settings(e.restarts) }

// Evaluate measures ds (un-augmented images, in order). The classifier context's RNG is
// set from the evaluator's seed for the evaluation and restored afterwards, so evaluating
// during training neither depends on nor disturbs the training's random stream.
func (e *PGDEvaluator) Evaluate(ds *datasets.Dataset) (*Accuracy, error) {
	if ds.Len() == 0 {
		return nil, fmt.Errorf("evaluation: empty data set")
	}
	restore, err := withSeededRNG(e.clf.Ctx, e.seed)
	if err != nil {
		return nil, err
	}
	defer restore()
	acc := &Accuracy{Images: ds.Len()}
	// Every batch runs with the same shape: the last one is padded with black images,
	// whose results are dropped. Eval-mode examples are independent, so this is exact,
	// and it saves compiling a second (on XLA: slow) PGD graph for the remainder.
	shape := min(e.batchSize, ds.Len())
	for start := 0; start < ds.Len(); start += shape {
		n := min(shape, ds.Len()-start)
		idx := make([]int, n)
		for i := range idx {
			idx[i] = start + i
		}
		pix, labels, err := ds.Float32Batch(idx)
		if err != nil {
			return nil, err
		}
		if n < shape {
			pix = append(pix, make([]float32, (shape-n)*ds.ImageSize())...)
			labels = append(labels, make([]int32, shape-n)...)
		}
		xt := tensors.FromFlatDataAndDimensions(pix, shape, ds.Height, ds.Width, ds.Channels)
		yt := tensors.FromFlatDataAndDimensions(labels, shape)
		robust := make([]bool, n)
		for r := range e.restarts {
			out, err := e.exec.Exec(xt, yt)
			if err != nil {
				return nil, err
			}
			clean := tensors.MustCopyFlatData[bool](out[0])
			adv := tensors.MustCopyFlatData[bool](out[1])
			for i := range n {
				if r == 0 {
					robust[i] = adv[i]
					if clean[i] {
						acc.CleanCorrect++
					}
				} else {
					robust[i] = robust[i] && adv[i]
				}
			}
		}
		for _, ok := range robust {
			if ok {
				acc.RobustCorrect++
			}
		}
	}
	acc.Clean = float64(acc.CleanCorrect) / float64(acc.Images)
	acc.Robust = float64(acc.RobustCorrect) / float64(acc.Images)
	return acc, nil
}

// withSeededRNG seeds ctx's RNG with seed and returns a function that puts the previous
// RNG state back.
func withSeededRNG(ctx *context.Context, seed uint64) (func(), error) {
	var saved *tensors.Tensor
	if v := ctx.GetVariableByScopeAndName(context.RootScope, context.RNGStateVariableName); v != nil && v.HasValue() {
		t, err := v.Value()
		if err != nil {
			return nil, err
		}
		if saved, err = t.LocalClone(); err != nil {
			return nil, err
		}
	}
	if err := ctx.SetRNGStateFromSeed(int64(seed)); err != nil {
		return nil, err
	}
	return func() {
		if saved != nil {
			v := ctx.GetVariableByScopeAndName(context.RootScope, context.RNGStateVariableName)
			_ = v.SetValue(saved)
		}
	}, nil
}

// EvalRecord is one evaluation of a finetuned classifier, written to
// DIR/results/eval-<mode>-<attack>.json with everything needed to compare it with others.
type EvalRecord struct {
	// Run is the pretraining run directory; Mode the finetuning mode evaluated.
	Run  string       `json:"run"`
	Mode FinetuneMode `json:"mode"`
	// Method, Variant and Dataset come from the pretraining run's config.json.
	Method  string `json:"method"`
	Variant string `json:"variant"`
	Dataset string `json:"dataset"`
	// Attack and AttackLabel describe the attack; Protocol is the finetuning protocol.
	Attack      attack.Settings `json:"attack"`
	AttackLabel string          `json:"attack_label"`
	Protocol    string          `json:"protocol"`
	// Selection is how the evaluated checkpoint was chosen (see Selection).
	Selection      Selection `json:"selection"`
	SelectionLabel string    `json:"selection_label"`
	// Checkpoint is the evaluated checkpoint, relative to Run.
	Checkpoint string `json:"checkpoint"`
	// TestSubset is the requested number of test images (0: all); Accuracy.Images the
	// number evaluated; Seed fixes the subset and the attack's randomness.
	TestSubset int      `json:"test_subset"`
	Seed       uint64   `json:"seed"`
	BatchSize  int      `json:"batch_size"`
	Accuracy   Accuracy `json:"accuracy"`
	// Backend and Seconds say where and how long it ran; Time when it finished.
	Backend string    `json:"backend"`
	Seconds float64   `json:"seconds"`
	Time    time.Time `json:"time"`
	// Extra holds attack-specific details (e.g. AutoAttack's per-stage robust accuracy).
	Extra map[string]any `json:"extra,omitempty"`
}

// EvalFile is the results file name of an evaluation of mode by attack.
func EvalFile(mode FinetuneMode, attack string) string {
	return filepath.Join(rundir.ResultsDir, fmt.Sprintf("eval-%s-%s.json", mode, attack))
}

// FinetunedModel is a finetuned classifier loaded from a pretraining run's results.
type FinetunedModel struct {
	Classifier *Classifier
	Result     *FinetuneResult
	Pretrain   *pretrain.Config
}

// LoadFinetuned loads the selected checkpoint of the mode finetuning of run (written by
// Finetune), strictly, on the run's encoder as RunEncoder builds it (input normalisation
// included).
func LoadFinetuned(backend backends.Backend, runDir string, mode FinetuneMode) (*FinetunedModel, error) {
	if backend == nil {
		var err error
		if backend, err = engine.New(); err != nil {
			return nil, err
		}
	}
	enc, pre, err := RunEncoder(runDir)
	if err != nil {
		return nil, err
	}
	run, err := rundir.Open(runDir)
	if err != nil {
		return nil, err
	}
	var res FinetuneResult
	if err := run.ReadJSON(filepath.Join(FinetuneDir(mode), FinetuneResultFile), &res); err != nil {
		if os.IsNotExist(err) {
			return nil, fmt.Errorf("run %s has no %s finetuning result (%s): run acl finetune -run %s -mode %s first", runDir, mode, run.File(FinetuneDir(mode), FinetuneResultFile), runDir, mode)
		}
		return nil, err
	}
	ckpt, err := rundir.ReadCheckpoint(run.File(res.Checkpoint))
	if err != nil {
		return nil, err
	}
	clf, err := RestoreClassifier(backend, ckpt, enc, res.Config.Branch, res.NumClasses)
	if err != nil {
		return nil, err
	}
	return &FinetunedModel{Classifier: clf, Result: &res, Pretrain: pre}, nil
}

// EvalOptions are the settings of EvaluateFinetunedPGD and EvaluateFinetunedAutoAttack
// (which reads Backend, Epsilon, TestSubset, BatchSize and Seed); zero fields take the
// finetuning's own evaluation settings.
type EvalOptions struct {
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
	BatchSize  int
	// Seed of the subset and the attack (0: the finetuning's seed).
	Seed uint64
}

// TestSplit returns the evaluation images of a finetuning: the test split of dataset,
// reduced to subset images drawn with seed when subset > 0.
func TestSplit(dataset, dataDir string, subset int, seed uint64) (*datasets.Dataset, error) {
	test, err := loadSplit(dataset, dataDir, datasets.Test)
	if err != nil {
		return nil, err
	}
	if subset > 0 && subset < test.Len() {
		test = test.Subset(subset, seed)
	}
	return test, nil
}

// EvaluateFinetunedPGD evaluates the mode finetuning of run with PGD (by default the
// protocol's PGD-20 on the finetuning's test subset and seed) and writes the record to
// DIR/results/eval-<mode>-pgd20.json.
func EvaluateFinetunedPGD(runDir string, mode FinetuneMode, opts EvalOptions) (*EvalRecord, error) {
	m, err := LoadFinetuned(opts.Backend, runDir, mode)
	if err != nil {
		return nil, err
	}
	res := m.Result
	atk := res.Config.EvalAttack
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
	rec, test, err := NewEvalRecord(m, runDir, opts.TestSubset, opts.Seed, opts.BatchSize)
	if err != nil {
		return nil, err
	}
	restarts := max(opts.Restarts, 1)
	ev, err := NewPGDEvaluator(m.Classifier, atk, restarts, rec.BatchSize, rec.Seed)
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
	return rec, WriteEvalRecord(runDir, rec)
}

// AutoAttackName returns the evaluation name of an AutoAttack preset: attack.NameAutoAttack
// for "standard", attack.NameAPGD for "apgd" (the names `acl eval -attack` uses).
func AutoAttackName(preset string) (string, error) {
	switch preset {
	case attack.AutoAttackStandardPreset:
		return attack.NameAutoAttack, nil
	case attack.AutoAttackAPGDPreset:
		return attack.NameAPGD, nil
	}
	return "", fmt.Errorf("AutoAttack preset %q: use one of %v", preset, attack.AutoAttackPresets)
}

// EvaluateFinetunedAutoAttack runs an AutoAttack preset (L∞, opts.Epsilon or 8/255; batch
// opts.BatchSize or 128) on the selected checkpoint of the mode finetuning of a run,
// through its oracle in eval mode, on the finetuning's test images (opts.TestSubset and
// opts.Seed as EvaluateFinetunedPGD), and writes the record to
// DIR/results/eval-<mode>-<attack>.json, with the per-attack robust accuracies in
// Extra["autoattack"]. Per-batch lines go to log. It is what `acl eval -attack
// autoattack|apgd` and Notebook.AutoAttack run; the third-party protocol (RobustSSL, spec
// §5.3) is the "standard" preset at ε = 8/255.
func EvaluateFinetunedAutoAttack(runDir string, mode FinetuneMode, preset string, opts EvalOptions, log io.Writer) (*EvalRecord, *attack.AutoAttackResult, error) {
	name, err := attack.AutoAttackName(preset)
	if err != nil {
		return nil, nil, err
	}
	m, err := LoadFinetuned(opts.Backend, runDir, mode)
	if err != nil {
		return nil, nil, err
	}
	rec, test, err := NewEvalRecord(m, runDir, opts.TestSubset, opts.Seed, opts.BatchSize)
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
	oracle, err := NewOracle(m.Classifier)
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
	rec.Accuracy = Accuracy{Images: res.Images, CleanCorrect: int(math.Round(res.CleanAccuracy * float64(res.Images))),
		RobustCorrect: robust, Clean: res.CleanAccuracy, Robust: res.RobustAccuracy}
	rec.BatchSize = aa.BatchSize
	rec.Extra = map[string]any{"autoattack": res}
	rec.Seconds = time.Since(start).Seconds()
	return rec, res, WriteEvalRecord(runDir, rec)
}

// AutoAttackDetails returns the AutoAttack result stored in an evaluation record's Extra.
func AutoAttackDetails(rec *EvalRecord) (*attack.AutoAttackResult, error) {
	v, ok := rec.Extra["autoattack"]
	if !ok {
		return nil, fmt.Errorf("evaluation record of %s (%s) holds no AutoAttack details", rec.Run, rec.AttackLabel)
	}
	if r, ok := v.(*attack.AutoAttackResult); ok {
		return r, nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var r attack.AutoAttackResult
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// NewEvalRecord starts the record of an evaluation of m (attack and accuracy left for the
// caller) and returns the test images it covers: testSubset images (0: the finetuning's
// own test subset, −1: all), seed (0: the finetuning's), batch size (0: the finetuning's
// evaluation batch).
func NewEvalRecord(m *FinetunedModel, runDir string, testSubset int, seed uint64, batchSize int) (*EvalRecord, *datasets.Dataset, error) {
	res := m.Result
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
	test, err := TestSplit(m.Pretrain.Dataset, m.Pretrain.DataDir, testSubset, seed)
	if err != nil {
		return nil, nil, err
	}
	rec := &EvalRecord{Run: runDir, Mode: res.Config.Mode, Method: m.Pretrain.Method, Variant: m.Pretrain.Variant,
		Dataset: m.Pretrain.Dataset, Protocol: res.Config.Protocol, Selection: res.Config.Selection,
		SelectionLabel: res.Config.Selection.Label(), Checkpoint: res.Checkpoint, TestSubset: testSubset, Seed: seed,
		BatchSize: batchSize, Backend: engine.Describe(m.Classifier.Backend)}
	return rec, test, nil
}

// WriteEvalRecord completes rec (label, time) and writes it to
// DIR/results/eval-<mode>-<attack>.json.
func WriteEvalRecord(runDir string, rec *EvalRecord) error {
	if rec.Attack.Name == "" {
		return fmt.Errorf("evaluation record: attack name is empty")
	}
	rec.AttackLabel = rec.Attack.Label()
	rec.Time = time.Now().UTC()
	run, err := rundir.Open(runDir)
	if err != nil {
		return err
	}
	return run.WriteJSON(EvalFile(rec.Mode, rec.Attack.Name), rec)
}
