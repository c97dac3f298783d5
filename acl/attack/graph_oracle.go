package attack

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

// GraphOracle is a Oracle (and LogitsLossGrader) for any GoMLX logits function
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
	_ Oracle           = (*GraphOracle)(nil)
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

// NumClasses implements Oracle.
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

// Logits implements Oracle.
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

// LossGrad implements Oracle.
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

// Executables returns the executables compiled so far, by name: "logits" and each loss
// kind (LossCE, …). Tools that inspect the compiled graphs (the op inventory) read them.
func (o *GraphOracle) Executables() map[string]*context.Exec {
	o.mu.Lock()
	defer o.mu.Unlock()
	out := map[string]*context.Exec{}
	if o.logits != nil {
		out["logits"] = o.logits
	}
	for k, e := range o.losses {
		out[k] = e
	}
	return out
}
