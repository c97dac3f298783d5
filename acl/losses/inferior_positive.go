package losses

import (
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX convention.
)

// InferiorPositive mixes the two directed losses of a clean/adversarial positive pair as
// the official code does for `--stop_grad` (spec §3.2–§3.3):
//
//	λ · [ α·ℓ_sg(clean→adv) + (1−α)·ℓ_sg(adv→clean) ]
//
// where ℓ_sg(r→c) is a per-pair loss whose similarity detaches the contrast side, so it
// sends gradient only to its anchor r. α is therefore the share of the pair's gradient that
// reaches the clean rows: α = 0 trains only the adversarial rows through this pair, α = ½
// with λ = 2 recovers the symmetric pair ℓ(clean→adv) + ℓ(adv→clean) of RoCL.
//
// cleanToAdv and advToClean must have the same shape (any shape: one entry per pair);
// alpha is a scalar node (a fixed α via graph.Scalar, or a per-batch α such as the adaptive
// α of AdvCL-IP); lambda is `adv_weight`. This is Asym-RoCL loss.py:NT_xent (stop_grad
// branch) and the `ac_square` line of Asym-AdvCL losses.py, which also multiplies by
// adv_weight when it writes the block.
func InferiorPositive(cleanToAdv, advToClean, alpha *Node, lambda float64) *Node {
	if alpha.DType() != cleanToAdv.DType() {
		alpha = ConvertDType(alpha, cleanToAdv.DType())
	}
	mix := Add(Mul(alpha, cleanToAdv), Mul(OneMinus(alpha), advToClean))
	return MulScalar(mix, lambda)
}
