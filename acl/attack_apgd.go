package acl

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// APGD is Auto-PGD (Croce & Hein 2020, L∞), untargeted, on the cross-entropy (APGD-CE,
// the first attack of AutoAttack standard) or the DLR loss (APGD-DLR, "plus" version).
// Spec §10; fra31/auto-attack autopgd_base.py:APGDAttack at a392200.
//
// Per example: a random start x + ε·t/‖t‖∞ (t ~ U(−1,1)); step size η = 2ε; iterate
// z = P(x_k + η·sign ∇), x_{k+1} = P(x_k + 0.75(z − x_k) + 0.25(x_k − x_{k−1})) with P
// the projection onto the ε-ball ∩ [0,1] (the first iteration takes the plain step z).
// Checkpoints after 22 %, then windows shrinking by 3 % of the iterations down to 6 %
// (official integer form: k = max(⌊0.22 N⌋,1), k ← max(k − max(⌊0.03 N⌋,1),
// max(⌊0.06 N⌋,1))); at a checkpoint an example halves η and restarts from its best point
// (with the gradient there) if at most ρ·k of the window's steps increased its loss, or if
// its η was not halved at the previous checkpoint and its best loss has not improved
// since. An example counts as fooled if any iterate is misclassified; the last such
// iterate is returned.
type APGD struct {
	// Loss is LossCE (default) or LossDLR.
	Loss       string  `json:"loss"`
	Iterations int     `json:"iterations"`
	Restarts   int     `json:"restarts"`
	Rho        float64 `json:"rho"`
	// FixFirstCheckpoint compares the first iteration's loss with the starting point's in
	// the first checkpoint's success count. Official (false, the default): the count
	// compares loss_steps[0] with loss_steps[-1], which Python reads as the last row, still
	// zero, so the first step counts as a success whenever its loss is positive (always
	// for CE, rarely for targeted DLR). Default official, for parity.
	FixFirstCheckpoint bool `json:"fix_first_checkpoint,omitempty"`
}

// DefaultAPGD returns APGD-CE as AutoAttack standard runs it: 100 iterations, 1 restart,
// ρ = 0.75.
func DefaultAPGD() APGD { return APGD{Loss: LossCE, Iterations: 100, Restarts: 1, Rho: 0.75} }

// Name implements Attack: "apgd-ce" or "apgd-dlr".
func (a APGD) Name() string {
	if a.Loss == LossDLR {
		return "apgd-dlr"
	}
	return "apgd-ce"
}

// Validate names the first invalid field.
func (a APGD) Validate() error {
	if a.Loss != LossCE && a.Loss != LossDLR {
		return fmt.Errorf("APGD loss %q: use %q or %q (targeted DLR is APGDT)", a.Loss, LossCE, LossDLR)
	}
	return validateAPGDParams("APGD", a.Iterations, a.Restarts, a.Rho)
}

func validateAPGDParams(who string, iters, restarts int, rho float64) error {
	switch {
	case iters < 1:
		return fmt.Errorf("%s iterations = %d: must be ≥ 1 (100 in AutoAttack)", who, iters)
	case restarts < 1:
		return fmt.Errorf("%s restarts = %d: must be ≥ 1", who, restarts)
	case !(rho >= 0 && rho <= 1):
		return fmt.Errorf("%s rho = %g: must be in [0,1] (0.75 in AutoAttack)", who, rho)
	}
	return nil
}

// Perturb implements Attack (autopgd_base.py:APGDAttack.perturb): each restart attacks
// the points not yet fooled.
func (a APGD) Perturb(o RobustnessOracle, b AttackBatch, rng *rand.Rand) ([]float32, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if err := CheckAttackLoss(a.Loss, o.NumClasses()); err != nil {
		return nil, fmt.Errorf("%s: %w", a.Name(), err)
	}
	size := b.Shape.Size()
	acc, err := correctMask(o, b)
	if err != nil {
		return nil, err
	}
	adv := append([]float32(nil), b.X...)
	p := apgdParams{iters: a.Iterations, rho: a.Rho, fixFirst: a.FixFirstCheckpoint}
	for range a.Restarts {
		idx := trueIndices(acc)
		if len(idx) == 0 {
			break
		}
		xs, ys := gather(b.X, idx, size), gatherInt32(b.Y, idx)
		out, err := apgdSingleRun(o, a.Loss, xs, len(idx), size, ys, nil, b.Epsilon, p, rng)
		if err != nil {
			return nil, err
		}
		for j, i := range idx {
			if out.fooled[j] {
				acc[i] = false
				copy(adv[i*size:(i+1)*size], out.xBestAdv[j*size:(j+1)*size])
			}
		}
	}
	return adv, nil
}

