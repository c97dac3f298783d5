package attack

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// FABT is the targeted Fast Adaptive Boundary attack (Croce & Hein 2020, L∞), the third
// attack of AutoAttack standard (fra31/auto-attack fab_base.py/fab_pt.py at a392200).
// Spec §10.
//
// FAB looks for the adversarial example of smallest L∞ norm. For each target t (the 2nd,
// 3rd, … (Targets+1)-th largest clean logit) it linearises the decision boundary
// z_t − z_y = 0 at the iterate x_k, giving the hyperplane {v : w·v = b} with
// w = ∇(z_t − z_y)(x_k), b = w·x_k − (z_t − z_y)(x_k), and projects onto it, under the box
// [0,1], both x_k (δ_k) and the clean x (δ_0), minimally in L∞. The next iterate is
// x_{k+1} = clip₀₁((1−α)(x_k + η δ_k) + α(x + η δ_0)), α = min(max(‖δ_k‖/(‖δ_k‖+‖δ_0‖),0), α_max)
// (norms floored at 1e-8). When x_{k+1} is misclassified it is kept if closer than the
// best so far, and the iterate moves back towards x: x_{k+1} ← x + β(x_{k+1} − x). After
// the iterations a point counts as fooled only if its best example is within ε.
// Restarts after the first start at x + min(best, ε)·t/(2‖t‖∞), t ~ U(−1,1).
type FABT struct {
	// Iterations per target (AutoAttack standard: 100), Restarts per target (1) and
	// Targets, the number of target classes (9).
	Iterations int `json:"iterations"`
	Restarts   int `json:"restarts"`
	Targets    int `json:"targets"`
	// AlphaMax bounds the pull towards the clean point's projection (0.1).
	AlphaMax float64 `json:"alpha_max"`
	// Eta is the overshoot of both projections (1.05).
	Eta float64 `json:"eta"`
	// Beta is the backward step after a success (0.9).
	Beta float64 `json:"beta"`
}

// DefaultFABT returns FAB-T as AutoAttack standard runs it: 9 targets × 1 restart × 100
// iterations, α_max 0.1, η 1.05, β 0.9.
func DefaultFABT() FABT {
	return FABT{Iterations: 100, Restarts: 1, Targets: 9, AlphaMax: 0.1, Eta: 1.05, Beta: 0.9}
}

// Name implements Attack.
func (f FABT) Name() string { return "fab-t" }

// Validate names the first invalid field.
func (f FABT) Validate() error {
	switch {
	case f.Iterations < 1:
		return fmt.Errorf("FAB-T iterations = %d: must be ≥ 1 (100 in AutoAttack)", f.Iterations)
	case f.Restarts < 1:
		return fmt.Errorf("FAB-T restarts = %d: must be ≥ 1", f.Restarts)
	case f.Targets < 1:
		return fmt.Errorf("FAB-T targets = %d: must be ≥ 1 (9 in AutoAttack)", f.Targets)
	case !(f.AlphaMax >= 0 && f.AlphaMax <= 1):
		return fmt.Errorf("FAB-T alpha_max = %g: must be in [0,1] (0.1)", f.AlphaMax)
	case !(f.Eta >= 1) || math.IsInf(f.Eta, 0):
		return fmt.Errorf("FAB-T eta = %g: must be ≥ 1 (1.05)", f.Eta)
	case !(f.Beta > 0 && f.Beta <= 1):
		return fmt.Errorf("FAB-T beta = %g: must be in (0,1] (0.9)", f.Beta)
	}
	return nil
}

// Perturb implements Attack (fab_base.py:perturb, targeted branch): for each target rank,
// each restart attacks the points not yet fooled; a point is fooled when the example
// returned is misclassified and within ε (measured in float64).
func (f FABT) Perturb(o Oracle, b Batch, rng *rand.Rand) ([]float32, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	size := b.Shape.Size()
	// Rounds: for each target rank 2, 3, …, Targets+1 (at most K), Restarts restarts, all
	// but the first of each rank from a random start.
	targets := min(f.Targets, o.NumClasses()-1)
	return attackRemaining(o, b, targets*f.Restarts, func(r int, xs []float32, ys []int32, n int) ([]float32, []bool, error) {
		cur, err := f.singleRun(o, xs, n, size, ys, 2+r/f.Restarts, r%f.Restarts > 0, b.Epsilon, rng)
		if err != nil {
			return nil, nil, err
		}
		fooled, err := misclassified(o, cur, ys, n)
		if err != nil {
			return nil, nil, err
		}
		for j := range fooled {
			fooled[j] = fooled[j] && linfDist(cur[j*size:(j+1)*size], xs[j*size:(j+1)*size]) <= b.Epsilon
		}
		return cur, fooled, nil
	})
}

