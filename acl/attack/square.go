package attack

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// SquareAttack is the L∞ Square Attack (Andriushchenko et al. 2020), the last, gradient-free
// attack of AutoAttack standard (fra31/auto-attack square.py:SquareAttack at a392200,
// margin loss, as AutoAttack configures it). Spec §10. It uses only Logits.
//
// Start: vertical stripes, x + ε·s with one random sign s per (image, column, channel),
// clipped to [0,1]. Each query: a square of side round(√(p·H·W)) at a random position
// gets a random sign per channel, ±2ε added to the current best point, projected onto the
// ε-ball ∩ [0,1]; it is kept for the examples whose margin z_y − max_{i≠y} z_i drops (or
// becomes ≤ 0). p follows the official schedule from p_init (halved at queries 10, 50,
// 200, 500, 1000, 2000, 4000, 6000, 8000). As in the official PyTorch code, one square
// position and one sign per channel are drawn per query and shared by every example
// still being attacked in the batch.
type SquareAttack struct {
	// Queries is the query budget per restart (AutoAttack standard: 5000), PInit the
	// initial fraction p of pixels a square covers (0.8), Restarts their number (1).
	Queries  int     `json:"queries"`
	PInit    float64 `json:"p_init"`
	Restarts int     `json:"restarts"`
	// RescaleSchedule stretches the p schedule to Queries (as if 10000 queries). AutoAttack
	// sets resc_schedule=False (the default here); the SquareAttack class defaults to True.
	RescaleSchedule bool `json:"rescale_schedule,omitempty"`
	// FixLastPosition lets the square's corner reach H−s (and W−s). Official (false, the
	// default): random_int(0, h−s) draws from [0, h−s−1], so a square never touches the
	// last row or column unless it spans the image.
	FixLastPosition bool `json:"fix_last_position,omitempty"`
}

// DefaultSquareAttack returns Square as AutoAttack standard runs it: 5000 queries, p_init 0.8,
// 1 restart.
func DefaultSquareAttack() SquareAttack { return SquareAttack{Queries: 5000, PInit: 0.8, Restarts: 1} }

// Name implements Attack.
func (s SquareAttack) Name() string { return "square" }

// Validate names the first invalid field.
func (s SquareAttack) Validate() error {
	switch {
	case s.Queries < 1:
		return fmt.Errorf("Square queries = %d: must be ≥ 1 (5000 in AutoAttack)", s.Queries)
	case !(s.PInit > 0 && s.PInit <= 1):
		return fmt.Errorf("Square p_init = %g: must be in (0,1] (0.8 in AutoAttack)", s.PInit)
	case s.Restarts < 1:
		return fmt.Errorf("Square restarts = %d: must be ≥ 1", s.Restarts)
	}
	return nil
}

// Perturb implements Attack (square.py:perturb, untargeted).
func (s SquareAttack) Perturb(o Oracle, b Batch, rng *rand.Rand) ([]float32, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return attackRemaining(o, b, s.Restarts, func(_ int, xs []float32, ys []int32, n int) ([]float32, []bool, error) {
		cur, err := s.singleRun(o, xs, n, b.Shape, ys, b.Epsilon, rng)
		if err != nil {
			return nil, nil, err
		}
		fooled, err := misclassified(o, cur, ys, n)
		return cur, fooled, err
	})
}

// pSelection is square.py:p_selection: the fraction of pixels the square covers at
// query it.
func (s SquareAttack) pSelection(it int) float64 {
	if s.RescaleSchedule {
		it = int(float64(it) / float64(s.Queries) * 10000)
	}
	switch {
	case it <= 10:
		return s.PInit
	case it <= 50:
		return s.PInit / 2
	case it <= 200:
		return s.PInit / 4
	case it <= 500:
		return s.PInit / 8
	case it <= 1000:
		return s.PInit / 16
	case it <= 2000:
		return s.PInit / 32
	case it <= 4000:
		return s.PInit / 64
	case it <= 6000:
		return s.PInit / 128
	case it <= 8000:
		return s.PInit / 256
	}
	return s.PInit / 512
}

