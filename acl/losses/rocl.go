package losses

import (
	"fmt"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX convention.
)

// roclNormEps is the 1e-8 added to the row norm before normalising (Asym-RoCL
// loss.py:pairwise_similarity) and the two 1e-8 of NT_xent.
const roclNormEps = 1e-8

// RoCLSimilarity returns RoCL's similarity matrix S_rc = (1/t)·ẑ_r·sg(ẑ_c) with
// ẑ = z/(‖z‖+1e-8) (spec §3.1; Asym-RoCL loss.py:pairwise_similarity, inherited from
// Kim-Minseon/RoCL src/loss.py:55). The contrast side is always detached, so every term
// built on S sends gradient only to its anchor row. z is [R, d] raw projector outputs.
func RoCLSimilarity(z *Node, temperature float64) *Node {
	checkFloat("RoCLSimilarity z", z, 2)
	norm := Sqrt(ReduceAndKeep(Square(z), ReduceSum, 1))
	zh := Div(z, AddScalar(norm, roclNormEps))
	return DivScalar(MatMul(zh, StopGradient(transpose2(zh))), temperature)
}

// RoCLPairLosses returns RoCL's per-pair NT-Xent losses for a similarity matrix S
// (spec §3.1; Asym-RoCL loss.py:NT_xent):
//
//	ℓ(r→c) = −log( e^{S_rc} / (Σ_{k≠r} e^{S_rk} + 1e-8) + 1e-8 ).
//
// The diagonal holds −log(1e-8) and is never used.
func RoCLPairLosses(s *Node) *Node {
	checkFloat("RoCLPairLosses similarity", s, 2)
	R := s.Shape().Dimensions[0]
	e := Where(Diagonal(s.Graph(), R), zerosOf(s), Exp(s))
	den := AddScalar(ReduceAndKeep(e, ReduceSum, 1), roclNormEps)
	return Neg(Log(AddScalar(Div(e, den), roclNormEps)))
}

// RoCLNTXent returns the RoCL-layout A-InfoNCE loss (spec §3.1, §3.3–§3.5) for z of shape
// [3B, d]: raw projector outputs stacked view-major (aug1 block, aug2 block, adv block).
// With ℓ the per-pair loss built on RoCLSimilarity (RoCLPairLosses for Base/IP, the
// HardNegative matrix for HN/IPHN) and N2 = 3B:
//
//	Base/HN:  L = (1/N2) Σ_i [ℓ(1→2)+ℓ(2→1)+ℓ(1→a)+ℓ(a→1)+ℓ(2→a)+ℓ(a→2)]_i
//	IP/IPHN:  L = (1/N2) Σ_i [ℓ(1→2)+ℓ(2→1) + λ(α[ℓ(1→a)+ℓ(2→a)] + (1−α)[ℓ(a→1)+ℓ(a→2)])]_i
//
// matching Asym-RoCL loss.py:NT_xent and NT_xent_HN with adv_type='Rep' (rocl_train.py).
// λ is not used without IP, as in the official code. RoCL's ×1/256 regulariser on
// [x^a, x^(2)] is not included (it is a separate 2-view term; see RoCLPairLosses).
func RoCLNTXent(z *Node, cfg Config) *Node {
	terms, _ := roclTerms(z, cfg)
	return ReduceAllSum(terms)
}

// roclTerms returns the [R,R] matrix whose sum is the RoCL loss, and the layout masks.
func roclTerms(z *Node, cfg Config) (*Node, layoutMasks) {
	cfg.mustValidate()
	checkFloat("RoCL features", z, 2)
	R := z.Shape().Dimensions[0]
	if R%3 != 0 || R < 6 {
		panic(fmt.Errorf("losses: RoCL features must be [3B, d] with B ≥ 2, got %s", z.Shape()))
	}
	return roclTermsFromSimilarity(RoCLSimilarity(z, cfg.Temperature), cfg)
}

// roclTermsFromSimilarity is roclTerms for a given [3B,3B] similarity matrix S (from
// RoCLSimilarity), so that the loss can be differentiated with respect to S itself
// (NegativeWeights).
func roclTermsFromSimilarity(s *Node, cfg Config) (*Node, layoutMasks) {
	g := s.Graph()
	R := s.Shape().Dimensions[0]
	l := rowLayout{views: 3, batch: R / 3, advView: 2}
	m := buildMasks(g, l)
	var ell *Node
	if cfg.Variant.HasHN() {
		ell = HardNegative(s, nil, 3, LayoutRoCL, cfg)
	} else {
		ell = RoCLPairLosses(s)
	}
	if cfg.Variant.HasIP() {
		a := alphaNode(g, s.DType(), cfg)
		lam := scalarLike(ell, cfg.Lambda)
		ell = Where(m.cleanAnchor, Mul(Mul(lam, a), ell),
			Where(m.advAnchor, Mul(Mul(lam, OneMinus(a)), ell), ell))
	}
	return DivScalar(masked(m.pos, ell), float64(R)), m
}

// RoCLTwoViewNTXent is RoCL's NT-Xent over two views [a; b] of B instances, positives
// a_i ↔ b_i: (1/2B) Σ_i [ℓ(a_i→b_i) + ℓ(b_i→a_i)] with ℓ from RoCLPairLosses on
// RoCLSimilarity (contrast side detached). RoCL's attack maximises it on [x, x⁽²⁾] and its
// regulariser adds it on [x^adv, x⁽²⁾] (attack_lib.py: RepresentationAdv.get_loss).
func RoCLTwoViewNTXent(a, b *Node, temperature float64) *Node {
	bsz := a.Shape().Dimensions[0]
	z := Concatenate([]*Node{a, b}, 0)
	ell := RoCLPairLosses(RoCLSimilarity(z, temperature))
	ab := Slice(ell, AxisRange(0, bsz), AxisRange(bsz, 2*bsz))
	ba := Slice(ell, AxisRange(bsz, 2*bsz), AxisRange(0, bsz))
	diag := Diagonal(a.Graph(), bsz)
	zero := ZerosLike(ab)
	sum := Add(ReduceAllSum(Where(diag, ab, zero)), ReduceAllSum(Where(diag, ba, zero)))
	return DivScalar(sum, float64(2*bsz))
}
