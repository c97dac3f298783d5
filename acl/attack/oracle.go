package attack

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
)

// A Oracle evaluates a classifier on batches of images for host-driven attacks.
type Oracle interface {
	// NumClasses is the number of logits.
	NumClasses() int
	// Logits returns the logits [n·K] of images x (n×H×W×C NHWC in [0,1]).
	Logits(x []float32, n int) ([]float32, error)
	// LossGrad returns per-example losses [n] and the gradient of their sum w.r.t. x for the named loss:
	// "ce" (cross-entropy with labels y), "dlr" (untargeted DLR), "dlr-targeted" (needs targets), "margin" (z_t − z_y, for FAB).
	LossGrad(kind string, x []float32, n int, y, targets []int32) (loss, grad []float32, err error)
}

// LogitsLossGrader is an optional extension of a Oracle: LossGradLogits is
// LossGrad that also returns the logits [n·K] of the same forward pass. APGD needs the
// prediction at every iterate (as the official code reads it off the loss's forward pass);
// with this extension it costs nothing, without it the attacks call Logits once more.
// GraphOracle implements it.
type LogitsLossGrader interface {
	LossGradLogits(kind string, x []float32, n int, y, targets []int32) (loss, grad, logits []float32, err error)
}

// Loss kinds of Oracle.LossGrad (Croce & Hein 2020, fra31/auto-attack).
const (
	// LossCE is the cross-entropy −log softmax(z)_y (APGD-CE).
	LossCE = "ce"
	// LossDLR is the untargeted difference-of-logits ratio
	// −(z_y − max_{i≠y} z_i)/(z_π1 − z_π3 + 1e-12), π the logits in decreasing order
	// (autopgd_base.py:dlr_loss; AutoAttack "plus" only).
	LossDLR = "dlr"
	// LossDLRTargeted is the targeted DLR −(z_y − z_t)/(z_π1 − ½(z_π3 + z_π4) + 1e-12)
	// (autopgd_base.py:dlr_loss_targeted, APGD-T).
	LossDLRTargeted = "dlr-targeted"
	// LossMargin is z_t − z_y (fab_pt.py:get_diff_logits_grads_batch_targeted, FAB-T).
	LossMargin = "margin"
)

// ImageShape is the H×W×C of one NHWC image.
type ImageShape struct {
	// H, W and C are the height, width and number of channels.
	H, W, C int
}

// Size is H·W·C, the number of values of one image.
func (s ImageShape) Size() int { return s.H * s.W * s.C }

// CheckAttackLoss returns an error if kind is not a loss of Oracle.LossGrad or
// needs more classes than numClasses (DLR: 3, targeted DLR: 4, as in
// autoattack/checks.py:check_n_classes).
func CheckAttackLoss(kind string, numClasses int) error {
	need := 2
	switch kind {
	case LossCE, LossMargin:
	case LossDLR:
		need = 3
	case LossDLRTargeted:
		need = 4
	default:
		return fmt.Errorf("unknown attack loss %q (use %q, %q, %q or %q)", kind, LossCE, LossDLR, LossDLRTargeted, LossMargin)
	}
	if numClasses < need {
		return fmt.Errorf("loss %q needs at least %d classes, the model has %d", kind, need, numClasses)
	}
	return nil
}

// PerExampleAttackLoss returns the per-example attack loss [N] of logits z [N,K] for
// labels y and targets t ([N] int32; t is ignored by "ce" and "dlr"), with the formulas
// of fra31/auto-attack: LossCE, LossDLR, LossDLRTargeted, LossMargin. The ranked logits
// z_π1 ≥ z_π2 ≥ … are picked by arg-max with the previous picks masked out (ties to the
// lowest index), and read through a one-hot product, so the gradient reaches exactly the
// logits at those ranks, as through PyTorch's sort. Graph-building code: panics on an
// unknown kind (see CheckAttackLoss).
func PerExampleAttackLoss(kind string, z, y, t *graph.Node) *graph.Node {
	k := z.Shape().Dimensions[1]
	pick := func(oneHot *graph.Node) *graph.Node { return graph.ReduceSum(graph.Mul(z, oneHot), -1) }
	onehotY := graph.OneHot(y, k, z.DType())
	zy := pick(onehotY)
	eps := graph.Scalar(z.Graph(), z.DType(), 1e-12)
	switch kind {
	case LossCE:
		return graph.Neg(graph.ReduceSum(graph.Mul(onehotY, graph.LogSoftmax(z, -1)), -1))
	case LossDLR:
		top := rankedLogits(z, nil, 3)
		maxOther := rankedLogits(z, graph.OneHot(y, k, dtypes.Bool), 1)[0]
		den := graph.Add(graph.Sub(pick(top[0]), pick(top[2])), eps)
		return graph.Neg(graph.Div(graph.Sub(zy, pick(maxOther)), den))
	case LossDLRTargeted:
		top := rankedLogits(z, nil, 4)
		zt := pick(graph.OneHot(t, k, z.DType()))
		half := graph.Scalar(z.Graph(), z.DType(), 0.5)
		den := graph.Add(graph.Sub(pick(top[0]), graph.Mul(half, graph.Add(pick(top[2]), pick(top[3])))), eps)
		return graph.Neg(graph.Div(graph.Sub(zy, zt), den))
	case LossMargin:
		return graph.Sub(pick(graph.OneHot(t, k, z.DType())), zy)
	}
	panic(fmt.Errorf("acl: unknown attack loss %q", kind))
}

// rankedLogits returns the one-hot selectors (constants for the gradient) of the n largest
// logits of each row of z [N,K], excluding the entries set in exclude ([N,K] bool, or nil).
func rankedLogits(z, exclude *graph.Node, n int) []*graph.Node {
	k := z.Shape().Dimensions[1]
	lowest := graph.Infinity(z.Graph(), z.DType(), -1)
	cur := graph.StopGradient(z)
	if exclude != nil {
		cur = graph.Where(exclude, lowest, cur)
	}
	out := make([]*graph.Node, n)
	for i := range n {
		idx := graph.ArgMax(cur, -1, dtypes.Int32)
		out[i] = graph.StopGradient(graph.OneHot(idx, k, z.DType()))
		cur = graph.Where(graph.OneHot(idx, k, dtypes.Bool), lowest, cur)
	}
	return out
}
