package engine

import (
	"fmt"
	"math"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// The kernels of installOpKernels only copy, select, or combine values in simplego's
// order, so their results must be bit-identical to simplego's executors'. Each case also
// checks that the kernel (not the fallback) ran.

// requireIdentical compares bit for bit (NaN equal to NaN).
func requireIdentical(t *testing.T, name string, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	for i := range got {
		if math.Float64bits(got[i]) != math.Float64bits(want[i]) && !(math.IsNaN(got[i]) && math.IsNaN(want[i])) {
			t.Errorf("%s: [%d] = %v, simplego %v", name, i, got[i], want[i])
			return
		}
	}
}

// opCase is a graph of one input checked on both backends, and the op whose kernel must
// have run (at least `calls` times on the fast backend).
type opCase struct {
	name  string
	dims  []int
	op    backends.OpType
	calls int64
	fn    func(x *graph.Node) []*graph.Node
}

func runOpCases(t *testing.T, cases []opCase) {
	t.Helper()
	fast, ref := kernelBackends(t)
	for _, dtype := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
		for i, c := range cases {
			x := randomTensor(dtype, uint64(300+i), c.dims...)
			before := opKernelCalls[c.op].Load()
			got, want := runBoth(t, fast, ref, func(xs []*graph.Node) []*graph.Node { return c.fn(xs[0]) }, x)
			name := fmt.Sprintf("%s %s", c.name, dtype)
			if n := opKernelCalls[c.op].Load() - before; n < c.calls {
				t.Errorf("%s: %s kernel ran %d times, want ≥ %d", name, c.op, n, c.calls)
			}
			for j := range got {
				requireIdentical(t, fmt.Sprintf("%s output %d", name, j), got[j], want[j])
			}
		}
	}
}

func TestFastBroadcastInDimMatchesSimplego(t *testing.T) {
	bid := backends.OpTypeBroadcastInDim
	expand := func(dims []int, axes ...int) func(x *graph.Node) []*graph.Node {
		return func(x *graph.Node) []*graph.Node { return []*graph.Node{graph.ExpandAndBroadcast(x, dims, axes)} }
	}
	to := func(dims ...int) func(x *graph.Node) []*graph.Node {
		return func(x *graph.Node) []*graph.Node { return []*graph.Node{graph.BroadcastToDims(x, dims...)} }
	}
	runOpCases(t, []opCase{
		{"[1,1,1,C]→NHWC", []int{1, 1, 1, 5}, bid, 1, to(3, 4, 6, 5)},
		{"[N,1,1,C]→NHWC", []int{3, 1, 1, 5}, bid, 1, to(3, 4, 6, 5)},
		{"[1,H,W,1]→NHWC", []int{1, 4, 6, 1}, bid, 1, to(3, 4, 6, 5)},
		{"[N,1,W,1] alternating", []int{3, 1, 6, 1}, bid, 1, to(3, 4, 6, 5)},
		{"[1,1] → [7,9]", []int{1, 1}, bid, 1, to(7, 9)},
		{"[C] axes 0,1,2 expanded", []int{5}, bid, 1, expand([]int{3, 4, 6, 5}, 0, 1, 2)},
		{"[N] axis 1..3 expanded", []int{3}, bid, 1, expand([]int{3, 4, 6, 5}, 1, 2, 3)},
		{"[A,B] → [A,X,B]", []int{4, 5}, bid, 1, expand([]int{4, 3, 5}, 1)},
		{"size-1 output axes", []int{1, 1, 5}, bid, 1, to(3, 1, 5)},
		{"no growth", []int{3, 5}, bid, 1, expand([]int{3, 1, 5}, 1)},
		{"scalar", nil, bid, 1, to(4, 3, 2)},
	})
}

