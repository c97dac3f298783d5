package losses

import (
	"errors"
	"fmt"
	"math"

	"github.com/ainfonce/goacl/acl/internal/hostval"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX convention.
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// NegativeReport says how the RoCL-layout loss of a Config weighs its negative pairs
// on given features: the weight of negative pair (r,c) is ∂L/∂S_rc, the gradient of the
// loss with respect to the similarity logit S = RoCLSimilarity(z, t) of anchor r and
// negative c — how hard the loss pushes c away from r. For the plain NT-Xent it is the
// softmax probability of c in row r (times the positives per row / 3B); HN (spec §3.4)
// reweights it by e^{βS_rc}/w̄ and the τ⁺ debiasing, and sets a row's negatives to 0
// where the clamp floor binds.
type NegativeReport struct {
	// Variant is the loss variant measured.
	Variant Variant `json:"variant"`
	// Loss is the loss value on the features.
	Loss float64 `json:"loss"`
	// Cosine is the [R,R] cosine similarity of the rows (t·S).
	Cosine [][]float64 `json:"cosine"`
	// Weight is ∂L/∂S on negative pairs and 0 elsewhere.
	Weight [][]float64 `json:"weight"`
	// Negative marks the negative pairs (other instance).
	Negative [][]bool `json:"negative"`
	// RowIsAdv marks the adversarial rows (the third block of [x¹; x²; adv]).
	RowIsAdv []bool `json:"row_is_adv"`
}

// NegativeWeights evaluates NegativeReport for RoCL-layout features [3B, d] (float32 or
// float64) on backend. cfg.AlphaNode must be nil. Errors, including graph-building
// panics, are returned.
func NegativeWeights(backend backends.Backend, features *tensors.Tensor, cfg Config) (rep *NegativeReport, err error) {
	if cfg.AlphaNode != nil {
		return nil, errors.New("losses: NegativeWeights: cfg.AlphaNode must be nil (set cfg.Alpha)")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	dims := features.Shape().Dimensions
	if len(dims) != 2 || dims[0]%3 != 0 || dims[0] < 6 {
		return nil, fmt.Errorf("losses: NegativeWeights: features %s: want [3B, d] with B ≥ 2 (RoCL layout)", features.Shape())
	}
	vals, _, err := hostval.Run(backend, features, func(z *Node) []*Node {
		s := RoCLSimilarity(z, cfg.Temperature)
		terms, m := roclTermsFromSimilarity(s, cfg)
		loss := ReduceAllSum(terms)
		grad := Gradient(loss, s)[0]
		return []*Node{loss, MulScalar(s, cfg.Temperature), masked(m.neg, grad),
			ConvertDType(m.neg, z.DType()), ConvertDType(m.rowAdv, z.DType())}
	})
	if err != nil {
		return nil, fmt.Errorf("losses: NegativeWeights: %w", err)
	}
	R := dims[0]
	rep = &NegativeReport{Variant: cfg.Variant, Loss: vals[0][0], Cosine: make([][]float64, R), Weight: make([][]float64, R),
		Negative: make([][]bool, R), RowIsAdv: make([]bool, R)}
	for r := range R {
		rep.Cosine[r] = vals[1][r*R : (r+1)*R]
		rep.Weight[r] = vals[2][r*R : (r+1)*R]
		rep.Negative[r] = make([]bool, R)
		for c := range R {
			rep.Negative[r][c] = vals[3][r*R+c] != 0
		}
		rep.RowIsAdv[r] = vals[4][r] != 0
	}
	return rep, nil
}

// TotalWeight returns the sum of the weights of all negative pairs.
func (r *NegativeReport) TotalWeight() float64 {
	total := 0.0
	for i := range r.Weight {
		for j, w := range r.Weight[i] {
			if r.Negative[i][j] {
				total += w
			}
		}
	}
	return total
}

// AdvNegativeShare returns the share of the total negative weight on pairs whose negative
// (column) is an adversarial view: about 1/3 for the plain loss, more when the loss
// treats adversaries as hard negatives.
func (r *NegativeReport) AdvNegativeShare() float64 {
	adv, total := 0.0, 0.0
	for i := range r.Weight {
		for j, w := range r.Weight[i] {
			if r.Negative[i][j] {
				total += w
				if r.RowIsAdv[j] {
					adv += w
				}
			}
		}
	}
	if total == 0 {
		return math.NaN()
	}
	return adv / total
}

// ClampedRows returns the fraction of rows whose negatives all get zero weight: under HN,
// the rows where the clamp floor of the negative term binds (spec §3.4).
func (r *NegativeReport) ClampedRows() float64 {
	clamped := 0
	for i := range r.Weight {
		sum := 0.0
		for j, w := range r.Weight[i] {
			if r.Negative[i][j] {
				sum += math.Abs(w)
			}
		}
		if sum == 0 {
			clamped++
		}
	}
	return float64(clamped) / float64(len(r.Weight))
}

// WeightByCosine bins the negative pairs by cosine similarity into bins equal-width bins
// between the smallest and largest negative cosine, and returns the bins' centres and the
// mean relative weight in each (a pair's weight divided by the mean negative weight of its
// row; rows with zero weight are skipped; NaN for empty bins). Flat means every negative
// counts alike; rising means hard (similar) negatives weigh more.
func (r *NegativeReport) WeightByCosine(bins int) (centres, relWeight []float64) {
	if bins < 1 {
		bins = 1
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for i := range r.Cosine {
		for j, c := range r.Cosine[i] {
			if r.Negative[i][j] {
				lo, hi = math.Min(lo, c), math.Max(hi, c)
			}
		}
	}
	if hi <= lo {
		hi = lo + 1e-9
	}
	sum := make([]float64, bins)
	count := make([]int, bins)
	for i := range r.Weight {
		rowSum, n := 0.0, 0
		for j, w := range r.Weight[i] {
			if r.Negative[i][j] {
				rowSum += w
				n++
			}
		}
		if rowSum == 0 || n == 0 {
			continue
		}
		rowMean := rowSum / float64(n)
		for j, w := range r.Weight[i] {
			if !r.Negative[i][j] {
				continue
			}
			k := min(int(float64(bins)*(r.Cosine[i][j]-lo)/(hi-lo)), bins-1)
			sum[k] += w / rowMean
			count[k]++
		}
	}
	centres = make([]float64, bins)
	relWeight = make([]float64, bins)
	for k := range bins {
		centres[k] = lo + (float64(k)+0.5)*(hi-lo)/float64(bins)
		relWeight[k] = math.NaN()
		if count[k] > 0 {
			relWeight[k] = sum[k] / float64(count[k])
		}
	}
	return centres, relWeight
}
