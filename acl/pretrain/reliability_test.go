package pretrain

// Reliability: nothing lost, nothing silent. Each test here proves one guarantee listed in
// docs/reliability.md (bad configuration, bad data, non-finite losses and weights,
// unwritable output folders, torn writes, strict loading). The real-process kill and
// Ctrl-C tests live in cmd/acl/reliability_test.go.

import (
	"bytes"
	gocontext "context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/acl/train"

	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// reliabilityConfig is tinyConfig with a one-step attack and a checkpoint after every
// step, all kept: a width-4 CNN, 64 images, batch 16, 2 epochs of 4 steps.
func reliabilityConfig(t *testing.T, variant string) Config {
	cfg := tinyConfig(t, variant)
	cfg.Attack.Steps = 1
	cfg.CheckpointEvery, cfg.KeepCheckpoints = 1, 0
	return cfg
}

func readStatus(t *testing.T, run string) rundir.Status {
	t.Helper()
	var st rundir.Status
	if err := (&rundir.Dir{Path: run}).ReadJSON(rundir.StatusFile, &st); err != nil {
		t.Fatal(err)
	}
	return st
}

// checkpointSteps lists the steps of the checkpoint files of run, oldest first.
func checkpointSteps(t *testing.T, run string) []int64 {
	t.Helper()
	paths, err := rundir.CheckpointFiles(filepath.Join(run, rundir.CheckpointsDir))
	if err != nil {
		t.Fatal(err)
	}
	var steps []int64
	for _, p := range paths {
		var s int64
		if _, err := fmt.Sscanf(filepath.Base(p), "ckpt-%d.ckpt", &s); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		steps = append(steps, s)
	}
	return steps
}

// restoreFinite restores ckpt into a fresh context and fails the test if it does not
// load or holds a NaN or ±Inf.
func restoreFinite(t *testing.T, path string) {
	t.Helper()
	c, err := rundir.ReadCheckpoint(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.New().Checked(false)
	if err := c.Restore(ctx, rundir.RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	if bad := train.NonFiniteVariables(ctx); len(bad) > 0 {
		t.Fatalf("%s holds non-finite variables %v", path, bad)
	}
}

func setStepHook(t *testing.T, hook func(step int64, ctx *context.Context, loss *float64, terms map[string]float64)) {
	stepHook = hook
	t.Cleanup(func() { stepHook = nil })
}

// A NaN loss stops the run at that step, records the step and the loss terms in
// status.json and metrics.jsonl, and leaves the last good checkpoint byte-for-byte
// unchanged, loadable and resumable. The NaN is forced at step 3 by a test hook.
func TestReliabilityNaNLossKeepsLastGoodCheckpoint(t *testing.T) {
	out := t.TempDir()
	cfg := reliabilityConfig(t, "ip")
	good := filepath.Join(out, rundir.CheckpointsDir, "ckpt-000000002.ckpt")
	var before []byte
	setStepHook(t, func(step int64, _ *context.Context, loss *float64, terms map[string]float64) {
		if step == 3 {
			var err error
			if before, err = os.ReadFile(good); err != nil {
				t.Errorf("step 3: the step-2 checkpoint is not there: %v", err)
			}
			*loss, terms["contrastive"] = math.NaN(), math.NaN()
		}
	})
	res, err := Pretrain(gocontext.Background(), cfg, out, Options{Backend: testBackend(t)})
	if !errors.Is(err, ErrNonFinite) || res == nil || res.Steps != 3 {
		t.Fatalf("want ErrNonFinite at step 3, got %+v, %v", res, err)
	}
	st := readStatus(t, out)
	if st.State != "failed" || st.Step != 3 || st.Loss != "NaN" || st.Terms["contrastive"] != "NaN" ||
		!strings.Contains(st.Reason, "at step 3") || st.Checkpoint != good {
		t.Errorf("status.json: %+v", st)
	}
	if _, ok := st.Terms["regularizer"].(float64); !ok {
		t.Errorf("status.json lacks the finite term: %+v", st.Terms)
	}
	if steps := checkpointSteps(t, out); !slices.Equal(steps, []int64{1, 2}) {
		t.Errorf("checkpoints %v, want [1 2] (nothing written after the NaN)", steps)
	}
	after, err := os.ReadFile(good)
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("the last good checkpoint changed after the NaN (%v)", err)
	}
	restoreFinite(t, good)
	mets, err := (&rundir.Dir{Path: out}).ReadMetrics()
	if err != nil || len(mets) != 3 || mets[2]["loss"] != "NaN" || mets[2]["step"] != 3.0 {
		t.Errorf("metrics.jsonl must end with the NaN record of step 3: %v %v", mets, err)
	}
	// The failed run resumes from the last good checkpoint (here without the fault).
	stepHook = nil
	cfg.MaxSteps = 3
	var progress bytes.Buffer
	res, err = Pretrain(gocontext.Background(), cfg, out, Options{Backend: testBackend(t), Resume: true, Progress: &progress})
	if err != nil || res.Steps != 3 || !strings.Contains(progress.String(), "from step 2") {
		t.Fatalf("resume after the NaN: %+v, %v\n%s", res, err, progress.String())
	}
	if mets, _ := (&rundir.Dir{Path: out}).ReadMetrics(); len(mets) != 3 || mets[2]["loss"] == "NaN" {
		t.Errorf("after the resume metrics.jsonl must hold steps 1-3 once, finite: %v", mets)
	}
}

// A real numerical blow-up (learning rate 1e30) stops the run with status failed, the step
// and terms recorded, and every checkpoint left behind loads and is finite.
func TestReliabilityAbsurdLearningRate(t *testing.T) {
	out := t.TempDir()
	cfg := reliabilityConfig(t, "ip")
	cfg.Schedule.Base = 1e30
	res, err := Pretrain(gocontext.Background(), cfg, out, Options{Backend: testBackend(t)})
	if !errors.Is(err, ErrNonFinite) {
		t.Fatalf("lr 1e30: want ErrNonFinite, got %+v, %v", res, err)
	}
	st := readStatus(t, out)
	if st.State != "failed" || st.Step != res.Steps || len(st.Terms) == 0 || !strings.Contains(st.Reason, fmt.Sprintf("step %d", res.Steps)) {
		t.Errorf("status.json: %+v (run stopped at step %d)", st, res.Steps)
	}
	steps := checkpointSteps(t, out)
	if len(steps) > 0 && (steps[len(steps)-1] >= res.Steps || !strings.HasSuffix(st.Checkpoint, fmt.Sprintf("ckpt-%09d.ckpt", steps[len(steps)-1]))) {
		t.Errorf("checkpoints %v, status checkpoint %q, failing step %d", steps, st.Checkpoint, res.Steps)
	}
	for _, s := range steps {
		restoreFinite(t, filepath.Join(out, rundir.CheckpointsDir, fmt.Sprintf("ckpt-%09d.ckpt", s)))
	}
	t.Logf("lr 1e30: stopped at step %d (%s); checkpoints %v", res.Steps, st.Reason, steps)
}

// An update that leaves a variable at ±Inf while the loss is still finite never reaches a
// checkpoint: the run fails naming the variable and keeps the previous checkpoint.
func TestReliabilityNonFiniteWeightsNeverCheckpointed(t *testing.T) {
	out := t.TempDir()
	cfg := reliabilityConfig(t, "ip")
	const poisoned = "/smallcnn/conv1/weights"
	setStepHook(t, func(step int64, ctx *context.Context, _ *float64, _ map[string]float64) {
		if step != 2 {
			return
		}
		scope, name := context.SplitScope(poisoned)
		v := ctx.GetVariableByScopeAndName(scope, name)
		if v == nil {
			t.Errorf("no variable %s", poisoned)
			return
		}
		w := tensors.MustCopyFlatData[float32](v.MustValue())
		w[0] = float32(math.Inf(1))
		if err := v.SetValue(tensors.FromFlatDataAndDimensions(w, v.Shape().Dimensions...)); err != nil {
			t.Error(err)
		}
	})
	_, err := Pretrain(gocontext.Background(), cfg, out, Options{Backend: testBackend(t)})
	if !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), poisoned) {
		t.Fatalf("want ErrNonFinite naming %s, got %v", poisoned, err)
	}
	if steps := checkpointSteps(t, out); !slices.Equal(steps, []int64{1}) {
		t.Errorf("checkpoints %v, want [1]", steps)
	}
	st := readStatus(t, out)
	if st.State != "failed" || st.Step != 2 || !strings.Contains(st.Reason, poisoned) || !strings.HasSuffix(st.Checkpoint, "ckpt-000000001.ckpt") {
		t.Errorf("status.json: %+v", st)
	}
}

