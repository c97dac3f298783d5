package pretrain

import (
	"bytes"
	gocontext "context"
	"encoding/json"
	"math"
	"path/filepath"
	"testing"

	"github.com/ainfonce/goacl/acl/optim"
	"github.com/ainfonce/goacl/acl/rundir"

	"github.com/ainfonce/goacl/acl/losses"

	"github.com/ainfonce/goacl/internal/testdirs"
)

// The attack's criterion follows the official flags: --attack_ori gives plain SupCon;
// without it the training criterion with stop_grad=False (HN kept, IP mixing off).
func TestAdvCLAttackLoss(t *testing.T) {
	for _, c := range []struct {
		v         losses.Variant
		objective string
		want      losses.Variant
	}{
		{losses.Base, "training", losses.Base}, {losses.IP, "training", losses.Base}, {losses.HN, "training", losses.HN}, {losses.IPHN, "training", losses.HN},
		{losses.HN, "plain", losses.Base}, {losses.IPHN, "plain", losses.Base},
	} {
		cfg := Config{AttackObjective: c.objective, Loss: losses.DefaultConfig()}
		cfg.Loss.Variant, cfg.Loss.Lambda = c.v, 0.7
		got := advclAttackLoss(&cfg)
		if got.Variant != c.want || got.Lambda != 0.7 {
			t.Errorf("%s/%s: attack loss variant %s λ %g, want %s λ 0.7", c.v, c.objective, got.Variant, got.Lambda, c.want)
		}
	}
}

// The presets carry the official per-script values (spec §4.4).
func TestAdvCLPresetValues(t *testing.T) {
	dir := testdirs.CIFAR10(t)
	for _, c := range []struct {
		preset, variant   string
		lr, alpha, lambda float64
		ew                int
		dmin, tau         float64
		objective         string
	}{
		{"cifar10", "base", 0.5, 0.2, 1, 0, 0, 0.1, "training"},
		{"cifar10", "ip", 1.0, 0.2, 1.2, 30, 0.4, 0.1, "training"},
		{"cifar10", "hn", 1.2, 0.2, 1, 0, 0, 0.12, "plain"},
		{"cifar10", "iphn", 2.0, 0.2, 0.7, 30, 0.4, 0.1, "plain"},
		{"cifar100", "ip", 2.0, 0.3, 1.5, 20, 0.5, 0.1, "training"},
		{"cifar100", "hn", 2.0, 0.2, 1, 0, 0, 0.01, "plain"},
		{"cifar100", "iphn", 2.0, 0.3, 1.5, 20, 0.5, 0.01, "plain"},
	} {
		cfg, err := Preset(advclName, c.variant, c.preset, dir)
		if err != nil {
			t.Fatal(err)
		}
		got := cfg.Schedule.Base == c.lr && cfg.Loss.Alpha == c.alpha && cfg.Loss.Lambda == c.lambda &&
			cfg.Loss.TauPlus == c.tau && cfg.AttackObjective == c.objective && cfg.Epochs == 400 &&
			cfg.BatchSize == 512 && cfg.Schedule.WarmEpochs == 10 && cfg.CEWeight == 0.2 && cfg.Optimizer.Kind == optim.SGD
		if c.ew > 0 {
			got = got && cfg.AdaptiveAlpha != nil && cfg.AdaptiveAlpha.WarmupEpochs == c.ew && cfg.AdaptiveAlpha.DMin == c.dmin
		} else {
			got = got && cfg.AdaptiveAlpha == nil
		}
		if !got {
			b, _ := json.Marshal(cfg)
			t.Errorf("%s %s: %s", c.preset, c.variant, b)
		}
	}
	// Scaled presets keep adaptive α's warm-up inside the run.
	for _, scale := range []string{ScaleSmoke, ScaleCPU} {
		cfg, err := Preset(advclName, "ip", scale, dir)
		if err != nil {
			t.Fatal(err)
		}
		if ew := cfg.AdaptiveAlpha.WarmupEpochs; ew < 1 || (cfg.Epochs >= 2 && ew >= cfg.Epochs) {
			t.Errorf("%s: E_w %d for %d epochs", scale, ew, cfg.Epochs)
		}
	}
}

