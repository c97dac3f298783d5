package eval

// Issue 18 item 13: acl eval validates its options and checks that its results can be
// written before it evaluates anything; item 6: it reads the run's data or stops.

import (
	gocontext "context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/acl/field"
	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/internal/testrun"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/internal/testbackend"
)

// finetunedRun is a tiny pretraining with a one-epoch SLF finetuning of 64 images, 32
// held out, evaluated on 32 test images with a PGD of attackSteps steps.
func finetunedRun(t *testing.T, attackSteps int) (string, *finetune.Result) {
	t.Helper()
	run := testrun.Pretrained(t)
	pre, err := pretrain.ReadConfig(run)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := finetune.DefaultConfig(pre, finetune.SLF, finetune.ProtocolAdvCL)
	if err != nil {
		t.Fatal(err)
	}
	cfg.ScaleEpochs(1)
	cfg.BatchSize, cfg.TrainSubset, cfg.ValSize, cfg.TestSubset, cfg.EvalBatch = 32, 64, 32, 32, 32
	cfg.EvalAttack.Steps = attackSteps
	ft, err := finetune.Finetune(gocontext.Background(), run, cfg, finetune.Options{Backend: testbackend.Get(t)})
	if err != nil {
		t.Fatal(err)
	}
	return run, ft
}

func TestReliabilityEvalChecksFirst(t *testing.T) {
	backend := testbackend.Get(t)
	run, _ := finetunedRun(t, 1)
	record := filepath.Join(run, File(finetune.SLF, "pgd20"))
	for _, c := range []struct {
		name string
		opts Options
		key  string
	}{
		{"eps NaN", Options{Epsilon: math.NaN()}, "epsilon"},
		{"eps -1", Options{Epsilon: -1}, "epsilon"},
		{"eps Inf", Options{Epsilon: math.Inf(1)}, "epsilon"},
		{"step NaN", Options{StepSize: math.NaN()}, "step_size"},
		{"steps -5", Options{Steps: -5}, "steps"},
		{"restarts -3", Options{Restarts: -3}, "restarts"},
		{"batch -1", Options{BatchSize: -1}, "batch_size"},
		{"test subset -5", Options{TestSubset: -5}, "test_subset"},
		{"test subset 100000", Options{TestSubset: 100000}, "test_subset"},
	} {
		c.opts.Backend = backend
		_, err := PGD(run, finetune.SLF, c.opts)
		var fe *field.Error
		if !errors.As(err, &fe) || fe.Key != c.key {
			t.Errorf("%s: want a field error of %s, got %v", c.name, c.key, err)
		}
		if _, err := os.Stat(record); err == nil {
			t.Fatalf("%s: an evaluation record was written", c.name)
		}
	}
	// A results folder that cannot be written is reported before the evaluation: the
	// probe file points to /dev/full (the tests run as root, which file modes do not stop).
	if _, err := os.Stat("/dev/full"); err == nil {
		probe := filepath.Join(run, rundir.ResultsDir, ".write-probe")
		if err := os.Symlink("/dev/full", probe); err != nil {
			t.Fatal(err)
		}
		if _, err := PGD(run, finetune.SLF, Options{Backend: backend}); err == nil || !strings.Contains(err.Error(), "not writable") {
			t.Errorf("an unwritable results folder: %v", err)
		}
		os.Remove(probe)
	}

	// Other files than the run recorded are refused; the run's files given explicitly are
	// read and the record says so.
	cfgPath := filepath.Join(run, rundir.ConfigFile)
	data, err := os.ReadFile(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	var cfg pretrain.Config
	if err := json.Unmarshal(data, &cfg); err != nil {
		t.Fatal(err)
	}
	wrong := cfg
	wrong.DataFingerprint = "sha256:0000"
	changed, _ := json.Marshal(wrong)
	if err := os.WriteFile(cfgPath, changed, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = PGD(run, finetune.SLF, Options{Backend: backend})
	var fe *field.Error
	if !errors.As(err, &fe) || fe.Key != "data_dir" || !strings.Contains(err.Error(), "not those the run was trained on") {
		t.Errorf("other data files: %v", err)
	}
	rec, err := PGD(run, finetune.SLF, Options{Backend: backend, DataDir: cfg.DataDir})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Data == nil || !rec.Data.Override || rec.Data.Dir != cfg.DataDir || !strings.Contains(rec.Data.Note, "other files") {
		t.Errorf("record's data: %+v", rec.Data)
	}
}