// Every invalid value is rejected before any work starts (no run directory is created),
// and the error names the field by its config.json key (cmd/acl's test checks the same
// errors phrased with the flags) and its allowed range.
func TestReliabilityConfigRejectedBeforeWork(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{"epsilon<0", func(c *Config) { c.Attack.Epsilon = -0.01 }, []string{"attack.epsilon", "in [0, 1]"}},
		{"attack steps<0", func(c *Config) { c.Attack.Steps = -1 }, []string{"attack.steps", "in [0, 200]"}},
		{"alpha<0", func(c *Config) { c.Loss.Alpha = -0.1 }, []string{"loss.alpha", "α ∈ [0, 1]"}},
		{"alpha>1", func(c *Config) { c.Loss.Alpha = 1.5 }, []string{"loss.alpha", "α ∈ [0, 1]"}},
		{"alpha NaN", func(c *Config) { c.Loss.Alpha = math.NaN() }, []string{"loss.alpha", "α ∈ [0, 1]"}},
		{"tau+=1", func(c *Config) { c.Loss.TauPlus = 1 }, []string{"loss.tau_plus", "τ⁺ ∈ [0, 1)"}},
		{"tau+<0", func(c *Config) { c.Loss.TauPlus = -0.1 }, []string{"loss.tau_plus", "τ⁺ ∈ [0, 1)"}},
		{"beta<0", func(c *Config) { c.Loss.Beta = -1 }, []string{"loss.beta", "β ≥ 0"}},
		{"lambda=0", func(c *Config) { c.Loss.Lambda = 0 }, []string{"loss.lambda", "λ > 0"}},
		{"temperature=0", func(c *Config) { c.Loss.Temperature = 0 }, []string{"loss.temperature", "t > 0"}},
		{"quirks", func(c *Config) { c.Loss.Quirks = 1 << 20 }, []string{"loss.quirks", "unknown flag bits"}},
		{"batch=1", func(c *Config) { c.BatchSize = 1 }, []string{"batch_size", "≥ 2"}},
		{"unknown method", func(c *Config) { c.Method = "simclr" }, []string{"method", "simclr", "rocl"}},
		{"unknown variant", func(c *Config) { c.Variant = "both" }, []string{"variant", "base, ip, hn or iphn"}},
		{"variant disagrees", func(c *Config) { c.Variant = "ip" }, []string{"variant", "disagrees"}},
		{"width=0", func(c *Config) { c.Width = 0 }, []string{"width = 0", "≥ 1"}},
		{"width<0", func(c *Config) { c.Width = -4 }, []string{"width = -4", "≥ 1"}},
		{"unknown encoder", func(c *Config) { c.Encoder = "vgg" }, []string{"encoder", "vgg", "resnet18"}},
		{"epochs<0", func(c *Config) { c.Epochs = -1 }, []string{"epochs = -1", "≥ 1", "0: the model as initialised"}},
		{"subset<0", func(c *Config) { c.Subset = -1 }, []string{"subset = -1", "≥ 0"}},
		{"subset<batch", func(c *Config) { c.Subset = 8 }, []string{"subset = 8", "smaller than batch_size"}},
		{"dataset", func(c *Config) { c.Dataset = "stl10" }, []string{"dataset", "cifar10"}},
		{"no data folder", func(c *Config) { c.DataDir = "" }, []string{"data_dir", "required"}},
		{"attack objective", func(c *Config) { c.AttackObjective = "hardest" }, []string{"attack_objective", "plain or training"}},
		{"lr=0", func(c *Config) { c.Schedule.Base = 0 }, []string{"schedule.base", "> 0"}},
		{"lr=NaN", func(c *Config) { c.Schedule.Base = math.NaN() }, []string{"schedule.base", "> 0"}},
		{"momentum=1", func(c *Config) { c.Optimizer.Momentum = 1 }, []string{"optimizer.momentum", "[0, 1)"}},
		{"log-every=0", func(c *Config) { c.LogEvery = 0 }, []string{"log_every = 0", "≥ 1"}},
		{"checkpoint-every<0", func(c *Config) { c.CheckpointEvery = -1 }, []string{"checkpoint_every", "≥ 0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := tinyConfig(t, "iphn")
			c.mutate(&cfg)
			out := filepath.Join(t.TempDir(), "run")
			_, err := Pretrain(gocontext.Background(), cfg, out, Options{Backend: testBackend(t)})
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if _, serr := os.Stat(out); serr == nil {
				t.Error("the run directory was created before the configuration was rejected")
			}
		})
	}
	// Unknown method, variant or preset names are rejected by Preset, naming the flag and
	// the choices.
	for _, c := range []struct{ method, variant, preset, want string }{
		{"simclr", "ip", ScaleSmoke, "method"},
		{"rocl", "IP", ScaleSmoke, "variant"},
		{"rocl", "ip", "tiny", "preset \"tiny\": unknown; use one of paper, cpu, smoke"},
		{"rocl", "ip", "cifar10-huge", "preset"},
	} {
		if _, err := Preset(c.method, c.variant, c.preset, "data"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Preset(%q, %q, %q): want an error containing %q, got %v", c.method, c.variant, c.preset, c.want, err)
		}
	}
	// A subset larger than the data is known only once the data is read, still before
	// the run directory is created.
	cfg := tinyConfig(t, "ip")
	cfg.Subset = 60000
	out := filepath.Join(t.TempDir(), "run")
	_, err := Pretrain(gocontext.Background(), cfg, out, Options{Backend: testBackend(t)})
	if err == nil || !strings.Contains(err.Error(), "subset = 60000 is larger than the 50000 training images") {
		t.Errorf("subset 60000: %v", err)
	}
	if _, serr := os.Stat(out); serr == nil {
		t.Error("subset 60000: the run directory was created")
	}
}

