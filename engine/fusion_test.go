package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// specialTensor is a float32 tensor of the given dimensions with IEEE special values
// mixed in (specialF32).
func specialTensor(seed uint64, dims ...int) *tensors.Tensor {
	n := 1
	for _, d := range dims {
		n *= d
	}
	return tensors.FromFlatDataAndDimensions(specialF32(rand.New(rand.NewPCG(seed, 3)), n), dims...)
}

// fusionCases are graphs made of the chains fusion targets, with their gradients where
// the training step takes them. x is [8,6,5,16] (3,840 elements, above fuseMinElements),
// c a per-channel [1,1,1,16] operand, s a per-sample [8,1,1,1] one.
var fusionCases = []struct {
	name        string
	minAbsorbed int64 // nodes fusion must absorb in the case's graph
	fn          func(x, c, s *graph.Node) []*graph.Node
}{
	{"batch norm + ReLU, forward and gradients", 6, func(x, c, s *graph.Node) []*graph.Node {
		shift := graph.Sin(c)
		bnRelu := func(x, scale *graph.Node) *graph.Node {
			y := graph.Add(graph.Mul(x, scale), shift)
			return graph.Where(graph.GreaterOrEqual(graph.ScalarZero(x.Graph(), x.DType()), y), graph.ZerosLike(y), y)
		}
		out := bnRelu(x, c)
		loss := graph.ReduceAllSum(graph.Mul(out, graph.Cos(x)))
		grads := graph.Gradient(loss, x, c)
		return append([]*graph.Node{out}, grads...)
	}},
	{"PGD step: sign, scale, clip to the ε-ball and [0, 1]", 5, func(x, c, s *graph.Node) []*graph.Node {
		g := graph.Sin(graph.Mul(x, x))
		eps := graph.Scalar(x.Graph(), x.DType(), 8.0/255)
		adv := graph.Add(x, graph.MulScalar(graph.Sign(g), 2.0/255))
		adv = graph.Min(graph.Max(adv, graph.Sub(x, eps)), graph.Add(x, eps))
		adv = graph.Max(graph.Min(adv, graph.OnesLike(adv)), graph.ZerosLike(adv))
		return []*graph.Node{adv}
	}},
	{"every op, per-sample and per-channel operands, a chain value also an output", 10, func(x, c, s *graph.Node) []*graph.Node {
		a := graph.Div(graph.Sub(x, s), graph.Add(graph.Abs(c), graph.Scalar(x.Graph(), x.DType(), 0.5)))
		b := graph.Neg(graph.Sqrt(graph.Abs(a)))                            // an output and used in the chain
		e := graph.Log(graph.Add(graph.Exp(graph.Min(a, b)), graph.Abs(x))) // Log of ≥ 0 values, NaN where x is
		cmp := []*graph.Node{graph.GreaterThan(a, b), graph.LessOrEqual(b, e), graph.LessThan(e, s), graph.Equal(a, x), graph.NotEqual(b, c)}
		out := e
		for i, m := range cmp {
			if i%2 == 0 {
				out = graph.Where(m, out, graph.Mul(out, b))
			} else {
				out = graph.Where(m, graph.Sub(out, a), out)
			}
		}
		return []*graph.Node{b, out, graph.Mul(graph.Sign(out), graph.Max(a, e))}
	}},
}

// TestFusionMatchesUnfused runs each case on goacl with fusion and with fusion=off: the
// outputs must be the same bits (fused steps compute each element as the unfused ops
// do), the graphs must really be fused, and this must hold with the vector kernels on
// and off and with the fused nodes split over the workers.
func TestFusionMatchesUnfused(t *testing.T) {
	if err := KernelsStatus(); err != nil {
		t.Fatal(err)
	}
	fused, err := NewWithConfig(PureGoName)
	if err != nil {
		t.Fatal(err)
	}
	unfused, err := NewWithConfig(PureGoName + ":fusion=off")
	if err != nil {
		t.Fatal(err)
	}
	defer func(v bool, m int) { vecOn, fusedParallelMin = v, m }(vecOn, fusedParallelMin)
	for _, mode := range []struct {
		name     string
		vec      bool
		parallel int
	}{{"vector kernels", vecSupported, 1 << 15}, {"Go loops", false, 1 << 15}, {"split over the workers", vecSupported, 1024}} {
		vecOn, fusedParallelMin = mode.vec, mode.parallel
		for i, c := range fusionCases {
			x, ch, s := specialTensor(uint64(10+i), 8, 6, 5, 16), specialTensor(uint64(20+i), 1, 1, 1, 16), specialTensor(uint64(30+i), 8, 1, 1, 1)
			absorbed, calls := fusionStats.absorbed.Load(), fusedCalls.Load()
			got, want := runBoth(t, fused, unfused, func(xs []*graph.Node) []*graph.Node { return c.fn(xs[0], xs[1], xs[2]) }, x, ch, s)
			name := fmt.Sprintf("%s (%s)", c.name, mode.name)
			if n := fusionStats.absorbed.Load() - absorbed; n < c.minAbsorbed {
				t.Errorf("%s: fusion absorbed %d nodes, want ≥ %d", name, n, c.minAbsorbed)
			}
			if fusedCalls.Load() == calls {
				t.Errorf("%s: no fused node ran", name)
			}
			for j := range got {
				requireIdentical(t, fmt.Sprintf("%s output %d", name, j), got[j], want[j])
			}
		}
	}
}

// TestFusionLeavesSharedValues checks what must not be fused: a value also used outside
// the chain, a graph output, and a chain on a small tensor stay nodes of their own.
func TestFusionLeavesSharedValues(t *testing.T) {
	fused, err := NewWithConfig(PureGoName)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		dims     []int
		absorbed int64
		fn       func(x *graph.Node) []*graph.Node
	}{
		// y = x·2 is used by the chain and by the reduction: only Add+Neg fuse (Neg absorbs Add).
		{"shared value", []int{4096}, 1, func(x *graph.Node) []*graph.Node {
			y := graph.MulScalar(x, 2)
			return []*graph.Node{graph.Neg(graph.AddScalar(y, 1)), graph.ReduceAllSum(y)}
		}},
		// Both chain values are outputs: nothing to absorb.
		{"outputs", []int{4096}, 0, func(x *graph.Node) []*graph.Node {
			y := graph.Neg(x)
			return []*graph.Node{y, graph.Abs(y)}
		}},
		{"small tensor", []int{8, 8}, 0, func(x *graph.Node) []*graph.Node {
			return []*graph.Node{graph.Neg(graph.Abs(graph.Exp(x)))}
		}},
	}
	for _, c := range cases {
		before := fusionStats.absorbed.Load()
		e, err := graph.NewExec(fused, c.fn)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Exec(specialTensor(1, c.dims...)); err != nil {
			t.Fatal(err)
		}
		if n := fusionStats.absorbed.Load() - before; n != c.absorbed {
			t.Errorf("%s: %d nodes absorbed, want %d", c.name, n, c.absorbed)
		}
	}
}

// TestFusionOption checks the backend option.
func TestFusionOption(t *testing.T) {
	if _, err := NewWithConfig(PureGoName + ":fusion=maybe"); err == nil {
		t.Error("fusion=maybe accepted")
	}
	b, err := NewWithConfig(PureGoName + ":fusion=off")
	if err != nil {
		t.Fatal(err)
	}
	if p := b.(*PureGo); p.fusion {
		t.Error("fusion=off: fusion on")
	}
	var _ backends.Backend = b
}
