package eval

import (
	"reflect"
	"testing"

	"github.com/ainfonce/goacl/acl/finetune"
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

	other, err := PGD(run, finetune.SLF, Options{Backend: backend, Seed: ft.Config.Seed + 1})
	if err != nil {
		t.Fatal(err)
	}
	if other.Covers(ft) {
		t.Error("a record with another seed covers the finetuning")
	}
}
