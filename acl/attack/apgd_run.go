package attack

import (
	"math/rand/v2"
)

type apgdParams struct {
	iters    int
	rho      float64
	fixFirst bool
}

// apgdOutcome is attack_single_run's (x_best, acc, loss_best, x_best_adv).
type apgdOutcome struct {
	xBest    []float32 // the highest-loss iterate of each example
	lossBest []float32
	fooled   []bool    // misclassified at some iterate
	xBestAdv []float32 // the last misclassified iterate (the start point if none)
}

// apgdSingleRun is one restart of APGD on n examples (autopgd_base.py:attack_single_run,
// L∞ branch), with per-example step sizes and checkpoints.
func apgdSingleRun(o Oracle, kind string, x []float32, n, size int, y, targets []int32, eps float64, p apgdParams, rng *rand.Rand) (*apgdOutcome, error) {
	k := o.NumClasses()
	lo, hi := linfBox(x, eps)
	eps32 := float32(eps)

	// Random start: x + ε·t/(‖t‖∞ + 1e-12), t ~ U(−1,1), then into [0,1] (and the ball,
	// which it is in already up to rounding).
	xadv := make([]float32, len(x))
	t := make([]float32, size)
	for i := range n {
		m := float32(0)
		for j := range t {
			t[j] = 2*rng.Float32() - 1
			m = max(m, abs32(t[j]))
		}
		for j, v := range t {
			q := i*size + j
			xadv[q] = clampTo(x[q]+eps32*(v/(m+1e-12)), lo[q], hi[q])
		}
	}
	loss, grad, logits, err := lossGradLogits(o, kind, xadv, n, y, targets)
	if err != nil {
		return nil, err
	}
	pred, err := argmaxRows(logits, n, k)
	if err != nil {
		return nil, err
	}
	out := &apgdOutcome{
		xBest: append([]float32(nil), xadv...), lossBest: append([]float32(nil), loss...),
		fooled: make([]bool, n), xBestAdv: append([]float32(nil), xadv...),
	}
	for i := range n {
		out.fooled[i] = pred[i] != y[i]
	}
	lossStart := append([]float32(nil), loss...)
	gradBest := append([]float32(nil), grad...)
	step := make([]float32, n)
	for i := range step {
		step[i] = float32(2 * eps)
	}
	xold := append([]float32(nil), xadv...)
	lossSteps := make([][]float32, p.iters)
	for i := range lossSteps {
		lossSteps[i] = make([]float32, n)
	}
	lossBestLastCheck := append([]float32(nil), out.lossBest...)
	reducedLastCheck := make([]bool, n)
	for i := range reducedLastCheck {
		reducedLastCheck[i] = true
	}
	checkAt, windows := apgdSchedule(p.iters)
	check := 0

	for it := range p.iters {
		a := float32(1)
		if it > 0 {
			a = 0.75
		}
		for i := range n {
			s := step[i]
			for q := i * size; q < (i+1)*size; q++ {
				v, g2 := xadv[q], xadv[q]-xold[q]
				xold[q] = v
				z := clampTo(v+s*sign32(grad[q]), lo[q], hi[q])
				xadv[q] = clampTo(v+(z-v)*a+g2*(1-a), lo[q], hi[q])
			}
		}
		loss, grad, logits, err = lossGradLogits(o, kind, xadv, n, y, targets)
		if err != nil {
			return nil, err
		}
		if pred, err = argmaxRows(logits, n, k); err != nil {
			return nil, err
		}
		for i := range n {
			row := xadv[i*size : (i+1)*size]
			if pred[i] != y[i] {
				out.fooled[i] = true
				copy(out.xBestAdv[i*size:(i+1)*size], row)
			}
			lossSteps[it][i] = loss[i]
			if loss[i] > out.lossBest[i] {
				copy(out.xBest[i*size:(i+1)*size], row)
				copy(gradBest[i*size:(i+1)*size], grad[i*size:(i+1)*size])
				out.lossBest[i] = loss[i]
			}
		}
		if check >= len(checkAt) || it != checkAt[check] {
			continue
		}
		// Checkpoint (check_oscillation and the no-improvement condition).
		kWin := windows[check]
		check++
		for i := range n {
			successes := 0
			for c := range kWin {
				cur, prev := it-c, it-c-1
				var before float32
				switch {
				case prev >= 0:
					before = lossSteps[prev][i]
				case p.fixFirst:
					before = lossStart[i]
				default: // Python's loss_steps[-1]: the last row.
					before = lossSteps[prev+p.iters][i]
				}
				if lossSteps[cur][i] > before {
					successes++
				}
			}
			oscillating := float64(successes) <= float64(kWin)*p.rho
			noImprovement := !reducedLastCheck[i] && lossBestLastCheck[i] >= out.lossBest[i]
			reduce := oscillating || noImprovement
			reducedLastCheck[i] = reduce
			lossBestLastCheck[i] = out.lossBest[i]
			if reduce {
				step[i] /= 2
				copy(xadv[i*size:(i+1)*size], out.xBest[i*size:(i+1)*size])
				copy(grad[i*size:(i+1)*size], gradBest[i*size:(i+1)*size])
			}
		}
	}
	return out, nil
}

// apgdSchedule returns the iterations (0-based) after which APGD checks its step sizes,
// and the length of the window each check looks back on (autopgd_base.py:
// n_iter_2 = max(⌊0.22 N⌋,1), size_decr = max(⌊0.03 N⌋,1), n_iter_min = max(⌊0.06 N⌋,1)).
// For N = 100: after iterations 21, 40, 56, 69, 79, 86, 92, 98, i.e. the paper's
// p = 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99.
func apgdSchedule(iters int) (at, window []int) {
	k := max(int(0.22*float64(iters)), 1)
	kMin := max(int(0.06*float64(iters)), 1)
	decr := max(int(0.03*float64(iters)), 1)
	counter := 0
	for it := range iters {
		counter++
		if counter == k {
			at, window = append(at, it), append(window, k)
			k = max(k-decr, kMin)
			counter = 0
		}
	}
	return at, window
}
