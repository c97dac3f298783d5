package finetune

import (
	gocontext "context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/acl/train"

	"github.com/ainfonce/goacl/acl/optim"
	"github.com/ainfonce/goacl/acl/rundir"

	"github.com/ainfonce/goacl/acl/attack"

	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/engine"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Finetuning result layout inside a pretraining run directory.
const (
	// ResultFile is the result of a finetuning, in its folder.
	ResultFile = "result.json"
	// BestDir holds the selected checkpoint, in the finetuning's folder.
	BestDir = "best"
)

// Dir is the folder of mode's finetuning, relative to the pretraining run
// (results/finetune-<mode>).
func Dir(mode Mode) string {
	return filepath.Join(rundir.ResultsDir, "finetune-"+string(mode))
}

// Result is what a finetuning reports (its result.json).
type Result struct {
	// Config is the finetuning's resolved configuration.
	Config Config `json:"config"`
	// Method, Variant, Dataset and Encoder come from the pretraining run.
	Method     string `json:"method"`
	Variant    string `json:"variant"`
	Dataset    string `json:"dataset"`
	Encoder    string `json:"encoder"`
	NumClasses int    `json:"num_classes"`
	// PretrainingState is the pretraining run's status.json state when it was finetuned
	// ("done", or e.g. "interrupted" for an unfinished run).
	PretrainingState string `json:"pretraining_state,omitempty"`
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
	// Checkpoint is the selected checkpoint, relative to the pretraining run directory,
	// and CheckpointSHA256 its file's checksum; EncoderLoad names the pretraining
	// checkpoint the encoder came from (path, step, sha256).
	Checkpoint       string       `json:"checkpoint"`
	CheckpointSHA256 string       `json:"checkpoint_sha256"`
	EncoderLoad      *EncoderLoad `json:"encoder_load"`
	// Data is the data folder the finetuning read (pretrain.Config.ResolveData).
	Data    *pretrain.DataSource `json:"data,omitempty"`
	Backend string               `json:"backend"`
	Seconds float64              `json:"seconds"`
}

// Options are how a finetuning is run, beyond what it computes.
type Options struct {
	// Backend runs the graphs; nil means engine.New().
	Backend backends.Backend
	// Force replaces an existing finetuning of the same mode; without it an existing
	// finished one is an error (ErrFinetuningExists: nothing is overwritten). The
	// replacement is atomic: the new finetuning is written beside the old one, which
	// stays in place, untouched, until the new one has finished.
	Force bool
	// Progress receives one line per epoch (and a progress bar on a terminal); nil means
	// none.
	Progress io.Writer
	// DataDir, when set, replaces the run's data folder (LoadOptions.DataDir; recorded in
	// Result.Data).
	DataDir string
}

// ErrFinetuningExists is wrapped by the error of a finetuning whose folder already holds
// a finished result, without Options.Force.
var ErrFinetuningExists = errors.New("finetuning already exists")

// Finetune finetunes the encoder of the pretraining run runDir in cfg.Mode with the
// training loop of acl/train and writes DIR/results/finetune-<mode>/ (config.json,
// provenance.json, metrics.jsonl with one record per epoch, status.json, best/ with the
// selected checkpoint, result.json). After every epoch it measures SA and RA
// (cfg.EvalAttack) on the selection split (validation, or test for SelectTestRA) and
// keeps the best-RA checkpoint; the selected checkpoint's test SA and RA are the reported
// numbers. Variables holding NaN or ±Inf after an epoch stop it (train.ErrNonFinite):
// such weights are never saved or reported. The folder is written under a temporary name
// and put in place when the finetuning has finished, so a previous result stays whole
// until then and is kept when the new finetuning fails or is interrupted. Cancelling ctx
// stops between batches (a finetuning does not resume: run it again).
func Finetune(ctx gocontext.Context, runDir string, cfg Config, opts Options) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	run, err := rundir.Open(runDir)
	if err != nil {
		return nil, err
	}
	pre, err := pretrain.ReadConfig(runDir)
	if err != nil {
		return nil, err
	}
	progress := train.NewProgress(opts.Progress)
	var st rundir.Status
	if run.ReadJSON(rundir.StatusFile, &st) == nil && st.State != rundir.StateDone {
		progress.Printf("warning: pretraining run %s is %q (step %d); finetuning the checkpoint it stopped at\n", runDir, st.State, st.Step)
	}
	final := run.File(Dir(cfg.Mode))
	previous := fileExists(filepath.Join(final, ResultFile))
	if previous && !opts.Force {
		return nil, fmt.Errorf("%w: %s (replace this %s finetuning with Force)", ErrFinetuningExists, final, cfg.Mode)
	}
	backend := opts.Backend
	if backend == nil {
		if backend, err = engine.New(); err != nil {
			return nil, err
		}
	}
	m, err := Load(backend, runDir, LoadOptions{Branch: cfg.Branch, Seed: cfg.Seed, Checkpoint: cfg.PretrainedCheckpoint,
		NaturalBranch: cfg.NaturalBranch, DataDir: opts.DataDir})
	if err != nil {
		return nil, err
	}
	data, err := m.Data()
	if err != nil {
		return nil, err
	}
	if data.Note != "" {
		progress.Printf("data: %s: %s\n", data.Dir, data.Note)
	}
	trainSet, val, test, err := splits(&cfg, pre.Dataset, data.Dir)
	if err != nil {
		return nil, err
	}
	clf := m.NewClassifier(trainSet.NumClasses)
	if cfg.HeadInit == HeadInitZero {
		clf.ZeroHead()
	}
	cfg.Branch = clf.Branch
	clf.SetEncoderTrainable(cfg.Mode == AFF)

	// Never touch a finetuning another process is writing: hold its folder's lock until
	// the new one is in place.
	if fileExists(final) {
		busy, err := rundir.Create(final)
		if err != nil {
			return nil, err
		}
		defer busy.Close()
	}
	tmp, err := newAttemptDir(run, cfg.Mode)
	if err != nil {
		return nil, err
	}
	fdir, err := rundir.Create(tmp)
	if err != nil {
		return nil, err
	}
	res, err := finetuneInto(ctx, fdir, runDir, cfg, m, clf, st.State, trainSet, val, test, progress, backend)
	fdir.Close()
	if err != nil {
		if previous {
			_ = os.RemoveAll(tmp)
			return nil, fmt.Errorf("%w; the previous %s finetuning in %s is kept", err, cfg.Mode, final)
		}
		// Nothing finished to keep: put the attempt in place, where its status.json and
		// metrics can be read.
		_ = rundir.ReplaceDir(tmp, final)
		return nil, err
	}
	if err := rundir.ReplaceDir(tmp, final); err != nil {
		return nil, err
	}
	return res, nil
}

