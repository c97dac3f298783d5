package layers

import (
	"strings"
	"testing"

	"github.com/ainfonce/goacl/engine"
	"github.com/ainfonce/goacl/internal/optrace"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// fullSizePasses compiles (without running) a graph returning f(x) for an NHWC float32 x
// and the gradients of Σ f(x)·w (w an input of x's shape) with respect to x and, when
// withParams, to the scope /bn's gamma and beta, and lists the compiled backend ops
// whose output has x's size (Reshape and Parameter excluded): the passes over the
// activations. The ops of the loss itself (w's product, the broadcast of the scalar seed
// and its product with w) are included; subtract those of the identity f.
func fullSizePasses(t *testing.T, train, withParams bool, f func(ctx *context.Context, x *graph.Node) *graph.Node) []string {
	t.Helper()
	ctx := newCtx(t)
	exec, err := context.NewExec(testBackend(t), ctx, func(ctx *context.Context, x, w *graph.Node) []*graph.Node {
		g := x.Graph()
		ctx.SetTraining(g, train)
		FreezeBNStats(ctx, g)
		y := f(ctx, x)
		wrt := []*graph.Node{x}
		if withParams {
			for _, name := range []string{"gamma", "beta"} {
				wrt = append(wrt, ctx.GetVariableByScopeAndName("/bn", name).ValueGraph(g))
			}
		}
		return append([]*graph.Node{y}, graph.Gradient(graph.ReduceAllSum(graph.Mul(y, w)), wrt...)...)
	})
	if err != nil {
		t.Fatal(err)
	}
	dims := []int{4, 8, 8, 16}
	x := tensors.FromShape(shapes.Make(dtypes.Float32, dims...))
	if err := exec.PreCompile(x, tensors.FromShape(shapes.Make(dtypes.Float32, dims...))); err != nil {
		t.Fatal(err)
	}
	gs, err := optrace.ExecGraphs(exec)
	if err != nil || len(gs) != 1 {
		t.Fatalf("compiled graphs: %d, %v", len(gs), err)
	}
	ops, err := optrace.GraphOps(gs[0], false)
	if err != nil {
		t.Fatal(err)
	}
	var passes []string
	for _, op := range ops {
		if op.Shape.Size() == x.Shape().Size() && op.Type != backends.OpTypeReshape && op.Type != backends.OpTypeParameter {
			passes = append(passes, op.Type.String())
		}
	}
	return passes
}

// TestBatchNormGraphPasses checks the size of BatchNorm's compiled graph with its gradient
// on the goacl backend (whose Mul/Div gradients broadcast per-channel operands without
// materialising them, engine/broadcastgrad.go): with y = x·scale + shift, train mode
// (gradient through the batch statistics, with respect to x, γ and β) makes at most 13
// passes over the activations (forward: x−μ, its square, ·scale, +shift; the
// (x−μ)/√(σ²+ε)·γ+β form made 18) and eval mode at most 4 (it made 7).
func TestBatchNormGraphPasses(t *testing.T) {
	if !engine.FastKernels(testBackend(t)) {
		t.Skip("pass counts are those of the goacl backend with fast kernels")
	}
	loss := len(fullSizePasses(t, true, false, func(_ *context.Context, x *graph.Node) *graph.Node { return x }))
	bn := func(ctx *context.Context, x *graph.Node) *graph.Node { return NewBatchNorm(ctx.In("bn"), x).Done() }
	for _, c := range []struct {
		name  string
		train bool
		max   int
	}{{"train", true, 13}, {"eval", false, 4}} {
		passes := fullSizePasses(t, c.train, true, bn)
		n := len(passes) - loss
		t.Logf("%s: %d passes (%d with the loss's %d): %s", c.name, n, len(passes), loss, strings.Join(passes, " "))
		if n > c.max {
			t.Errorf("%s: BatchNorm with its gradient makes %d full-size passes, want ≤ %d", c.name, n, c.max)
		}
	}
}

// TestReLUGraphPasses checks that ReLU materialises no zeros tensor of the activation's
// size: forward and gradient make 4 passes (comparison, select; zeros and select of the
// select's gradient), one fewer than Max(ZerosLike(x), x), and the forward pass none
// besides the comparison and the select.
func TestReLUGraphPasses(t *testing.T) {
	if !engine.FastKernels(testBackend(t)) {
		t.Skip("pass counts are those of the goacl backend with fast kernels")
	}
	loss := len(fullSizePasses(t, true, false, func(_ *context.Context, x *graph.Node) *graph.Node { return x }))
	passes := fullSizePasses(t, true, false, func(_ *context.Context, x *graph.Node) *graph.Node { return ReLU(x) })
	t.Logf("ReLU: %d passes with the loss's %d: %s", len(passes), loss, strings.Join(passes, " "))
	if n := len(passes) - loss; n > 4 {
		t.Errorf("ReLU with its gradient makes %d full-size passes, want ≤ 4", n)
	}
	// The forward ops come first: the comparison and the select, then the loss's product.
	if len(passes) < 3 || passes[0] != backends.OpTypeGreaterOrEqual.String() || passes[1] != backends.OpTypeWhere.String() {
		t.Errorf("ReLU forward passes %v, want GreaterOrEqual, Where (no zeros tensor)", passes)
	}
}
