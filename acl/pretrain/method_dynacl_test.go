package pretrain

import (
	gocontext "context"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/acl/rundir"

	"github.com/ainfonce/goacl/internal/testdirs"
)

// DynACL's annealing at the official scale (1000 epochs, reload every 50, swap 2/3), as
// train_DynACL.py computes it with 1-based epochs.
func TestDynACLAnnealing(t *testing.T) {
	const E, R, swap = 1000, 50, 2.0 / 3
	for _, c := range []struct {
		epoch0 int // 0-based
		s, w   float64
	}{
		{0, 1, 1}, {48, 1, 1},
		{49, 1, 1 + 0.05*swap},        // 1-based epoch 50: w steps, s not yet
		{50, 0.95, 1 + 0.05*swap},     // epoch 51: reload at strength 1 − 50/1000
		{999, 0.05, 1 + 20*0.05*swap}, // last epoch
	} {
		if s := DynACLStrength(c.epoch0, E, R); math.Abs(s-c.s) > 1e-12 {
			t.Errorf("epoch %d: strength %g, want %g", c.epoch0+1, s, c.s)
		}
		if w := DynACLAdvWeight(c.epoch0, E, R, swap); math.Abs(w-c.w) > 1e-12 {
			t.Errorf("epoch %d: weight %g, want %g", c.epoch0+1, w, c.w)
		}
	}
	if w := DynACLAdvWeight(999, 1000, 50, 2); w != 2 {
		t.Errorf("weight not capped at 2: %g", w)
	}
	// Per-epoch schedule: LambdaLR(cosine_annealing(step, 1000, 1, 1e-6/5, warmup 10)),
	// stepped after each epoch, so epoch e (0-based) uses step e.
	s := DynACLCosine{Base: 5, Epochs: 1000, WarmEpochs: 10, Min: 1e-6}
	ref := func(step int) float64 {
		if step < 10 {
			return 5 * float64(step+1) / 10
		}
		m := 1e-6 / 5
		return 5 * (m + (1-m)*0.5*(1+math.Cos(float64(step-10)/990*math.Pi)))
	}
	for _, e := range []int{0, 9, 10, 500, 999} {
		if got := s.LearningRate(e, 3, 98); math.Abs(got-ref(e)) > 1e-12 {
			t.Errorf("epoch %d: lr %g, want %g", e, got, ref(e))
		}
	}
	cfg, err := Preset(dynaclName, "base", "cpu", testdirs.CIFAR10(t))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DynACL.ReloadEvery != 1 || cfg.Schedule.Kind != "dynacl-cosine" || !cfg.DynACL.MomentumEncoder || cfg.DynACL.Momentum != 0.99 {
		t.Errorf("DynACL cpu preset: %+v %+v", cfg.DynACL, cfg.Schedule)
	}
}

