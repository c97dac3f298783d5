package acl

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

	"github.com/ainfonce/goacl/internal/testdirs"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// reliabilityConfig is tinyConfig with a one-step attack and a checkpoint after every
// step, all kept: a width-4 CNN, 64 images, batch 16, 2 epochs of 4 steps.
func reliabilityConfig(t *testing.T, variant string) PretrainConfig {
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
	if bad := nonFiniteVariables(ctx); len(bad) > 0 {
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
	res, err := Pretrain(gocontext.Background(), cfg, out, PretrainOptions{Backend: testBackend(t)})
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
	res, err = Pretrain(gocontext.Background(), cfg, out, PretrainOptions{Backend: testBackend(t), Resume: true, Progress: &progress})
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
	res, err := Pretrain(gocontext.Background(), cfg, out, PretrainOptions{Backend: testBackend(t)})
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
	_, err := Pretrain(gocontext.Background(), cfg, out, PretrainOptions{Backend: testBackend(t)})
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
// and the error names the flag or field and its allowed range.
func TestReliabilityConfigRejectedBeforeWork(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(*PretrainConfig)
		want   []string
	}{
		{"epsilon<0", func(c *PretrainConfig) { c.Attack.Epsilon = -0.01 }, []string{"epsilon", "≥ 0"}},
		{"attack steps<0", func(c *PretrainConfig) { c.Attack.Steps = -1 }, []string{"steps", "≥ 0"}},
		{"alpha<0", func(c *PretrainConfig) { c.Loss.Alpha = -0.1 }, []string{"-alpha", "α ∈ [0, 1]"}},
		{"alpha>1", func(c *PretrainConfig) { c.Loss.Alpha = 1.5 }, []string{"-alpha", "α ∈ [0, 1]"}},
		{"alpha NaN", func(c *PretrainConfig) { c.Loss.Alpha = math.NaN() }, []string{"-alpha", "α ∈ [0, 1]"}},
		{"tau+=1", func(c *PretrainConfig) { c.Loss.TauPlus = 1 }, []string{"-tau-plus", "τ⁺ ∈ [0, 1)"}},
		{"tau+<0", func(c *PretrainConfig) { c.Loss.TauPlus = -0.1 }, []string{"-tau-plus", "τ⁺ ∈ [0, 1)"}},
		{"beta<0", func(c *PretrainConfig) { c.Loss.Beta = -1 }, []string{"-beta", "β ≥ 0"}},
		{"lambda=0", func(c *PretrainConfig) { c.Loss.Lambda = 0 }, []string{"-lambda", "λ > 0"}},
		{"temperature=0", func(c *PretrainConfig) { c.Loss.Temperature = 0 }, []string{"temperature", "t > 0"}},
		{"quirks", func(c *PretrainConfig) { c.Loss.Quirks = 1 << 20 }, []string{"-quirks", "unknown flag bits"}},
		{"batch=1", func(c *PretrainConfig) { c.BatchSize = 1 }, []string{"-batch", "≥ 2"}},
		{"unknown method", func(c *PretrainConfig) { c.Method = "simclr" }, []string{"-method", "simclr", "rocl"}},
		{"unknown variant", func(c *PretrainConfig) { c.Variant = "both" }, []string{"-variant", "base, ip, hn or iphn"}},
		{"variant disagrees", func(c *PretrainConfig) { c.Variant = "ip" }, []string{"variant", "disagrees"}},
		{"width=0", func(c *PretrainConfig) { c.Width = 0 }, []string{"-width = 0", "≥ 1"}},
		{"width<0", func(c *PretrainConfig) { c.Width = -4 }, []string{"-width = -4", "≥ 1"}},
		{"unknown encoder", func(c *PretrainConfig) { c.Encoder = "vgg" }, []string{"-encoder", "vgg", "resnet18"}},
		{"epochs=0", func(c *PretrainConfig) { c.Epochs = 0 }, []string{"-epochs", "≥ 1"}},
		{"subset<0", func(c *PretrainConfig) { c.Subset = -1 }, []string{"-subset", "≥ 0"}},
		{"subset<batch", func(c *PretrainConfig) { c.Subset = 8 }, []string{"-subset", "smaller than -batch"}},
		{"dataset", func(c *PretrainConfig) { c.Dataset = "stl10" }, []string{"-dataset", "cifar10"}},
		{"no data folder", func(c *PretrainConfig) { c.DataDir = "" }, []string{"-data", "required"}},
		{"attack objective", func(c *PretrainConfig) { c.AttackObjective = "hardest" }, []string{"-attack-objective", "plain or training"}},
		{"lr=0", func(c *PretrainConfig) { c.Schedule.Base = 0 }, []string{"-lr", "> 0"}},
		{"lr=NaN", func(c *PretrainConfig) { c.Schedule.Base = math.NaN() }, []string{"-lr", "> 0"}},
		{"momentum=1", func(c *PretrainConfig) { c.Optimizer.Momentum = 1 }, []string{"momentum", "[0, 1)"}},
		{"log-every=0", func(c *PretrainConfig) { c.LogEvery = 0 }, []string{"-log-every", "≥ 1"}},
		{"checkpoint-every<0", func(c *PretrainConfig) { c.CheckpointEvery = -1 }, []string{"checkpoint_every", "≥ 0"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := tinyConfig(t, "iphn")
			c.mutate(&cfg)
			out := filepath.Join(t.TempDir(), "run")
			_, err := Pretrain(gocontext.Background(), cfg, out, PretrainOptions{Backend: testBackend(t)})
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
		{"simclr", "ip", ScaleSmoke, "-method"},
		{"rocl", "IP", ScaleSmoke, "-variant"},
		{"rocl", "ip", "tiny", "-preset \"tiny\": unknown; use one of paper, cpu, smoke"},
		{"rocl", "ip", "cifar10-huge", "-preset"},
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
	_, err := Pretrain(gocontext.Background(), cfg, out, PretrainOptions{Backend: testBackend(t)})
	if err == nil || !strings.Contains(err.Error(), "-subset = 60000 is larger than the 50000 training images") {
		t.Errorf("subset 60000: %v", err)
	}
	if _, serr := os.Stat(out); serr == nil {
		t.Error("subset 60000: the run directory was created")
	}
}

// linkCIFAR10 makes a CIFAR-10 folder of symbolic links to the real files, so a test can
// replace one of them with a damaged copy.
func linkCIFAR10(t *testing.T) string {
	t.Helper()
	src := testdirs.CIFAR10(t)
	dir := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Symlink(filepath.Join(src, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Missing, truncated or corrupted training files stop Pretrain before the run directory
// exists, with an error naming the file and what was expected.
func TestReliabilityBadDataRejectedBeforeWork(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string) string // returns the damaged file
		want   []string
	}{
		{"missing file", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "data_batch_5.bin")
			os.Remove(p)
			return p
		}, []string{"-data", "missing", "tar xzf"}},
		{"truncated file", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "data_batch_3.bin")
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			os.Remove(p)
			if err := os.WriteFile(p, data[:1000], 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}, []string{"truncated", "expected 30730000 bytes (10000 records of 3073 bytes), got 1000"}},
		{"label out of range", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "data_batch_1.bin")
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			data[7*3073] = 10
			os.Remove(p)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}, []string{"record 7", "label 10 out of range [0,10)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := linkCIFAR10(t)
			file := c.damage(t, dir)
			cfg := tinyConfig(t, "ip")
			cfg.DataDir = dir
			out := filepath.Join(t.TempDir(), "run")
			_, err := Pretrain(gocontext.Background(), cfg, out, PretrainOptions{Backend: testBackend(t)})
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range append([]string{file}, c.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if _, serr := os.Stat(out); serr == nil {
				t.Error("the run directory was created")
			}
		})
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
	_, err := Pretrain(gocontext.Background(), reliabilityConfig(t, "ip"), underFile, PretrainOptions{Backend: testBackend(t)})
	if err == nil || !strings.Contains(err.Error(), underFile) {
		t.Errorf("Pretrain into %s: %v", underFile, err)
	}
}

// buildEncoderContext returns a context holding the variables of encoder name at width
// (created by running its forward pass once).
func buildEncoderContext(t *testing.T, name string, width int) *context.Context {
	t.Helper()
	enc, err := layers.NewEncoder(name, width)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.New().Checked(false)
	exec, err := context.NewExec(testBackend(t), ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		ctx.SetTraining(x.Graph(), false)
		return enc.Features(ctx, x, "")
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := exec.Exec(tensors.FromShape(shapes.Make(dtypes.Float32, 2, 32, 32, 3))); err != nil {
		t.Fatal(err)
	}
	return ctx
}

// copyDir copies a run directory (regular files only, one level of sub-folders).
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if info.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func editConfig(t *testing.T, run string, edit func(*PretrainConfig)) {
	t.Helper()
	r := &rundir.Dir{Path: run}
	var cfg PretrainConfig
	if err := r.ReadJSON(rundir.ConfigFile, &cfg); err != nil {
		t.Fatal(err)
	}
	edit(&cfg)
	if err := r.WriteJSON(rundir.ConfigFile, cfg); err != nil {
		t.Fatal(err)
	}
}

// Loading is strict: a checkpoint of another width or encoder, one with missing or
// unexpected variables, or a damaged one, is an error that lists what does not fit; a
// damaged newest checkpoint is skipped with a warning on resume, never silently.
func TestReliabilityLoading(t *testing.T) {
	// One width-4 SmallCNN run with checkpoints at steps 1 and 2, copied by each case.
	base := t.TempDir()
	cfg := reliabilityConfig(t, "ip")
	cfg.MaxSteps = 2
	if _, err := Pretrain(gocontext.Background(), cfg, base, PretrainOptions{Backend: testBackend(t)}); err != nil {
		t.Fatal(err)
	}
	ckptPath := func(run string, step int) string {
		return filepath.Join(run, rundir.CheckpointsDir, fmt.Sprintf("ckpt-%09d.ckpt", step))
	}

	t.Run("width 4 into a width-8 model", func(t *testing.T) {
		c, err := rundir.ReadCheckpoint(ckptPath(base, 2))
		if err != nil {
			t.Fatal(err)
		}
		model := buildEncoderContext(t, "smallcnn", 8)
		var want []string
		for _, v := range c.Variables {
			scope, name := context.SplitScope(v.Key())
			if mv := model.GetVariableByScopeAndName(scope, name); mv != nil && !slices.Equal(mv.Shape().Dimensions, v.Dims) {
				want = append(want, v.Key())
			}
		}
		stem := model.GetVariableByScopeAndName("/smallcnn/conv1", "weights")
		before := tensors.MustCopyFlatData[float32](stem.MustValue())
		err = c.Restore(model, rundir.RestoreOptions{Only: []string{"/smallcnn/"}})
		if err == nil || len(want) < 4 || !strings.Contains(err.Error(), fmt.Sprintf("%d variables have another shape", len(want))) {
			t.Fatalf("want an error listing %d mismatched variables, got %v", len(want), err)
		}
		for _, k := range want {
			if !strings.Contains(err.Error(), k+": checkpoint") {
				t.Errorf("error does not list %s", k)
			}
		}
		if after := tensors.MustCopyFlatData[float32](stem.MustValue()); !slices.Equal(before, after) {
			t.Error("a checkpoint that does not fit changed the model's variables")
		}
		// Through LoadEncoder: a config that says width 8 over width-4 weights must fail
		// at load time, listing the variables whose shapes differ.
		run := copyDir(t, base)
		editConfig(t, run, func(c *PretrainConfig) { c.Width = 8 })
		_, _, _, _, err = LoadEncoder(testBackend(t), run, "")
		if err == nil || !strings.Contains(err.Error(), "/smallcnn/") || !strings.Contains(err.Error(), "shape") {
			t.Errorf("a width-8 encoder over width-4 weights: want an error naming the variable and shapes, got %v", err)
		}
	})

	t.Run("another encoder", func(t *testing.T) {
		run := copyDir(t, base)
		editConfig(t, run, func(c *PretrainConfig) { c.Encoder, c.Width = "resnet18", 4 })
		_, _, _, _, err := LoadEncoder(testBackend(t), run, "")
		if err == nil || !strings.Contains(err.Error(), "/resnet18/stem/conv/weights") {
			t.Errorf("LoadEncoder resnet18 over a smallcnn run: want the missing variables listed, got %v", err)
		}
		// Strict Restore against the ResNet's variables lists missing and unexpected ones.
		c, err := rundir.ReadCheckpoint(ckptPath(base, 2))
		if err != nil {
			t.Fatal(err)
		}
		var expected []string
		for v := range buildEncoderContext(t, "resnet18", 4).IterVariables() {
			expected = append(expected, v.ScopeAndName())
		}
		err = c.Restore(context.New(), rundir.RestoreOptions{Expected: expected})
		if err == nil || !strings.Contains(err.Error(), "missing variables") || !strings.Contains(err.Error(), "/resnet18/stem/conv/weights") ||
			!strings.Contains(err.Error(), "unexpected variables") || !strings.Contains(err.Error(), "/smallcnn/conv1/weights") {
			t.Errorf("strict Restore into a ResNet: %v", err)
		}
	})

	t.Run("missing variable", func(t *testing.T) {
		run := copyDir(t, base)
		c, err := rundir.ReadCheckpoint(ckptPath(base, 2))
		if err != nil {
			t.Fatal(err)
		}
		full := context.New().Checked(false)
		if err := c.Restore(full, rundir.RestoreOptions{}); err != nil {
			t.Fatal(err)
		}
		const dropped = "/smallcnn/bn1/running_var"
		partial := context.New().Checked(false)
		found := false
		for v := range full.IterVariables() {
			if v.ScopeAndName() == dropped {
				found = true
				continue
			}
			partial.InAbsPath(v.Scope()).VariableWithValue(v.Name(), v.MustValue()).SetTrainable(v.Trainable)
		}
		if !found {
			t.Fatalf("the run has no %s", dropped)
		}
		if _, err := rundir.SaveCheckpoint(partial, filepath.Join(run, rundir.CheckpointsDir), 3, c.State, 0); err != nil {
			t.Fatal(err)
		}
		if _, _, _, _, err := LoadEncoder(testBackend(t), run, ""); err == nil || !strings.Contains(err.Error(), dropped) {
			t.Errorf("LoadEncoder with %s missing: %v", dropped, err)
		}
		var keys []string
		for v := range full.IterVariables() {
			keys = append(keys, v.ScopeAndName())
		}
		c3, _ := rundir.ReadCheckpoint(ckptPath(run, 3))
		if err := c3.Restore(context.New(), rundir.RestoreOptions{Expected: keys}); err == nil || !strings.Contains(err.Error(), "1 missing variables ["+dropped+"]") {
			t.Errorf("strict Restore: %v", err)
		}
	})

	t.Run("truncated checkpoint", func(t *testing.T) {
		run := copyDir(t, base)
		newest := ckptPath(run, 2)
		data, _ := os.ReadFile(newest)
		if err := os.WriteFile(newest, data[:len(data)/2], 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := rundir.ReadCheckpoint(newest); err == nil || !strings.Contains(err.Error(), newest) || !strings.Contains(err.Error(), "truncated or corrupted") {
			t.Errorf("ReadCheckpoint of a truncated file: %v", err)
		}
		// Resume skips it with a warning (and records that in provenance.json), and
		// continues from the step-1 checkpoint.
		rcfg := reliabilityConfig(t, "ip")
		rcfg.MaxSteps = 2
		var progress bytes.Buffer
		res, err := Pretrain(gocontext.Background(), rcfg, run, PretrainOptions{Backend: testBackend(t), Resume: true, Progress: &progress})
		if err != nil || res.Steps != 2 {
			t.Fatalf("resume past a damaged checkpoint: %+v %v", res, err)
		}
		if p := progress.String(); !strings.Contains(p, "warning: skipping damaged checkpoint: checkpoint "+newest) || !strings.Contains(p, "from step 1") {
			t.Errorf("progress:\n%s", p)
		}
		var prov rundir.Provenance
		if err := (&rundir.Dir{Path: run}).ReadJSON(rundir.ProvenanceFile, &prov); err != nil || len(prov.Resumes) != 1 || !strings.Contains(prov.Resumes[0], "skipped damaged") {
			t.Errorf("provenance resumes %v, %v", prov.Resumes, err)
		}
		// With every checkpoint damaged, loading and resuming fail naming the files;
		// nothing restarts from scratch over them.
		for _, s := range []int{1, 2} {
			p := ckptPath(run, s)
			data, _ := os.ReadFile(p)
			data[len(data)-1] ^= 0xff
			os.WriteFile(p, data, 0o644)
		}
		if _, _, _, _, err := LoadEncoder(testBackend(t), run, ""); err == nil || !strings.Contains(err.Error(), ckptPath(run, 1)) || !strings.Contains(err.Error(), "checksum") {
			t.Errorf("LoadEncoder with only damaged checkpoints: %v", err)
		}
		_, err = Pretrain(gocontext.Background(), rcfg, run, PretrainOptions{Backend: testBackend(t), Resume: true})
		if err == nil || !strings.Contains(err.Error(), "none is valid") || !strings.Contains(err.Error(), ckptPath(run, 2)) {
			t.Errorf("resume with only damaged checkpoints: %v", err)
		}
	})
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
	res, err := Pretrain(gocontext.Background(), cfg, out, PretrainOptions{Backend: testBackend(t), Resume: true})
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
	_, err := Pretrain(gocontext.Background(), reliabilityConfig(t, "ip"), out, PretrainOptions{Backend: testBackend(t)})
	if err == nil || !strings.Contains(err.Error(), "checkpoint folder "+ckdir) {
		t.Fatalf("want the checkpoint write error, got %v", err)
	}
	if st := readStatus(t, out); st.State != "failed" || st.Step != 1 || !strings.Contains(st.Reason, "checkpoint folder") {
		t.Errorf("status %+v", st)
	}
}
