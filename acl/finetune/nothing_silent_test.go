package finetune

import (
	"bytes"
	gocontext "context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/acl/internal/testrun"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/acl/train"
)

// tinySLF is an SLF finetuning of run small enough for these tests: one epoch of one step.
func tinySLF(t *testing.T, run string) Config {
	t.Helper()
	cfg := tinyFinetuneConfig(t, run, SLF, 1)
	cfg.TrainSubset = 32
	return cfg
}

// A damaged final checkpoint is never silently replaced by an older one: Load, Finetune
// and PretrainedCheckpoint stop with an error naming it; a checkpoint named explicitly is
// used, and every result records the step and sha256 of the checkpoint it came from.
// Resuming may fall back to the older checkpoint, but says so on its warnings output and
// in status.json.
func TestReliabilityDamagedFinalCheckpoint(t *testing.T) {
	run := t.TempDir()
	cfg := reliabilityConfig(t) // a checkpoint after each of the 8 steps, all kept
	if _, err := pretrain.Pretrain(gocontext.Background(), cfg, run, pretrain.Options{Backend: testBackend(t)}); err != nil {
		t.Fatal(err)
	}
	final := ckptFile(run, 8)
	good, err := PretrainedCheckpoint(run)
	if err != nil || good.Path != final || good.Step != 8 || good.SHA256 == "" {
		t.Fatalf("PretrainedCheckpoint of a finished run: %+v, %v; want %s", good, err, final)
	}
	data, _ := os.ReadFile(final)
	data[len(data)-3] ^= 0x55 // three bytes of data changed
	data[len(data)-2] ^= 0x55
	data[len(data)-1] ^= 0x55
	if err := os.WriteFile(final, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := PretrainedCheckpoint(run); err == nil || !strings.Contains(err.Error(), final) || !strings.Contains(err.Error(), "pretrained_checkpoint") {
		t.Errorf("PretrainedCheckpoint with a damaged final checkpoint: want an error naming %s and how to name another, got %v", final, err)
	}
	if _, err := Load(testBackend(t), run, LoadOptions{}); err == nil || !strings.Contains(err.Error(), final) {
		t.Errorf("Load: want an error naming %s, got %v", final, err)
	}
	slf := tinySLF(t, run)
	if _, err := Finetune(gocontext.Background(), run, slf, Options{Backend: testBackend(t)}); err == nil || !strings.Contains(err.Error(), final) {
		t.Errorf("Finetune: want an error naming %s, got %v", final, err)
	}
	if _, err := os.Stat(filepath.Join(run, Dir(SLF), ResultFile)); err == nil {
		t.Error("a finetuning wrote a result over a damaged final checkpoint")
	}
	// Named explicitly, an older checkpoint is used, and the result says which.
	slf.PretrainedCheckpoint = filepath.Join(rundir.CheckpointsDir, "ckpt-000000007.ckpt")
	res, err := Finetune(gocontext.Background(), run, slf, Options{Backend: testBackend(t)})
	if err != nil {
		t.Fatal(err)
	}
	seven, _ := rundir.ReadCheckpoint(ckptFile(run, 7))
	if l := res.EncoderLoad; l.Step != 7 || l.SHA256 != seven.SHA256 || l.Chosen != "named by the user" || res.CheckpointSHA256 == "" {
		t.Errorf("result of the named checkpoint: encoder load %+v, selected checkpoint sha %q", l, res.CheckpointSHA256)
	}

	// Resume falls back to step 7, and says so on its warnings and in status.json.
	resumed := copyDir(t, run)
	editConfig(t, resumed, func(c *pretrain.Config) { c.Epochs, c.Schedule.Epochs = 3, 3 })
	more := reliabilityConfig(t)
	more.Epochs, more.Schedule.Epochs = 3, 3
	var warn bytes.Buffer
	if _, err := pretrain.Pretrain(gocontext.Background(), more, resumed, pretrain.Options{Backend: testBackend(t), Resume: true, Warnings: &warn}); err != nil {
		t.Fatal(err)
	}
	var st rundir.Status
	if err := (&rundir.Dir{Path: resumed}).ReadJSON(rundir.StatusFile, &st); err != nil {
		t.Fatal(err)
	}
	damaged := ckptFile(resumed, 8)
	if !strings.Contains(warn.String(), "skipping damaged checkpoint") || !strings.Contains(warn.String(), damaged) ||
		len(st.Warnings) != 1 || !strings.Contains(st.Warnings[0], damaged) || !strings.Contains(st.Warnings[0], "step 7") || st.State != rundir.StateDone {
		t.Errorf("resume past a damaged checkpoint: warnings %q, status %+v", warn.String(), st)
	}
}

func ckptFile(run string, step int) string {
	return filepath.Join(run, rundir.CheckpointsDir, fmt.Sprintf("ckpt-%09d.ckpt", step))
}

// A learning rate that sends the head's weights to ±Inf stops the finetuning
// (train.ErrNonFinite, status failed) instead of reporting a result from them.
func TestReliabilityNonFiniteFinetuning(t *testing.T) {
	run := testrun.Pretrained(t)
	cfg := tinySLF(t, run)
	cfg.TrainSubset = 64 // two steps: the second's weight decay overflows the weights, the loss stays finite
	cfg.LR, cfg.LRSource = 1e30, "test"
	_, err := Finetune(gocontext.Background(), run, cfg, Options{Backend: testBackend(t)})
	if !errors.Is(err, train.ErrNonFinite) || !strings.Contains(err.Error(), "/classifier/") {
		t.Fatalf("lr 1e30: want ErrNonFinite naming the classifier's variables, got %v", err)
	}
	if _, err := os.Stat(filepath.Join(run, Dir(SLF), ResultFile)); err == nil {
		t.Error("result.json written from non-finite weights")
	}
	var st rundir.Status
	if err := (&rundir.Dir{Path: filepath.Join(run, Dir(SLF))}).ReadJSON(rundir.StatusFile, &st); err != nil || st.State != rundir.StateFailed {
		t.Errorf("status of the failed finetuning: %+v, %v", st, err)
	}
}

// Force replaces a finetuning only when the new one has finished: an interrupted or
// failing replacement leaves the previous folder byte for byte, and no temporary folder;
// a finished one takes its place.
func TestReliabilityForceReplacesAtomically(t *testing.T) {
	run := testrun.Pretrained(t)
	cfg := tinySLF(t, run)
	if _, err := Finetune(gocontext.Background(), run, cfg, Options{Backend: testBackend(t)}); err != nil {
		t.Fatal(err)
	}
	resultPath := filepath.Join(run, Dir(SLF), ResultFile)
	before, _ := os.ReadFile(resultPath)
	cancelled, cancel := gocontext.WithCancel(gocontext.Background())
	cancel()
	other := cfg
	other.Seed = 2
	if _, err := Finetune(cancelled, run, other, Options{Backend: testBackend(t), Force: true}); err == nil || !strings.Contains(err.Error(), "is kept") {
		t.Errorf("interrupted replacement: want an error saying the previous finetuning is kept, got %v", err)
	}
	broken := other
	broken.LR, broken.TrainSubset = 1e30, 64
	if _, err := Finetune(gocontext.Background(), run, broken, Options{Backend: testBackend(t), Force: true}); !errors.Is(err, train.ErrNonFinite) {
		t.Errorf("failing replacement: %v", err)
	}
	if after, err := os.ReadFile(resultPath); err != nil || !bytes.Equal(before, after) {
		t.Fatalf("the previous result changed or vanished (%v)", err)
	}
	if _, err := Load(testBackend(t), run, LoadOptions{Finetuned: SLF}); err != nil {
		t.Errorf("the kept finetuning does not load: %v", err)
	}
	res, err := Finetune(gocontext.Background(), run, other, Options{Backend: testBackend(t), Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(resultPath); bytes.Equal(before, after) || res.Config.Seed != 2 {
		t.Error("a finished replacement did not take the place of the previous finetuning")
	}
	if left, _ := filepath.Glob(filepath.Join(run, rundir.ResultsDir, ".finetune-*")); len(left) != 0 {
		t.Errorf("temporary folders left behind: %v", left)
	}
}
