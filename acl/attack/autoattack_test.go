package attack

import (
	"bytes"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// pgdCE is a plain L∞ PGD on the cross-entropy through the oracle (random start in the
// ball, sign steps, projection onto the ball ∩ [0,1]); it returns the final iterates, as
// the PGD-20 evaluation does.
func pgdCE(t testing.TB, o Oracle, x []float32, y []int32, n int, eps, step float64, steps int, seed uint64) []float32 {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 99))
	lo, hi := linfBox(x, eps)
	adv := make([]float32, len(x))
	for i := range adv {
		adv[i] = clampTo(x[i]+float32(eps*(2*rng.Float64()-1)), lo[i], hi[i])
	}
	for range steps {
		_, g, err := o.LossGrad(LossCE, adv, n, y, nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range adv {
			adv[i] = clampTo(adv[i]+float32(step)*sign32(g[i]), lo[i], hi[i])
		}
	}
	return adv
}

// smallStandard is the standard version with the iteration counts cut for CPU tests.
func smallStandard(t testing.TB, eps float64) AutoAttack {
	t.Helper()
	aa, err := AutoAttackPreset(AutoAttackStandardPreset, eps)
	if err != nil {
		t.Fatal(err)
	}
	aa.BatchSize = 16
	aa.Seed = 7
	aa.Attacks = []Attack{
		APGD{Loss: LossCE, Iterations: 20, Restarts: 1, Rho: 0.75},
		APGDT{Iterations: 20, Restarts: 1, Targets: 3, Rho: 0.75},
		FABT{Iterations: 20, Restarts: 1, Targets: 3, AlphaMax: 0.1, Eta: 1.05, Beta: 0.9},
		SquareAttack{Queries: 200, PInit: 0.8, Restarts: 1},
	}
	return aa
}

// AutoAttack (all four attacks) on the project's SmallCNN with a linear head, 8×8 inputs:
// every example in the ε-ball and [0,1]; robust ≤ each earlier stage ≤ clean; the fooled
// points really are misclassified at their examples; robust ≤ PGD-20's on the same
// model; and a second run with the same seed gives bit-identical examples and reports.
func TestAutoAttackStandardOnSmallCNN(t *testing.T) {
	shape := ImageShape{H: 8, W: 8, C: 3}
	const n = 40
	o := testSmallCNNOracle(t, 3, 10, shape)
	x := testImages(61, n, shape)
	y := labelsFromModel(t, o, x, n, 0.15, 4)
	const eps = 12.0 / 255 // PGD-20 leaves 0.675 of 0.9, AutoAttack 0.475 (measured)
	aa := smallStandard(t, eps)
	var log bytes.Buffer
	aa.Log = &log
	res, err := aa.Run(o, x, y, shape)
	if err != nil {
		t.Fatal(err)
	}
	size := shape.Size()
	if err := checkInBall(res.Adversarial, x, eps, size); err != nil {
		t.Fatal(err)
	}
	if res.MaxPerturbation > eps {
		t.Errorf("max perturbation %g > ε", res.MaxPerturbation)
	}
	prev := res.CleanAccuracy
	for _, r := range res.Attacks {
		if r.RobustAccuracy > prev {
			t.Errorf("robust accuracy rose from %.3f to %.3f at %s", prev, r.RobustAccuracy, r.Name)
		}
		prev = r.RobustAccuracy
	}
	if res.RobustAccuracy != prev || res.RobustAccuracy > res.CleanAccuracy {
		t.Errorf("final robust %.3f, last stage %.3f, clean %.3f", res.RobustAccuracy, prev, res.CleanAccuracy)
	}
	pred, err := predict(o, res.Adversarial, n)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if res.Robust[i] != (pred[i] == y[i]) || pred[i] != res.AdversarialLabels[i] {
			t.Errorf("image %d: robust=%v but the model predicts %d (label %d, reported %d) at its example", i, res.Robust[i], pred[i], y[i], res.AdversarialLabels[i])
		}
	}
	// PGD-20 (step ε/4) on the same model and points.
	padv := pgdCE(t, o, x, y, n, eps, eps/4, 20, 1)
	ppred, err := predict(o, padv, n)
	if err != nil {
		t.Fatal(err)
	}
	pgdRobust := 0
	for i := range n {
		if ppred[i] == y[i] {
			pgdRobust++
		}
	}
	pgdAcc := float64(pgdRobust) / n
	t.Logf("clean %.3f, PGD-20 %.3f, AutoAttack %v → %.3f", res.CleanAccuracy, pgdAcc, stages(res), res.RobustAccuracy)
	if res.RobustAccuracy > pgdAcc {
		t.Errorf("AutoAttack robust accuracy %.3f > PGD-20's %.3f", res.RobustAccuracy, pgdAcc)
	}
	if !(res.RobustAccuracy < res.CleanAccuracy && pgdAcc > 0) || len(res.Attacks) != 4 {
		t.Errorf("uninformative setting: clean %.3f, PGD %.3f, AutoAttack %v", res.CleanAccuracy, pgdAcc, stages(res))
	}
	if !strings.Contains(log.String(), "robust accuracy after apgd-ce") {
		t.Errorf("log lacks the per-attack lines:\n%s", log.String())
	}

	// Same seed → same result, bit for bit.
	aa.Log = nil
	again, err := aa.Run(o, x, y, shape)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again.Adversarial, res.Adversarial) || !reflect.DeepEqual(again.Robust, res.Robust) || !sameReports(again, res) {
		t.Errorf("two runs with seed %d differ: %v vs %v", aa.Seed, stages(again), stages(res))
	}

	// The cheap preset's stages are the standard version's first two, bit for bit.
	cheap := aa
	cheap.Attacks = aa.Attacks[:2]
	short, err := cheap.Run(o, x, y, shape)
	if err != nil {
		t.Fatal(err)
	}
	if !sameReports(short, &AutoAttackResult{Attacks: res.Attacks[:2]}) || short.RobustAccuracy < res.RobustAccuracy {
		t.Errorf("APGD-CE + APGD-T alone %v, within the standard version %v", stages(short), stages(res))
	}
}

