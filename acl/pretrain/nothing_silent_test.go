package pretrain

// Issue 18, "nothing silent": configurations, folders and data a pretraining must refuse
// before it writes anything. Each test reproduces one of the filer's cases.

import (
	gocontext "context"
	"errors"
	"maps"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/acl/field"
	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/engine"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Every field is validated whatever the variant: with -variant base, a NaN α, an infinite
// β, a NaN τ⁺ or a NaN CE weight used to pass validation and then fail when config.json
// was written, leaving a lock, checkpoints/ and metrics.jsonl behind.
func TestReliabilityEveryFieldValidatedWhateverVariant(t *testing.T) {
	cases := []struct {
		name   string
		method string
		mutate func(*Config)
		want   string
	}{
		{"alpha NaN", "rocl", func(c *Config) { c.Loss.Alpha = math.NaN() }, "loss.alpha"},
		{"alpha 3", "rocl", func(c *Config) { c.Loss.Alpha = 3 }, "loss.alpha"},
		{"beta Inf", "rocl", func(c *Config) { c.Loss.Beta = math.Inf(1) }, "loss.beta"},
		{"tau-plus NaN", "rocl", func(c *Config) { c.Loss.TauPlus = math.NaN() }, "loss.tau_plus"},
		{"ce-weight NaN", "advcl", func(c *Config) { c.CEWeight = math.NaN() }, "ce_weight"},
		{"regularizer Inf", "rocl", func(c *Config) { c.RegularizerWeight = math.Inf(1) }, "regularizer_weight"},
		{"weight decay NaN", "rocl", func(c *Config) { c.Optimizer.WeightDecay = math.NaN() }, "optimizer.weight_decay"},
		{"epsilon Inf", "rocl", func(c *Config) { c.Attack.Epsilon = math.Inf(1) }, "attack.epsilon"},
		{"step size NaN", "rocl", func(c *Config) { c.Attack.StepSize = math.NaN() }, "attack.step_size"},
		// Bounded settings (issue 18 item 10): the attack is unrolled in the graph.
		{"attack steps 100000", "rocl", func(c *Config) { c.Attack.Steps = 100000 }, "attack.steps = 100000: must be in [0, 200]"},
		{"epsilon 2", "rocl", func(c *Config) { c.Attack.Epsilon = 2 }, "attack.epsilon = 2: must be in [0, 1]"},
		// A setting the method never reads is not recorded as if it were (item 15).
		{"pseudo labels with rocl", "rocl", func(c *Config) { c.PseudoLabelDir = c.DataDir }, "method rocl reads no pseudo labels"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := tinyConfig(t, "base")
			if c.method != "rocl" {
				var err error
				if cfg, err = Preset(c.method, "base", ScaleSmoke, cfg.DataDir); err != nil {
					t.Fatal(err)
				}
			}
			c.mutate(&cfg)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate: want an error naming %s, got %v", c.want, err)
			}
			out := filepath.Join(t.TempDir(), "run")
			if _, err := Pretrain(gocontext.Background(), cfg, out, Options{Backend: testBackend(t)}); err == nil {
				t.Fatal("Pretrain accepted it")
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("the run directory was created")
			}
		})
	}
}

// startedRun pretrains one step of tinyConfig("ip") into a fresh folder and returns the
// configuration and the folder.
func startedRun(t *testing.T) (Config, string) {
	t.Helper()
	cfg := tinyConfig(t, "ip")
	cfg.MaxSteps = 1
	out := filepath.Join(t.TempDir(), "run")
	if _, err := Pretrain(gocontext.Background(), cfg, out, Options{Backend: testBackend(t)}); err != nil {
		t.Fatal(err)
	}
	return cfg, out
}

