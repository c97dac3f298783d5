package pretrain

import (
	gocontext "context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/acl/rundir"

	"github.com/ainfonce/goacl/internal/testdirs"
)

// tinyConfig is a RoCL run small enough for a unit test: a width-4 CNN on 64 images.
func tinyConfig(t *testing.T, variant string) Config {
	t.Helper()
	cfg, err := Preset("rocl", variant, ScaleSmoke, testdirs.CIFAR10(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Width, cfg.Subset, cfg.BatchSize, cfg.Epochs, cfg.Schedule.Epochs = 4, 64, 16, 2, 2
	cfg.Attack.Steps = 2
	cfg.LogEvery = 1
	return cfg
}

func TestPretrainWritesCompleteRunDir(t *testing.T) {
	out := t.TempDir()
	res, err := Pretrain(gocontext.Background(), tinyConfig(t, "iphn"), out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if res.Steps != 8 || res.Stopped {
		t.Fatalf("steps %d stopped %v; want 8 steps (2 epochs × 4 batches)", res.Steps, res.Stopped)
	}
	run, err := rundir.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	var st rundir.Status
	if err := run.ReadJSON(rundir.StatusFile, &st); err != nil || st.State != "done" {
		t.Fatalf("status %+v, %v", st, err)
	}
	var prov rundir.Provenance
	if err := run.ReadJSON(rundir.ProvenanceFile, &prov); err != nil || prov.Backend == "" || prov.End.IsZero() {
		t.Fatalf("provenance %+v, %v", prov, err)
	}
	metrics, err := run.ReadMetrics()
	if err != nil || len(metrics) != 8 {
		t.Fatalf("%d metric records, %v", len(metrics), err)
	}
	for _, key := range []string{"loss", "lr", "images_per_sec", "contrastive", "regularizer"} {
		if _, ok := metrics[0][key]; !ok {
			t.Errorf("metrics lack %q: %v", key, metrics[0])
		}
	}
	if _, _, err := rundir.LatestCheckpoint(run.File(rundir.CheckpointsDir)); err != nil {
		t.Fatal(err)
	}
	// The same folder without Resume must be refused: nothing is overwritten.
	if _, err := Pretrain(gocontext.Background(), tinyConfig(t, "iphn"), out, Options{}); !errors.Is(err, ErrRunExists) {
		t.Fatalf("rerun into a finished folder: want ErrRunExists, got %v", err)
	}
	// Resuming a finished run trains nothing and rewrites nothing.
	provBefore, _ := os.ReadFile(run.File(rundir.ProvenanceFile))
	again, err := Pretrain(gocontext.Background(), tinyConfig(t, "iphn"), out, Options{Resume: true})
	if err != nil || !again.AlreadyDone || again.Steps != 8 || again.FinalLoss == 0 {
		t.Fatalf("resuming a finished run: %+v, %v; want AlreadyDone after 8 steps with the last loss", again, err)
	}
	if provAfter, _ := os.ReadFile(run.File(rundir.ProvenanceFile)); string(provAfter) != string(provBefore) {
		t.Fatal("resuming a finished run rewrote provenance.json")
	}
}

// A run stopped after k steps and resumed must end with exactly the weights of an
// uninterrupted run.
func TestPretrainResumeMatchesUninterrupted(t *testing.T) {
	straight := t.TempDir()
	if _, err := Pretrain(gocontext.Background(), tinyConfig(t, "ip"), straight, Options{}); err != nil {
		t.Fatal(err)
	}
	resumed := t.TempDir()
	cfg := tinyConfig(t, "ip")
	cfg.MaxSteps = 3 // stops mid-epoch
	res, err := Pretrain(gocontext.Background(), cfg, resumed, Options{})
	if err != nil || !res.Stopped || res.Steps != 3 {
		t.Fatalf("first leg: %+v, %v", res, err)
	}
	cfg.MaxSteps = 0
	if _, err := Pretrain(gocontext.Background(), cfg, resumed, Options{Resume: true}); err != nil {
		t.Fatal(err)
	}
	a, _, err := rundir.LatestCheckpoint(filepath.Join(straight, rundir.CheckpointsDir))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := rundir.LatestCheckpoint(filepath.Join(resumed, rundir.CheckpointsDir))
	if err != nil {
		t.Fatal(err)
	}
	if a.Step != b.Step || len(a.Variables) != len(b.Variables) {
		t.Fatalf("steps %d vs %d, %d vs %d variables", a.Step, b.Step, len(a.Variables), len(b.Variables))
	}
	for _, key := range a.DifferentValues(b) {
		t.Errorf("variable %s differs after resume", key)
	}
	mets, _ := (&rundir.Dir{Path: resumed}).ReadMetrics()
	if len(mets) != 8 {
		t.Errorf("resumed run logged %d metric records, want 8 (no duplicates)", len(mets))
	}
}

func TestPretrainRejectsBadConfigBeforeWork(t *testing.T) {
	cases := map[string]func(*Config){
		"batch_size":       func(c *Config) { c.BatchSize = 1 },
		"width":            func(c *Config) { c.Width = -3 },
		"subset":           func(c *Config) { c.Subset = 8 },
		"α":                func(c *Config) { c.Loss.Alpha = 1.5 },
		"method":           func(c *Config) { c.Method = "simsiam" },
		"attack_objective": func(c *Config) { c.AttackObjective = "training" },
		"epsilon":          func(c *Config) { c.Attack.Epsilon = -0.1 },
	}
	for want, mutate := range cases {
		cfg := tinyConfig(t, "ip")
		mutate(&cfg)
		out := filepath.Join(t.TempDir(), "run")
		_, err := Pretrain(gocontext.Background(), cfg, out, Options{})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: want an error naming it, got %v", want, err)
		}
		if _, statErr := os.Stat(out); statErr == nil {
			t.Errorf("%s: the run directory was created before validation", want)
		}
	}
}