// singleRun is fab_base.py:attack_single_run (targeted, L∞): it returns x with the
// smallest adversarial example found for each correctly classified point that was fooled
// at all (whatever its norm).
func (f FABT) singleRun(o Oracle, x []float32, n, size int, y []int32, rank int, randStart bool, eps float64, rng *rand.Rand) ([]float32, error) {
	k := o.NumClasses()
	z, err := o.Logits(x, n)
	if err != nil {
		return nil, err
	}
	pred, err := argmaxRows(z, n, k)
	if err != nil {
		return nil, err
	}
	targetAll := rankedClass(z, n, k, rank)
	var idx []int
	for i := range n {
		if pred[i] == y[i] {
			idx = append(idx, i)
		}
	}
	result := append([]float32(nil), x...)
	if len(idx) == 0 {
		return result, nil
	}
	bs := len(idx)
	im2 := gather(x, idx, size)
	la2, target := gatherInt32(y, idx), gatherInt32(targetAll, idx)
	adv := append([]float32(nil), im2...)
	res2 := make([]float64, bs)
	for i := range res2 {
		res2[i] = 1e10
	}
	x1 := append([]float32(nil), im2...)
	if randStart {
		t := make([]float32, size)
		for i := range bs {
			m := float32(0)
			for j := range t {
				t[j] = 2*rng.Float32() - 1
				m = max(m, abs32(t[j]))
			}
			r := float32(min(res2[i], eps))
			for j, v := range t {
				q := i*size + j
				x1[q] = clampTo(im2[q]+r*v/m*0.5, 0, 1)
			}
		}
	}
	d1 := make([]float64, bs*size)
	d2 := make([]float64, bs*size)
	rows := make([]linfProjection, 2*bs)
	for it := 0; it < f.Iterations; it++ {
		df, dg, err := o.LossGrad(LossMargin, x1, bs, la2, target)
		if err != nil {
			return nil, err
		}
		if len(df) != bs || len(dg) != bs*size {
			return nil, fmt.Errorf("oracle returned %d losses and %d gradient values for %d images", len(df), len(dg), bs)
		}
		for i := range bs {
			w := dg[i*size : (i+1)*size]
			bHyp := -float64(df[i])
			for j, v := range w {
				bHyp += float64(v) * float64(x1[i*size+j])
			}
			rows[i] = linfProjection{t: x1[i*size : (i+1)*size], w: w, b: bHyp, d: d1[i*size : (i+1)*size]}
			rows[bs+i] = linfProjection{t: im2[i*size : (i+1)*size], w: w, b: bHyp, d: d2[i*size : (i+1)*size]}
		}
		projectRowsLinf(rows)
		for i := range bs {
			a1 := max(maxAbs(d1[i*size:(i+1)*size]), 1e-8)
			a2 := max(maxAbs(d2[i*size:(i+1)*size]), 1e-8)
			alpha := min(max(a1/(a1+a2), 0), f.AlphaMax)
			for q := i * size; q < (i+1)*size; q++ {
				v := (float64(x1[q])+f.Eta*d1[q])*(1-alpha) + (float64(im2[q])+d2[q]*f.Eta)*alpha
				x1[q] = float32(min(max(v, 0), 1))
			}
		}
		p, err := predict(o, x1, bs)
		if err != nil {
			return nil, err
		}
		for i := range bs {
			if p[i] == la2[i] {
				continue
			}
			row, clean := x1[i*size:(i+1)*size], im2[i*size:(i+1)*size]
			if t := linfDist(row, clean); t < res2[i] {
				copy(adv[i*size:(i+1)*size], row)
				res2[i] = t
			}
			for j := range row {
				row[j] = clean[j] + (row[j]-clean[j])*float32(f.Beta)
			}
		}
	}
	for j, i := range idx {
		if res2[j] < 1e10 {
			copy(result[i*size:(i+1)*size], adv[j*size:(j+1)*size])
		}
	}
	return result, nil
}
