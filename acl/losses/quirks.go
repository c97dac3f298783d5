package losses

import "strings"

// Quirks is a set of Fix* flags, one per behaviour of the official code that departs from
// the method as described (spec §3.1, §3.4, §3.6, §8). A cleared flag reproduces the
// official behaviour exactly; a set flag corrects it. The zero value, Official, reproduces
// every quirk, so that the golden vectors and the paper's Table 1 are matched; Corrected
// sets every flag. The package documentation has the side-by-side table.
type Quirks uint

const (
	// FixHNNormaliser divides each HN reweighted negative by the mean importance of its own
	// row, taken over the N negatives only (HCL's intent). Official: Asym-AdvCL
	// losses.py:SupConLoss and Asym-RoCL loss.py:NT_xent_HN compute
	// `(imp*exp_neg)/imp.mean(dim=-1)`, which divides column c by the mean of row c, taken
	// over all V·B columns including the (1e-9)^β entries of self and positives.
	FixHNNormaliser Quirks = 1 << iota
	// FixHNDenominator uses each anchor row's own pos_r + Ng_r in the AdvCL HN per-pair
	// loss. Official (Asym-AdvCL losses.py:SupConLoss only): `exp_logits / (pos + Ng)`
	// broadcasts a [VB] vector over the last axis, so entry (r,c) is divided by
	// pos_c + Ng_c. Asym-RoCL reshapes to (N2,1) and is row-wise already, so this flag
	// changes nothing there.
	FixHNDenominator
	// FixClampFloor puts the HN clamp floor where HCL meant it, at "every negative at
	// cosine −1" in the scale of the exponentials actually used: N·exp(−1/t − m_r), with
	// m_r the row's max shift (0 when unshifted) and t the configured temperature.
	// Official: the floor is N·e^{−1/0.5} with a hard-coded 0.5, applied after AdvCL's max
	// shift by 1/t, so in AdvCL it sits at cosine 0 and binds far more often.
	FixClampFloor
	// FixBlockOverwrite keeps, in the AdvCL layout without IP, the clean-anchor rows' own
	// log-probabilities for their adversarial positive, as in the original AdvCL
	// (LijieFan/AdvCL). Official (Asym-AdvCL losses.py:263-266): that block is overwritten
	// with the transposed adversarial-anchor block even when IP is off.
	FixBlockOverwrite
	// FixLambdaSquared applies λ once to the clean-anchor block of the AdvCL layout
	// without IP. Official: in-place view aliasing scales that block by λ² (spec §3.6 step 6).
	FixLambdaSquared
	// FixSelfSimilarity masks the diagonal out of the ACL NT-Xent denominator. Official
	// (VITA-Group ACL utils.py:nt_xent): the column sum minus the constant e^{1/t}, which
	// assumes every self-similarity is exactly 1.
	FixSelfSimilarity
)

const (
	// Official reproduces every quirk of the official code (the default, zero value).
	Official Quirks = 0
	// Corrected fixes every quirk.
	Corrected = FixHNNormaliser | FixHNDenominator | FixClampFloor | FixBlockOverwrite |
		FixLambdaSquared | FixSelfSimilarity
)

// Has reports whether every flag of f is set in q.
func (q Quirks) Has(f Quirks) bool { return q&f == f }

// String lists the set flags ("official" when none, "corrected" when all).
func (q Quirks) String() string {
	switch q {
	case Official:
		return "official"
	case Corrected:
		return "corrected"
	}
	names := []struct {
		f Quirks
		n string
	}{
		{FixHNNormaliser, "FixHNNormaliser"}, {FixHNDenominator, "FixHNDenominator"},
		{FixClampFloor, "FixClampFloor"}, {FixBlockOverwrite, "FixBlockOverwrite"},
		{FixLambdaSquared, "FixLambdaSquared"}, {FixSelfSimilarity, "FixSelfSimilarity"},
	}
	var parts []string
	rest := q
	for _, x := range names {
		if q.Has(x.f) {
			parts = append(parts, x.n)
			rest &^= x.f
		}
	}
	if rest != 0 {
		parts = append(parts, "unknown")
	}
	return strings.Join(parts, "|")
}
