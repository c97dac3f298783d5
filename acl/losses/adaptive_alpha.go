package losses

import (
	"encoding/json"
	"fmt"
	"math"
)

// AdaptiveAlpha is the per-batch α of AdvCL-IP (spec §3.3; Asym-AdvCL
// pretraining_advCL.py:314-343, flag `--stop_grad_adaptive E_w`). Each step the caller
// measures d_t, the batch mean of ‖h(x_i) − h(x_i^adv)‖₂ between the encoder features of
// the weak-augmented clean image and of its contrastive adversarial image, and calls
// Observe. During the first E_w epochs (epoch+1 ≤ E_w) α stays at α₀ and d_t feeds a
// running mean d̄ weighted by batch size; afterwards d̄ is frozen and
//
//	α_t = α₀                                    if d_t > d̄
//	α_t = 0.5                                   if d_t < d_min
//	α_t = α₀ + (0.5 − α₀)·(d̄ − d_t)/(d̄ − d_min)  otherwise,
//
// so the pair becomes symmetric as adversarial features approach clean ones.
//
// All state is in exported fields and marshals to JSON exactly (float64 values round-trip),
// so a resumed run continues identically. The zero value is not usable: use NewAdaptiveAlpha.
type AdaptiveAlpha struct {
	// Alpha0 is α₀ (`--stpg_degree`), in [0,1].
	Alpha0 float64 `json:"alpha0"`
	// WarmupEpochs is E_w (`--stop_grad_adaptive`), ≥ 0.
	WarmupEpochs int `json:"warmup_epochs"`
	// DMin is d_min (`--d_min`), ≥ 0.
	DMin float64 `json:"d_min"`
	// SumD is Σ n_t·d_t over the warm-up steps (AverageMeter.sum).
	SumD float64 `json:"sum_d"`
	// Count is Σ n_t over the warm-up steps (AverageMeter.count).
	Count float64 `json:"count"`
	// DMax is the largest warm-up d_t (`args.d_max`); recorded for logs, unused by α, as in
	// the official code.
	DMax float64 `json:"d_max"`
}

// NewAdaptiveAlpha returns the helper for α₀ = alpha0 ∈ [0,1], E_w = warmupEpochs ≥ 0 and
// d_min = dMin ≥ 0 (finite). The official scripts use (0.2, 30, 0.4) on CIFAR-10 and
// (0.3, 20, 0.5) on CIFAR-100 (spec §4.4). A negative E_w disables adaptivity in the
// official code; here it is an error (use a fixed Config.Alpha instead).
func NewAdaptiveAlpha(alpha0 float64, warmupEpochs int, dMin float64) (*AdaptiveAlpha, error) {
	a := &AdaptiveAlpha{Alpha0: alpha0, WarmupEpochs: warmupEpochs, DMin: dMin}
	if err := a.Validate(); err != nil {
		return nil, err
	}
	return a, nil
}

// Validate checks the parameters and the accumulated state, naming the offending field.
func (a *AdaptiveAlpha) Validate() error {
	bad := func(x float64) bool { return math.IsNaN(x) || math.IsInf(x, 0) }
	switch {
	case bad(a.Alpha0) || a.Alpha0 < 0 || a.Alpha0 > 1:
		return fmt.Errorf("losses: AdaptiveAlpha.Alpha0 = %g: want α₀ ∈ [0, 1]", a.Alpha0)
	case a.WarmupEpochs < 0:
		return fmt.Errorf("losses: AdaptiveAlpha.WarmupEpochs = %d: want E_w ≥ 0 (negative disables adaptivity: use a fixed α)", a.WarmupEpochs)
	case bad(a.DMin) || a.DMin < 0:
		return fmt.Errorf("losses: AdaptiveAlpha.DMin = %g: want d_min ≥ 0", a.DMin)
	case bad(a.SumD) || bad(a.Count) || a.Count < 0:
		return fmt.Errorf("losses: AdaptiveAlpha state SumD = %g, Count = %g: want finite, Count ≥ 0", a.SumD, a.Count)
	}
	return nil
}

// InWarmup reports whether epoch (0-based) is a warm-up epoch: epoch+1 ≤ E_w.
func (a *AdaptiveAlpha) InWarmup(epoch int) bool { return epoch+1 <= a.WarmupEpochs }

// Mean returns d̄, the batch-size-weighted mean of the warm-up distances (0 before any,
// like the official AverageMeter).
func (a *AdaptiveAlpha) Mean() float64 {
	if a.Count == 0 {
		return 0
	}
	return a.SumD / a.Count
}

// Observe records the batch mean distance d of a step of the 0-based epoch, over
// batchSize images, and returns the α to use for that step (see AdaptiveAlpha). During
// warm-up it accumulates d with weight batchSize and returns α₀; afterwards it returns the
// three-branch formula with the frozen d̄. A non-finite d, or a batchSize ≤ 0 during
// warm-up, is not accumulated; after warm-up a non-finite d yields α₀.
func (a *AdaptiveAlpha) Observe(epoch int, d float64, batchSize int) (alpha float64) {
	finite := !math.IsNaN(d) && !math.IsInf(d, 0)
	if a.InWarmup(epoch) {
		if finite && batchSize > 0 {
			if d > a.DMax {
				a.DMax = d
			}
			a.SumD += d * float64(batchSize)
			a.Count += float64(batchSize)
		}
		return a.Alpha0
	}
	return a.Alpha(d)
}

// Alpha returns the post-warm-up α for distance d without changing any state.
func (a *AdaptiveAlpha) Alpha(d float64) float64 {
	mean := a.Mean()
	switch {
	case math.IsNaN(d) || math.IsInf(d, 0):
		return a.Alpha0
	case d > mean:
		return a.Alpha0
	case d < a.DMin:
		return 0.5
	case mean == a.DMin: // then d == d̄ == d_min: the interpolation's limit at d = d̄.
		return a.Alpha0
	}
	return (mean-d)/(mean-a.DMin)*(0.5-a.Alpha0) + a.Alpha0
}

// MarshalJSON encodes the full state (see the field tags).
func (a *AdaptiveAlpha) MarshalJSON() ([]byte, error) {
	type plain AdaptiveAlpha
	return json.Marshal((*plain)(a))
}

// UnmarshalJSON decodes a state written by MarshalJSON and validates it.
func (a *AdaptiveAlpha) UnmarshalJSON(b []byte) error {
	type plain AdaptiveAlpha
	var p plain
	if err := json.Unmarshal(b, &p); err != nil {
		return err
	}
	na := AdaptiveAlpha(p)
	if err := na.Validate(); err != nil {
		return err
	}
	*a = na
	return nil
}