func TestFastReduceMatchesSimplego(t *testing.T) {
	sum, mx, mn := backends.OpTypeReduceSum, backends.OpTypeReduceMax, backends.OpTypeReduceMin
	red := func(f func(*graph.Node, ...int) *graph.Node, axes ...int) func(x *graph.Node) []*graph.Node {
		return func(x *graph.Node) []*graph.Node { return []*graph.Node{f(x, axes...)} }
	}
	nhwc := []int{6, 5, 7, 9}
	runOpCases(t, []opCase{
		{"sum NHW (BN)", nhwc, sum, 1, red(graph.ReduceSum, 0, 1, 2)},
		{"sum HW (pool)", nhwc, sum, 1, red(graph.ReduceSum, 1, 2)},
		{"sum C (rows)", nhwc, sum, 1, red(graph.ReduceSum, 3)},
		{"sum N,W alternating", nhwc, sum, 1, red(graph.ReduceSum, 0, 2)},
		{"sum H,C alternating", nhwc, sum, 1, red(graph.ReduceSum, 1, 3)},
		{"sum unsorted axes", nhwc, sum, 1, red(graph.ReduceSum, 2, 0)},
		{"sum all", nhwc, sum, 1, red(graph.ReduceSum)},
		{"sum over size-1 axis", []int{4, 1, 6}, sum, 1, red(graph.ReduceSum, 1)},
		{"sum with size-1 kept axis", []int{4, 1, 6}, sum, 1, red(graph.ReduceSum, 0, 2)},
		{"max NHW", nhwc, mx, 1, red(graph.ReduceMax, 0, 1, 2)},
		{"max C", nhwc, mx, 1, red(graph.ReduceMax, 3)},
		{"max alternating", nhwc, mx, 1, red(graph.ReduceMax, 0, 2)},
		{"min NHW", nhwc, mn, 1, red(graph.ReduceMin, 0, 1, 2)},
		{"min C", nhwc, mn, 1, red(graph.ReduceMin, 3)},
		{"max with ±Inf and NaN", []int{5, 8}, mx, 1, func(x *graph.Node) []*graph.Node {
			// Column 0: a NaN, column 1: −Inf entries, column 2: −0 vs +0 ties.
			g := x.Graph()
			col := graph.Iota(g, x.Shape(), 1)
			row := graph.Iota(g, x.Shape(), 0)
			zero := graph.ScalarZero(g, x.DType())
			v := graph.Where(graph.And(graph.Equal(col, zero), graph.Equal(row, graph.OnePlus(zero))), graph.Div(zero, zero), x)
			v = graph.Where(graph.Equal(col, graph.OnePlus(zero)), graph.Scalar(g, x.DType(), math.Inf(-1)), v)
			v = graph.Where(graph.Equal(col, graph.Scalar(g, x.DType(), 2)), graph.Neg(graph.ZerosLike(x)), v)
			return []*graph.Node{graph.ReduceMax(v, 0), graph.ReduceMin(v, 0), graph.ReduceSum(v, 0)}
		}},
	})
}

func TestFastWhereMatchesSimplego(t *testing.T) {
	where := backends.OpTypeWhere
	dims := []int{4, 6, 7, 5}
	runOpCases(t, []opCase{
		{"parameters (new buffer)", dims, where, 1, func(x *graph.Node) []*graph.Node {
			y := graph.Neg(graph.Square(x))
			return []*graph.Node{graph.Where(graph.GreaterThan(x, graph.ScalarZero(x.Graph(), x.DType())), x, y), y}
		}},
		{"owned onTrue reused", dims, where, 1, func(x *graph.Node) []*graph.Node {
			return []*graph.Node{graph.Where(graph.LessThan(x, graph.Sin(x)), graph.Neg(x), x)}
		}},
		{"owned onFalse reused", dims, where, 1, func(x *graph.Node) []*graph.Node {
			return []*graph.Node{graph.Where(graph.LessThan(x, graph.Sin(x)), x, graph.Exp(x))}
		}},
		{"scalar onTrue", dims, where, 1, func(x *graph.Node) []*graph.Node {
			return []*graph.Node{graph.Where(graph.LessThan(x, graph.Cos(x)), graph.Scalar(x.Graph(), x.DType(), -2.5), x)}
		}},
		{"scalar onFalse", dims, where, 1, func(x *graph.Node) []*graph.Node {
			return []*graph.Node{graph.Where(graph.LessThan(x, graph.Cos(x)), graph.Neg(x), graph.Scalar(x.Graph(), x.DType(), 3))}
		}},
		{"both scalars", dims, where, 1, func(x *graph.Node) []*graph.Node {
			g := x.Graph()
			return []*graph.Node{graph.Where(graph.GreaterOrEqual(x, graph.ScalarZero(g, x.DType())), graph.Scalar(g, x.DType(), 1), graph.Scalar(g, x.DType(), -1))}
		}},
		{"ReLU gradient's selects (minmaxgrad.go)", dims, where, 2, func(x *graph.Node) []*graph.Node {
			v := graph.Sin(x) // the adjoint
			lt, zero := graph.LessThan(graph.ZerosLike(x), x), graph.ZerosLike(v)
			return []*graph.Node{graph.Where(lt, zero, v), graph.Where(lt, v, zero)}
		}},
	})
}