// An unwritable output folder (here a path under a regular file) is reported by Pretrain
// before any step: no checkpoint, no status anywhere (rundir's reliability test covers
// the other unwritable and full-disk cases of rundir.Create).
func TestReliabilityUnwritableOutput(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plain-file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	underFile := filepath.Join(file, "run")
	// Pretrain reports it before any step (no checkpoint, no status anywhere).
	_, err := Pretrain(gocontext.Background(), reliabilityConfig(t, "ip"), underFile, Options{Backend: testBackend(t)})
	if err == nil || !strings.Contains(err.Error(), underFile) {
		t.Errorf("Pretrain into %s: %v", underFile, err)
	}
}

// A process killed after logging steps but before its first checkpoint leaves metrics
// records, status "running" and maybe a half-written checkpoint; the next start (with or
// without -resume) trains from step 0 again and logs each step once.
func TestReliabilityKilledBeforeFirstCheckpoint(t *testing.T) {
	out := t.TempDir()
	cfg := reliabilityConfig(t, "ip")
	cfg.MaxSteps = 2
	r := &rundir.Dir{Path: out}
	if err := r.WriteJSON(rundir.ConfigFile, cfg); err != nil {
		t.Fatal(err)
	}
	if err := r.SetStatus(rundir.Status{State: "running", Step: 0}); err != nil {
		t.Fatal(err)
	}
	killed := `{"step":1,"loss":5}` + "\n" + `{"step":2,"loss":5}` + "\n" + `{"step":3,"lo`
	if err := os.WriteFile(r.File(rundir.MetricsFile), []byte(killed), 0o644); err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(out, rundir.CheckpointsDir, ".ckpt-000000003.ckpt.tmp-42")
	os.MkdirAll(filepath.Dir(tmp), 0o755)
	if err := os.WriteFile(tmp, []byte(rundir.CheckpointMagic+"\n{"), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := Pretrain(gocontext.Background(), cfg, out, Options{Backend: testBackend(t), Resume: true})
	if err != nil || res.Steps != 2 {
		t.Fatalf("%+v %v", res, err)
	}
	mets, err := r.ReadMetrics()
	if err != nil || len(mets) != 2 || mets[0]["step"] != 1.0 || mets[1]["step"] != 2.0 || mets[0]["loss"] == 5.0 {
		t.Errorf("metrics.jsonl must hold the new steps 1 and 2 once: %v %v", mets, err)
	}
	if _, err := os.Stat(tmp); err == nil {
		t.Error("the half-written checkpoint of the killed process is still there")
	}
	if st := readStatus(t, out); st.State != "stopped" || st.Step != 2 {
		t.Errorf("status %+v", st)
	}
}

// Any error after training started (here: the checkpoint folder replaced by a file, as a
// stand-in for a disk that filled after the start-up probe) stops the run with status
// failed and the error, never a status left at running.
func TestReliabilityWriteErrorMarksFailed(t *testing.T) {
	out := t.TempDir()
	ckdir := filepath.Join(out, rundir.CheckpointsDir)
	setStepHook(t, func(step int64, _ *context.Context, _ *float64, _ map[string]float64) {
		if step == 1 {
			os.RemoveAll(ckdir)
			os.WriteFile(ckdir, []byte("not a folder"), 0o644)
		}
	})
	_, err := Pretrain(gocontext.Background(), reliabilityConfig(t, "ip"), out, Options{Backend: testBackend(t)})
	if err == nil || !strings.Contains(err.Error(), "checkpoint folder "+ckdir) {
		t.Fatalf("want the checkpoint write error, got %v", err)
	}
	if st := readStatus(t, out); st.State != "failed" || st.Step != 1 || !strings.Contains(st.Reason, "checkpoint folder") {
		t.Errorf("status %+v", st)
	}
}