// finetuneInto runs the finetuning into the (temporary) folder fdir.
func finetuneInto(ctx gocontext.Context, fdir *rundir.Dir, runDir string, cfg Config, m *Model, clf *Classifier, preState string,
	trainSet, val, test *datasets.Dataset, progress *train.Progress, backend backends.Backend) (*Result, error) {
	pre := m.Config
	res := &Result{Config: cfg, Method: pre.Method, Variant: pre.Variant, Dataset: pre.Dataset, Encoder: clf.Encoder.String(),
		NumClasses: trainSet.NumClasses, PretrainingState: preState, SelectionLabel: cfg.Selection.Label(), TrainImages: trainSet.Len(),
		EncoderLoad: m.EncoderLoad, Data: m.data, Backend: engine.Describe(backend)}
	if val != nil {
		res.ValImages = val.Len()
	}
	if err := fdir.WriteJSON(rundir.ConfigFile, struct {
		Config
		Run         string       `json:"run"`
		TrainImages int          `json:"train_images"`
		ValImages   int          `json:"val_images"`
		TestImages  int          `json:"test_images"`
		EncoderLoad *EncoderLoad `json:"encoder_load"`
	}{cfg, runDir, res.TrainImages, res.ValImages, test.Len(), m.EncoderLoad}); err != nil {
		return nil, err
	}
	prov := rundir.CollectProvenance(res.Backend)
	if err := fdir.WriteJSON(rundir.ProvenanceFile, prov); err != nil {
		return nil, err
	}
	start := time.Now()
	setupFailed := func(err error) (*Result, error) {
		_ = fdir.SetStatus(rundir.Status{State: rundir.StateFailed, Reason: err.Error()})
		return nil, err
	}
	views := datasets.EvalViews()
	if cfg.Augment {
		views = datasets.FinetuneViews()
	}
	loader, err := datasets.NewLoader(trainSet, views, datasets.LoaderConfig{BatchSize: cfg.BatchSize, Seed: cfg.Seed, Shuffle: true})
	if err != nil {
		return setupFailed(err)
	}
	optimizer, err := optim.New(cfg.Optimizer)
	if err != nil {
		return setupFailed(err)
	}
	evaluator, err := NewPGDEvaluator(clf, cfg.EvalAttack, 1, cfg.EvalBatch, cfg.Seed)
	if err != nil {
		return setupFailed(err)
	}
	res.EvalAttack = evaluator.Settings()
	res.AttackLabel = res.EvalAttack.Label()
	sel := &selection{cfg: &cfg, res: res, evaluator: evaluator, split: val, name: "val",
		bestDir: filepath.Join(fdir.Path, BestDir), finalBest: filepath.Join(Dir(cfg.Mode), BestDir), ctx: clf.Ctx}
	if cfg.Selection == SelectTestRA {
		sel.split, sel.name = test, "test"
	}
	loop := &train.Loop{
		Name: string(cfg.Mode), Backend: backend, Model: clf.Ctx, Optimizer: optimizer,
		Step: func(ctx *context.Context, in []*graph.Node) train.Outputs {
			loss, terms := Loss(ctx, clf, &cfg, in[0], in[1])
			return train.Outputs{Loss: loss, Terms: terms}
		},
		Schedule: cfg.Schedule(),
		Data:     imageData{loader}, Epochs: cfg.Epochs, RunDir: fdir, Progress: progress,
		EndEpoch: func(st train.State, e train.Epoch) error {
			rec, err := sel.endEpoch(st, e)
			if err != nil {
				return err
			}
			if err := fdir.LogMetrics(rec); err != nil {
				return err
			}
			line := fmt.Sprintf("%s epoch %d/%d  loss %.4f  lr %.4g", cfg.Mode, e.Index+1, cfg.Epochs, e.Loss, e.LR)
			if cfg.Selection != SelectLast {
				line += fmt.Sprintf("  %s SA %.2f%% RA %.2f%%", sel.name, 100*rec[sel.name+"_clean_accuracy"].(float64), 100*rec[sel.name+"_robust_accuracy"].(float64))
			}
			progress.Printf("%s\n", line)
			return nil
		},
		Done: func(train.State) error {
			// The reported numbers: the selected checkpoint on the test images.
			if cfg.Selection == SelectTestRA {
				res.Test = *sel.best
			} else {
				acc, err := testSelected(backend, sel.bestPath, res, clf, test)
				if err != nil {
					return err
				}
				res.Test = *acc
			}
			res.Seconds = time.Since(start).Seconds()
			if err := fdir.WriteJSON(ResultFile, res); err != nil {
				return err
			}
			prov.End = time.Now().UTC()
			_ = fdir.WriteJSON(rundir.ProvenanceFile, prov)
			progress.Printf("%s: epoch %d %s; test SA %.2f%%, RA %.2f%% (%s, %d images)\n", cfg.Mode, res.SelectedEpoch,
				res.SelectionLabel, 100*res.Test.Clean, 100*res.Test.Robust, res.AttackLabel, res.Test.Images)
			return nil
		},
	}
	sum, err := loop.Run(ctx, train.State{})
	if err != nil {
		return nil, err
	}
	if sum.Stopped != "" {
		return nil, fmt.Errorf("finetuning stopped at epoch %d: %w; it does not resume: run it again", sum.Epoch+1, ctx.Err())
	}
	return res, nil
}

