package acl

import (
	"fmt"
	"math/bits"
	"sync"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// A RobustnessOracle evaluates a classifier on batches of images for host-driven attacks.
type RobustnessOracle interface {
	// NumClasses is the number of logits.
	NumClasses() int
	// Logits returns the logits [n·K] of images x (n×H×W×C NHWC in [0,1]).
	Logits(x []float32, n int) ([]float32, error)
	// LossGrad returns per-example losses [n] and the gradient of their sum w.r.t. x for the named loss:
	// "ce" (cross-entropy with labels y), "dlr" (untargeted DLR), "dlr-targeted" (needs targets), "margin" (z_t − z_y, for FAB).
	LossGrad(kind string, x []float32, n int, y, targets []int32) (loss, grad []float32, err error)
}

// LogitsLossGrader is an optional extension of a RobustnessOracle: LossGradLogits is
// LossGrad that also returns the logits [n·K] of the same forward pass. APGD needs the
// prediction at every iterate (as the official code reads it off the loss's forward pass);
// with this extension it costs nothing, without it the attacks call Logits once more.
// GraphOracle implements it.
type LogitsLossGrader interface {
	LossGradLogits(kind string, x []float32, n int, y, targets []int32) (loss, grad, logits []float32, err error)
}

// Loss kinds of RobustnessOracle.LossGrad (Croce & Hein 2020, fra31/auto-attack).
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
	H, W, C int
}

// Size is H·W·C, the number of values of one image.
func (s ImageShape) Size() int { return s.H * s.W * s.C }

// GraphOracle is a RobustnessOracle (and LogitsLossGrader) for any GoMLX logits function
// ctx, x[N,H,W,C] → z[N,K]. Every graph is built in eval mode (ctx.SetTraining(g,false):
// batch norm uses its running statistics and updates nothing), with the losses of
// PerExampleAttackLoss and the gradient of their sum w.r.t. the images. One executable per
// loss kind (and one for the logits) is compiled lazily and cached by GoMLX per batch size.
//
// Batches are padded with zero images up to the next power of two (PadBatches, on by
// default), so the robust subsets of varying sizes that the attacks pass compile at most
// log₂(batch)+1 graphs per kind instead of one per size: this matters on XLA, where a
// ResNet-18 gradient graph takes seconds to compile (and GoMLX's default cache of 32
// graphs per executable, which this oracle lifts, would otherwise overflow: Square alone
// queries every subset size). Padding is exact because in eval mode every example is
// computed independently; logitsFn must not mix examples.
//
// Calls are serialised by a mutex (one execution at a time).
type GraphOracle struct {
	backend    backends.Backend
	ctx        *context.Context
	logitsFn   func(ctx *context.Context, x *graph.Node) *graph.Node
	numClasses int
	shape      ImageShape

	// PadBatches pads every batch to the next power of two (default true).
	PadBatches bool

	mu     sync.Mutex
	logits *context.Exec
	losses map[string]*context.Exec
}

var (
	_ RobustnessOracle = (*GraphOracle)(nil)
	_ LogitsLossGrader = (*GraphOracle)(nil)
)

// NewGraphOracle returns the oracle of logitsFn, whose variables live in ctx (use a
// context.New().Checked(false) context holding the trained model), for images of h×w×c
// and numClasses logits. Nothing is compiled until the first call.
func NewGraphOracle(backend backends.Backend, ctx *context.Context, logitsFn func(ctx *context.Context, x *graph.Node) *graph.Node, numClasses, h, w, c int) (*GraphOracle, error) {
	switch {
	case backend == nil:
		return nil, fmt.Errorf("NewGraphOracle: nil backend (use engine.New())")
	case ctx == nil:
		return nil, fmt.Errorf("NewGraphOracle: nil context")
	case logitsFn == nil:
		return nil, fmt.Errorf("NewGraphOracle: nil logits function")
	case numClasses < 2:
		return nil, fmt.Errorf("NewGraphOracle: %d classes, need at least 2", numClasses)
	case h < 1 || w < 1 || c < 1:
		return nil, fmt.Errorf("NewGraphOracle: image shape %d×%d×%d must be positive", h, w, c)
	}
	return &GraphOracle{
		backend: backend, ctx: ctx, logitsFn: logitsFn, numClasses: numClasses,
		shape: ImageShape{H: h, W: w, C: c}, PadBatches: true, losses: map[string]*context.Exec{},
	}, nil
}

// NumClasses implements RobustnessOracle.
func (o *GraphOracle) NumClasses() int { return o.numClasses }

// Shape returns the image shape the oracle takes.
func (o *GraphOracle) Shape() ImageShape { return o.shape }

// padded returns the batch size the graphs run with for n images.
func (o *GraphOracle) padded(n int) int {
	if !o.PadBatches || n <= 1 {
		return n
	}
	return 1 << bits.Len(uint(n-1))
}

