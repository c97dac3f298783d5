package losses

import (
	"math"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // GoMLX convention.
)

// MeanPairwiseDistance returns (1/B)Σ_i ‖a_i − b_i + 1e-6‖₂ for a, b of shape [B, D]: the
// d_t of adaptive α (spec §3.3; torch.nn.functional.pairwise_distance with its default ε,
// then the batch mean, as Asym-AdvCL pretraining_advCL.py computes it).
func MeanPairwiseDistance(a, b *Node) *Node {
	diff := AddScalar(Sub(a, b), 1e-6)
	return ReduceAllMean(Sqrt(ReduceSum(Square(diff), -1)))
}

// AdaptiveAlphaGraph computes in the graph the α that a.Observe returns for the step's
// distance d (a scalar node), given the host's d̄ and warm-up flag (scalar nodes: d̄ =
// a.Mean(), inWarmup = 1 during warm-up, else 0): α₀ during warm-up, afterwards
// AdaptiveAlpha.Alpha's three-branch formula with a non-finite d giving α₀. Only a's
// Alpha0 and DMin are read. The result has d's dtype and carries a stop-gradient.
func AdaptiveAlphaGraph(a *AdaptiveAlpha, d, meanD, inWarmup *Node) *Node {
	dt := d.DType()
	g := d.Graph()
	c := func(v float64) *Node { return Scalar(g, dt, v) }
	meanD, inWarmup = ConvertDType(meanD, dt), ConvertDType(inWarmup, dt)
	a0, dMin, half := c(a.Alpha0), c(a.DMin), c(0.5)
	den := Sub(meanD, dMin)
	flat := Equal(meanD, dMin)
	safeDen := Where(flat, OnesLike(den), den)
	interp := Add(Mul(Div(Sub(meanD, d), safeDen), c(0.5-a.Alpha0)), a0)
	finite := LessThan(Abs(d), c(math.Inf(1)))
	post := Where(LessThan(d, dMin), half, Where(flat, a0, interp))
	post = Where(LogicalOr(LogicalNot(finite), GreaterThan(d, meanD)), a0, post)
	return StopGradient(Where(GreaterThan(inWarmup, c(0.5)), a0, post))
}