// tinyAdvCLIP is an AdvCL-IP run with adaptive α small enough for a unit test: 2 epochs
// of 4 steps (width-4 CNN, 64 images, batch 16, 1 attack step), E_w = 1.
func tinyAdvCLIP(t *testing.T) Config {
	t.Helper()
	cfg, err := Preset(advclName, "ip", ScaleSmoke, testdirs.CIFAR10(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.PseudoLabelDir = testdirs.PseudoLabels(t, "cifar-10")
	cfg.Width, cfg.Subset, cfg.BatchSize, cfg.Epochs, cfg.Schedule.Epochs = 4, 64, 16, 2, 2
	cfg.AdaptiveAlpha.WarmupEpochs = 1
	cfg.Attack.Steps = 1
	cfg.LogEvery = 1
	return cfg
}

// An AdvCL-IP run with adaptive α stopped twice (inside the warm-up epoch, while d̄
// accumulates, and after it) and resumed ends with exactly the weights, host state and
// metrics of an uninterrupted run; the host state is the batch-weighted mean of the
// warm-up distances, and after the warm-up the step's α is AdaptiveAlpha's.
func TestAdvCLResumeWithAdaptiveAlpha(t *testing.T) {
	straight := t.TempDir()
	if _, err := Pretrain(gocontext.Background(), tinyAdvCLIP(t), straight, Options{}); err != nil {
		t.Fatal(err)
	}
	resumed := t.TempDir()
	cfg := tinyAdvCLIP(t)
	for i, stop := range []int64{3, 6, 0} {
		cfg.MaxSteps = stop
		res, err := Pretrain(gocontext.Background(), cfg, resumed, Options{Resume: i > 0})
		if err != nil || (stop > 0 && (!res.Stopped || res.Steps != stop)) {
			t.Fatalf("leg %d: %+v, %v", i, res, err)
		}
	}
	a, _, err := rundir.LatestCheckpoint(filepath.Join(straight, rundir.CheckpointsDir))
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := rundir.LatestCheckpoint(filepath.Join(resumed, rundir.CheckpointsDir))
	if err != nil {
		t.Fatal(err)
	}
	if d := a.DifferentValues(b); a.Step != 8 || b.Step != 8 || len(d) > 0 {
		t.Errorf("steps %d vs %d; variables that differ: %v", a.Step, b.Step, d)
	}
	var sa, sb TrainState
	if err := json.Unmarshal(a.State, &sa); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b.State, &sb); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sa.Method, sb.Method) || len(sa.Method) == 0 {
		t.Errorf("host state differs after resume:\n%s\n%s", sa.Method, sb.Method)
	}
	ma, _ := (&rundir.Dir{Path: straight}).ReadMetrics()
	mb, _ := (&rundir.Dir{Path: resumed}).ReadMetrics()
	if len(ma) != 8 || len(mb) != 8 {
		t.Fatalf("%d and %d metric records, want 8", len(ma), len(mb))
	}
	st, err := AdvCL{}.NewState(&cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Load(sa.Method); err != nil {
		t.Fatal(err)
	}
	state := st.(*advclState).alpha
	var sum, count float64
	for i := range ma {
		for _, k := range []string{"loss", "alpha", "distance"} {
			if ma[i][k] != mb[i][k] {
				t.Errorf("step %d: %s %v vs %v after resume", i+1, k, ma[i][k], mb[i][k])
			}
		}
		d, alpha := ma[i]["distance"].(float64), ma[i]["alpha"].(float64)
		if i < 4 {
			sum, count = sum+16*d, count+16
			if alpha != float64(float32(cfg.Loss.Alpha)) {
				t.Errorf("warm-up step %d: α %g, want α₀", i+1, alpha)
			}
		} else if want := state.Alpha(d); math.Abs(alpha-want) > 1e-5 {
			t.Errorf("step %d: α %g, AdaptiveAlpha gives %g (d %g, d̄ %g)", i+1, alpha, want, d, state.Mean())
		}
	}
	if math.Abs(state.Mean()-sum/count) > 1e-12 || state.Count != 64 {
		t.Errorf("d̄ %g over %g images, want %g over 64", state.Mean(), state.Count, sum/count)
	}
}