func stages(r *AutoAttackResult) map[string]float64 {
	m := map[string]float64{}
	for _, a := range r.Attacks {
		m[a.Name] = a.RobustAccuracy
	}
	return m
}

func sameReports(a, b *AutoAttackResult) bool {
	if len(a.Attacks) != len(b.Attacks) {
		return false
	}
	for i := range a.Attacks {
		x, y := a.Attacks[i], b.Attacks[i]
		if x.Name != y.Name || x.Fooled != y.Fooled || x.Attacked != y.Attacked || x.RobustAccuracy != y.RobustAccuracy {
			return false
		}
	}
	return true
}

// The presets carry the official settings (autoattack.py:set_version('standard'), L∞).
func TestAutoAttackPresets(t *testing.T) {
	std, err := AutoAttackPreset("standard", 8.0/255)
	if err != nil {
		t.Fatal(err)
	}
	want := []Attack{
		APGD{Loss: LossCE, Iterations: 100, Restarts: 1, Rho: 0.75},
		APGDT{Iterations: 100, Restarts: 1, Targets: 9, Rho: 0.75},
		FABT{Iterations: 100, Restarts: 1, Targets: 9, AlphaMax: 0.1, Eta: 1.05, Beta: 0.9},
		SquareAttack{Queries: 5000, PInit: 0.8, Restarts: 1},
	}
	if !reflect.DeepEqual(std.Attacks, want) || std.BatchSize != 128 {
		t.Errorf("standard preset %+v", std)
	}
	var names []string
	for _, a := range std.Attacks {
		names = append(names, a.Name())
	}
	if got := strings.Join(names, ","); got != "apgd-ce,apgd-t,fab-t,square" {
		t.Errorf("standard order %s", got)
	}
	cheap, err := AutoAttackPreset("apgd", 8.0/255)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cheap.Attacks, want[:2]) {
		t.Errorf("apgd preset %+v", cheap.Attacks)
	}
	if _, err := AutoAttackPreset("plus", 8.0/255); err == nil || !strings.Contains(err.Error(), "standard") {
		t.Errorf("unknown preset: error %v", err)
	}
}

