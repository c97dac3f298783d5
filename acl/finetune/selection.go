package finetune

import (
	gocontext "context"
	"fmt"
	"iter"
	"path/filepath"
	"strings"

	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/acl/train"
	"github.com/ainfonce/goacl/datasets"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// selection is a finetuning's epoch selection: after every epoch it measures the
// selection split (unless the rule is SelectLast), keeps the checkpoint of the best robust
// accuracy in best/, and makes the epoch's metrics record.
type selection struct {
	cfg       *Config
	res       *Result
	evaluator *PGDEvaluator
	split     *datasets.Dataset
	name      string // "val" or "test"
	// bestDir is where the selected checkpoint is written now, finalBest where it will
	// be once the finetuning is in place (relative to the run directory).
	bestDir, finalBest string
	bestPath           string
	ctx                *context.Context
	best               *Accuracy
}

// endEpoch selects after epoch e and returns its metrics record: the epoch (1-based),
// steps, learning rate, mean loss and terms, training time, the selection split's SA and
// RA, and the epoch selected so far.
func (s *selection) endEpoch(st train.State, e train.Epoch) (map[string]any, error) {
	// As in pretraining: a model holding NaN or ±Inf stops the run; such weights are never
	// evaluated, saved or reported.
	if bad := train.NonFiniteVariables(s.ctx); len(bad) > 0 {
		return nil, fmt.Errorf("%w: after epoch %d %d variables hold NaN or ±Inf: %s; nothing of this epoch is saved (lower the learning rate)",
			train.ErrNonFinite, e.Index+1, len(bad), strings.Join(bad, ", "))
	}
	rec := map[string]any{"epoch": e.Index + 1, "step": st.Step, "lr": e.LR, "loss": e.Loss, "train_seconds": e.Seconds}
	for n, v := range e.Terms {
		rec[n] = v
	}
	improved := s.cfg.Selection == SelectLast || e.Index == 0
	if s.cfg.Selection != SelectLast {
		acc, err := s.evaluator.Evaluate(s.split)
		if err != nil {
			return nil, err
		}
		rec[s.name+"_clean_accuracy"], rec[s.name+"_robust_accuracy"] = acc.Clean, acc.Robust
		if s.best == nil || acc.Robust > s.best.Robust {
			s.best, improved = acc, true
		}
	}
	if improved {
		path, err := rundir.SaveCheckpoint(s.ctx, s.bestDir, int64(e.Index+1), map[string]any{"epoch": e.Index + 1}, 1)
		if err != nil {
			return nil, err
		}
		ckpt, err := rundir.ReadCheckpoint(path)
		if err != nil {
			return nil, err
		}
		s.bestPath = path
		s.res.SelectedEpoch = e.Index + 1
		s.res.Checkpoint = filepath.Join(s.finalBest, filepath.Base(path))
		s.res.CheckpointSHA256 = ckpt.SHA256
		if s.best != nil {
			s.res.SelectionClean, s.res.SelectionRobust = s.best.Clean, s.best.Robust
		}
	}
	rec["selected_epoch"] = s.res.SelectedEpoch
	return rec, nil
}

// imageData is a finetuning's train.Data: the loader's first view and the labels.
type imageData struct{ loader *datasets.Loader }

// BatchesPerEpoch implements train.Data.
func (d imageData) BatchesPerEpoch() int { return d.loader.NumBatches() }

// Epoch implements train.Data.
func (d imageData) Epoch(epoch, from int) iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		for b, err := range d.loader.EpochFrom(gocontext.Background(), epoch, from) {
			if err != nil {
				yield(train.Batch{}, err)
				return
			}
			v := b.Views[0]
			in := []any{tensors.FromFlatDataAndDimensions(v.Data, v.N, v.H, v.W, v.C),
				tensors.FromFlatDataAndDimensions(b.Labels, len(b.Labels))}
			if !yield(train.Batch{Inputs: in, Size: b.Size()}, nil) {
				return
			}
		}
	}
}
