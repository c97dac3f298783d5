package finetune

import (
	"bytes"
	gocontext "context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/acl/internal/testrun"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// reliabilityConfig is testrun.Tiny("ip") with a one-step attack and a checkpoint after
// every step, all kept.
func reliabilityConfig(t *testing.T) pretrain.Config {
	cfg := testrun.Tiny(t, "ip")
	cfg.Attack.Steps = 1
	cfg.CheckpointEvery, cfg.KeepCheckpoints = 1, 0
	return cfg
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

func editConfig(t *testing.T, run string, edit func(*pretrain.Config)) {
	t.Helper()
	r := &rundir.Dir{Path: run}
	var cfg pretrain.Config
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
	cfg := reliabilityConfig(t)
	cfg.MaxSteps = 2
	if _, err := pretrain.Pretrain(gocontext.Background(), cfg, base, pretrain.Options{Backend: testBackend(t)}); err != nil {
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
		// Through Load: a config that says width 8 over width-4 weights must fail
		// at load time, listing the variables whose shapes differ.
		run := copyDir(t, base)
		editConfig(t, run, func(c *pretrain.Config) { c.Width = 8 })
		_, err = Load(testBackend(t), run, LoadOptions{})
		if err == nil || !strings.Contains(err.Error(), "/smallcnn/") || !strings.Contains(err.Error(), "shape") {
			t.Errorf("a width-8 encoder over width-4 weights: want an error naming the variable and shapes, got %v", err)
		}
	})

	t.Run("another encoder", func(t *testing.T) {
		run := copyDir(t, base)
		editConfig(t, run, func(c *pretrain.Config) { c.Encoder, c.Width = "resnet18", 4 })
		_, err := Load(testBackend(t), run, LoadOptions{})
		if err == nil || !strings.Contains(err.Error(), "/resnet18/stem/conv/weights") {
			t.Errorf("Load of a resnet18 config over a smallcnn run: want the missing variables listed, got %v", err)
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
		if _, err := Load(testBackend(t), run, LoadOptions{Checkpoint: ckptPath(run, 3)}); err == nil || !strings.Contains(err.Error(), dropped) {
			t.Errorf("Load with %s missing: %v", dropped, err)
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
		rcfg := reliabilityConfig(t)
		rcfg.MaxSteps = 2
		var progress bytes.Buffer
		res, err := pretrain.Pretrain(gocontext.Background(), rcfg, run, pretrain.Options{Backend: testBackend(t), Resume: true, Progress: &progress})
		if err != nil || res.Steps != 2 {
			t.Fatalf("resume past a damaged checkpoint: %+v %v", res, err)
		}
		if p := progress.String(); !strings.Contains(p, "warning: skipping damaged checkpoint: checkpoint "+newest) || !strings.Contains(p, "(step 1)") {
			t.Errorf("progress:\n%s", p)
		}
		var prov rundir.Provenance
		if err := (&rundir.Dir{Path: run}).ReadJSON(rundir.ProvenanceFile, &prov); err != nil || len(prov.Resumes) != 1 || !strings.Contains(prov.Resumes[0], "skipped damaged") {
			t.Errorf("provenance resumes %v, %v", prov.Resumes, err)
		}
		// With every checkpoint damaged, loading fails naming the one the run finished with
		// (older ones are never used in its place) and resuming fails naming the files;
		// nothing restarts from scratch over them.
		for _, s := range []int{1, 2} {
			p := ckptPath(run, s)
			data, _ := os.ReadFile(p)
			data[len(data)-1] ^= 0xff
			os.WriteFile(p, data, 0o644)
		}
		if _, err := Load(testBackend(t), run, LoadOptions{}); err == nil || !strings.Contains(err.Error(), ckptPath(run, 2)) || !strings.Contains(err.Error(), "checksum") ||
			!strings.Contains(err.Error(), "not used in its place") {
			t.Errorf("Load with only damaged checkpoints: %v", err)
		}
		_, err = pretrain.Pretrain(gocontext.Background(), rcfg, run, pretrain.Options{Backend: testBackend(t), Resume: true})
		if err == nil || !strings.Contains(err.Error(), "none is valid") || !strings.Contains(err.Error(), ckptPath(run, 2)) {
			t.Errorf("resume with only damaged checkpoints: %v", err)
		}
	})
}
