package attack

import (
	"fmt"
	"math"
)

// Host-side helpers shared by the attacks: predictions, the L∞ box, gathers.

// predict returns the arg-max class of each of the n images (ties to the lowest index).
func predict(o Oracle, x []float32, n int) ([]int32, error) {
	z, err := o.Logits(x, n)
	if err != nil {
		return nil, err
	}
	return argmaxRows(z, n, o.NumClasses())
}

func argmaxRows(z []float32, n, k int) ([]int32, error) {
	if len(z) != n*k {
		return nil, fmt.Errorf("oracle returned %d logits for %d images × %d classes", len(z), n, k)
	}
	out := make([]int32, n)
	for i := range n {
		row := z[i*k : (i+1)*k]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		out[i] = int32(best)
	}
	return out, nil
}

// lossGradLogits evaluates the loss, its gradient and the logits at x, in one pass when
// the oracle implements LogitsLossGrader.
func lossGradLogits(o Oracle, kind string, x []float32, n int, y, targets []int32) (loss, grad, logits []float32, err error) {
	if lg, ok := o.(LogitsLossGrader); ok {
		loss, grad, logits, err = lg.LossGradLogits(kind, x, n, y, targets)
	} else {
		loss, grad, err = o.LossGrad(kind, x, n, y, targets)
		if err == nil {
			logits, err = o.Logits(x, n)
		}
	}
	if err == nil && (len(loss) != n || len(grad) != len(x)) {
		err = fmt.Errorf("oracle returned %d losses and %d gradient values for %d images of %d values", len(loss), len(grad), n, len(x)/max(n, 1))
	}
	return loss, grad, logits, err
}

// linfBox returns the per-value bounds of the L∞ ball of radius eps around x intersected
// with [0,1]: lo = max(0, x−ε), hi = min(1, x+ε), rounded inwards so that every float32
// in [lo,hi] is within ε of x in exact arithmetic. Clamping to [lo,hi] is the official
// clamp(min(max(v, x−ε), x+ε), 0, 1).
func linfBox(x []float32, eps float64) (lo, hi []float32) {
	lo, hi = make([]float32, len(x)), make([]float32, len(x))
	for i, v := range x {
		l := float32(float64(v) - eps)
		if float64(v)-float64(l) > eps {
			l = math.Nextafter32(l, float32(math.Inf(1)))
		}
		h := float32(float64(v) + eps)
		if float64(h)-float64(v) > eps {
			h = math.Nextafter32(h, float32(math.Inf(-1)))
		}
		lo[i], hi[i] = max(l, 0), min(h, 1)
	}
	return lo, hi
}

func clampTo(v, lo, hi float32) float32 { return min(max(v, lo), hi) }

func sign32(v float32) float32 {
	switch {
	case v > 0:
		return 1
	case v < 0:
		return -1
	}
	return 0
}

func gather(x []float32, idx []int, size int) []float32 {
	out := make([]float32, len(idx)*size)
	for j, i := range idx {
		copy(out[j*size:(j+1)*size], x[i*size:(i+1)*size])
	}
	return out
}

func gatherInt32(y []int32, idx []int) []int32 {
	out := make([]int32, len(idx))
	for j, i := range idx {
		out[j] = y[i]
	}
	return out
}

// rankedClass returns, for each row of logits z [n·k], the class at rank r (1 = largest):
// the official output.sort(dim=1)[1][:, -r], with ties ranked by lower index first.
func rankedClass(z []float32, n, k, r int) []int32 {
	out := make([]int32, n)
	order := make([]int, k)
	for i := range n {
		row := z[i*k : (i+1)*k]
		for j := range order {
			order[j] = j
		}
		// Partial selection sort: r ≤ k is small (≤ 10 in AutoAttack).
		for a := 0; a < r; a++ {
			best := a
			for b := a + 1; b < k; b++ {
				vb, vbest := row[order[b]], row[order[best]]
				if vb > vbest || (vb == vbest && order[b] < order[best]) {
					best = b
				}
			}
			order[a], order[best] = order[best], order[a]
		}
		out[i] = int32(order[r-1])
	}
	return out
}

// correctMask returns which images of b the model classifies correctly.
func correctMask(o Oracle, b Batch) ([]bool, error) {
	pred, err := predict(o, b.X, b.N)
	if err != nil {
		return nil, err
	}
	acc := make([]bool, b.N)
	for i := range acc {
		acc[i] = pred[i] == b.Y[i]
	}
	return acc, nil
}

func trueIndices(m []bool) []int {
	var idx []int
	for i, v := range m {
		if v {
			idx = append(idx, i)
		}
	}
	return idx
}

func abs32(v float32) float32 { return float32(math.Abs(float64(v))) }

func maxAbs(v []float64) float64 {
	m := 0.0
	for _, x := range v {
		m = math.Max(m, math.Abs(x))
	}
	return m
}

// linfDist is max_i |a_i − b_i| in float64 (exact for float32 inputs).
func linfDist(a, b []float32) float64 {
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(float64(a[i])-float64(b[i])))
	}
	return m
}
