package attack

import (
	"fmt"
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
	Loss string `json:"loss"`
	// Iterations per restart (AutoAttack standard: 100), Restarts (1), and Rho, the
	// checkpoints' success-fraction threshold ρ (0.75, autopgd_base.py:thr_decr).
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
func (a APGD) Perturb(o Oracle, b Batch, rng *rand.Rand) ([]float32, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	if err := CheckAttackLoss(a.Loss, o.NumClasses()); err != nil {
		return nil, fmt.Errorf("%s: %w", a.Name(), err)
	}
	p := apgdParams{iters: a.Iterations, rho: a.Rho, fixFirst: a.FixFirstCheckpoint}
	return attackRemaining(o, b, a.Restarts, func(_ int, xs []float32, ys []int32, n int) ([]float32, []bool, error) {
		out, err := apgdSingleRun(o, a.Loss, xs, n, b.Shape.Size(), ys, nil, b.Epsilon, p, rng)
		if err != nil {
			return nil, nil, err
		}
		return out.xBestAdv, out.fooled, nil
	})
}

// APGDT is APGD on the targeted DLR loss −(z_y − z_t)/(z_π1 − ½(z_π3 + z_π4)), run once
// per target class t = the 2nd, 3rd, … (Targets+1)-th largest clean logit, each on the
// points not yet fooled (autopgd_base.py:APGDAttack_targeted). AutoAttack standard: 9
// targets × 1 restart × 100 iterations. Targets is capped at K−1 for a K-class model
// (the official code would index out of range).
type APGDT struct {
	// Iterations and Restarts per target (AutoAttack standard: 100 and 1); Targets the
	// number of target classes (9); Rho and FixFirstCheckpoint as in APGD.
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
func (a APGDT) Perturb(o Oracle, b Batch, rng *rand.Rand) ([]float32, error) {
	if err := a.Validate(); err != nil {
		return nil, err
	}
	k := o.NumClasses()
	if err := CheckAttackLoss(LossDLRTargeted, k); err != nil {
		return nil, fmt.Errorf("apgd-t: %w", err)
	}
	p := apgdParams{iters: a.Iterations, rho: a.Rho, fixFirst: a.FixFirstCheckpoint}
	// Rounds: for each target rank 2, 3, …, Targets+1 (at most K), Restarts restarts.
	targets := min(a.Targets, k-1)
	return attackRemaining(o, b, targets*a.Restarts, func(r int, xs []float32, ys []int32, n int) ([]float32, []bool, error) {
		rank := 2 + r/a.Restarts
		z, err := o.Logits(xs, n)
		if err != nil {
			return nil, nil, err
		}
		if len(z) != n*k {
			return nil, nil, fmt.Errorf("oracle returned %d logits for %d images × %d classes", len(z), n, k)
		}
		out, err := apgdSingleRun(o, LossDLRTargeted, xs, n, b.Shape.Size(), ys, rankedClass(z, n, k, rank), b.Epsilon, p, rng)
		if err != nil {
			return nil, nil, err
		}
		return out.xBestAdv, out.fooled, nil
	})
}
