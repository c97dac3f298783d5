package acl

import (
	gocontext "context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"

	"github.com/ainfonce/goacl/acl/pretrain"

	"github.com/ainfonce/goacl/acl/rundir"

	"github.com/ainfonce/goacl/acl/attack"
)

// This file is the notebooks' side of finetuning and evaluation (finetune*.go, eval.go,
// autoattack.go): the finetunings and AutoAttack evaluations a notebook needs at its scale,
// each computed once and reused from the run directory afterwards, exactly as `acl
// finetune` and `acl eval` write them (so `acl table` reads the same files).

// FinetuneConfig returns the finetuning of mode for a run at the notebook's scale: the
// official AdvCL-protocol configuration (DefaultFinetuneConfig, spec §5.1) shrunk by
// Settings.Finetune.
func (nb *Notebook) FinetuneConfig(runDir string, mode FinetuneMode) (FinetuneConfig, error) {
	pre, err := pretrain.ReadConfig(runDir)
	if err != nil {
		return FinetuneConfig{}, err
	}
	c, err := DefaultFinetuneConfig(pre, mode, ProtocolAdvCL)
	if err != nil {
		return c, err
	}
	f := nb.Settings.Finetune
	if f.Epochs > 0 {
		c.ScaleEpochs(f.Epochs)
	}
	for _, kv := range []struct {
		dst *int
		v   int
	}{{&c.BatchSize, f.BatchSize}, {&c.TrainSubset, f.TrainSubset}, {&c.ValSize, f.ValSize}, {&c.TestSubset, f.TestSubset}, {&c.EvalBatch, f.EvalBatch}} {
		if kv.v > 0 {
			*kv.dst = kv.v
		}
	}
	return c, c.Validate()
}

// sameFinetune reports whether a stored finetuning configuration is the one cfg asks for
// (the stored Branch holds the resolved branch where cfg may say BranchAuto).
func sameFinetune(stored, cfg FinetuneConfig) bool {
	if cfg.Branch == BranchAuto {
		cfg.Branch = stored.Branch
	}
	a, _ := json.Marshal(stored)
	b, _ := json.Marshal(cfg)
	return string(a) == string(b)
}

// Finetune finetunes a run in mode at the notebook's scale (FinetuneConfig), or reuses it:
// a finished finetuning with the same configuration is returned as is, an unfinished one
// is redone, and a finished one with another configuration is an error naming the folder to
// remove. Progress lines (one per epoch) go to progress.
func (nb *Notebook) Finetune(runDir string, mode FinetuneMode, progress io.Writer) (*FinetuneResult, error) {
	cfg, err := nb.FinetuneConfig(runDir, mode)
	if err != nil {
		return nil, err
	}
	run, err := rundir.Open(runDir)
	if err != nil {
		return nil, err
	}
	resFile := filepath.Join(FinetuneDir(mode), FinetuneResultFile)
	var stored FinetuneResult
	force := false
	switch err := run.ReadJSON(resFile, &stored); {
	case err == nil && sameFinetune(stored.Config, cfg):
		progressf(progress, "reusing finetuning %s of %s (selected epoch %d: SA %.2f%%, RA %.2f%%)\n",
			mode, nb.DisplayPath(runDir), stored.SelectedEpoch, 100*stored.Test.Clean, 100*stored.Test.Robust)
		return &stored, nil
	case err == nil:
		return nil, fmt.Errorf("run %s holds a %s finetuning with another configuration: remove %s to redo it at this scale",
			runDir, mode, run.File(FinetuneDir(mode)))
	case errors.Is(err, fs.ErrNotExist):
		force = true // nothing finished: start (again) from scratch
	default:
		return nil, err
	}
	backend, err := nb.Backend()
	if err != nil {
		return nil, err
	}
	progressf(progress, "finetuning %s of %s: %d epochs, batch %d, %s\n", mode, nb.DisplayPath(runDir), cfg.Epochs, cfg.BatchSize, cfg.Selection.Label())
	return Finetune(gocontext.Background(), runDir, cfg, FinetuneOptions{Backend: backend, Force: force, Progress: progress})
}

// readEvalRecord reads DIR/results/eval-<mode>-<attack>.json; ok is false when it is
// missing.
func readEvalRecord(runDir string, mode FinetuneMode, attack string) (rec *EvalRecord, ok bool, err error) {
	run, err := rundir.Open(runDir)
	if err != nil {
		return nil, false, err
	}
	rec = &EvalRecord{}
	switch err := run.ReadJSON(EvalFile(mode, attack), rec); {
	case err == nil:
		return rec, true, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, false, nil
	default:
		return nil, false, err
	}
}