// snapshot maps every file under dir to its content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		files[p] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// A new run refuses a folder that is not empty (issue 18 item 7): the filer's run whose
// checkpoints were removed had its config.json and provenance.json overwritten by another
// method's, its metrics.jsonl emptied and its finetuning results relabelled. Nothing in
// the folder changes; Overwrite clears a run folder, never a folder that holds no run.
func TestReliabilityNewRunRefusesNonEmptyFolder(t *testing.T) {
	_, out := startedRun(t)
	if err := os.RemoveAll(filepath.Join(out, rundir.CheckpointsDir)); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(out, rundir.ResultsDir, "finetune-slf"), 0o755)
	os.WriteFile(filepath.Join(out, rundir.ResultsDir, "finetune-slf", "result.json"), []byte(`{"method":"rocl"}`), 0o644)
	before := snapshot(t, out)
	other := tinyConfig(t, "base")
	other.Method = "acl"
	if _, err := Pretrain(gocontext.Background(), other, out, Options{Backend: testBackend(t)}); !errors.Is(err, ErrRunExists) ||
		!strings.Contains(err.Error(), out) {
		t.Fatalf("a new run over a run folder without checkpoints: %v", err)
	}
	if after := snapshot(t, out); !maps.Equal(before, after) {
		t.Error("the refused run changed the folder")
	}

	foreign := t.TempDir()
	os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("mine"), 0o644)
	for _, overwrite := range []bool{false, true} {
		_, err := Pretrain(gocontext.Background(), tinyConfig(t, "ip"), foreign, Options{Backend: testBackend(t), Overwrite: overwrite})
		if !errors.Is(err, ErrFolderNotEmpty) || !strings.Contains(err.Error(), "notes.txt") {
			t.Errorf("overwrite %v: a folder holding notes.txt: %v", overwrite, err)
		}
	}
	if data, err := os.ReadFile(filepath.Join(foreign, "notes.txt")); err != nil || string(data) != "mine" {
		t.Error("a folder that holds no run was changed")
	}

	other.MaxSteps = 1
	if _, err := Pretrain(gocontext.Background(), other, out, Options{Backend: testBackend(t), Overwrite: true}); err != nil {
		t.Fatalf("overwrite: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, rundir.ResultsDir)); err == nil {
		t.Error("overwrite kept the old run's results")
	}
	if stored, err := ReadConfig(out); err != nil || stored.Method != "acl" {
		t.Errorf("after overwrite: %+v %v", stored, err)
	}
}

// Resuming (issue 18 item 14): a missing or mistyped folder is an error and creates
// nothing (it used to start a fresh run there); a different configuration is an error
// naming the field and both values; a trailing "/" on the data folder is no difference.
func TestReliabilityResumeChecks(t *testing.T) {
	cfg, out := startedRun(t)
	missing := out + "-typo"
	if _, err := Pretrain(gocontext.Background(), cfg, missing, Options{Backend: testBackend(t), Resume: true}); !errors.Is(err, ErrNothingToResume) {
		t.Errorf("resume of a missing folder: %v", err)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Error("resume of a missing folder created it")
	}
	changed := cfg
	changed.Loss.Alpha = 0.5
	_, err := Pretrain(gocontext.Background(), changed, out, Options{Backend: testBackend(t), Resume: true})
	var fe *field.Error
	if !errors.As(err, &fe) || fe.Key != "loss.alpha" || !strings.Contains(err.Error(), "0.5") || !strings.Contains(err.Error(), "0.2") {
		t.Errorf("resume with another α: want a field error of loss.alpha with both values, got %v", err)
	}
	slash := cfg
	slash.DataDir += "/"
	slash.MaxSteps = 2
	res, err := Pretrain(gocontext.Background(), slash, out, Options{Backend: testBackend(t), Resume: true})
	if err != nil || res.Steps != 2 {
		t.Errorf("resume with a trailing / on the data folder: %+v %v", res, err)
	}
}

