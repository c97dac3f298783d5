package losses

import (
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX convention.
)

// StackViews turns AdvCL features [B, V, d] into the view-major rows [V·B, d] the loss
// works on (`torch.cat(torch.unbind(features, dim=1), dim=0)`): row v·B+i is view v of
// instance i.
func StackViews(features *Node) *Node {
	checkFloat("StackViews features", features, 3)
	d := features.Shape().Dimensions
	return Reshape(Transpose(features, 0, 1), d[0]*d[1], d[2])
}

// SupConLogits returns AdvCL's logits L_rc = z_r·z_c/t − sg(max_k z_r·z_k/t) and the
// detached row max [R,1] (spec §3.1; Asym-AdvCL losses.py, `logits_max.detach()`). With
// detachContrast the product is z_r·sg(z_c) (the `anchor_dot_contrast_stpg` matrix of IP).
func SupConLogits(z *Node, temperature float64, detachContrast bool) (logits, rowMax *Node) {
	checkFloat("SupConLogits z", z, 2)
	zt := transpose2(z)
	if detachContrast {
		zt = StopGradient(zt)
	}
	g := DivScalar(MatMul(z, zt), temperature)
	rowMax = StopGradient(ReduceAndKeep(g, ReduceMax, 1))
	return Sub(g, rowMax), rowMax
}

// SupConPairLosses returns the per-pair SimCLR-mode SupCon losses
// ℓ(r→c) = −log p_rc = −(L_rc − log Σ_{k≠r} e^{L_rk}) (spec §3.1;
// Asym-AdvCL losses.py:ori_SupConLoss).
func SupConPairLosses(logits *Node) *Node {
	checkFloat("SupConPairLosses logits", logits, 2)
	R := logits.Shape().Dimensions[0]
	e := Where(Diagonal(logits.Graph(), R), zerosOf(logits), Exp(logits))
	return Sub(Log(ReduceAndKeep(e, ReduceSum, 1)), logits)
}

// AdvCLSupCon returns the AdvCL-layout A-InfoNCE loss (spec §3.1, §3.3–§3.6) for features
// [B, V, d], already L2-normalised, views ordered (adv, aug1, aug2, high-frequency) — any
// V ≥ 2 with the adversarial view first. With R = V·B rows stacked view-major, ℓ the
// per-pair loss on SupConLogits (SupConPairLosses for Base/IP, HardNegative for HN/IPHN)
// and ℓ_sg the same on the contrast-detached logits:
//
//	A_ic  = α·ℓ_sg(c→i) + (1−α)·ℓ_sg(i→c)        (IP: adv anchor i, clean positive c)
//	A_ic  = ℓ(i→c)                               (no IP)
//	M     = ℓ on clean–clean positives, λA on (adv anchor, clean positive),
//	        λAᵀ on (clean anchor, adv positive); λ²Aᵀ there without IP (official aliasing)
//	L     = (t/t_b) · (1/R) Σ_r (1/(V−1)) Σ_{c∈P(r)} M_rc
//
// matching Asym-AdvCL losses.py:ori_SupConLoss (Base, IP) and SupConLoss (HN, IPHN) with
// contrast_mode='all' and no labels. FixBlockOverwrite keeps the clean anchors' own ℓ
// without IP (original AdvCL); FixLambdaSquared applies λ once.
func AdvCLSupCon(features *Node, cfg Config) *Node {
	terms, _ := advclTerms(features, cfg)
	return ReduceAllSum(terms)
}

// advclTerms returns the [R,R] matrix whose sum is the AdvCL loss, and the layout masks.
func advclTerms(features *Node, cfg Config) (*Node, layoutMasks) {
	cfg.mustValidate()
	checkFloat("AdvCL features", features, 3)
	dims := features.Shape().Dimensions
	B, V := dims[0], dims[1]
	if B < 2 || V < 2 {
		panic(fmt.Errorf("losses: AdvCL features must be [B, V, d] with B ≥ 2 and V ≥ 2, got %s", features.Shape()))
	}
	g := features.Graph()
	z := StackViews(features)
	R := V * B
	m := buildMasks(g, rowLayout{views: V, batch: B, advView: 0})
	pairLosses := func(detach bool) *Node {
		logits, rowMax := SupConLogits(z, cfg.Temperature, detach)
		if cfg.Variant.HasHN() {
			return HardNegative(logits, rowMax, V, LayoutAdvCL, cfg)
		}
		return SupConPairLosses(logits)
	}
	ell := pairLosses(false)
	lam := cfg.Lambda
	var mix *Node
	if cfg.Variant.HasIP() {
		ellSg := pairLosses(true)
		// On (adv row i, clean col c): α·ℓ_sg(c→i) + (1−α)·ℓ_sg(i→c), times λ.
		a := InferiorPositive(transpose2(ellSg), ellSg, alphaNode(g, z.DType(), cfg), lam)
		mix = Where(m.advAnchor, a, Where(m.cleanAnchor, transpose2(a), ell))
	} else {
		advBlock := MulScalar(ell, lam)
		var cleanBlock *Node
		if cfg.Quirks.Has(FixBlockOverwrite) {
			cleanBlock = ell
		} else {
			cleanBlock = transpose2(ell)
		}
		if cfg.Quirks.Has(FixLambdaSquared) {
			cleanBlock = MulScalar(cleanBlock, lam)
		} else {
			cleanBlock = MulScalar(cleanBlock, lam*lam)
		}
		mix = Where(m.advAnchor, advBlock, Where(m.cleanAnchor, cleanBlock, ell))
	}
	scale := cfg.Temperature / cfg.BaseTemperature / float64(R*(V-1))
	return MulScalar(masked(m.pos, mix), scale), m
}
