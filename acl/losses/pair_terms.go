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

// PairTerms returns the [R,R] matrix T of per-pair loss contributions of AInfoNCE for the
// layout, with Σ_rc T_rc = loss: row r is the anchor, column c the positive, and only
// positive pairs are non-zero. Each entry already carries its pair weight (λ, α or 1−α
// under IP), the HN reweighting and the method's normalisation (1/3B for RoCL;
// t/(t_b·VB(V−1)) for AdvCL; for ACL-DS the ½ and ¼ stream/cross weights). Rows are the
// view-major stacking of the features (StackViews for AdvCL; [x¹; x²; a¹; a²] for ACL-DS,
// where the clean and adversarial stream terms come from separate softmaxes). For the
// official AdvCL block overwrite, the clean-anchor entries hold the overwritten values.
func PairTerms(features *Node, layout Layout, cfg Config) *Node {
	terms, _, _ := pairTerms(features, layout, cfg)
	return terms
}

// GradientShares returns, as scalar nodes, the Frobenius norms of the loss gradient
// restricted to the clean rows and to the adversarial rows of the features, first for the
// whole loss and then for its clean/adversarial cross-pair part only (the sum of PairTerms
// over the pairs with exactly one adversarial side). Under IP with α = 0 crossClean is 0:
// the cross pairs train only the adversarial rows (spec §3.3).
func GradientShares(features *Node, layout Layout, cfg Config) (clean, adv, crossClean, crossAdv *Node) {
	terms, cross, rowAdv := pairTerms(features, layout, cfg)
	loss := ReduceAllSum(terms)
	crossLoss := ReduceAllSum(masked(cross, terms))
	grads := Gradient(loss, features)
	grads = append(grads, Gradient(crossLoss, features)...)
	norms := make([]*Node, 0, 4)
	for _, gr := range grads {
		if layout == LayoutAdvCL {
			gr = StackViews(gr)
		}
		sq := ReduceSum(Square(gr), 1) // [R]
		norms = append(norms, Sqrt(ReduceAllSum(masked(LogicalNot(rowAdv), sq))), Sqrt(ReduceAllSum(masked(rowAdv, sq))))
	}
	return norms[0], norms[1], norms[2], norms[3]
}

// PairReport is the notebook-friendly evaluation of PairTerms and GradientShares for one
// features tensor.
type PairReport struct {
	// Layout is the features' layout (an echo of the input).
	Layout Layout
	// Variant is the loss variant (an echo of cfg.Variant).
	Variant Variant
	// Loss is the A-InfoNCE loss; CrossLoss the part from clean/adversarial pairs.
	Loss, CrossLoss float64
	// Terms is the R×R PairTerms matrix (rows anchors, columns positives).
	Terms [][]float64
	// RowIsAdv marks the adversarial rows of the view-major stacking.
	RowIsAdv []bool
	// Gradient norms over clean and adversarial rows, for the whole loss and for the
	// cross-pair part.
	CleanGradNorm, AdvGradNorm, CrossCleanGradNorm, CrossAdvGradNorm float64
}

// CleanShare returns ‖∇_clean‖ / (‖∇_clean‖ + ‖∇_adv‖) for the whole loss (NaN if both are 0).
func (r *PairReport) CleanShare() float64 { return share(r.CleanGradNorm, r.AdvGradNorm) }

// CrossCleanShare returns the clean rows' share of the cross-pair gradient norm, as
// CleanShare; under IP it grows with α from 0 at α = 0.
func (r *PairReport) CrossCleanShare() float64 {
	return share(r.CrossCleanGradNorm, r.CrossAdvGradNorm)
}

func share(c, a float64) float64 {
	if c+a == 0 {
		return math.NaN()
	}
	return c / (c + a)
}

// AnalyzePairs evaluates PairTerms, the loss and GradientShares on backend for a float32
// or float64 features tensor of the layout's shape. cfg.AlphaNode must be nil (use
// cfg.Alpha). Errors, including graph-building panics, are returned.
func AnalyzePairs(backend backends.Backend, features *tensors.Tensor, layout Layout, cfg Config) (rep *PairReport, err error) {
	if cfg.AlphaNode != nil {
		return nil, errors.New("losses: AnalyzePairs: cfg.AlphaNode must be nil (set cfg.Alpha)")
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	vals, outs, err := hostval.Run(backend, features, func(x *Node) []*Node {
		terms, cross, rowAdv := pairTerms(x, layout, cfg)
		c, a, cc, ca := GradientShares(x, layout, cfg)
		return []*Node{terms, ReduceAllSum(terms), ReduceAllSum(masked(cross, terms)),
			ConvertDType(rowAdv, x.DType()), c, a, cc, ca}
	})
	if err != nil {
		return nil, fmt.Errorf("losses: AnalyzePairs: %w", err)
	}
	R := outs[0].Shape().Dimensions[0]
	rep = &PairReport{Layout: layout, Variant: cfg.Variant, Loss: vals[1][0], CrossLoss: vals[2][0],
		CleanGradNorm: vals[4][0], AdvGradNorm: vals[5][0], CrossCleanGradNorm: vals[6][0], CrossAdvGradNorm: vals[7][0]}
	rep.Terms = make([][]float64, R)
	rep.RowIsAdv = make([]bool, R)
	for r := range R {
		rep.Terms[r] = vals[0][r*R : (r+1)*R]
		rep.RowIsAdv[r] = vals[3][r] != 0
	}
	return rep, nil
}
