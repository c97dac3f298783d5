package losses

import (
	"fmt"
	"math"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX convention.
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// aclCosEps is the clamp of pair_cosine_similarity in VITA-Group ACL utils.py.
const aclCosEps = 1e-8

// ACLCosineSimilarity returns ACL's cosine-similarity matrix
// S_rc = x_r·x_c / max(‖x_r‖·‖x_c‖, 1e-8) for x of shape [R, d] (VITA-Group ACL
// utils.py:pair_cosine_similarity). Gradient flows through both sides; with
// detachContrast the column side (x_c and ‖x_c‖) is detached, which gives the ℓ_sg terms
// of this project's A-InfoNCE extension.
func ACLCosineSimilarity(x *Node, detachContrast bool) *Node {
	checkFloat("ACLCosineSimilarity x", x, 2)
	n := Sqrt(ReduceAndKeep(Square(x), ReduceSum, 1)) // [R,1]
	xt, nt := transpose2(x), transpose2(n)
	if detachContrast {
		xt, nt = StopGradient(xt), StopGradient(nt)
	}
	// (n nᵀ).clamp(min=1e-8): gradient flows where the product is kept.
	den := Mul(n, nt)
	eps := BroadcastToDims(scalarLike(den, aclCosEps), den.Shape().Dimensions...)
	den = Where(GreaterOrEqual(den, eps), den, eps)
	return Div(MatMul(x, xt), den)
}

// ACLNTXent returns ACL's single-stream NT-Xent (VITA-Group ACL utils.py:nt_xent) for x of
// shape [2B, d] stacked view-major (view 1 block, view 2 block):
//
//	L = (1/2B) Σ_c −log( e^{S_{p(c)c}/t} / (Σ_k e^{S_kc/t} − e^{1/t}) ),
//
// with S = ACLCosineSimilarity (full gradient) and p(c) the other view of c's instance.
// ACL stacks the views interleaved (2i, 2i+1); the loss is a mean over rows, so the
// view-major order gives the same value. The official denominator subtracts the constant
// e^{1/t} for the self-similarity; FixSelfSimilarity masks the diagonal out instead.
func ACLNTXent(x *Node, temperature float64, quirks Quirks) *Node {
	return ReduceAllSum(aclNTXentTerms(x, temperature, quirks))
}

// aclNTXentTerms returns the [2B,2B] terms of ACLNTXent: entry (c, p(c)) holds the loss of
// column c divided by 2B (so each row holds its anchor's term), zero elsewhere.
func aclNTXentTerms(x *Node, t float64, quirks Quirks) *Node {
	checkFloat("ACL NT-Xent features", x, 2)
	R := x.Shape().Dimensions[0]
	if R%2 != 0 || R < 4 {
		panic(fmt.Errorf("losses: ACL NT-Xent features must be [2B, d] with B ≥ 2, got %s", x.Shape()))
	}
	g := x.Graph()
	m := buildMasks(g, rowLayout{views: 2, batch: R / 2, advView: -1})
	e := Exp(DivScalar(ACLCosineSimilarity(x, false), t))
	var colSum *Node
	if quirks.Has(FixSelfSimilarity) {
		colSum = ReduceSum(masked(LogicalNot(m.self), e), 0)
	} else {
		colSum = AddScalar(ReduceSum(e, 0), -math.Exp(1/t))
	}
	ell := Neg(Log(Div(e, colVec(colSum)))) // ℓ[k,c]: column c's loss if k = p(c)
	return DivScalar(transpose2(masked(m.pos, ell)), float64(R))
}

// ACLDSNTXent returns ACL(DS)'s two-stream loss (spec §4.3; VITA-Group ACL
// train_simCLR.py with --ACL_DS): L = ½[NT(clean) + NT(adv)], each NT an ACLNTXent at
// cfg.Temperature. clean and adv are [2B, d] view-major; clean and adversarial views are
// never paired as positives. Only Temperature and Quirks are read from cfg.
func ACLDSNTXent(clean, adv *Node, cfg Config) *Node {
	cfg.mustValidate()
	t := cfg.Temperature
	return MulScalar(Add(ACLNTXent(clean, t, cfg.Quirks), ACLNTXent(adv, t, cfg.Quirks)), 0.5)
}

// AInfoNCEACLDS returns this project's A-InfoNCE extension of ACL(DS). It is NOT in the
// official code, which implements only RoCL and AdvCL; spec §4.3 sketches it, and results
// obtained with it must be labelled "ours". clean = [x¹; x²] and adv = [a¹; a²] are
// [2B, d] view-major, a^v being the adversarial counterpart of x^v. The loss is
//
//	L = ½·[ NT(clean) + NT(adv) + ½(X¹ + X²) ],    X^v = (1/B) Σ_i P(x^v_i, a^v_i)
//
// NT being ACLNTXent (official ACL-DS streams, unchanged), and the cross term X^v an
// InfoNCE over the 2B rows [x^v; a^v] (cosine/t, softmax over k≠r, whose negatives include
// the other instances' adversarial views) whose positive pair is (x^v_i, a^v_i):
//
//	Base:  P = λ·½[ℓ(c→a) + ℓ(a→c)]              (full gradient; λ=1 makes X^v the 2-view NT-Xent)
//	IP:    P = λ·[α·ℓ_sg(c→a) + (1−α)·ℓ_sg(a→c)]  (InferiorPositive, contrast-detached ℓ_sg)
//	HN:    as Base with ℓ the HardNegative per-pair losses (V = 2, no shift)
//	IPHN:  as IP with ℓ_sg the contrast-detached HardNegative losses.
//
// At α = ½ the IP value equals the Base value. The HN quirk flags act as in HardNegative.
func AInfoNCEACLDS(clean, adv *Node, cfg Config) *Node {
	terms, _, _ := aclDSTerms(clean, adv, cfg)
	return ReduceAllSum(terms)
}

// aclDSTerms returns the [4B,4B] terms matrix of AInfoNCEACLDS over rows
// [x¹; x²; a¹; a²], the mask of the cross-term entries and the [4B] adversarial-row mask.
func aclDSTerms(clean, adv *Node, cfg Config) (terms, cross, rowAdv *Node) {
	cfg.mustValidate()
	checkFloat("ACL-DS clean features", clean, 2)
	checkFloat("ACL-DS adversarial features", adv, 2)
	if !clean.Shape().Equal(adv.Shape()) {
		panic(fmt.Errorf("losses: ACL-DS clean %s and adversarial %s features differ in shape", clean.Shape(), adv.Shape()))
	}
	R := clean.Shape().Dimensions[0]
	if R%2 != 0 || R < 4 {
		panic(fmt.Errorf("losses: ACL-DS features must be [2B, d] with B ≥ 2, got %s", clean.Shape()))
	}
	B := R / 2
	g := clean.Graph()
	t := cfg.Temperature
	cT := MulScalar(aclNTXentTerms(clean, t, cfg.Quirks), 0.5)
	aT := MulScalar(aclNTXentTerms(adv, t, cfg.Quirks), 0.5)
	blk := func(x *Node, i, j int) *Node {
		return Slice(x, AxisRange(i*B, (i+1)*B), AxisRange(j*B, (j+1)*B))
	}
	zero := zerosOf(blk(cT, 0, 0))
	var grid [4][4]*Node
	for i := range 4 {
		for j := range 4 {
			grid[i][j] = zero
		}
	}
	for i := range 2 {
		for j := range 2 {
			grid[i][j] = blk(cT, i, j)
			grid[2+i][2+j] = blk(aT, i, j)
		}
	}
	for v := range 2 {
		xv := Slice(clean, AxisRange(v*B, (v+1)*B))
		av := Slice(adv, AxisRange(v*B, (v+1)*B))
		X := MulScalar(aclCrossTerms(Concatenate([]*Node{xv, av}, 0), cfg), 0.25)
		grid[v][2+v] = blk(X, 0, 1)
		grid[2+v][v] = blk(X, 1, 0)
	}
	rowsN := make([]*Node, 4)
	for i := range 4 {
		rowsN[i] = Concatenate(grid[i][:], 1)
	}
	terms = Concatenate(rowsN, 0)
	rr := Iota(g, shapes.Make(dtypes.Int32, 4*B, 4*B), 0)
	bb := Scalar(g, dtypes.Int32, B)
	rView, cView := Div(rr, bb), Div(transpose2(rr), bb)
	sameInst := Equal(Rem(rr, bb), Rem(transpose2(rr), bb))
	// Cross entries: same instance, views (v, 2+v) or (2+v, v).
	diff := Sub(rView, cView)
	cross = LogicalAnd(sameInst, LogicalOr(Equal(diff, Scalar(g, dtypes.Int32, 2)), Equal(diff, Scalar(g, dtypes.Int32, -2))))
	rowAdv = GreaterOrEqual(Iota(g, shapes.Make(dtypes.Int32, 4*B), 0), Scalar(g, dtypes.Int32, 2*B))
	return terms, cross, rowAdv
}

// aclCrossTerms returns the [2B,2B] terms of the cross term X^v over rows [x^v; a^v],
// already divided by B: λα·ℓ_sg(c→a) on (clean anchor, adv positive) and
// λ(1−α)·ℓ_sg(a→c) on (adv anchor, clean positive) with IP, λ/2·ℓ on both without.
func aclCrossTerms(x *Node, cfg Config) *Node {
	R := x.Shape().Dimensions[0]
	B := R / 2
	g := x.Graph()
	m := buildMasks(g, rowLayout{views: 2, batch: B, advView: 1})
	pairLosses := func(detach bool) *Node {
		s := DivScalar(ACLCosineSimilarity(x, detach), cfg.Temperature)
		if cfg.Variant.HasHN() {
			return HardNegative(s, nil, 2, LayoutACLDS, cfg)
		}
		return SupConPairLosses(s)
	}
	var weighted *Node
	if cfg.Variant.HasIP() {
		ell := pairLosses(true)
		a := alphaNode(g, x.DType(), cfg)
		lam := scalarLike(ell, cfg.Lambda)
		weighted = Where(m.cleanAnchor, Mul(Mul(lam, a), ell), Mul(Mul(lam, OneMinus(a)), ell))
	} else {
		weighted = MulScalar(pairLosses(false), cfg.Lambda/2)
	}
	return DivScalar(masked(m.cross, weighted), float64(B))
}