// modelLogits builds the eval-mode logits and checks their shape.
func (o *GraphOracle) modelLogits(ctx *context.Context, x *graph.Node) *graph.Node {
	ctx.SetTraining(x.Graph(), false)
	z := o.logitsFn(ctx, x)
	n := x.Shape().Dimensions[0]
	if z.Rank() != 2 || z.Shape().Dimensions[0] != n || z.Shape().Dimensions[1] != o.numClasses {
		panic(fmt.Errorf("GraphOracle: the logits function returned shape %s for %d images, want [%d %d]", z.Shape(), n, n, o.numClasses))
	}
	if z.DType() != dtypes.Float32 {
		z = graph.ConvertDType(z, dtypes.Float32)
	}
	return z
}

// imageTensor validates x and returns it as an [m,H,W,C] tensor, zero-padded to m images.
func (o *GraphOracle) imageTensor(x []float32, n, m int) (*tensors.Tensor, error) {
	size := o.shape.Size()
	if n < 1 || len(x) != n*size {
		return nil, fmt.Errorf("oracle: %d values for %d images of %d×%d×%d", len(x), n, o.shape.H, o.shape.W, o.shape.C)
	}
	if m > n {
		p := make([]float32, m*size)
		copy(p, x)
		x = p
	}
	return tensors.FromFlatDataAndDimensions(x, m, o.shape.H, o.shape.W, o.shape.C), nil
}

func padInt32(v []int32, m int) []int32 {
	if len(v) == m {
		return v
	}
	p := make([]int32, m)
	copy(p, v)
	return p
}

// Logits implements RobustnessOracle.
func (o *GraphOracle) Logits(x []float32, n int) ([]float32, error) {
	m := o.padded(n)
	xt, err := o.imageTensor(x, n, m)
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.logits == nil {
		o.logits, err = context.NewExec(o.backend, o.ctx, o.modelLogits)
		if err != nil {
			return nil, fmt.Errorf("oracle: logits graph: %w", err)
		}
		o.logits.SetMaxCache(-1) // one graph per (padded) batch size; see PadBatches
	}
	out, err := o.logits.Exec(xt)
	if err != nil {
		return nil, fmt.Errorf("oracle: logits of %d images: %w", n, err)
	}
	z := tensors.MustCopyFlatData[float32](out[0])
	finalize(out)
	return z[:n*o.numClasses], nil
}

// LossGrad implements RobustnessOracle.
func (o *GraphOracle) LossGrad(kind string, x []float32, n int, y, targets []int32) ([]float32, []float32, error) {
	loss, grad, _, err := o.LossGradLogits(kind, x, n, y, targets)
	return loss, grad, err
}

// LossGradLogits implements LogitsLossGrader: the per-example losses [n], the gradient of
// their sum w.r.t. x [n·H·W·C] and the logits [n·K], from one forward and backward pass.
func (o *GraphOracle) LossGradLogits(kind string, x []float32, n int, y, targets []int32) (loss, grad, logits []float32, err error) {
	if err := CheckAttackLoss(kind, o.numClasses); err != nil {
		return nil, nil, nil, fmt.Errorf("oracle: %w", err)
	}
	if len(y) != n {
		return nil, nil, nil, fmt.Errorf("oracle: %d labels for %d images", len(y), n)
	}
	needsTargets := kind == LossDLRTargeted || kind == LossMargin
	if needsTargets && len(targets) != n {
		return nil, nil, nil, fmt.Errorf("oracle: loss %q needs %d targets, got %d", kind, n, len(targets))
	}
	for i, v := range y {
		if v < 0 || int(v) >= o.numClasses || (needsTargets && (targets[i] < 0 || int(targets[i]) >= o.numClasses)) {
			return nil, nil, nil, fmt.Errorf("oracle: label or target of image %d outside [0,%d)", i, o.numClasses)
		}
	}
	m := o.padded(n)
	xt, err := o.imageTensor(x, n, m)
	if err != nil {
		return nil, nil, nil, err
	}
	if !needsTargets {
		targets = nil
	}
	yt := tensors.FromFlatDataAndDimensions(padInt32(y, m), m)
	tt := tensors.FromFlatDataAndDimensions(padInt32(targets, m), m)

	o.mu.Lock()
	defer o.mu.Unlock()
	exec := o.losses[kind]
	if exec == nil {
		exec, err = context.NewExec(o.backend, o.ctx, func(ctx *context.Context, x, y, t *graph.Node) (*graph.Node, *graph.Node, *graph.Node) {
			z := o.modelLogits(ctx, x)
			l := PerExampleAttackLoss(kind, z, y, t)
			return l, graph.Gradient(graph.ReduceAllSum(l), x)[0], z
		})
		if err != nil {
			return nil, nil, nil, fmt.Errorf("oracle: %s graph: %w", kind, err)
		}
		exec.SetMaxCache(-1)
		o.losses[kind] = exec
	}
	out, err := exec.Exec(xt, yt, tt)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("oracle: %s loss and gradient of %d images: %w", kind, n, err)
	}
	loss = tensors.MustCopyFlatData[float32](out[0])[:n]
	grad = tensors.MustCopyFlatData[float32](out[1])[:n*o.shape.Size()]
	logits = tensors.MustCopyFlatData[float32](out[2])[:n*o.numClasses]
	finalize(out)
	return loss, grad, logits, nil
}

func finalize(ts []*tensors.Tensor) {
	for _, t := range ts {
		_ = t.FinalizeAll()
	}
}

// CheckAttackLoss returns an error if kind is not a loss of RobustnessOracle.LossGrad or
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
