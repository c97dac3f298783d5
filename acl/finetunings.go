package acl

import (
	gocontext "context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/ainfonce/goacl/acl/eval"
	"github.com/ainfonce/goacl/acl/finetune"

	"github.com/ainfonce/goacl/acl/pretrain"

	"github.com/ainfonce/goacl/acl/rundir"

	"github.com/ainfonce/goacl/acl/attack"
)

// This file is the notebooks' side of finetuning and evaluation (finetune*.go, eval.go,
// autoattack.go): the finetunings and AutoAttack evaluations a notebook needs at its scale,
// each computed once and reused from the run directory afterwards, exactly as `acl
// finetune` and `acl eval` write them (so `acl table` reads the same files).

// FinetuneConfig returns the finetuning of mode for a run at the notebook's scale: the
// official configuration of the run's own method's protocol (finetune.DefaultConfig with
// finetune.DefaultProtocol, docs/evaluation.md) shrunk by Settings.Finetune.
func (nb *Notebook) FinetuneConfig(runDir string, mode finetune.Mode) (finetune.Config, error) {
	pre, err := pretrain.ReadConfig(runDir)
	if err != nil {
		return finetune.Config{}, err
	}
	c, err := finetune.DefaultConfig(pre, mode, "")
	if err != nil {
		return c, err
	}
	f := nb.Settings.Finetune
	c.Resize(finetune.Sizes{Epochs: f.Epochs, BatchSize: f.BatchSize, TrainSubset: f.TrainSubset,
		ValSize: f.ValSize, TestSubset: f.TestSubset, EvalBatch: f.EvalBatch})
	return c, c.Validate()
}

// Finetune finetunes a run in mode at the notebook's scale (FinetuneConfig), or reuses it:
// a finished finetuning with the same configuration is returned as is, an unfinished one
// is redone, and a finished one with another configuration is an error naming the folder to
// remove. Progress lines (one per epoch) go to progress.
func (nb *Notebook) Finetune(runDir string, mode finetune.Mode, progress io.Writer) (*finetune.Result, error) {
	cfg, err := nb.FinetuneConfig(runDir, mode)
	if err != nil {
		return nil, err
	}
	run, err := rundir.Open(runDir)
	if err != nil {
		return nil, err
	}
	resFile := filepath.Join(finetune.Dir(mode), finetune.ResultFile)
	var stored finetune.Result
	force := false
	switch err := run.ReadJSON(resFile, &stored); {
	case err == nil && finetune.SameConfig(stored.Config, cfg):
		say(progress, "reusing finetuning %s of %s (selected epoch %d: SA %.2f%%, RA %.2f%%)\n",
			mode, nb.DisplayPath(runDir), stored.SelectedEpoch, 100*stored.Test.Clean, 100*stored.Test.Robust)
		return &stored, nil
	case err == nil:
		return nil, fmt.Errorf("run %s holds a %s finetuning with another configuration: remove %s to redo it at this scale",
			runDir, mode, run.File(finetune.Dir(mode)))
	case errors.Is(err, fs.ErrNotExist):
		force = true // nothing finished: start (again) from scratch
	default:
		return nil, err
	}
	backend, err := nb.Backend()
	if err != nil {
		return nil, err
	}
	say(progress, "finetuning %s of %s: %d epochs, batch %d, %s\n", mode, nb.DisplayPath(runDir), cfg.Epochs, cfg.BatchSize, cfg.Selection.Label())
	return finetune.Finetune(gocontext.Background(), runDir, cfg, finetune.Options{Backend: backend, Force: force, Progress: progress})
}

// PGD20 returns the PGD-20 evaluation of the mode finetuning of a run (the protocol's
// attack on the finetuning's test images, EvaluateFinetunedPGD), computing it once.
func (nb *Notebook) PGD20(runDir string, mode finetune.Mode) (*eval.Record, error) {
	ft, err := nb.Finetune(runDir, mode, nil)
	if err != nil {
		return nil, err
	}
	if rec, ok, err := eval.Read(runDir, mode, attack.NamePGD20); err != nil {
		return nil, err
	} else if ok && rec.Covers(ft) {
		return rec, nil
	}
	backend, err := nb.Backend()
	if err != nil {
		return nil, err
	}
	return eval.PGD(runDir, mode, eval.Options{Backend: backend})
}

// AutoAttack returns the AutoAttack evaluation (Settings.Finetune.AutoAttackPreset) of the
// mode finetuning of a run on the finetuning's test images, computing it once; log
// receives the attack's progress lines when it runs.
func (nb *Notebook) AutoAttack(runDir string, mode finetune.Mode, log io.Writer) (*eval.Record, *attack.AutoAttackResult, error) {
	preset := nb.Settings.Finetune.AutoAttackPreset
	name, err := attack.AutoAttackName(preset)
	if err != nil {
		return nil, nil, err
	}
	ft, err := nb.Finetune(runDir, mode, nil)
	if err != nil {
		return nil, nil, err
	}
	if rec, ok, err := eval.Read(runDir, mode, name); err != nil {
		return nil, nil, err
	} else if ok && rec.Covers(ft) {
		res, err := rec.AutoAttackDetails()
		return rec, res, err
	}
	backend, err := nb.Backend()
	if err != nil {
		return nil, nil, err
	}
	return eval.AutoAttack(runDir, mode, preset, eval.Options{Backend: backend}, log)
}