func TestFastSliceMatchesSimplego(t *testing.T) {
	sl := backends.OpTypeSlice
	slice := func(specs ...graph.SliceAxisSpec) func(x *graph.Node) []*graph.Node {
		return func(x *graph.Node) []*graph.Node { return []*graph.Node{graph.Slice(x, specs...)} }
	}
	r, all := graph.AxisRange, graph.AxisRange()
	kernel := []int{3, 3, 6, 5}
	runOpCases(t, []opCase{
		{"kernel row (leading axis)", kernel, sl, 1, slice(r(1, 2))},
		{"kernel column (second axis)", kernel, sl, 1, slice(all, r(2, 3))},
		{"inner range", kernel, sl, 1, slice(all, all, r(1, 5), r(2, 4))},
		{"strided middle", kernel, sl, 1, slice(all, all, r(0, 6).Stride(2))},
		{"strided innermost", kernel, sl, 1, slice(r(1, 3), all, all, r(1, 5).Stride(3))},
		{"everything", kernel, sl, 1, slice(all, all, all, all)},
		{"vector", []int{11}, sl, 1, slice(r(2, 9).Stride(2))},
		{"reversed taps (Reverse)", kernel, sl, 6, func(x *graph.Node) []*graph.Node {
			return []*graph.Node{graph.Reverse(x, 0, 1)}
		}},
	})
}

// TestOpKernelsPassThrough checks that cases the kernels do not handle still run
// (simplego's executors) with the fast kernels on: other dtypes.
func TestOpKernelsPassThrough(t *testing.T) {
	fast, ref := kernelBackends(t)
	x := tensors.FromFlatDataAndDimensions([]int32{3, -1, 4, 1, -5, 9}, 2, 3)
	fn := func(xs []*graph.Node) []*graph.Node {
		v := xs[0]
		s := graph.ReduceSum(v, 0)
		m := graph.ReduceMax(v, 1)
		b := graph.BroadcastToDims(graph.Reshape(s, 1, 3), 4, 3)
		w := graph.Where(graph.GreaterThan(v, graph.ScalarZero(v.Graph(), v.DType())), v, graph.Neg(v))
		return []*graph.Node{graph.ConvertDType(s, dtypes.Float64), graph.ConvertDType(m, dtypes.Float64),
			graph.ConvertDType(b, dtypes.Float64), graph.ConvertDType(graph.Slice(w, graph.AxisRange(), graph.AxisRange(1, 3)), dtypes.Float64)}
	}
	got, want := runBoth(t, fast, ref, fn, x)
	for j := range got {
		requireIdentical(t, fmt.Sprintf("int32 output %d", j), got[j], want[j])
	}
}

// TestFastBroadcastBinaryInPlace covers the broadcasting Add/Sub/Mul/Div (kernels_binary.go)
// writing into their full operand's buffer when it is an intermediate used once, and
// their tiled short runs (whole and partial tiles, a tile rebuilt per group, no tiling).
func TestFastBroadcastBinaryInPlace(t *testing.T) {
	fast, ref := kernelBackends(t)
	cases := [][2][]int{
		{{4, 5, 6, 16}, {1, 1, 1, 16}}, {{4, 5, 6, 16}, {4, 1, 1, 1}}, {{4, 5, 6, 16}, {1, 5, 6, 1}},
		{{3, 7, 5, 12}, {1, 1, 1, 12}}, {{3, 7, 5, 12}, {3, 1, 1, 12}}, {{3, 7, 5, 12}, {3, 1, 5, 12}},
		{{2, 300, 4}, {2, 1, 4}},
	}
	for _, dtype := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
		for i, c := range cases {
			x := randomTensor(dtype, uint64(700+i), c[0]...)
			y := randomTensor(dtype, uint64(800+i), c[1]...)
			got, want := runBoth(t, fast, ref, func(xs []*graph.Node) []*graph.Node {
				b := graph.AddScalar(graph.Abs(xs[1]), 0.5)
				return []*graph.Node{graph.Add(graph.Neg(xs[0]), b), graph.Sub(graph.Sin(xs[0]), b), graph.Sub(b, graph.Cos(xs[0])),
					graph.Mul(b, graph.Exp(xs[0])), graph.Div(graph.Square(xs[0]), b), graph.Div(b, graph.OnePlus(graph.Square(xs[0]))),
					graph.Mul(xs[0], b), graph.Sub(b, xs[0])}
			}, x, y)
			for j := range got {
				requireIdentical(t, fmt.Sprintf("%v op %v #%d %s", c[0], c[1], j, dtype), got[j], want[j])
			}
		}
	}
}