// APGDT is APGD on the targeted DLR loss −(z_y − z_t)/(z_π1 − ½(z_π3 + z_π4)), run once
// per target class t = the 2nd, 3rd, … (Targets+1)-th largest clean logit, each on the
// points not yet fooled (autopgd_base.py:APGDAttack_targeted). AutoAttack standard: 9
// targets × 1 restart × 100 iterations. Targets is capped at K−1 for a K-class model
// (the official code would index out of range).
type APGDT struct {
	Iterations         int     `json:"iterations"`
	Restarts           int     `json:"restarts"`
	Targets            int     `json:"targets"`
	Rho                float64 `json:"rho"`
	FixFirstCheckpoint bool    `json:"fix_first_checkpoint,omitempty"`
}

// DefaultAPGDT returns APGD-T as AutoAttack standard runs it.
func DefaultAPGDT() APGDT { return APGDT{Iterations: 100, Restarts: 1, Targets: 9, Rho: 0.75} }

// Name implements Attack.
func (a APGDT) Name() string { return "apgd-t" }

// Validate names the first invalid field.
func (a APGDT) Validate() error {
	if a.Targets < 1 {
		return fmt.Errorf("APGD-T targets = %d: must be ≥ 1 (9 in AutoAttack)", a.Targets)
	}
	return validateAPGDParams("APGD-T", a.Iterations, a.Restarts, a.Rho)
}

// Perturb implements Attack.
func (a APGDT) Perturb(o RobustnessOracle, b AttackBatch, rng *rand.Rand) ([]float32, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	k := o.NumClasses()
	if err := CheckAttackLoss(LossDLRTargeted, k); err != nil {
		return nil, fmt.Errorf("apgd-t: %w", err)
	}
	size := b.Shape.Size()
	acc, err := correctMask(o, b)
	if err != nil {
		return nil, err
	}
	adv := append([]float32(nil), b.X...)
	p := apgdParams{iters: a.Iterations, rho: a.Rho, fixFirst: a.FixFirstCheckpoint}
	for rank := 2; rank <= min(a.Targets, k-1)+1; rank++ {
		for range a.Restarts {
			idx := trueIndices(acc)
			if len(idx) == 0 {
				return adv, nil
			}
			xs, ys := gather(b.X, idx, size), gatherInt32(b.Y, idx)
			z, err := o.Logits(xs, len(idx))
			if err != nil {
				return nil, err
			}
			if len(z) != len(idx)*k {
				return nil, fmt.Errorf("oracle returned %d logits for %d images × %d classes", len(z), len(idx), k)
			}
			targets := rankedClass(z, len(idx), k, rank)
			out, err := apgdSingleRun(o, LossDLRTargeted, xs, len(idx), size, ys, targets, b.Epsilon, p, rng)
			if err != nil {
				return nil, err
			}
			for j, i := range idx {
				if out.fooled[j] {
					acc[i] = false
					copy(adv[i*size:(i+1)*size], out.xBestAdv[j*size:(j+1)*size])
				}
			}
		}
	}
	return adv, nil
}

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
func apgdSingleRun(o RobustnessOracle, kind string, x []float32, n, size int, y, targets []int32, eps float64, p apgdParams, rng *rand.Rand) (*apgdOutcome, error) {
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

// correctMask returns which images of b the model classifies correctly.
func correctMask(o RobustnessOracle, b AttackBatch) ([]bool, error) {
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