// margins returns z_y − max_{i≠y} z_i for each of the n images (square.py:margin_and_loss;
// with the margin loss, the loss is the margin).
func margins(o Oracle, x []float32, n int, y []int32) ([]float32, error) {
	k := o.NumClasses()
	z, err := o.Logits(x, n)
	if err != nil {
		return nil, err
	}
	if len(z) != n*k {
		return nil, fmt.Errorf("oracle returned %d logits for %d images × %d classes", len(z), n, k)
	}
	m := make([]float32, n)
	for i := range n {
		row := z[i*k : (i+1)*k]
		other := float32(math.Inf(-1))
		for j, v := range row {
			if j != int(y[i]) {
				other = max(other, v)
			}
		}
		m[i] = row[y[i]] - other
	}
	return m, nil
}

// singleRun is square.py:attack_single_run (L∞); it returns the best point of each image.
func (s SquareAttack) singleRun(o Oracle, x []float32, n int, shape ImageShape, y []int32, eps float64, rng *rand.Rand) ([]float32, error) {
	h, w, c := shape.H, shape.W, shape.C
	size := shape.Size()
	lo, hi := linfBox(x, eps)
	eps32 := float32(eps)
	randomSign := func() float32 { return sign32(2*rng.Float32() - 1) }

	// Vertical stripes: one sign per (image, channel, column), as random_choice([n,c,1,w]).
	xBest := make([]float32, len(x))
	stripe := make([]float32, c*w)
	for i := range n {
		for j := range stripe { // [c][w] order, as PyTorch fills [c,1,w]
			stripe[j] = randomSign()
		}
		for r := range h {
			for col := range w {
				for ch := range c {
					q := i*size + (r*w+col)*c + ch
					xBest[q] = clampTo(x[q]+eps32*stripe[ch*w+col], lo[q], hi[q])
				}
			}
		}
	}
	marginMin, err := margins(o, xBest, n, y)
	if err != nil {
		return nil, err
	}
	allBelow := true
	for _, m := range marginMin {
		allBelow = allBelow && m < 0
	}
	if allBelow {
		return xBest, nil
	}
	nFeatures := float64(size)
	delta := make([]float32, c)
	for it := range s.Queries {
		var idx []int
		for i, m := range marginMin {
			if m > 0 {
				idx = append(idx, i)
			}
		}
		if len(idx) == 0 {
			break
		}
		p := s.pSelection(it)
		side := max(int(math.RoundToEven(math.Sqrt(p*nFeatures/float64(c)))), 1)
		side = min(side, min(h, w))
		span := 0
		if s.FixLastPosition {
			span = 1
		}
		vh := int(float64(h-side+span) * float64(rng.Float32()))
		vw := int(float64(w-side+span) * float64(rng.Float32()))
		for ch := range delta {
			delta[ch] = 2 * eps32 * randomSign()
		}
		xNew := gather(xBest, idx, size)
		for j, i := range idx {
			for r := vh; r < vh+side; r++ {
				for col := vw; col < vw+side; col++ {
					for ch := range c {
						off := (r*w+col)*c + ch
						q := i*size + off
						xNew[j*size+off] = clampTo(xNew[j*size+off]+delta[ch], lo[q], hi[q])
					}
				}
			}
		}
		m, err := margins(o, xNew, len(idx), gatherInt32(y, idx))
		if err != nil {
			return nil, err
		}
		done := true
		for j, i := range idx {
			if m[j] < marginMin[i] || m[j] <= 0 {
				marginMin[i] = m[j]
				copy(xBest[i*size:(i+1)*size], xNew[j*size:(j+1)*size])
			}
		}
		for _, mm := range marginMin {
			done = done && mm <= 0
		}
		if done {
			break
		}
	}
	return xBest, nil
}