func TestAutoAttackRejectsBadInput(t *testing.T) {
	shape := ImageShape{H: 2, W: 2, C: 1}
	o := newTestLinear(1, 4, shape, 1).oracle(t)
	x := testImages(1, 3, shape)
	y := []int32{0, 1, 2}
	good, err := AutoAttackPreset("apgd", 0.1)
	if err != nil {
		t.Fatal(err)
	}
	bad := append([]float32(nil), x...)
	bad[5] = 1.5
	for _, c := range []struct {
		name string
		aa   AutoAttack
		x    []float32
		y    []int32
		want string
	}{
		{"negative ε", AutoAttack{Epsilon: -1, BatchSize: 8, Attacks: good.Attacks}, x, y, "epsilon"},
		{"no attacks", AutoAttack{Epsilon: 0.1, BatchSize: 8}, x, y, "no attacks"},
		{"batch 0", AutoAttack{Epsilon: 0.1, Attacks: good.Attacks}, x, y, "batch size"},
		{"bad iterations", AutoAttack{Epsilon: 0.1, BatchSize: 8, Attacks: []Attack{APGD{Loss: LossCE, Restarts: 1, Rho: 0.75}}}, x, y, "iterations"},
		{"pixel > 1", good, bad, y, "outside [0,1]"},
		{"label", good, x, []int32{0, 1, 4}, "label 4"},
		{"sizes", good, x[:5], y, "values for 3 images"},
	} {
		_, err := c.aa.Run(o, c.x, c.y, shape)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one mentioning %q", c.name, err, c.want)
		}
	}
	// APGD-T needs 4 classes (targeted DLR).
	o3 := newTestLinear(1, 3, shape, 1).oracle(t)
	if _, err := good.Run(o3, x, []int32{0, 1, 2}, shape); err == nil || !strings.Contains(err.Error(), "at least 4 classes") {
		t.Errorf("3 classes: error %v", err)
	}
}

// An attack that returns a point outside the ball is caught and named.
type cheatingAttack struct{}

func (cheatingAttack) Name() string    { return "cheat" }
func (cheatingAttack) Validate() error { return nil }
func (cheatingAttack) Perturb(o Oracle, b Batch, rng *rand.Rand) ([]float32, error) {
	adv := append([]float32(nil), b.X...)
	adv[0] = float32(math.Min(1, float64(adv[0])+2*b.Epsilon))
	if adv[0] == b.X[0] {
		adv[0] = float32(float64(adv[0]) - 2*b.Epsilon)
	}
	return adv, nil
}

func TestAutoAttackChecksTheBall(t *testing.T) {
	shape := ImageShape{H: 2, W: 2, C: 1}
	o := newTestLinear(1, 4, shape, 1).oracle(t)
	x := testImages(3, 4, shape)
	y := labelsFromModel(t, o, x, 4, 0, 1)
	aa := AutoAttack{Epsilon: 0.05, BatchSize: 4, Attacks: []Attack{cheatingAttack{}}}
	if _, err := aa.Run(o, x, y, shape); err == nil || !strings.Contains(err.Error(), "cheat") || !strings.Contains(err.Error(), "ε-ball") {
		t.Errorf("out-of-ball example: error %v", err)
	}
}

// linfBox rounds inwards: every float32 in [lo,hi] is within ε of x exactly.
func TestLinfBoxIsExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	for _, eps := range []float64{8.0 / 255, 4.0 / 255, 0.1, 1e-3} {
		x := make([]float32, 2000)
		for i := range x {
			x[i] = rng.Float32()
		}
		x[0], x[1] = 0, 1
		lo, hi := linfBox(x, eps)
		for i, v := range x {
			if float64(v)-float64(lo[i]) > eps || float64(hi[i])-float64(v) > eps || lo[i] < 0 || hi[i] > 1 {
				t.Fatalf("ε=%g x=%g: box [%g,%g]", eps, v, lo[i], hi[i])
			}
			// Not over-tight: the next float32 outwards is outside the ball or [0,1].
			if l := math.Nextafter32(lo[i], -1); lo[i] > 0 && float64(v)-float64(l) <= eps {
				t.Fatalf("ε=%g x=%g: lo %g could be %g", eps, v, lo[i], l)
			}
		}
	}
}