// tinyDynACL is a DynACL run with the momentum encoder for a unit test: width-4 CNN, 64
// images, batch 16, 1 attack step, 2 epochs with the strength stepping every epoch.
func tinyDynACL(t *testing.T, variant string) Config {
	t.Helper()
	cfg, err := Preset(dynaclName, variant, ScaleSmoke, testdirs.CIFAR10(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Width, cfg.Subset, cfg.BatchSize, cfg.Epochs, cfg.Schedule.Epochs = 4, 64, 16, 2, 2
	cfg.DynACL.ReloadEvery = 1
	cfg.Attack.Steps = 1
	cfg.LogEvery = 1
	return cfg
}

// The key encoder starts as a copy of the online one, is never trained (no gradient, no
// optimizer state) and follows it by k ← m·k + (1 − m)·q with q before the step's update;
// the strength and the adversarial weight follow the epoch.
func TestDynACLMomentumEncoder(t *testing.T) {
	cfg := tinyDynACL(t, "base")
	cfg.CheckpointEvery, cfg.KeepCheckpoints, cfg.MaxSteps = 1, 0, 6
	out := t.TempDir()
	if _, err := Pretrain(gocontext.Background(), cfg, out, Options{}); err != nil {
		t.Fatal(err)
	}
	paths, err := rundir.CheckpointFiles(filepath.Join(out, rundir.CheckpointsDir))
	if err != nil || len(paths) < 2 {
		t.Fatalf("checkpoints %v, %v", paths, err)
	}
	vars := func(i int) map[string][]float64 {
		c, err := rundir.ReadCheckpoint(paths[i])
		if err != nil {
			t.Fatal(err)
		}
		m := map[string][]float64{}
		for _, v := range c.Variables {
			if strings.HasPrefix(v.Key(), "/smallcnn/") && v.Trainable {
				t.Errorf("key variable %s is trainable", v.Key())
			}
			if !strings.HasPrefix(strings.ToLower(v.DType), "float") {
				continue
			}
			tn, err := c.Tensor(v)
			if err != nil {
				t.Fatal(err)
			}
			m[v.Key()] = toF64(t, tn)
		}
		return m
	}
	c1, c2 := vars(0), vars(1)
	checked := 0
	for key := range c1 {
		if !strings.HasPrefix(key, "/online/smallcnn/") || strings.Contains(key, "running_") {
			continue
		}
		k := strings.TrimPrefix(key, "/online")
		if _, ok := c1["/optimizers/momentum"+k]; ok {
			t.Errorf("the key variable %s has optimizer state", k)
		}
		buf := c1["/optimizers/momentum"+key] // LARSACL: w₁ = w₀ − buf₁
		k1, k2, q1 := c1[k], c2[k], c1[key]
		for i := range q1 {
			if q0 := q1[i] + buf[i]; math.Abs(k1[i]-q0) > 1e-5*(1+math.Abs(q0)) {
				t.Fatalf("%s[%d]: key after step 1 %g, want the initial online value %g", k, i, k1[i], q0)
			}
			if want := 0.99*k1[i] + 0.01*q1[i]; math.Abs(k2[i]-want) > 1e-6*(1+math.Abs(want)) {
				t.Fatalf("%s[%d]: key after step 2 %g, want m·k + (1−m)·q = %g", k, i, k2[i], want)
			}
		}
		checked++
	}
	if checked < 8 {
		t.Errorf("only %d online/key pairs checked", checked)
	}
	metrics, _ := (&rundir.Dir{Path: out}).ReadMetrics()
	for _, m := range metrics {
		e := int(m["epoch"].(float64))
		if s, w := m["strength"].(float64), m["adv_weight"].(float64); math.Abs(s-DynACLStrength(e, 2, 1)) > 1e-6 ||
			math.Abs(w-DynACLAdvWeight(e, 2, 1, 2.0/3)) > 1e-6 {
			t.Errorf("step %v (epoch %d): strength %g, weight %g", m["step"], e+1, s, w)
		}
	}
}

// A DynACL run stopped in its first epoch and resumed ends exactly like an uninterrupted
// one: the views, which depend on the epoch's strength, and the key encoder resume too.
func TestDynACLResumeMatchesUninterrupted(t *testing.T) {
	straight := t.TempDir()
	if _, err := Pretrain(gocontext.Background(), tinyDynACL(t, "iphn"), straight, Options{}); err != nil {
		t.Fatal(err)
	}
	resumed := t.TempDir()
	cfg := tinyDynACL(t, "iphn")
	cfg.MaxSteps = 6
	if _, err := Pretrain(gocontext.Background(), cfg, resumed, Options{}); err != nil {
		t.Fatal(err)
	}
	cfg.MaxSteps = 0
	if _, err := Pretrain(gocontext.Background(), cfg, resumed, Options{Resume: true}); err != nil {
		t.Fatal(err)
	}
	a, _, errA := rundir.LatestCheckpoint(filepath.Join(straight, rundir.CheckpointsDir))
	b, _, errB := rundir.LatestCheckpoint(filepath.Join(resumed, rundir.CheckpointsDir))
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	if d := a.DifferentValues(b); a.Step != 8 || b.Step != 8 || len(d) > 0 {
		t.Errorf("steps %d vs %d; variables that differ: %v", a.Step, b.Step, d)
	}
}
