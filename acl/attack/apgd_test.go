package attack

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// The checkpoints of the official integer schedule, which for 100 iterations are the
// paper's p_j = 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 (spec §10).
func TestAPGDSchedule(t *testing.T) {
	at, win := apgdSchedule(100)
	if want := []int{21, 40, 56, 69, 79, 86, 92, 98}; !slices.Equal(at, want) {
		t.Errorf("checkpoints after iterations %v, want %v", at, want)
	}
	if want := []int{22, 19, 16, 13, 10, 7, 6, 6}; !slices.Equal(win, want) {
		t.Errorf("windows %v, want %v", win, want)
	}
	// The paper's recursion p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06).
	p := []float64{0, 0.22}
	for len(p) < 9 {
		j := len(p) - 1
		p = append(p, p[j]+math.Max(p[j]-p[j-1]-0.03, 0.06))
	}
	for j, it := range at {
		if got := int(math.Round(p[j+1]*100)) - 1; got != it {
			t.Errorf("checkpoint %d: after iteration %d, the paper's p gives %d", j, it, got)
		}
	}
	if at, _ := apgdSchedule(10); !slices.Equal(at, []int{1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Errorf("10 iterations: checkpoints %v", at)
	}
}

// analyticWorstCase is the L∞ worst case of the margin z_y − z_t of a linear model within
// the ε-ball ∩ [0,1]: every coordinate moves to the end of its interval that lowers
// (w_y − w_t)·x, i.e. clip₀₁(x − ε·sign(w_y − w_t)); coordinates with w_y = w_t stay.
func analyticWorstCase(m testLinear, x []float32, y, tg int, eps float64) []float32 {
	d := m.Shape.Size()
	lo, hi := linfBox(x, eps)
	out := append([]float32(nil), x...)
	for j := range d {
		switch v := m.W[y*d+j] - m.W[tg*d+j]; {
		case v > 0:
			out[j] = lo[j]
		case v < 0:
			out[j] = hi[j]
		}
	}
	return out
}

func linearMargin(m testLinear, x []float32, y, tg int) float64 {
	z := m.logits(x)
	return z[y] - z[tg]
}

// For a binary linear classifier the cross-entropy is a decreasing function of the margin,
// so APGD-CE must end at the analytic worst case, exactly, with the largest loss there.
func TestAPGDReachesLinearWorstCase(t *testing.T) {
	shape := ImageShape{H: 3, W: 3, C: 2}
	m := newTestLinear(31, 2, shape, 3)
	m.B = []float32{0.2, -0.2}
	o := m.oracle(t)
	const n = 12
	d := shape.Size()
	x := testImages(32, n, shape)
	// Include pixels at 0 and 1 so that clipping binds.
	for i := 0; i < len(x); i += 5 {
		x[i] = float32(i % 2)
	}
	y := make([]int32, n)
	for i := range y {
		y[i] = int32(i % 2)
	}
	const eps = 8.0 / 255
	out, err := apgdSingleRun(o, LossCE, x, n, d, y, nil, eps, apgdParams{iters: 20, rho: 0.75}, rand.New(rand.NewPCG(3, 4)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		yi := int(y[i])
		want := analyticWorstCase(m, x[i*d:(i+1)*d], yi, 1-yi, eps)
		got := out.xBest[i*d : (i+1)*d]
		for j := range d {
			if got[j] != want[j] {
				t.Errorf("image %d pixel %d: APGD-CE best point %.8g, analytic worst case %.8g (clean %.8g)", i, j, got[j], want[j], x[i*d+j])
			}
		}
		wantMargin := linearMargin(m, want, yi, 1-yi)
		wantLoss := math.Log1p(math.Exp(-wantMargin))
		if math.Abs(float64(out.lossBest[i])-wantLoss) > 1e-5*math.Max(1, wantLoss) {
			t.Errorf("image %d: best loss %g, analytic %g", i, out.lossBest[i], wantLoss)
		}
		if out.fooled[i] != (wantMargin < 0) {
			t.Errorf("image %d: fooled=%v, analytic worst-case margin %g", i, out.fooled[i], wantMargin)
		}
	}
}

// On a 10-class linear model the exact robust set is known: a point is robust iff every
// target's analytic worst-case margin stays positive. The cheap preset (APGD-CE + APGD-T)
// must find every point whose worst case is clearly misclassified, and (being sound)
// can never fool a robust one.
func TestAutoAttackAPGDMatchesAnalyticRobustness(t *testing.T) {
	shape := ImageShape{H: 4, W: 4, C: 3}
	const k, n = 10, 48
	m := newTestLinear(41, k, shape, 8)
	o := m.oracle(t)
	x := testImages(42, n, shape)
	y := labelsFromModel(t, o, x, n, 0.1, 2)
	d := shape.Size()
	const eps = 0.03
	aa, err := AutoAttackPreset(AutoAttackAPGDPreset, eps)
	if err != nil {
		t.Fatal(err)
	}
	aa.Attacks = []Attack{APGD{Loss: LossCE, Iterations: 30, Restarts: 1, Rho: 0.75}, APGDT{Iterations: 30, Restarts: 1, Targets: 9, Rho: 0.75}}
	aa.BatchSize = 20
	res, err := aa.Run(o, x, y, shape)
	if err != nil {
		t.Fatal(err)
	}
	clearlyNot, robustN := 0, 0
	for i := range n {
		xi := x[i*d : (i+1)*d]
		yi := int(y[i])
		if m.logits(xi)[yi] < slices.Max(m.logits(xi)) {
			if res.Robust[i] {
				t.Errorf("image %d is misclassified clean but reported robust", i)
			}
			continue
		}
		worst := math.Inf(1)
		for tg := range k {
			if tg != yi {
				worst = math.Min(worst, linearMargin(m, analyticWorstCase(m, xi, yi, tg, eps), yi, tg))
			}
		}
		switch {
		case worst > 0:
			robustN++
			if !res.Robust[i] {
				t.Errorf("image %d: analytic worst-case margin %g > 0, yet reported fooled", i, worst)
			}
		case worst < -0.05:
			clearlyNot++
			if res.Robust[i] {
				t.Errorf("image %d: analytic worst-case margin %g, but APGD did not fool it", i, worst)
			}
		}
	}
	t.Logf("clean %.3f, robust %.3f; %d points analytically robust, %d clearly not", res.CleanAccuracy, res.RobustAccuracy, robustN, clearlyNot)
	if robustN < 5 || clearlyNot < 5 {
		t.Fatalf("uninformative setting: %d robust, %d clearly non-robust", robustN, clearlyNot)
	}
}

// scriptedOracle has one-value "images", loss −|x − c_i| (maximised at c_i, inside the
// ball) and gradient sign(c_i − x); the label is always predicted. It records the points
// it is queried at.
type scriptedOracle struct {
	c       []float32
	queries [][]float32
}

func (s *scriptedOracle) NumClasses() int { return 2 }
func (s *scriptedOracle) Logits(x []float32, n int) ([]float32, error) {
	z := make([]float32, 2*n)
	for i := range n {
		z[2*i] = 1
	}
	return z, nil
}
func (s *scriptedOracle) LossGrad(kind string, x []float32, n int, y, targets []int32) ([]float32, []float32, error) {
	s.queries = append(s.queries, append([]float32(nil), x...))
	loss, grad := make([]float32, n), make([]float32, n)
	for i := range n {
		loss[i] = -abs32(x[i] - s.c[i])
		grad[i] = sign32(s.c[i] - x[i])
	}
	return loss, grad, nil
}

// With a constant step 2ε the iterate would oscillate around an interior maximum; the
// checkpoints halve each example's own step while it oscillates (8 checkpoints in 100
// iterations), so the moves shrink from about 2ε to at most 2ε/2⁶ and the best point
// converges to each example's maximiser.
func TestAPGDStepSizeHalvingPerExample(t *testing.T) {
	o := &scriptedOracle{c: []float32{0.6137, 0.4481, 0.52}}
	x := []float32{0.5, 0.5, 0.5}
	const eps = 0.25
	out, err := apgdSingleRun(o, LossCE, x, 3, 1, []int32{0, 0, 0}, nil, eps, apgdParams{iters: 100, rho: 0.75}, rand.New(rand.NewPCG(5, 6)))
	if err != nil {
		t.Fatal(err)
	}
	if len(o.queries) != 101 {
		t.Fatalf("%d loss evaluations, want 101 (start + 100 iterations)", len(o.queries))
	}
	for i, c := range o.c {
		if d := math.Abs(float64(out.xBest[i] - c)); d > 2*eps/128 {
			t.Errorf("example %d: best point %g, maximiser %g (|Δ| = %g > 2ε/128)", i, out.xBest[i], c, d)
		}
		early, late := 0.0, 0.0
		for q := 1; q < len(o.queries); q++ {
			mv := math.Abs(float64(o.queries[q][i] - o.queries[q-1][i]))
			if q <= 5 {
				early = math.Max(early, mv)
			}
			if q > 95 {
				late = math.Max(late, mv)
			}
		}
		if early < eps/2 || late > 2*eps/64 {
			t.Errorf("example %d: largest move %g in the first 5 iterations (want ≥ ε/2), %g in the last 5 (want ≤ 2ε/64)", i, early, late)
		}
	}
}
