// Package eval measures finetuned classifiers of a pretraining run and records the
// measurements: PGD and AutoAttack evaluations of the checkpoint a finetuning selected
// (finetune.Load), each written to the run directory as an evaluation record
// (results/eval-<mode>-<attack>.json) with every setting a table needs to compare it with
// others.
package eval

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"time"

	"github.com/ainfonce/goacl/acl/attack"
	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/acl/rundir"
)

// Record is one evaluation of a finetuned classifier, written to
// DIR/results/eval-<mode>-<attack>.json with everything needed to compare it with others.
type Record struct {
	// Run is the pretraining run directory; Mode the finetuning mode evaluated.
	Run  string        `json:"run"`
	Mode finetune.Mode `json:"mode"`
	// Method, Variant and Dataset come from the pretraining run's config.json.
	Method  string `json:"method"`
	Variant string `json:"variant"`
	Dataset string `json:"dataset"`
	// Attack and AttackLabel describe the attack; Protocol is the finetuning protocol.
	Attack      attack.Settings `json:"attack"`
	AttackLabel string          `json:"attack_label"`
	Protocol    string          `json:"protocol"`
	// Selection is how the evaluated checkpoint was chosen (see finetune.Selection).
	Selection      finetune.Selection `json:"selection"`
	SelectionLabel string             `json:"selection_label"`
	// Checkpoint is the evaluated checkpoint, relative to Run, CheckpointStep its step
	// (the selected epoch) and CheckpointSHA256 its file's sha256.
	Checkpoint       string `json:"checkpoint"`
	CheckpointStep   int64  `json:"checkpoint_step"`
	CheckpointSHA256 string `json:"checkpoint_sha256"`
	// FinetuningSHA256 is the sha256 of the finetuning's result.json the evaluation read:
	// the finetuning it evaluated. A later finetuning of the mode (acl finetune -force)
	// has another, and tables then ignore this record (Stale).
	FinetuningSHA256 string `json:"finetuning_sha256"`
	// Pretrained is the pretraining checkpoint the finetuned encoder came from (path,
	// step, sha256), as the finetuning recorded it.
	Pretrained *finetune.EncoderLoad `json:"pretrained,omitempty"`
	// TestSubset is the requested number of test images (0: all); Accuracy.Images the
	// number evaluated; Seed fixes the subset and the attack's randomness.
	TestSubset int               `json:"test_subset"`
	Seed       uint64            `json:"seed"`
	BatchSize  int               `json:"batch_size"`
	Accuracy   finetune.Accuracy `json:"accuracy"`
	// Data is the data folder the test images were read from.
	Data *pretrain.DataSource `json:"data,omitempty"`
	// Backend and Seconds say where and how long it ran; Time when it finished.
	Backend string    `json:"backend"`
	Seconds float64   `json:"seconds"`
	Time    time.Time `json:"time"`
	// Extra holds attack-specific details (e.g. AutoAttack's per-stage robust accuracy).
	Extra map[string]any `json:"extra,omitempty"`
	// Warnings are the evaluation-hygiene checks that fired (Checks, CompareWithAutoAttack):
	// reasons the robust accuracy may be overestimated.
	Warnings []string `json:"warnings,omitempty"`
}

// File is the results file of an evaluation of mode by the attack named attackName
// (attack.NamePGD20, …), relative to the run directory.
func File(mode finetune.Mode, attackName string) string {
	return filepath.Join(rundir.ResultsDir, fmt.Sprintf("eval-%s-%s.json", mode, attackName))
}

// Write completes rec (label, time) and writes it to its File in runDir.
func Write(runDir string, rec *Record) error {
	if rec.Attack.Name == "" {
		return fmt.Errorf("evaluation record: attack name is empty")
	}
	rec.AttackLabel = rec.Attack.Label()
	rec.Time = time.Now().UTC()
	run, err := rundir.Open(runDir)
	if err != nil {
		return err
	}
	return run.WriteJSON(File(rec.Mode, rec.Attack.Name), rec)
}

// Read reads the evaluation record of mode by attackName of a run; ok is false when there
// is none.
func Read(runDir string, mode finetune.Mode, attackName string) (rec *Record, ok bool, err error) {
	run, err := rundir.Open(runDir)
	if err != nil {
		return nil, false, err
	}
	rec = &Record{}
	switch err := run.ReadJSON(File(mode, attackName), rec); {
	case err == nil:
		return rec, true, nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, false, nil
	default:
		return nil, false, err
	}
}

// Covers reports whether the record measured the finetuning ft as it stands: its current
// selected checkpoint (path and sha256), on its own test images (subset and seed).
func (r *Record) Covers(ft *finetune.Result) bool {
	return r.Checkpoint == ft.Checkpoint && r.CheckpointSHA256 != "" && r.CheckpointSHA256 == ft.CheckpointSHA256 &&
		r.TestSubset == ft.Config.TestSubset && r.Seed == ft.Config.Seed
}

// Stale says why the record does not describe the finetuning whose result.json has
// sha256 resultSHA ("" when it does): it evaluated another finetuning of the mode, or it
// predates records naming their finetuning and cannot be checked.
func (r *Record) Stale(resultSHA string) string {
	switch {
	case r.FinetuningSHA256 == "":
		return "the record does not name the finetuning it evaluated (made before evaluations recorded it): evaluate again"
	case r.FinetuningSHA256 != resultSHA:
		return fmt.Sprintf("it evaluated another finetuning (result.json sha256 %.12s…, now %.12s…): evaluate again", r.FinetuningSHA256, resultSHA)
	}
	return ""
}

// AutoAttackDetails returns the AutoAttack result stored in the record's Extra.
func (r *Record) AutoAttackDetails() (*attack.AutoAttackResult, error) {
	v, ok := r.Extra["autoattack"]
	if !ok {
		return nil, fmt.Errorf("evaluation record of %s (%s) holds no AutoAttack details", r.Run, r.AttackLabel)
	}
	if res, ok := v.(*attack.AutoAttackResult); ok {
		return res, nil
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var res attack.AutoAttackResult
	if err := json.Unmarshal(data, &res); err != nil {
		return nil, err
	}
	return &res, nil
}