// The data folder is recorded absolute with the fingerprint of its files (issue 18 item
// 6): a relative -data used to be resolved against whatever directory a later stage ran
// from. A later stage reads the same files or stops; an explicit folder overrides, and is
// recorded as such.
func TestReliabilityDataRecordedAndVerified(t *testing.T) {
	cfg := tinyConfig(t, "ip")
	shared, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	copyDir := filepath.Join(root, "data", "copy")
	os.MkdirAll(filepath.Dir(copyDir), 0o755)
	if err := os.Rename(linkCIFAR10(t), copyDir); err != nil {
		t.Fatal(err)
	}
	t.Chdir(root)
	cfg.DataDir, cfg.MaxSteps = filepath.Join("data", "copy"), 1
	out := filepath.Join(root, "run")
	if _, err := Pretrain(gocontext.Background(), cfg, out, Options{Backend: testBackend(t)}); err != nil {
		t.Fatal(err)
	}
	stored, err := ReadConfig(out)
	if err != nil {
		t.Fatal(err)
	}
	if stored.DataDir != copyDir || !strings.HasPrefix(stored.DataFingerprint, "sha256:") {
		t.Fatalf("config.json records data_dir %q, fingerprint %q; want %q and a sha256", stored.DataDir, stored.DataFingerprint, copyDir)
	}
	// From another directory the recorded folder is still the one read.
	t.Chdir(t.TempDir())
	if ds, err := stored.ResolveData(""); err != nil || ds.Dir != copyDir || ds.Note != "" {
		t.Errorf("from elsewhere: %+v %v", ds, err)
	}
	// The same files in another folder, given explicitly: accepted, noted.
	if ds, err := stored.ResolveData(shared); err != nil || !ds.Override || !strings.Contains(ds.Note, "another folder") {
		t.Errorf("override with the same files: %+v %v", ds, err)
	}
	// Other files in the run's folder: refused, naming the folder and both fingerprints.
	test := filepath.Join(copyDir, "test_batch.bin")
	os.Remove(test)
	noise := make([]byte, 10000*3073)
	for i := range noise {
		noise[i] = byte(i*7919) % 10
	}
	if err := os.WriteFile(test, noise, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = stored.ResolveData("")
	var fe *field.Error
	if !errors.As(err, &fe) || fe.Key != "data_dir" || !strings.Contains(err.Error(), copyDir) || !strings.Contains(err.Error(), stored.DataFingerprint) {
		t.Errorf("changed files: %v", err)
	}
	// Given explicitly, other files are used, and recorded as other files.
	if ds, err := stored.ResolveData(copyDir); err != nil || !ds.Override || !strings.Contains(ds.Note, "other files") {
		t.Errorf("explicit override with other files: %+v %v", ds, err)
	}
	// A resume on other files names the data folder.
	cfg.DataDir, cfg.MaxSteps = copyDir, 2
	if _, err := Pretrain(gocontext.Background(), cfg, out, Options{Backend: testBackend(t), Resume: true}); !errors.As(err, &fe) || fe.Key != "data_dir" {
		t.Errorf("resume on other files: %v", err)
	}
	// A run recorded before fingerprints, with a relative folder: refused without one given.
	old := *stored
	old.DataDir, old.DataFingerprint = filepath.Join("data", "copy"), ""
	if _, err := old.ResolveData(""); !errors.As(err, &fe) || fe.Key != "data_dir" {
		t.Errorf("an old run's relative folder: %v", err)
	}
}

// A step that cannot fit in memory is refused before anything is built or written, with
// the estimate and the machine's memory (issue 18 item 11): -width 100000 used to end in
// Go's out-of-memory fatal error with the run folder left "running".
func TestReliabilityOversizedModelRefused(t *testing.T) {
	if !engine.OnHostMemory(testBackend(t)) {
		t.Skip("the backend's memory is not the machine's")
	}
	cfg := tinyConfig(t, "ip")
	cfg.Width = 100000
	out := filepath.Join(t.TempDir(), "run")
	_, err := Pretrain(gocontext.Background(), cfg, out, Options{Backend: testBackend(t)})
	var fe *field.Error
	if !errors.As(err, &fe) || fe.Key != "width" || !strings.Contains(err.Error(), "TiB") || !strings.Contains(err.Error(), "more than this machine's") {
		t.Fatalf("width 100000: %v", err)
	}
	if _, err := os.Stat(out); err == nil {
		t.Error("the run directory was created")
	}
	// The estimate is a lower bound: the presets' scales are far below this machine's memory.
	for _, scale := range []string{ScaleSmoke, ScaleCPU} {
		c, err := Preset("rocl", "ip", scale, cfg.DataDir)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkMemory(&c, testBackend(t)); err != nil {
			t.Errorf("preset %s refused: %v", scale, err)
		}
	}
}

// Deleting metrics.jsonl, or the whole run folder, while the run trains stops it with
// an error at the next step (issue 18 item 9): the records written after it used to be
// lost silently. With the folder still there, status.json says why.
func TestReliabilityRunFolderDeletedWhileTraining(t *testing.T) {
	for _, what := range []string{rundir.MetricsFile, "the run folder"} {
		t.Run(what, func(t *testing.T) {
			cfg := reliabilityConfig(t, "ip")
			out := filepath.Join(t.TempDir(), "run")
			setStepHook(t, func(step int64, _ *context.Context, _ *float64, _ map[string]float64) {
				if step == 2 {
					victim := out
					if what == rundir.MetricsFile {
						victim = filepath.Join(out, rundir.MetricsFile)
					}
					if err := os.RemoveAll(victim); err != nil {
						t.Error(err)
					}
				}
			})
			res, err := Pretrain(gocontext.Background(), cfg, out, Options{Backend: testBackend(t)})
			if !errors.Is(err, rundir.ErrRunDirChanged) || res == nil || res.Steps > 3 {
				t.Fatalf("want ErrRunDirChanged by step 3, got %+v, %v", res, err)
			}
			if what == rundir.MetricsFile {
				if st := readStatus(t, out); st.State != rundir.StateFailed || !strings.Contains(st.Reason, rundir.MetricsFile) {
					t.Errorf("status %+v", st)
				}
			} else if _, err := os.Stat(out); err == nil {
				t.Error("the deleted run folder was made again")
			}
		})
	}
}
