package eval

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/internal/testbackend"
)

// PGD on a toy finetuning with the default options re-measures the finetuning's own test
// numbers (same checkpoint, images, seed and attack, loaded through finetune.Load), and
// the record it writes reads back unchanged and covers that finetuning; a changed seed no
// longer covers it.
func TestPGDReproducesFinetuningTest(t *testing.T) {
	backend := testbackend.Get(t)
	run, ft := finetunedRun(t, 2)

	if _, ok, err := Read(run, finetune.SLF, ft.EvalAttack.Name); err != nil || ok {
		t.Fatalf("Read before any evaluation: ok = %v, err = %v; want no record", ok, err)
	}
	rec, err := PGD(run, finetune.SLF, Options{Backend: backend})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Accuracy != ft.Test {
		t.Errorf("PGD accuracy %+v, want the finetuning's test accuracy %+v", rec.Accuracy, ft.Test)
	}
	if rec.Accuracy.Images != 32 || rec.Accuracy.Robust > rec.Accuracy.Clean {
		t.Errorf("accuracy %+v: want 32 images and RA ≤ SA", rec.Accuracy)
	}
	resSHA, err := finetune.ResultSHA256(run, finetune.SLF)
	if err != nil {
		t.Fatal(err)
	}
	if rec.FinetuningSHA256 != resSHA || rec.Stale(resSHA) != "" || rec.CheckpointSHA256 != ft.CheckpointSHA256 || rec.CheckpointStep != int64(ft.SelectedEpoch) ||
		rec.Pretrained == nil || rec.Pretrained.SHA256 != ft.EncoderLoad.SHA256 || rec.Pretrained.Step != ft.EncoderLoad.Step {
		t.Errorf("record does not name what it evaluated: finetuning %q (want %q), checkpoint %q step %d (want %q, %d), pretrained %+v",
			rec.FinetuningSHA256, resSHA, rec.CheckpointSHA256, rec.CheckpointStep, ft.CheckpointSHA256, ft.SelectedEpoch, rec.Pretrained)
	}
	if rec.Stale("another") == "" {
		t.Error("a record is not stale against another finetuning's result")
	}
	if !rec.Covers(ft) {
		t.Errorf("record (checkpoint %s, subset %d, seed %d) does not cover the finetuning (%s, %d, %d)",
			rec.Checkpoint, rec.TestSubset, rec.Seed, ft.Checkpoint, ft.Config.TestSubset, ft.Config.Seed)
	}
	got, ok, err := Read(run, finetune.SLF, rec.Attack.Name)
	if err != nil || !ok {
		t.Fatalf("Read: ok = %v, err = %v", ok, err)
	}
	if got.Accuracy != rec.Accuracy || !reflect.DeepEqual(got.Attack, rec.Attack) || got.Checkpoint != rec.Checkpoint ||
		got.AttackLabel != rec.AttackLabel || !got.Time.Equal(rec.Time) {
		t.Errorf("read back %+v, want %+v", got, rec)
	}

	if len(rec.Warnings) != 0 {
		t.Errorf("fresh finetuning: unexpected warnings %q", rec.Warnings)
	}
	// The run continued after the finetuning (a newer final checkpoint): the evaluation
	// says the finetuning is stale.
	m, err := finetune.Load(backend, run, finetune.LoadOptions{All: true})
	if err != nil {
		t.Fatal(err)
	}
	path, err := rundir.SaveCheckpoint(m.Ctx, filepath.Join(run, rundir.CheckpointsDir), m.Checkpoint.Step+1, m.Checkpoint.State, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := (&rundir.Dir{Path: run}).SetStatus(rundir.Status{State: rundir.StateDone, Step: m.Checkpoint.Step + 1, Checkpoint: path}); err != nil {
		t.Fatal(err)
	}
	stale, err := PGD(run, finetune.SLF, Options{Backend: backend})
	if err != nil {
		t.Fatal(err)
	}
	if len(stale.Warnings) != 1 || !strings.Contains(stale.Warnings[0], "stale finetuning") {
		t.Errorf("evaluation of a finetuning of an older checkpoint: warnings %q", stale.Warnings)
	}

	other, err := PGD(run, finetune.SLF, Options{Backend: backend, Seed: ft.Config.Seed + 1})
	if err != nil {
		t.Fatal(err)
	}
	if other.Covers(ft) {
		t.Error("a record with another seed covers the finetuning")
	}
}