// evalUpToDate reports whether a stored evaluation covers the finetuning's current
// checkpoint and its own test images.
func evalUpToDate(rec *EvalRecord, ft *FinetuneResult) bool {
	return rec.Checkpoint == ft.Checkpoint && rec.TestSubset == ft.Config.TestSubset && rec.Seed == ft.Config.Seed
}

// PGD20 returns the PGD-20 evaluation of the mode finetuning of a run (the protocol's
// attack on the finetuning's test images, EvaluateFinetunedPGD), computing it once.
func (nb *Notebook) PGD20(runDir string, mode FinetuneMode) (*EvalRecord, error) {
	ft, err := nb.Finetune(runDir, mode, nil)
	if err != nil {
		return nil, err
	}
	if rec, ok, err := readEvalRecord(runDir, mode, attack.NamePGD20); err != nil {
		return nil, err
	} else if ok && evalUpToDate(rec, ft) {
		return rec, nil
	}
	backend, err := nb.Backend()
	if err != nil {
		return nil, err
	}
	return EvaluateFinetunedPGD(runDir, mode, EvalOptions{Backend: backend})
}

// AutoAttack returns the AutoAttack evaluation (Settings.Finetune.AutoAttackPreset) of the
// mode finetuning of a run on the finetuning's test images, computing it once; log
// receives the attack's progress lines when it runs.
func (nb *Notebook) AutoAttack(runDir string, mode FinetuneMode, log io.Writer) (*EvalRecord, *attack.AutoAttackResult, error) {
	preset := nb.Settings.Finetune.AutoAttackPreset
	name, err := attack.AutoAttackName(preset)
	if err != nil {
		return nil, nil, err
	}
	ft, err := nb.Finetune(runDir, mode, nil)
	if err != nil {
		return nil, nil, err
	}
	if rec, ok, err := readEvalRecord(runDir, mode, name); err != nil {
		return nil, nil, err
	} else if ok && evalUpToDate(rec, ft) {
		res, err := AutoAttackDetails(rec)
		return rec, res, err
	}
	backend, err := nb.Backend()
	if err != nil {
		return nil, nil, err
	}
	return EvaluateFinetunedAutoAttack(runDir, mode, preset, EvalOptions{Backend: backend}, log)
}

// AttackComparisonTable compares, on the same finetuned classifier and test images, the
// clean accuracy, PGD-20's robust accuracy, and AutoAttack's after each of its attacks.
func AttackComparisonTable(pgd *EvalRecord, aa *attack.AutoAttackResult) *HTMLTable {
	t := NewHTMLTable("pgd-vs-autoattack", fmt.Sprintf("PGD-20 vs AutoAttack (%s) on %s, %s finetuning, %d test images",
		aa.Preset, filepath.Base(pgd.Run), pgd.Mode, pgd.Accuracy.Images),
		"evaluation", "accuracy", "images attacked", "images fooled", "seconds")
	_ = t.AddRow(HTMLText("clean"), HTMLPercent(pgd.Accuracy.Clean), HTMLText("–"), HTMLText("–"), HTMLText("–"))
	_ = t.AddRow(HTMLText("PGD-20"), HTMLPercent(pgd.Accuracy.Robust), HTMLNumber(float64(pgd.Accuracy.CleanCorrect), "%.0f"),
		HTMLNumber(float64(pgd.Accuracy.CleanCorrect-pgd.Accuracy.RobustCorrect), "%.0f"), HTMLNumber(pgd.Seconds, "%.1f"))
	for _, r := range aa.Attacks {
		_ = t.AddRow(HTMLText("AutoAttack after "+r.Name), HTMLPercent(r.RobustAccuracy), HTMLNumber(float64(r.Attacked), "%.0f"),
			HTMLNumber(float64(r.Fooled), "%.0f"), HTMLNumber(r.Seconds, "%.1f"))
	}
	_ = t.AddRow(HTMLText("AutoAttack"), HTMLPercent(aa.RobustAccuracy), HTMLText("–"), HTMLText("–"), HTMLText("–"))
	t.AddNote(fmt.Sprintf("PGD-20: %s. AutoAttack: %s version, L∞ ε = %.4f, each attack on the images still robust; "+
		"largest perturbation found %.4f.", pgd.AttackLabel, aa.Preset, aa.Epsilon, aa.MaxPerturbation))
	return t
}