// TestFastParallelElementwiseMatchesSimplego covers the ops split over the workers
// (kernels_elementwise.go): same-shape binary ops, broadcasting ones cut along their
// first axis, and selects, with the split threshold lowered to the test's sizes.
func TestFastParallelElementwiseMatchesSimplego(t *testing.T) {
	if w, _ := fastWorkersOf(t); w < 2 {
		t.Skip("one worker (GOMAXPROCS=1): nothing is split")
	}
	defer func(v int) { parallelElementwiseMin = v }(parallelElementwiseMin)
	parallelElementwiseMin = 1024
	dims := []int{7, 9, 5, 6} // 1890 elements, 7 rows split unevenly
	bin := func(f func(a, b *graph.Node) *graph.Node) func(x *graph.Node) []*graph.Node {
		return func(x *graph.Node) []*graph.Node {
			y := graph.Cos(x)
			c := graph.OnePlus(graph.Square(graph.ReduceAndKeep(x, graph.ReduceMax, 1, 2)))     // [7,1,1,6]
			ch := graph.OnePlus(graph.Square(graph.ReduceAndKeep(x, graph.ReduceSum, 0, 1, 2))) // [1,1,1,6]
			return []*graph.Node{f(x, y), f(graph.Neg(x), y), f(y, x), f(x, c), f(c, graph.Neg(x)), f(graph.Sin(x), ch), f(ch, x)}
		}
	}
	before := parallelSplits.Load()
	runOpCases(t, []opCase{
		{"Add", dims, backends.OpTypeAdd, 3, bin(graph.Add)},
		{"Sub", dims, backends.OpTypeSub, 3, bin(graph.Sub)},
		{"Mul", dims, backends.OpTypeMul, 3, bin(graph.Mul)},
		{"Div", dims, backends.OpTypeDiv, 3, bin(graph.Div)},
		{"Max", dims, backends.OpTypeMax, 3, bin(graph.Max)},
		{"Min", dims, backends.OpTypeMin, 3, bin(graph.Min)},
		{"Where", dims, backends.OpTypeWhere, 3, func(x *graph.Node) []*graph.Node {
			lt, zero := graph.LessThan(x, graph.Sin(x)), graph.ScalarZero(x.Graph(), x.DType())
			return []*graph.Node{graph.Where(lt, x, graph.Cos(x)), graph.Where(lt, zero, graph.Neg(x)), graph.Where(lt, graph.Exp(x), zero)}
		}},
	})
	// Per dtype: Add…Div 7 each (3 same-shape, 4 broadcasting), Max, Min and Where 3 each
	// (other ops of the graphs may split too).
	if n := parallelSplits.Load() - before; n < 2*(4*7+3*3) {
		t.Errorf("%d ops split over the workers, want ≥ %d", n, 2*(4*7+3*3))
	}
}

// fastWorkersOf returns the worker count of the fast backend.
func fastWorkersOf(t *testing.T) (int, bool) {
	fast, _ := kernelBackends(t)
	return fastWorkers(fast.(*PureGo).Backend)
}

// TestBroadcastGradMatchesGoMLX checks the Mul/Div gradient overrides (broadcastgrad.go)
// against GoMLX's own gradients (on kernels=simplego): bit-identical, and built without
// the explicit broadcasts of the smaller operand.
func TestBroadcastGradMatchesGoMLX(t *testing.T) {
	fast, ref := kernelBackends(t)
	grads := func(x, g *graph.Node) []*graph.Node {
		s := graph.OnePlus(graph.Square(g)) // a positive divisor
		// x·g, g·x, x/s (BN's scale and normalisation) and s/(1+x²) (full divisor).
		loss := graph.Add(weightedAny(graph.Mul(graph.Div(graph.Mul(x, g), s), g)),
			weightedAny(graph.Div(s, graph.OnePlus(graph.Square(x)))))
		return graph.Gradient(loss, x, g)
	}
	broadcasts := func(b backends.Backend, dtype dtypes.DType, sd []int) int {
		g := graph.NewGraph(b, "count")
		grads(graph.Parameter(g, "x", shapes.Make(dtype, 4, 5, 6, 8)), graph.Parameter(g, "g", shapes.Make(dtype, sd...)))
		n := 0
		for _, node := range g.Nodes() {
			if node.Type() == graph.NodeTypeBroadcastInDim {
				n++
			}
		}
		g.Finalize()
		return n
	}
	for _, dtype := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
		for i, sd := range [][]int{{1, 1, 1, 8}, {4, 1, 1, 1}, {1, 5, 6, 1}, {}} {
			x := randomTensor(dtype, uint64(900+i), 4, 5, 6, 8)
			y := randomTensor(dtype, uint64(950+i), sd...)
			got, want := runBoth(t, fast, ref, func(xs []*graph.Node) []*graph.Node { return grads(xs[0], xs[1]) }, x, y)
			for j, what := range []string{"d/dx", "d/dg"} {
				requireIdentical(t, fmt.Sprintf("%v %s %s", sd, dtype, what), got[j], want[j])
			}
			// GoMLX broadcasts g or s once in each of the two Mul and two Div gradients.
			if nf, nr := broadcasts(fast, dtype, sd), broadcasts(ref, dtype, sd); nf > nr-4 {
				t.Errorf("%v %s: %d BroadcastInDim nodes with the overrides, %d without; want ≥ 4 fewer", sd, dtype, nf, nr)
			}
		}
	}
}
