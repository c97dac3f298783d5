package losses

import (
	"fmt"
	"math"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX convention.
)

// hnFloorTemperature is the temperature hard-coded in the official HN clamp
// (`temperature = 0.5` in Asym-AdvCL losses.py:SupConLoss and Asym-RoCL loss.py:NT_xent_HN).
const hnFloorTemperature = 0.5

// hnEps is the 1e-9 the official code adds before taking the log of the masked
// negatives: imp = exp(β·log(exp_neg + 1e-9)).
const hnEps = 1e-9

// HardNegative returns the [R,R] matrix of per-pair hard-negative losses of spec §3.4
// (HCL reweighting with positive-unlabeled debiasing), for R = views·B rows stacked
// view-major:
//
//	e_rc   = exp(logits_rc)
//	pos_r  = (1/|P(r)|) Σ_{p∈P(r)} e_rp                       (mean over positives)
//	w_rc   = e_rc^β on negatives
//	Ng_r   = max( (−τ⁺·N·pos_r + Σ_{c∈N(r)} e_rc·w_rc / w̄) / (1−τ⁺),  floor ),  N = V(B−1)
//	ℓ_rc   = −log( e_rc / (pos + Ng) )
//
// logits are the temperature-scaled similarities, already shifted by rowShift when the
// caller shifts them (AdvCL: the stop-gradient row max; pass nil when unshifted, as in
// RoCL). Only the entries on positive pairs are meaningful to callers.
//
// Official mode (cfg.Quirks cleared) matches Asym-AdvCL losses.py:SupConLoss (layout
// AdvCL) and Asym-RoCL loss.py:NT_xent_HN (layout RoCL, also used for ACLDS) exactly:
// w = exp(β·log(e·1[neg] + 1e-9)) on every column, w̄ is the mean of row c over all V·B
// columns applied to column c, the floor is N·e^{−1/0.5}, and for the AdvCL layout
// entry (r,c) uses pos_c + Ng_c. FixHNNormaliser, FixClampFloor and FixHNDenominator
// correct these (see Quirks). cfg.NoClamp drops the floor; Beta, TauPlus, Temperature and
// Quirks are read from cfg.
func HardNegative(logits, rowShift *Node, views int, layout Layout, cfg Config) *Node {
	checkFloat("HardNegative logits", logits, 2)
	R := logits.Shape().Dimensions[0]
	if logits.Shape().Dimensions[1] != R || views < 2 || R%views != 0 {
		panic(fmt.Errorf("losses: HardNegative: logits %s is not square with a multiple of views=%d rows",
			logits.Shape(), views))
	}
	g := logits.Graph()
	B := R / views
	m := buildMasks(g, rowLayout{views: views, batch: B, advView: -1})
	nNeg := float64(views * (B - 1))
	nPos := float64(views - 1)
	q := cfg.Quirks

	e := Exp(logits)
	expNeg := masked(m.neg, e)
	pos := DivScalar(ReduceSum(masked(m.pos, e), 1), nPos) // [R]

	var reweightSum *Node // [R]
	if q.Has(FixHNNormaliser) {
		// HCL: w_rc = e_rc^β over the negatives of row r, normalised by their row mean.
		w := masked(m.neg, Exp(MulScalar(logits, cfg.Beta)))
		wMean := DivScalar(ReduceSum(w, 1), nNeg) // [R]
		reweightSum = Div(ReduceSum(Mul(w, expNeg), 1), wMean)
	} else {
		imp := Exp(MulScalar(Log(AddScalar(expNeg, hnEps)), cfg.Beta))
		impMean := ReduceMean(imp, 1) // [R]: mean of row k, over all R columns
		// torch broadcasting: [R,R] / [R] divides column c by impMean[c].
		reweightSum = ReduceSum(Div(Mul(imp, expNeg), colVec(impMean)), 1)
	}
	tp := cfg.TauPlus
	ng := DivScalar(Add(MulScalar(pos, -tp*nNeg), reweightSum), 1-tp) // [R]
	if !cfg.NoClamp {
		var floor *Node
		if q.Has(FixClampFloor) {
			// N·exp(−1/t − m_r): every negative at cosine −1, in the shifted scale.
			exponent := scalarLike(ng, -1/cfg.Temperature)
			if rowShift != nil {
				exponent = Sub(exponent, Reshape(rowShift, R))
			}
			floor = MulScalar(Exp(exponent), nNeg)
		} else {
			floor = scalarLike(ng, nNeg*math.Exp(-1/hnFloorTemperature))
		}
		// torch.clamp(min=floor): gradient flows where ng >= floor.
		floor = BroadcastToDims(floor, R)
		ng = Where(GreaterOrEqual(ng, floor), ng, floor)
	}
	den := Add(pos, ng) // [R]
	if layout == LayoutAdvCL && !q.Has(FixHNDenominator) {
		return Neg(Log(Div(e, colVec(den))))
	}
	return Neg(Log(Div(e, rowVec(den))))
}

// MeanPositiveInfoNCE returns the [R,R] per-pair losses of the "mean-positive" InfoNCE
// that HN reduces to at β = 0, τ⁺ = 0 without the clamp (spec §3.4 note 5):
// ℓ_rc = −log( e_rc / (pos_r + Σ_{k∈N(r)} e_rk) ), pos_r the mean of e over P(r). Unlike
// the standard InfoNCE, the denominator holds the mean, not the sum, of the positives.
func MeanPositiveInfoNCE(logits *Node, views int) *Node {
	checkFloat("MeanPositiveInfoNCE logits", logits, 2)
	R := logits.Shape().Dimensions[0]
	g := logits.Graph()
	m := buildMasks(g, rowLayout{views: views, batch: R / views, advView: -1})
	e := Exp(logits)
	pos := DivScalar(ReduceSum(masked(m.pos, e), 1), float64(views-1))
	den := Add(pos, ReduceSum(masked(m.neg, e), 1))
	return Neg(Log(Div(e, rowVec(den))))
}