// newAttemptDir returns a fresh temporary folder name beside mode's finetuning folder
// (results/.finetune-<mode>.new-<pid>-<time>), after removing those of earlier attempts
// that no process holds (killed runs).
func newAttemptDir(run *rundir.Dir, mode Mode) (string, error) {
	prefix := run.File(rundir.ResultsDir, ".finetune-"+string(mode)+".new-")
	old, _ := filepath.Glob(prefix + "*")
	for _, p := range old {
		if d, err := rundir.Create(p); err == nil { // not in use: a dead attempt
			d.Close()
			_ = os.RemoveAll(p)
		}
	}
	if err := os.MkdirAll(run.File(rundir.ResultsDir), 0o755); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s%d-%d", prefix, os.Getpid(), time.Now().UnixNano()), nil
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// testSelected evaluates the checkpoint the finetuning selected (the file path), reloaded
// strictly, on the test images with the protocol's attack.
func testSelected(backend backends.Backend, path string, res *Result, clf *Classifier, test *datasets.Dataset) (*Accuracy, error) {
	ckpt, err := rundir.ReadCheckpoint(path)
	if err != nil {
		return nil, err
	}
	selected, err := restoreClassifier(backend, ckpt, clf.Encoder, clf.Branch, clf.NaturalBranch, clf.NumClasses)
	if err != nil {
		return nil, err
	}
	ev, err := NewPGDEvaluator(selected, res.Config.EvalAttack, 1, res.Config.EvalBatch, res.Config.Seed)
	if err != nil {
		return nil, err
	}
	return ev.Evaluate(test)
}
