package acl

import (
	gocontext "context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"time"

	"github.com/ainfonce/goacl/acl/internal/hostval"
	"github.com/ainfonce/goacl/acl/pretrain"

	"github.com/ainfonce/goacl/acl/optim"
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

// Finetuning result layout inside a pretraining run directory.
const (
	// FinetuneResultFile is the result of a finetuning, in its folder.
	FinetuneResultFile = "result.json"
	// BestDir holds the selected checkpoint, in the finetuning's folder.
	BestDir = "best"
)

// FinetuneDir is the folder of mode's finetuning, relative to the pretraining run.
func FinetuneDir(mode FinetuneMode) string {
	return filepath.Join(rundir.ResultsDir, "finetune-"+string(mode))
}

// FinetuneResult is what a finetuning reports (its result.json).
type FinetuneResult struct {
	Config FinetuneConfig `json:"config"`
	// Method, Variant, Dataset and Encoder come from the pretraining run.
	Method     string `json:"method"`
	Variant    string `json:"variant"`
	Dataset    string `json:"dataset"`
	Encoder    string `json:"encoder"`
	NumClasses int    `json:"num_classes"`
	// SelectionLabel says how SelectedEpoch (1-based) was chosen; SelectionClean and
	// SelectionRobust are the accuracies it was chosen on (validation or test split).
	SelectionLabel  string  `json:"selection_label"`
	SelectedEpoch   int     `json:"selected_epoch"`
	SelectionClean  float64 `json:"selection_clean_accuracy,omitempty"`
	SelectionRobust float64 `json:"selection_robust_accuracy,omitempty"`
	// Test holds the reported SA and RA of the selected epoch on the test images.
	Test        Accuracy        `json:"test"`
	EvalAttack  attack.Settings `json:"eval_attack"`
	AttackLabel string          `json:"attack_label"`
	// TrainImages, ValImages: the split sizes actually used.
	TrainImages int `json:"train_images"`
	ValImages   int `json:"val_images"`
	// Checkpoint is the selected checkpoint, relative to the pretraining run directory.
	Checkpoint  string       `json:"checkpoint"`
	EncoderLoad *EncoderLoad `json:"encoder_load"`
	Backend     string       `json:"backend"`
	Seconds     float64      `json:"seconds"`
}

// FinetuneOptions are how a finetuning is run, beyond what it computes.
type FinetuneOptions struct {
	// Backend runs the graphs; nil means engine.New().
	Backend backends.Backend
	// Force replaces an existing finetuning of the same mode; without it an existing one
	// is an error (nothing is overwritten).
	Force bool
	// Progress receives one line per epoch; nil means none.
	Progress io.Writer
}

// finetuneSplits returns the training, validation (nil when ValSize is 0) and test images:
// the validation split is the last ValSize images of a Seed-permutation of the training
// split, the training images the rest (then TrainSubset of them), the test images
// TestSubset of the test split (all when 0).
func finetuneSplits(c *FinetuneConfig, dataset, dataDir string) (train, val, test *datasets.Dataset, err error) {
	if err := datasets.Ensure(dataset, dataDir); err != nil {
		return nil, nil, nil, fmt.Errorf("data folder of the pretraining run: %w", err)
	}
	full, err := loadSplit(dataset, dataDir, datasets.Train)
	if err != nil {
		return nil, nil, nil, err
	}
	if c.ValSize >= full.Len() {
		return nil, nil, nil, fmt.Errorf("-val-size = %d leaves no training images (%s has %d)", c.ValSize, dataset, full.Len())
	}
	perm := rand.New(rand.NewPCG(c.Seed, 0x7a11da7e)).Perm(full.Len())
	cut := full.Len() - c.ValSize
	trainIdx, valIdx := slices.Clone(perm[:cut]), slices.Clone(perm[cut:])
	sort.Ints(trainIdx)
	sort.Ints(valIdx)
	if train, err = full.Select(trainIdx); err != nil {
		return nil, nil, nil, err
	}
	if c.ValSize > 0 {
		if val, err = full.Select(valIdx); err != nil {
			return nil, nil, nil, err
		}
	}
	if c.TrainSubset > 0 {
		if c.TrainSubset > train.Len() {
			return nil, nil, nil, fmt.Errorf("-train-subset = %d exceeds the %d training images left after the %d-image validation split", c.TrainSubset, train.Len(), c.ValSize)
		}
		train = train.Subset(c.TrainSubset, c.Seed)
	}
	test, err = TestSplit(dataset, dataDir, c.TestSubset, c.Seed)
	return train, val, test, err
}

// loadSplit loads one split of a CIFAR data set.
func loadSplit(name, dir string, split datasets.Split) (*datasets.Dataset, error) {
	switch name {
	case datasets.CIFAR10:
		return datasets.LoadCIFAR10Split(dir, split)
	case datasets.CIFAR100:
		return datasets.LoadCIFAR100Split(dir, split)
	}
	return nil, fmt.Errorf("dataset %q: want %s or %s", name, datasets.CIFAR10, datasets.CIFAR100)
}

// FinetuneLoss builds the training loss of one batch of mode (images x [B,H,W,C] in
// [0,1], labels y [B]) with its named terms; it sets train/eval mode itself.
func FinetuneLoss(ctx *context.Context, clf *Classifier, cfg *FinetuneConfig, x, y *graph.Node) (loss *graph.Node, terms map[string]*graph.Node) {
	switch cfg.Mode {
	case SLF:
		return SLFLoss(ctx, clf, x, y), nil
	case ALF:
		return ALFLoss(ctx, clf, cfg.TrainAttack, x, y), nil
	case AFF:
		return AFFLoss(ctx, clf, cfg.TRADES, x, y)
	}
	panic(fmt.Errorf("acl: unknown finetuning mode %q", cfg.Mode))
}

// Finetune finetunes the encoder of the pretraining run runDir in cfg.Mode and writes
// DIR/results/finetune-<mode>/ (config.json, provenance.json, metrics.jsonl with one
// record per epoch, status.json, best/ with the selected checkpoint, result.json). After
// every epoch it measures SA and RA (cfg.EvalAttack) on the selection split (validation,
// or test for SelectTestRA) and keeps the best-RA checkpoint; the selected checkpoint's
// test SA and RA are the reported numbers. Cancelling ctx stops between batches (status
// "interrupted"; rerun with Force).
func Finetune(ctx gocontext.Context, runDir string, cfg FinetuneConfig, opts FinetuneOptions) (*FinetuneResult, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	run, err := rundir.Open(runDir)
	if err != nil {
		return nil, err
	}
	var pre pretrain.Config
	if err := run.ReadJSON(rundir.ConfigFile, &pre); err != nil {
		return nil, err
	}
	var st rundir.Status
	if run.ReadJSON(rundir.StatusFile, &st) == nil && st.State != "done" {
		progressf(opts.Progress, "warning: pretraining run %s is %q (step %d); finetuning its newest checkpoint\n", runDir, st.State, st.Step)
	}
	train, val, test, err := finetuneSplits(&cfg, pre.Dataset, pre.DataDir)
	if err != nil {
		return nil, err
	}
	backend := opts.Backend
	if backend == nil {
		if backend, err = engine.New(); err != nil {
			return nil, err
		}
	}
	branch := cfg.Branch
	var branchArg *string
	if branch != BranchAuto {
		branchArg = &branch
	}
	clf, _, load, err := PretrainedClassifier(backend, runDir, branchArg, train.NumClasses, cfg.Seed)
	if err != nil {
		return nil, err
	}
	cfg.Branch = clf.Branch
	clf.SetEncoderTrainable(cfg.Mode == AFF)

	outRel := FinetuneDir(cfg.Mode)
	out := run.File(outRel)
	if _, err := os.Stat(out); err == nil {
		if !opts.Force {
			return nil, fmt.Errorf("%s already exists: pass -force to replace this %s finetuning", out, cfg.Mode)
		}
		// Never delete a finetuning another process is writing: take its lock first.
		busy, err := rundir.Create(out)
		if err != nil {
			return nil, err
		}
		busy.Close()
		if err := os.RemoveAll(out); err != nil {
			return nil, err
		}
	}
	fdir, err := rundir.Create(out)
	if err != nil {
		return nil, err
	}
	defer fdir.Close()
	res := &FinetuneResult{Config: cfg, Method: pre.Method, Variant: pre.Variant, Dataset: pre.Dataset, Encoder: clf.Encoder.String(),
		NumClasses: train.NumClasses, SelectionLabel: cfg.Selection.Label(), TrainImages: train.Len(), EncoderLoad: load,
		Backend: engine.Describe(backend)}
	if val != nil {
		res.ValImages = val.Len()
	}
	if err := fdir.WriteJSON(rundir.ConfigFile, struct {
		FinetuneConfig
		Run         string       `json:"run"`
		TrainImages int          `json:"train_images"`
		ValImages   int          `json:"val_images"`
		TestImages  int          `json:"test_images"`
		EncoderLoad *EncoderLoad `json:"encoder_load"`
	}{cfg, runDir, res.TrainImages, res.ValImages, test.Len(), load}); err != nil {
		return nil, err
	}
	prov := rundir.CollectProvenance(res.Backend)
	if err := fdir.WriteJSON(rundir.ProvenanceFile, prov); err != nil {
		return nil, err
	}
	start := time.Now()
	fail := func(state string, err error) (*FinetuneResult, error) {
		_ = fdir.SetStatus(rundir.Status{State: state, Reason: err.Error()})
		return nil, err
	}

	views := datasets.EvalViews()
	if cfg.Augment {
		views = datasets.FinetuneViews()
	}
	loader, err := datasets.NewLoader(train, views, datasets.LoaderConfig{BatchSize: cfg.BatchSize, Seed: cfg.Seed, Shuffle: true})
	if err != nil {
		return fail("failed", err)
	}
	optimizer, err := optim.New(cfg.Optimizer)
	if err != nil {
		return fail("failed", err)
	}
	var termNames []string
	step, err := context.NewExec(backend, clf.Ctx, func(ctx *context.Context, x, y *graph.Node) []*graph.Node {
		loss, terms := FinetuneLoss(ctx, clf, &cfg, x, y)
		optimizer.UpdateGraph(ctx, x.Graph(), loss)
		names := make([]string, 0, len(terms))
		for n := range terms {
			names = append(names, n)
		}
		sort.Strings(names)
		termNames = names
		outs := []*graph.Node{graph.ConvertDType(loss, dtypes.Float64)}
		for _, n := range names {
			outs = append(outs, graph.ConvertDType(terms[n], dtypes.Float64))
		}
		return outs
	})
	if err != nil {
		return fail("failed", err)
	}
	defer step.Finalize()
	evaluator, err := NewPGDEvaluator(clf, cfg.EvalAttack, 1, cfg.EvalBatch, cfg.Seed)
	if err != nil {
		return fail("failed", err)
	}
	res.EvalAttack = evaluator.Settings()
	res.AttackLabel = res.EvalAttack.Label()
	selectOn := val
	if cfg.Selection == SelectTestRA {
		selectOn = test
	}
	split := "val"
	if cfg.Selection == SelectTestRA {
		split = "test"
	}
	schedule := optim.StepDecay{Base: cfg.LR, Milestones: cfg.Milestones, Gamma: cfg.Gamma}
	if err := fdir.SetStatus(rundir.Status{State: "running"}); err != nil {
		return nil, err
	}
	bestDir := filepath.Join(out, BestDir)
	var best *Accuracy
	var stepCount int64
	for epoch := 0; epoch < cfg.Epochs; epoch++ {
		lr := schedule.LearningRate(epoch, 0, 1)
		if err := optim.SetLearningRate(clf.Ctx, lr); err != nil {
			return fail("failed", err)
		}
		t0 := time.Now()
		var sum float64
		termSums := map[string]float64{}
		batches := 0
		for batch, err := range loader.Epoch(ctx, epoch) {
			if err != nil {
				if errors.Is(err, gocontext.Canceled) || errors.Is(err, gocontext.DeadlineExceeded) {
					return fail("interrupted", fmt.Errorf("finetuning stopped at epoch %d: %w; rerun with -force", epoch+1, err))
				}
				return fail("failed", err)
			}
			v := batch.Views[0]
			outs, err := step.Exec(tensors.FromFlatDataAndDimensions(v.Data, v.N, v.H, v.W, v.C),
				tensors.FromFlatDataAndDimensions(batch.Labels, len(batch.Labels)))
			if err != nil {
				return fail("failed", fmt.Errorf("epoch %d batch %d: %w", epoch+1, batches, err))
			}
			loss := hostval.Scalar(outs[0])
			stepCount++
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return fail("failed", fmt.Errorf("%w: finetuning loss is %v at epoch %d, batch %d", pretrain.ErrNonFinite, loss, epoch+1, batches))
			}
			sum += loss
			for i, n := range termNames {
				termSums[n] += hostval.Scalar(outs[1+i])
			}
			batches++
		}
		rec := map[string]any{"epoch": epoch + 1, "step": stepCount, "lr": lr, "loss": sum / float64(batches),
			"train_seconds": time.Since(t0).Seconds()}
		for n, s := range termSums {
			rec[n] = s / float64(batches)
		}
		improved := cfg.Selection == SelectLast || epoch == 0
		if cfg.Selection != SelectLast {
			acc, err := evaluator.Evaluate(selectOn)
			if err != nil {
				return fail("failed", err)
			}
			rec[split+"_clean_accuracy"], rec[split+"_robust_accuracy"] = acc.Clean, acc.Robust
			if best == nil || acc.Robust > best.Robust {
				best, improved = acc, true
			}
		}
		if improved {
			path, err := rundir.SaveCheckpoint(clf.Ctx, bestDir, int64(epoch+1), map[string]any{"epoch": epoch + 1}, 1)
			if err != nil {
				return fail("failed", err)
			}
			res.SelectedEpoch = epoch + 1
			res.Checkpoint, _ = filepath.Rel(runDir, path)
			if best != nil {
				res.SelectionClean, res.SelectionRobust = best.Clean, best.Robust
			}
		}
		rec["selected_epoch"] = res.SelectedEpoch
		if err := fdir.LogMetrics(rec); err != nil {
			return fail("failed", err)
		}
		line := fmt.Sprintf("%s epoch %d/%d  loss %.4f  lr %.4g", cfg.Mode, epoch+1, cfg.Epochs, sum/float64(batches), lr)
		if cfg.Selection != SelectLast {
			line += fmt.Sprintf("  %s SA %.2f%% RA %.2f%%", split, 100*rec[split+"_clean_accuracy"].(float64), 100*rec[split+"_robust_accuracy"].(float64))
		}
		progressf(opts.Progress, "%s\n", line)
	}

	// The reported numbers: the selected checkpoint on the test images.
	if cfg.Selection == SelectTestRA {
		res.Test = *best
	} else {
		ckpt, err := rundir.ReadCheckpoint(run.File(res.Checkpoint))
		if err != nil {
			return fail("failed", err)
		}
		sel, err := RestoreClassifier(backend, ckpt, clf.Encoder, clf.Branch, clf.NumClasses)
		if err != nil {
			return fail("failed", err)
		}
		ev, err := NewPGDEvaluator(sel, cfg.EvalAttack, 1, cfg.EvalBatch, cfg.Seed)
		if err != nil {
			return fail("failed", err)
		}
		acc, err := ev.Evaluate(test)
		if err != nil {
			return fail("failed", err)
		}
		res.Test = *acc
	}
	res.Seconds = time.Since(start).Seconds()
	if err := fdir.WriteJSON(FinetuneResultFile, res); err != nil {
		return nil, err
	}
	prov.End = time.Now().UTC()
	_ = fdir.WriteJSON(rundir.ProvenanceFile, prov)
	progressf(opts.Progress, "%s: epoch %d %s; test SA %.2f%%, RA %.2f%% (%s, %d images)\n", cfg.Mode, res.SelectedEpoch,
		res.SelectionLabel, 100*res.Test.Clean, 100*res.Test.Robust, res.AttackLabel, res.Test.Images)
	return res, fdir.SetStatus(rundir.Status{State: "done", Step: stepCount, Epoch: cfg.Epochs})
}
