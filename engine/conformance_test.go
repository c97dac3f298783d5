package engine_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ainfonce/goacl/engine"
	"github.com/ainfonce/goacl/internal/optrace"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Conformance of the goacl backend (fast kernels on, the default) with GoMLX's stock
// pure-Go backend ("go:parallelism=-1"; the default parallelism can deadlock): for every
// backend op the project's graphs emit (docs/results/op-inventory.md, listed in
// optrace.Covered), random graphs of a few shapes each (broadcasts, size-1 axes, odd sizes,
// negative values, ties; for convolutions strides, padding, channels) run on both and
// must agree: float32 to 2e-5 of the largest reference value, float64 to 1e-12, other
// dtypes exactly. For float outputs the gradients of a random weighted sum of the output
// with respect to every float input are compared too.
//
// Where the stock backend cannot run a graph, the case says what it is compared with:
//   - engine.Conv2D lowers to im2col graph ops on the stock backend, so convolutions (and
//     their gradients, which need Reverse) are compared with that independent lowering;
//     general convolutions (asymmetric padding, dilations) with "goacl:kernels=simplego"
//     for gradients.
//   - Reverse and Pad (goacl composes them; stock simplego lacks them) and the gradient of
//     Slice (which emits Pad) are compared with references computed in Go.
//   - engine overrides the DotGeneral gradient on both pure-Go backends, so the matmul
//     cases also compare with a Mul+ReduceSum formulation on the stock backend, whose
//     gradient is GoMLX's own.

// refKind says what a case's goacl results are compared with.
type refKind int

const (
	refStock      refKind = iota // the same graph on the stock "go" backend
	refSimplegoK                 // the same graph on "goacl:kernels=simplego"
	refGoFunc                    // a reference computed in Go (goRef)
	refStockAltFn                // refFn (another formulation) on the stock backend
)

// gen is how an input's values are drawn.
type gen int

const (
	genNormal   gen = iota // N(0,1): negative values included
	genPositive            // uniform [0.5, 2.5)
	genSmallInt            // integers in [-2, 2] (ties for max/min/compare/argmax)
	genZeros               // N(0,1) with a third exact zeros
	genNonZero             // integers in [-5, 5] without 0 (integer divisors)
	genBool
)

type inSpec struct {
	dtype dtypes.DType
	dims  []int
	gen   gen
}

func in(dtype dtypes.DType, g gen, dims ...int) inSpec { return inSpec{dtype, dims, g} }

type confCase struct {
	name string
	// ops are the backend ops this case is meant to cover: each must be emitted by its
	// goacl graph (value or gradient), or the test fails.
	ops   []backends.OpType
	in    []inSpec
	fn    func(xs []*graph.Node) *graph.Node
	grad  bool // compare gradients w.r.t. every float input (float outputs only)
	ref   refKind
	refFn func(xs []*graph.Node) *graph.Node // refStockAltFn
	// goRef computes the output and, with grad, the gradient of sum(w·out) w.r.t. each
	// float input, from the flat inputs and weights (refGoFunc).
	goRef func(xs [][]float64, w []float64) (out []float64, grads [][]float64)
}

var (
	f32 = dtypes.Float32
	f64 = dtypes.Float64
	i32 = dtypes.Int32
	i64 = dtypes.Int64
	bln = dtypes.Bool
)

func op(ts ...backends.OpType) []backends.OpType { return ts }

// conformanceCases is the table of cases; see the comment at the top of the file.
func conformanceCases() []confCase {
	var cs []confCase
	add := func(c confCase) { cs = append(cs, c) }
	floats := []dtypes.DType{f32, f64}

	// Unary elementwise ops, with their gradients.
	unary := []struct {
		name string
		t    backends.OpType
		g    gen
		fn   func(*graph.Node) *graph.Node
	}{
		{"Abs", backends.OpTypeAbs, genZeros, graph.Abs},
		{"Neg", backends.OpTypeNeg, genNormal, graph.Neg},
		{"Exp", backends.OpTypeExp, genNormal, graph.Exp},
		{"Log", backends.OpTypeLog, genPositive, graph.Log},
		{"Sqrt", backends.OpTypeSqrt, genPositive, graph.Sqrt},
		{"Cos", backends.OpTypeCos, genNormal, graph.Cos},
		{"Sign", backends.OpTypeSign, genZeros, graph.Sign},
	}
	for _, u := range unary {
		for _, dt := range floats {
			for _, dims := range [][]int{{3, 5, 7}, {1}, {}} {
				add(confCase{name: fmt.Sprintf("%s/%s%v", u.name, dt, dims), ops: op(u.t), in: []inSpec{in(dt, u.g, dims...)},
					fn: func(xs []*graph.Node) *graph.Node { return u.fn(xs[0]) }, grad: true})
			}
		}
	}

	// Broadcasting binary arithmetic (the fast kernels take the [N,H,W,C] vs [1,1,1,C]
	// and [N,1,1,1] layouts; others go to simplego).
	binShapes := [][2][]int{
		{{2, 3, 4, 5}, {2, 3, 4, 5}},
		{{4, 6, 6, 5}, {1, 1, 1, 5}},
		{{1, 1, 1, 5}, {4, 6, 6, 5}},
		{{4, 6, 6, 5}, {4, 1, 1, 1}},
		{{4, 1, 1, 1}, {4, 6, 6, 5}},
		{{4, 6, 6, 5}, {1, 6, 1, 5}},
		{{3, 4, 7}, {3, 1, 7}},
		{{5, 7, 9, 3}, {1, 1, 1, 1}},
		{{1, 7}, {5, 7}},
		{{}, {3, 4}},
		{{3, 4}, {}},
		{{1}, {1}},
	}
	binary := []struct {
		name string
		t    backends.OpType
		fn   func(a, b *graph.Node) *graph.Node
	}{
		{"Add", backends.OpTypeAdd, graph.Add},
		{"Sub", backends.OpTypeSub, graph.Sub},
		{"Mul", backends.OpTypeMul, graph.Mul},
		{"Div", backends.OpTypeDiv, graph.Div},
	}
	for _, b := range binary {
		rhsGen := genNormal
		if b.t == backends.OpTypeDiv {
			rhsGen = genPositive
		}
		for _, dt := range floats {
			for _, sh := range binShapes {
				add(confCase{name: fmt.Sprintf("%s/%s%v%v", b.name, dt, sh[0], sh[1]), ops: op(b.t),
					in: []inSpec{in(dt, genNormal, sh[0]...), in(dt, rhsGen, sh[1]...)},
					fn: func(xs []*graph.Node) *graph.Node { return b.fn(xs[0], xs[1]) }, grad: true})
			}
		}
		for _, dt := range []dtypes.DType{i32, i64} {
			for _, sh := range [][2][]int{{{3, 4, 5}, {3, 4, 5}}, {{4, 3, 3, 5}, {1, 1, 1, 5}}, {{}, {2, 3}}} {
				add(confCase{name: fmt.Sprintf("%s/%s%v%v", b.name, dt, sh[0], sh[1]), ops: op(b.t),
					in: []inSpec{in(dt, genSmallInt, sh[0]...), in(dt, genNonZero, sh[1]...)},
					fn: func(xs []*graph.Node) *graph.Node { return b.fn(xs[0], xs[1]) }})
			}
		}
	}
	// Same-shape operands of 2^17 elements and more run split over the workers
	// (kernels_elementwise.go): an odd size, so the blocks do not divide it.
	big := []int{3, 100, 100, 5}
	for _, b := range append(binary, struct {
		name string
		t    backends.OpType
		fn   func(a, b *graph.Node) *graph.Node
	}{"Max", backends.OpTypeMax, graph.Max}, struct {
		name string
		t    backends.OpType
		fn   func(a, b *graph.Node) *graph.Node
	}{"Min", backends.OpTypeMin, graph.Min}) {
		rhsGen := genNormal
		if b.t == backends.OpTypeDiv {
			rhsGen = genPositive
		}
		for _, dt := range floats {
			add(confCase{name: fmt.Sprintf("%s/%s/large%v", b.name, dt, big), ops: op(b.t),
				in: []inSpec{in(dt, genNormal, big...), in(dt, rhsGen, big...)},
				fn: func(xs []*graph.Node) *graph.Node { return b.fn(xs[0], xs[1]) }, grad: true})
		}
	}
	for _, dt := range []dtypes.DType{i32, i64, f32, f64} {
		for _, sh := range [][2][]int{{{4, 6}, {4, 6}}, {{4, 6}, {1, 6}}, {{3, 5}, {}}} {
			add(confCase{name: fmt.Sprintf("Rem/%s%v%v", dt, sh[0], sh[1]), ops: op(backends.OpTypeRem),
				in: []inSpec{in(dt, genNonZero, sh[0]...), in(dt, genNonZero, sh[1]...)},
				fn: func(xs []*graph.Node) *graph.Node { return graph.Rem(xs[0], xs[1]) }})
		}
	}

	// BitwiseXor (the counter-based PGD random start, acl/attack/random.go, runs it on
	// uint64; its values there are checked against a host SplitMix64 in
	// TestUniformStartMatchesHostReference): the integer dtypes the inputs here support,
	// with signs, broadcasting and a scalar.
	for _, dt := range []dtypes.DType{i32, i64} {
		for _, sh := range [][2][]int{{{4, 6}, {4, 6}}, {{4, 6}, {1, 6}}, {{3, 5}, {}}} {
			add(confCase{name: fmt.Sprintf("BitwiseXor/%s%v%v", dt, sh[0], sh[1]), ops: op(backends.OpTypeBitwiseXor),
				in: []inSpec{in(dt, genNonZero, sh[0]...), in(dt, genSmallInt, sh[1]...)},
				fn: func(xs []*graph.Node) *graph.Node { return graph.BitwiseXor(xs[0], xs[1]) }})
		}
	}

	// Max/Min (ReLU, clipping): same shapes take goacl's one-select gradient, the others
	// GoMLX's; small integers give ties, whose gradient goes to the first operand.
	for _, t := range []backends.OpType{backends.OpTypeMax, backends.OpTypeMin} {
		fn := graph.Max
		if t == backends.OpTypeMin {
			fn = graph.Min
		}
		for _, dt := range floats {
			for _, sh := range [][2][]int{{{2, 5, 5, 3}, {2, 5, 5, 3}}, {{4, 5}, {1, 5}}, {{7}, {}}} {
				for _, g := range []gen{genNormal, genSmallInt} {
					add(confCase{name: fmt.Sprintf("%s/%s/gen%d%v%v", t, dt, g, sh[0], sh[1]), ops: op(t),
						in: []inSpec{in(dt, g, sh[0]...), in(dt, g, sh[1]...)},
						fn: func(xs []*graph.Node) *graph.Node { return fn(xs[0], xs[1]) }, grad: true})
				}
			}
			add(confCase{name: fmt.Sprintf("%s/%s/relu-zeros-like", t, dt), ops: op(t), in: []inSpec{in(dt, genZeros, 3, 4, 4, 2)},
				fn: func(xs []*graph.Node) *graph.Node { return fn(xs[0], graph.ZerosLike(xs[0])) }, grad: true})
			add(confCase{name: fmt.Sprintf("%s/%s/relu-scalar", t, dt), ops: op(t), in: []inSpec{in(dt, genZeros, 3, 4, 4, 2)},
				fn: func(xs []*graph.Node) *graph.Node { return fn(xs[0], graph.ScalarZero(xs[0].Graph(), dt)) }, grad: true})
		}
	}

	// Comparisons and logic.
	cmps := []struct {
		t  backends.OpType
		fn func(a, b *graph.Node) *graph.Node
	}{
		{backends.OpTypeEqual, graph.Equal}, {backends.OpTypeGreaterOrEqual, graph.GreaterOrEqual},
		{backends.OpTypeGreaterThan, graph.GreaterThan}, {backends.OpTypeLessThan, graph.LessThan},
	}
	for _, c := range cmps {
		for _, dt := range []dtypes.DType{f32, f64, i32, i64} {
			for _, sh := range [][2][]int{{{4, 6}, {4, 6}}, {{2, 3, 5}, {1, 3, 1}}, {{5}, {}}} {
				add(confCase{name: fmt.Sprintf("%s/%s%v%v", c.t, dt, sh[0], sh[1]), ops: op(c.t),
					in: []inSpec{in(dt, genSmallInt, sh[0]...), in(dt, genSmallInt, sh[1]...)},
					fn: func(xs []*graph.Node) *graph.Node { return c.fn(xs[0], xs[1]) }})
			}
		}
	}
	for _, sh := range [][2][]int{{{4, 6}, {4, 6}}, {{3, 5}, {1, 5}}, {{}, {}}} {
		add(confCase{name: fmt.Sprintf("LogicalAnd/%v%v", sh[0], sh[1]), ops: op(backends.OpTypeLogicalAnd),
			in: []inSpec{in(bln, genBool, sh[0]...), in(bln, genBool, sh[1]...)},
			fn: func(xs []*graph.Node) *graph.Node { return graph.LogicalAnd(xs[0], xs[1]) }})
		add(confCase{name: fmt.Sprintf("LogicalOr/%v%v", sh[0], sh[1]), ops: op(backends.OpTypeLogicalOr),
			in: []inSpec{in(bln, genBool, sh[0]...), in(bln, genBool, sh[1]...)},
			fn: func(xs []*graph.Node) *graph.Node { return graph.LogicalOr(xs[0], xs[1]) }})
		add(confCase{name: fmt.Sprintf("LogicalNot/%v", sh[0]), ops: op(backends.OpTypeLogicalNot),
			in: []inSpec{in(bln, genBool, sh[0]...)},
			fn: func(xs []*graph.Node) *graph.Node { return graph.LogicalNot(xs[0]) }})
	}
	for _, dt := range floats {
		for _, dims := range [][]int{{4, 6}, {2, 3, 3, 2}, {1}} {
			add(confCase{name: fmt.Sprintf("Where/%s%v", dt, dims), ops: op(backends.OpTypeWhere),
				in: []inSpec{in(bln, genBool, dims...), in(dt, genNormal, dims...), in(dt, genNormal, dims...)},
				fn: func(xs []*graph.Node) *graph.Node { return graph.Where(xs[0], xs[1], xs[2]) }, grad: true})
		}
		add(confCase{name: fmt.Sprintf("Where/%s/scalar-branch", dt), ops: op(backends.OpTypeWhere),
			in: []inSpec{in(bln, genBool, 3, 5), in(dt, genNormal, 3, 5)},
			fn: func(xs []*graph.Node) *graph.Node {
				return graph.Where(xs[0], xs[1], graph.ScalarZero(xs[1].Graph(), xs[1].DType()))
			}, grad: true})
	}
	for _, dt := range floats {
		add(confCase{name: fmt.Sprintf("Where/%s/scalar-true-branch", dt), ops: op(backends.OpTypeWhere),
			in: []inSpec{in(bln, genBool, 2, 7, 3), in(dt, genNormal, 2, 7, 3)},
			fn: func(xs []*graph.Node) *graph.Node {
				return graph.Where(xs[0], graph.Scalar(xs[1].Graph(), xs[1].DType(), 1.5), xs[1])
			}, grad: true})
		add(confCase{name: fmt.Sprintf("Where/%s/scalar-condition", dt), ops: op(backends.OpTypeWhere),
			in: []inSpec{in(bln, genBool), in(dt, genNormal, 4, 3), in(dt, genNormal, 4, 3)},
			fn: func(xs []*graph.Node) *graph.Node { return graph.Where(xs[0], xs[1], xs[2]) }, grad: true})
	}
	add(confCase{name: "Where/int32", ops: op(backends.OpTypeWhere),
		in: []inSpec{in(bln, genBool, 4, 5), in(i32, genSmallInt, 4, 5), in(i32, genNonZero, 4, 5)},
		fn: func(xs []*graph.Node) *graph.Node { return graph.Where(xs[0], xs[1], xs[2]) }})

	// Reductions and arg-max/min.
	for _, dt := range floats {
		for _, r := range []struct {
			dims []int
			axes []int
		}{{[]int{4, 6, 6, 5}, []int{0, 1, 2}}, {[]int{3, 7}, []int{1}}, {[]int{3, 7}, []int{0}}, {[]int{2, 1, 5}, nil},
			{[]int{5, 3, 2}, []int{0, 2}}, {[]int{4, 1, 6, 1, 5}, []int{0, 2}}, {[]int{3, 4, 1}, []int{1}}} {
			add(confCase{name: fmt.Sprintf("ReduceSum/%s%v%v", dt, r.dims, r.axes), ops: op(backends.OpTypeReduceSum),
				in: []inSpec{in(dt, genNormal, r.dims...)},
				fn: func(xs []*graph.Node) *graph.Node { return graph.ReduceSum(xs[0], r.axes...) }, grad: true})
			for _, g := range []gen{genNormal, genSmallInt} {
				add(confCase{name: fmt.Sprintf("ReduceMax/%s/gen%d%v%v", dt, g, r.dims, r.axes), ops: op(backends.OpTypeReduceMax),
					in: []inSpec{in(dt, g, r.dims...)},
					fn: func(xs []*graph.Node) *graph.Node { return graph.ReduceMax(xs[0], r.axes...) }, grad: true})
			}
		}
		for _, axis := range []int{0, 1, -1} {
			for _, g := range []gen{genNormal, genSmallInt} {
				add(confCase{name: fmt.Sprintf("ArgMax/%s/gen%d/axis%d", dt, g, axis), ops: op(backends.OpTypeArgMinMax),
					in: []inSpec{in(dt, g, 4, 7, 3)},
					fn: func(xs []*graph.Node) *graph.Node { return graph.ArgMax(xs[0], axis, dtypes.Int32) }})
				add(confCase{name: fmt.Sprintf("ArgMin/%s/gen%d/axis%d", dt, g, axis), ops: op(backends.OpTypeArgMinMax),
					in: []inSpec{in(dt, g, 4, 7, 3)},
					fn: func(xs []*graph.Node) *graph.Node { return graph.ArgMin(xs[0], axis, dtypes.Int32) }})
			}
		}
	}

	// Matrix products: matmuls (odd sizes, size-1 axes, sizes past the GEMM's blocks),
	// transposed operands, batch axes, vectors.
	dots := []struct {
		name   string
		l, r   []int
		lc, lb []int
		rc, rb []int
	}{
		{"matmul", []int{5, 7}, []int{7, 3}, []int{1}, nil, []int{0}, nil},
		{"matmul-k1", []int{6, 1}, []int{1, 4}, []int{1}, nil, []int{0}, nil},
		{"matmul-m1", []int{1, 9}, []int{9, 5}, []int{1}, nil, []int{0}, nil},
		{"matmul-big", []int{67, 263}, []int{263, 70}, []int{1}, nil, []int{0}, nil},
		{"lhsT", []int{7, 5}, []int{7, 3}, []int{0}, nil, []int{0}, nil},
		{"rhsT", []int{5, 7}, []int{3, 7}, []int{1}, nil, []int{1}, nil},
		{"batched", []int{3, 4, 6}, []int{3, 6, 5}, []int{2}, []int{0}, []int{1}, []int{0}},
		{"batched-mid", []int{4, 3, 6}, []int{6, 3, 5}, []int{2}, []int{1}, []int{0}, []int{1}},
		{"vector", []int{9}, []int{9}, []int{0}, nil, []int{0}, nil},
		{"two-contracting", []int{2, 3, 4}, []int{3, 4, 5}, []int{1, 2}, nil, []int{0, 1}, nil},
	}
	for _, d := range dots {
		for _, dt := range floats {
			fn := func(xs []*graph.Node) *graph.Node { return graph.DotGeneral(xs[0], d.lc, d.lb, xs[1], d.rc, d.rb) }
			ins := []inSpec{in(dt, genNormal, d.l...), in(dt, genNormal, d.r...)}
			add(confCase{name: fmt.Sprintf("DotGeneral/%s/%s", d.name, dt), ops: op(backends.OpTypeDotGeneral), in: ins, fn: fn, grad: true})
		}
	}
	// The engine's matmul gradient (both pure-Go backends) against GoMLX's gradient of
	// the same product written as broadcast Mul + ReduceSum, on the stock backend.
	for _, d := range []struct{ m, k, n int }{{5, 7, 3}, {1, 4, 6}, {8, 1, 2}, {17, 33, 9}} {
		for _, dt := range floats {
			add(confCase{name: fmt.Sprintf("DotGeneral/vs-mul-reduce/%dx%dx%d/%s", d.m, d.k, d.n, dt), ops: op(backends.OpTypeDotGeneral),
				in: []inSpec{in(dt, genNormal, d.m, d.k), in(dt, genNormal, d.k, d.n)},
				fn: func(xs []*graph.Node) *graph.Node {
					return graph.DotGeneral(xs[0], []int{1}, nil, xs[1], []int{0}, nil)
				},
				ref:   refStockAltFn,
				refFn: mulReduceMatmul, grad: true})
		}
	}

	// Convolutions as the project builds them (engine.Conv2D: NHWC, symmetric padding,
	// one stride): ConvGeneral on goacl, im2col graph ops on the stock backend.
	for _, c := range []struct{ n, h, w, cin, cout, k, s, p int }{
		{2, 7, 7, 3, 5, 3, 1, 1}, {3, 8, 8, 4, 6, 3, 2, 1}, {2, 9, 9, 3, 4, 1, 2, 0},
		{1, 5, 6, 1, 1, 3, 1, 0}, {2, 6, 6, 5, 3, 3, 2, 0}, {1, 4, 4, 2, 3, 3, 1, 2}, {2, 11, 11, 3, 8, 3, 2, 1},
	} {
		for _, dt := range floats {
			name := fmt.Sprintf("ConvGeneral/Conv2D/%s/n%d-%dx%d-c%d-f%d-k%d-s%d-p%d", dt, c.n, c.h, c.w, c.cin, c.cout, c.k, c.s, c.p)
			ins := []inSpec{in(dt, genNormal, c.n, c.h, c.w, c.cin), in(dt, genNormal, c.k, c.k, c.cin, c.cout)}
			fn := func(xs []*graph.Node) *graph.Node { return engine.Conv2D(xs[0], xs[1], c.s, c.p) }
			add(confCase{name: name + "/values", ops: op(backends.OpTypeConvGeneral), in: ins, fn: fn})
			// The gradient of the im2col lowering needs Pad (Slice's gradient), which the
			// stock backend lacks: gradients are compared with the lowering on goacl with
			// simplego's executors (Slice/Concatenate/DotGeneral and their gradients).
			add(confCase{name: name + "/grad-vs-im2col", ops: op(backends.OpTypeConvGeneral), in: ins, fn: fn, grad: true, ref: refSimplegoK})
		}
	}
	// General convolutions the fast kernel also handles: asymmetric padding, kernel and
	// input dilations, non-square kernels. Values against the stock backend (dilated ones:
	// see below); gradients against goacl with simplego's own executors (the stock
	// backend lacks Reverse).
	general := []struct {
		name string
		x, k []int
		fn   func(x, k *graph.Node) *graph.Node
		grad bool // GoMLX defines no gradient for input dilation, nor for some asymmetric paddings
	}{
		{"asym-pad-strided", []int{2, 7, 6, 3}, []int{3, 2, 3, 4}, func(x, k *graph.Node) *graph.Node {
			return graph.Convolve(x, k).StridePerAxis(1, 2).PaddingPerDim([][2]int{{0, 2}, {1, 0}}).Done()
		}, false},
		{"asym-pad", []int{2, 7, 6, 3}, []int{3, 3, 3, 4}, func(x, k *graph.Node) *graph.Node {
			return graph.Convolve(x, k).StridePerAxis(1, 1).PaddingPerDim([][2]int{{0, 2}, {1, 2}}).Done()
		}, true},
		{"kernel-dilation", []int{1, 9, 9, 2}, []int{3, 3, 2, 3}, func(x, k *graph.Node) *graph.Node {
			return graph.Convolve(x, k).StridePerAxis(1, 1).DilationPerAxis(2, 1).PaddingPerDim([][2]int{{2, 2}, {1, 1}}).Done()
		}, true},
		{"input-dilation", []int{2, 4, 5, 3}, []int{2, 2, 3, 2}, func(x, k *graph.Node) *graph.Node {
			return graph.Convolve(x, k).StridePerAxis(1, 1).InputDilationPerAxis(2, 2).PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done()
		}, false},
	}
	for _, c := range general {
		for _, dt := range floats {
			ins := []inSpec{in(dt, genNormal, c.x...), in(dt, genNormal, c.k...)}
			fn := func(xs []*graph.Node) *graph.Node { return c.fn(xs[0], xs[1]) }
			// Stock simplego's convolution indexes the dilations GoMLX leaves nil (one of the
			// defects goacl repairs) and crashes: dilated cases compare with goacl's
			// simplego executors instead.
			ref := refStock
			if strings.Contains(c.name, "dilation") {
				ref = refSimplegoK
			}
			add(confCase{name: fmt.Sprintf("ConvGeneral/%s/%s/values", c.name, dt), ops: op(backends.OpTypeConvGeneral), in: ins, fn: fn, ref: ref})
			if c.grad {
				add(confCase{name: fmt.Sprintf("ConvGeneral/%s/%s/grad-vs-simplego-kernels", c.name, dt), ops: op(backends.OpTypeConvGeneral),
					in: ins, fn: fn, grad: true, ref: refSimplegoK})
			}
		}
	}

	// Layout ops.
	for _, dt := range floats {
		for _, p := range []struct {
			dims, perm []int
		}{{[]int{2, 3, 4}, []int{2, 0, 1}}, {[]int{5, 7}, []int{1, 0}}, {[]int{2, 3, 1, 4}, []int{0, 2, 3, 1}}} {
			add(confCase{name: fmt.Sprintf("Transpose/%s%v%v", dt, p.dims, p.perm), ops: op(backends.OpTypeTranspose),
				in: []inSpec{in(dt, genNormal, p.dims...)},
				fn: func(xs []*graph.Node) *graph.Node { return graph.TransposeAllAxes(xs[0], p.perm...) }, grad: true})
		}
		for _, to := range [][]int{{6, 4}, {24}, {1, 2, 1, 12}} {
			add(confCase{name: fmt.Sprintf("Reshape/%s%v", dt, to), ops: op(backends.OpTypeReshape),
				in: []inSpec{in(dt, genNormal, 2, 3, 4)},
				fn: func(xs []*graph.Node) *graph.Node { return graph.Reshape(xs[0], to...) }, grad: true})
		}
		add(confCase{name: "BroadcastInDim/toDims/" + dt.String(), ops: op(backends.OpTypeBroadcastInDim),
			in: []inSpec{in(dt, genNormal, 1, 5)},
			fn: func(xs []*graph.Node) *graph.Node { return graph.BroadcastToDims(xs[0], 4, 5) }, grad: true})
		add(confCase{name: "BroadcastInDim/prefix/" + dt.String(), ops: op(backends.OpTypeBroadcastInDim),
			in: []inSpec{in(dt, genNormal, 3, 2)},
			fn: func(xs []*graph.Node) *graph.Node { return graph.BroadcastPrefix(xs[0], 2, 1) }, grad: true})
		add(confCase{name: "BroadcastInDim/expand/" + dt.String(), ops: op(backends.OpTypeBroadcastInDim),
			in: []inSpec{in(dt, genNormal, 5)},
			fn: func(xs []*graph.Node) *graph.Node {
				return graph.ExpandAndBroadcast(xs[0], []int{3, 5, 2}, []int{0, 2})
			}, grad: true})
		for _, bc := range []struct{ from, to []int }{
			{[]int{1, 1, 1, 5}, []int{4, 6, 6, 5}}, {[]int{4, 1, 1, 1}, []int{4, 6, 6, 5}},
			{[]int{1, 6, 1, 5}, []int{4, 6, 7, 5}}, {[]int{3, 1, 7}, []int{3, 9, 7}}, {[]int{1}, []int{2, 3, 4}},
		} {
			add(confCase{name: fmt.Sprintf("BroadcastInDim/%s%v-%v", dt, bc.from, bc.to), ops: op(backends.OpTypeBroadcastInDim),
				in: []inSpec{in(dt, genNormal, bc.from...)},
				fn: func(xs []*graph.Node) *graph.Node {
					x := xs[0]
					if x.Rank() != len(bc.to) {
						x = graph.Reshape(x)
						for x.Rank() < len(bc.to) {
							x = graph.InsertAxes(x, 0)
						}
					}
					return graph.BroadcastToDims(x, bc.to...)
				}, grad: true})
		}
		add(confCase{name: "BroadcastInDim/scalar/" + dt.String(), ops: op(backends.OpTypeBroadcastInDim),
			in: []inSpec{in(dt, genNormal)},
			fn: func(xs []*graph.Node) *graph.Node { return graph.BroadcastToDims(xs[0], 2, 3) }, grad: true})
		for _, c := range []struct {
			axis  int
			parts [][]int
		}{{0, [][]int{{2, 3}, {1, 3}, {4, 3}}}, {1, [][]int{{2, 1, 4}, {2, 3, 4}}}, {-1, [][]int{{2, 3, 1}, {2, 3, 5}, {2, 3, 1}}}} {
			var ins []inSpec
			for _, p := range c.parts {
				ins = append(ins, in(dt, genNormal, p...))
			}
			add(confCase{name: fmt.Sprintf("Concatenate/%s/axis%d", dt, c.axis), ops: op(backends.OpTypeConcatenate), in: ins,
				fn: func(xs []*graph.Node) *graph.Node { return graph.Concatenate(xs, c.axis) }, grad: true})
		}
	}
	slicesCases := []struct {
		name  string
		dims  []int
		specs []sliceSpec // per axis: start, end, stride
	}{
		{"range", []int{5, 6}, []sliceSpec{{1, 4, 1}, {0, 6, 1}}},
		{"strided", []int{2, 9, 9, 3}, []sliceSpec{{0, 2, 1}, {1, 8, 2}, {2, 9, 3}, {0, 3, 1}}},
		{"elem", []int{4, 5, 3}, []sliceSpec{{3, 4, 1}, {0, 5, 2}, {1, 2, 1}}},
	}
	for _, s := range slicesCases {
		for _, dt := range floats {
			fn := func(xs []*graph.Node) *graph.Node {
				var specs []graph.SliceAxisSpec
				for _, a := range s.specs {
					specs = append(specs, graph.AxisRange(a.start, a.end).Stride(a.stride))
				}
				return graph.Slice(xs[0], specs...)
			}
			ins := []inSpec{in(dt, genNormal, s.dims...)}
			add(confCase{name: fmt.Sprintf("Slice/%s/%s/values", s.name, dt), ops: op(backends.OpTypeSlice), in: ins, fn: fn})
			add(confCase{name: fmt.Sprintf("Slice/%s/%s/grad-vs-go", s.name, dt), ops: op(backends.OpTypeSlice), in: ins, fn: fn,
				grad: true, ref: refGoFunc, goRef: func(xs [][]float64, w []float64) ([]float64, [][]float64) {
					return sliceRef(xs[0], s.dims, s.specs, w)
				}})
		}
	}

	add(confCase{name: "Slice/int32/values", ops: op(backends.OpTypeSlice), in: []inSpec{in(i32, genSmallInt, 4, 6, 5)},
		fn: func(xs []*graph.Node) *graph.Node {
			return graph.Slice(xs[0], graph.AxisRange(1, 3), graph.AxisRange(0, 6).Stride(2), graph.AxisRange())
		}})
	for _, dt := range floats {
		add(confCase{name: "Slice/kernel-taps/" + dt.String(), ops: op(backends.OpTypeSlice), in: []inSpec{in(dt, genNormal, 3, 3, 4, 6)},
			fn: func(xs []*graph.Node) *graph.Node {
				var taps []*graph.Node
				for i := 2; i >= 0; i-- {
					taps = append(taps, graph.Slice(xs[0], graph.AxisRange(i, i+1), graph.AxisRange(), graph.AxisRange(), graph.AxisRange()))
				}
				return graph.Concatenate(taps, 0)
			}})
	}

	// Goacl's composite Reverse and Pad (stock simplego has neither): against Go.
	for _, r := range []struct {
		dims, axes []int
	}{{[]int{3, 3, 2, 4}, []int{0, 1}}, {[]int{5}, []int{0}}, {[]int{2, 1, 4}, []int{1, 2}}} {
		for _, dt := range floats {
			add(confCase{name: fmt.Sprintf("Reverse/%s%v%v", dt, r.dims, r.axes), in: []inSpec{in(dt, genNormal, r.dims...)},
				fn:   func(xs []*graph.Node) *graph.Node { return graph.Reverse(xs[0], r.axes...) },
				grad: true, ref: refGoFunc, goRef: func(xs [][]float64, w []float64) ([]float64, [][]float64) {
					return reverseRef(xs[0], r.dims, r.axes, w)
				}})
		}
	}
	for _, p := range []struct {
		dims []int
		cfg  []backends.PadAxis
	}{
		{[]int{2, 3}, []backends.PadAxis{{Start: 1, End: 2}, {Start: 0, End: 1}}},
		{[]int{2, 4, 3}, []backends.PadAxis{{}, {Start: -1, End: 2, Interior: 1}, {Start: 2, End: -1, Interior: 2}}},
		{[]int{1, 5}, []backends.PadAxis{{Start: 0, End: 0, Interior: 3}, {Start: -2, End: -1}}},
	} {
		for _, dt := range floats {
			add(confCase{name: fmt.Sprintf("Pad/%s%v%v", dt, p.dims, p.cfg), in: []inSpec{in(dt, genNormal, p.dims...)},
				fn: func(xs []*graph.Node) *graph.Node {
					return graph.Pad(xs[0], graph.Scalar(xs[0].Graph(), xs[0].DType(), -0.5), p.cfg...)
				}, ref: refGoFunc, goRef: func(xs [][]float64, _ []float64) ([]float64, [][]float64) {
					return padRef(xs[0], p.dims, p.cfg, -0.5), nil
				}})
		}
	}

	// Type conversion, constants, iota, identity, random bits.
	convs := []struct{ from, to dtypes.DType }{{f32, f64}, {f64, f32}, {bln, f32}, {i32, f32}, {f32, i32}, {f64, i32}, {i64, f32}, {i32, i64}}
	for _, c := range convs {
		g := genNormal
		switch c.from {
		case bln:
			g = genBool
		case i32, i64:
			g = genNonZero
		}
		add(confCase{name: fmt.Sprintf("ConvertDType/%s-%s", c.from, c.to), ops: op(backends.OpTypeConvertDType),
			in:   []inSpec{in(c.from, g, 3, 4)},
			fn:   func(xs []*graph.Node) *graph.Node { return graph.ConvertDType(xs[0], c.to) },
			grad: c.from.IsFloat() && c.to.IsFloat() && c.from != c.to})
	}
	for _, dt := range floats {
		add(confCase{name: "Constant/" + dt.String(), ops: op(backends.OpTypeConstant, backends.OpTypeParameter), in: []inSpec{in(dt, genNormal, 2, 3)},
			fn: func(xs []*graph.Node) *graph.Node {
				return graph.Mul(xs[0], graph.ConstAsDType(xs[0].Graph(), dt, [][]float64{{1, -2, 3.5}, {0.25, 0, -1}}))
			}, grad: true})
		// graph.Identity has no gradient in GoMLX; StopGradient is an Identity with a zero one.
		add(confCase{name: "Identity/" + dt.String(), ops: op(backends.OpTypeIdentity), in: []inSpec{in(dt, genNormal, 2, 3), in(dt, genNormal, 2, 3)},
			fn: func(xs []*graph.Node) *graph.Node { return graph.Add(graph.Identity(xs[0]), xs[1]) }})
		add(confCase{name: "Identity/StopGradient/" + dt.String(), ops: op(backends.OpTypeIdentity), in: []inSpec{in(dt, genNormal, 2, 3), in(dt, genNormal, 2, 3)},
			fn: func(xs []*graph.Node) *graph.Node {
				return graph.Add(graph.Mul(xs[0], xs[1]), graph.StopGradient(graph.Mul(xs[1], xs[1])))
			}, grad: true})
		for _, s := range []struct {
			dims []int
			axis int
		}{{[]int{3, 4}, 0}, {[]int{2, 3, 5}, 2}} {
			add(confCase{name: fmt.Sprintf("Iota/%s%v/%d", dt, s.dims, s.axis), ops: op(backends.OpTypeIota), in: []inSpec{in(dt, genNormal, s.dims...)},
				fn: func(xs []*graph.Node) *graph.Node {
					return graph.Mul(xs[0], graph.Iota(xs[0].Graph(), shapes.Make(dt, s.dims...), s.axis))
				}, grad: true})
		}
		add(confCase{name: "RNGBitGenerator/uniform/" + dt.String(), ops: op(backends.OpTypeRNGBitGenerator), in: []inSpec{in(dt, genNormal, 4, 6)},
			fn: func(xs []*graph.Node) *graph.Node {
				_, u := graph.RandomUniform(graph.Const(xs[0].Graph(), []uint64{1, 2, 3}), xs[0].Shape())
				return graph.Add(xs[0], u)
			}, grad: true})
		add(confCase{name: "RNGBitGenerator/normal/" + dt.String(), ops: op(backends.OpTypeRNGBitGenerator), in: []inSpec{in(dt, genNormal, 5, 3)},
			fn: func(xs []*graph.Node) *graph.Node {
				_, u := graph.RandomNormal(graph.Const(xs[0].Graph(), []uint64{7, 0, 99}), xs[0].Shape())
				return graph.Mul(xs[0], u)
			}, grad: true})
	}
	for _, dt := range []dtypes.DType{i32, i64} {
		add(confCase{name: "Iota/" + dt.String(), ops: op(backends.OpTypeIota), in: []inSpec{in(dt, genSmallInt, 4, 3)},
			fn: func(xs []*graph.Node) *graph.Node {
				return graph.Add(xs[0], graph.Iota(xs[0].Graph(), shapes.Make(dt, 4, 3), 1))
			}})
	}
	return cs
}

type sliceSpec struct{ start, end, stride int }

// mulReduceMatmul is a [m,k]·[k,n] product as InsertAxes + Mul + ReduceSum.
func mulReduceMatmul(xs []*graph.Node) *graph.Node {
	a, b := xs[0], xs[1]
	m, k, n := a.Shape().Dimensions[0], a.Shape().Dimensions[1], b.Shape().Dimensions[1]
	a3 := graph.BroadcastToDims(graph.InsertAxes(a, -1), m, k, n)
	b3 := graph.BroadcastToDims(graph.InsertAxes(b, 0), m, k, n)
	return graph.ReduceSum(graph.Mul(a3, b3), 1)
}

// forEachIndex calls fn with every multi-index of dims, in row-major order.
func forEachIndex(dims []int, fn func(idx []int)) {
	idx := make([]int, len(dims))
	for _, d := range dims {
		if d == 0 {
			return
		}
	}
	for {
		fn(idx)
		a := len(dims) - 1
		for a >= 0 {
			idx[a]++
			if idx[a] < dims[a] {
				break
			}
			idx[a] = 0
			a--
		}
		if a < 0 {
			return
		}
	}
}

func flatIndex(dims, idx []int) int {
	f := 0
	for a, d := range dims {
		f = f*d + idx[a]
	}
	return f
}

func sliceRef(x []float64, dims []int, specs []sliceSpec, w []float64) ([]float64, [][]float64) {
	out := make([]int, len(dims))
	for a, s := range specs {
		out[a] = (s.end - s.start + s.stride - 1) / s.stride
	}
	var vals []float64
	grad := make([]float64, len(x))
	src := make([]int, len(dims))
	forEachIndex(out, func(idx []int) {
		for a, s := range specs {
			src[a] = s.start + idx[a]*s.stride
		}
		vals = append(vals, x[flatIndex(dims, src)])
		if w != nil {
			grad[flatIndex(dims, src)] += w[flatIndex(out, idx)]
		}
	})
	return vals, [][]float64{grad}
}

func reverseRef(x []float64, dims, axes []int, w []float64) ([]float64, [][]float64) {
	vals := make([]float64, len(x))
	grad := make([]float64, len(x))
	src := make([]int, len(dims))
	forEachIndex(dims, func(idx []int) {
		copy(src, idx)
		for _, a := range axes {
			src[a] = dims[a] - 1 - idx[a]
		}
		vals[flatIndex(dims, idx)] = x[flatIndex(dims, src)]
		if w != nil {
			grad[flatIndex(dims, src)] = w[flatIndex(dims, idx)]
		}
	})
	return vals, [][]float64{grad}
}

// padRef is XLA's Pad: input element i of an axis lands at Start + i·(Interior+1);
// negative Start/End crop.
func padRef(x []float64, dims []int, cfg []backends.PadAxis, fill float64) []float64 {
	out := make([]int, len(dims))
	for a, d := range dims {
		out[a] = d + cfg[a].Start + cfg[a].End + max(d-1, 0)*cfg[a].Interior
	}
	n := 1
	for _, d := range out {
		n *= d
	}
	vals := make([]float64, n)
	for i := range vals {
		vals[i] = fill
	}
	dst := make([]int, len(dims))
	forEachIndex(dims, func(idx []int) {
		for a := range dims {
			dst[a] = cfg[a].Start + idx[a]*(cfg[a].Interior+1)
			if dst[a] < 0 || dst[a] >= out[a] {
				return
			}
		}
		vals[flatIndex(out, dst)] = x[flatIndex(dims, idx)]
	})
	return vals
}

// randomTensor draws a tensor of spec s.
func randomTensor(rng *rand.Rand, s inSpec) (*tensors.Tensor, []float64) {
	n := 1
	for _, d := range s.dims {
		n *= d
	}
	vals := make([]float64, n)
	for i := range vals {
		switch s.gen {
		case genNormal:
			vals[i] = rng.NormFloat64()
		case genPositive:
			vals[i] = 0.5 + 2*rng.Float64()
		case genSmallInt:
			vals[i] = float64(rng.IntN(5) - 2)
		case genZeros:
			if rng.IntN(3) > 0 {
				vals[i] = rng.NormFloat64()
			}
		case genNonZero:
			vals[i] = float64(rng.IntN(5) + 1)
			if rng.IntN(2) == 0 {
				vals[i] = -vals[i]
			}
		case genBool:
			vals[i] = float64(rng.IntN(2))
		}
	}
	var t *tensors.Tensor
	switch s.dtype {
	case f32:
		t = tensors.FromFlatDataAndDimensions(conv[float32](vals), s.dims...)
	case f64:
		t = tensors.FromFlatDataAndDimensions(slices.Clone(vals), s.dims...)
	case i32:
		t = tensors.FromFlatDataAndDimensions(conv[int32](vals), s.dims...)
	case i64:
		t = tensors.FromFlatDataAndDimensions(conv[int64](vals), s.dims...)
	case bln:
		b := make([]bool, n)
		for i, v := range vals {
			b[i] = v != 0
		}
		t = tensors.FromFlatDataAndDimensions(b, s.dims...)
	default:
		panic("conformance: unsupported input dtype " + s.dtype.String())
	}
	if s.dtype == f32 { // the reference sees the float32-rounded values
		for i, v := range conv[float32](vals) {
			vals[i] = float64(v)
		}
	}
	return t, vals
}

func conv[T float32 | int32 | int64](v []float64) []T {
	out := make([]T, len(v))
	for i, x := range v {
		out[i] = T(x)
	}
	return out
}

// toFloats copies any numeric or bool tensor into float64s.
func toFloats(t *tensors.Tensor) ([]float64, error) {
	var out []float64
	err := t.ConstFlatData(func(flat any) {
		switch f := flat.(type) {
		case []float32:
			for _, v := range f {
				out = append(out, float64(v))
			}
		case []float64:
			out = slices.Clone(f)
		case []int32:
			for _, v := range f {
				out = append(out, float64(v))
			}
		case []int64:
			for _, v := range f {
				out = append(out, float64(v))
			}
		case []bool:
			for _, v := range f {
				if v {
					out = append(out, 1)
				} else {
					out = append(out, 0)
				}
			}
		}
	})
	if err == nil && out == nil && t.Shape().Size() > 0 {
		err = fmt.Errorf("unsupported dtype %s", t.DType())
	}
	return out, err
}

// caseResult holds a case's output and gradients (flat, as float64) on one backend, and
// its shape.
type caseResult struct {
	shape shapes.Shape
	vals  [][]float64 // [0]: output; [1+i]: gradient w.r.t. the i-th float input
	ops   map[backends.OpType]bool
}

// gradInputs are the indices of the float inputs of c.
func gradInputs(c *confCase) []int {
	var idx []int
	for i, s := range c.in {
		if s.dtype.IsFloat() {
			idx = append(idx, i)
		}
	}
	return idx
}

// runCase executes fn (with the gradients of sum(w·out) when grad) on backend.
func runCase(b backends.Backend, c *confCase, fn func(xs []*graph.Node) *graph.Node, inputs []*tensors.Tensor, w *tensors.Tensor) (res caseResult, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	nIn := len(c.in)
	e, err := graph.NewExec(b, func(xs []*graph.Node) []*graph.Node {
		out := fn(xs[:nIn])
		if !c.grad {
			return []*graph.Node{out}
		}
		loss := graph.ReduceAllSum(graph.Mul(out, xs[nIn]))
		var wrt []*graph.Node
		for _, i := range gradInputs(c) {
			wrt = append(wrt, xs[i])
		}
		return append([]*graph.Node{out}, graph.Gradient(loss, wrt...)...)
	})
	if err != nil {
		return res, err
	}
	defer e.Finalize()
	args := make([]any, 0, nIn+1)
	for _, x := range inputs {
		cl, err := x.LocalClone()
		if err != nil {
			return res, err
		}
		args = append(args, cl)
	}
	if c.grad {
		cl, err := w.LocalClone()
		if err != nil {
			return res, err
		}
		args = append(args, cl)
	}
	outs, err := e.Exec(args...)
	if err != nil {
		return res, err
	}
	res.shape = outs[0].Shape()
	for _, o := range outs {
		v, err := toFloats(o)
		if err != nil {
			return res, err
		}
		res.vals = append(res.vals, v)
	}
	if optraceable(b) {
		gs, err := optrace.GraphExecGraphs(e)
		if err != nil {
			return res, err
		}
		res.ops = map[backends.OpType]bool{}
		for _, g := range gs {
			ops, err := optrace.GraphOps(g, false)
			if err != nil {
				return res, err
			}
			for _, o := range ops {
				res.ops[o.Type] = true
			}
		}
	}
	return res, nil
}

func optraceable(b backends.Backend) bool { return engine.FastKernels(b) }

// confBackends are the backends compared: goacl (fast kernels), the stock simplego and
// goacl with simplego's own executors.
type confBackends struct{ goacl, stock, simplegoK backends.Backend }

func newConfBackends(t *testing.T) confBackends {
	t.Helper()
	var bs confBackends
	var err error
	if bs.goacl, err = engine.NewWithConfig(engine.PureGoName); err != nil {
		t.Fatal(err)
	}
	if !engine.FastKernels(bs.goacl) {
		t.Fatalf("goacl runs without its fast kernels: %v", engine.KernelsStatus())
	}
	if bs.stock, err = engine.NewWithConfig("go:parallelism=-1"); err != nil {
		t.Fatal(err)
	}
	if bs.simplegoK, err = engine.NewWithConfig(engine.PureGoName + ":kernels=simplego"); err != nil {
		t.Fatal(err)
	}
	return bs
}

func confTolerance(dt dtypes.DType) float64 {
	switch dt {
	case f32:
		return 2e-5
	case f64:
		return 1e-12
	}
	return 0
}

// compareValues checks got against want: within rel·max|want| for floats, exactly
// otherwise.
func compareValues(got, want []float64, rel float64) (string, bool) {
	if len(got) != len(want) {
		return fmt.Sprintf("%d values, reference has %d", len(got), len(want)), false
	}
	scale := 0.0
	for _, v := range want {
		scale = math.Max(scale, math.Abs(v))
	}
	worst, at := 0.0, -1
	for i := range got {
		d := math.Abs(got[i] - want[i])
		if math.IsNaN(got[i]) != math.IsNaN(want[i]) || d > worst || (math.IsNaN(d) && !math.IsNaN(want[i])) {
			worst, at = d, i
		}
	}
	if at < 0 || worst <= rel*math.Max(scale, 1e-30) || (math.IsNaN(got[at]) && math.IsNaN(want[at])) {
		return "", true
	}
	return fmt.Sprintf("max |goacl − ref| = %.3g at %d (goacl %.9g, ref %.9g; scale %.3g, tolerance %.3g)",
		worst, at, got[at], want[at], scale, rel*scale), false
}

// checkCase runs c on goacl and its reference and reports differences.
func checkCase(t *testing.T, bs confBackends, c *confCase, seed uint64) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0xc0ffee))
	inputs := make([]*tensors.Tensor, len(c.in))
	flat := make([][]float64, len(c.in))
	for i, s := range c.in {
		inputs[i], flat[i] = randomTensor(rng, s)
	}
	// Shape and dtype of the output, for the weights of the gradient.
	var w *tensors.Tensor
	var wFlat []float64
	if c.grad {
		probe, err := runCase(bs.goacl, &confCase{in: c.in}, c.fn, inputs, nil)
		if err != nil {
			t.Fatalf("goacl: %v", err)
		}
		w, wFlat = randomTensor(rng, inSpec{dtype: probe.shape.DType, dims: probe.shape.Dimensions, gen: genNormal})
	}
	got, err := runCase(bs.goacl, c, c.fn, inputs, w)
	if err != nil {
		t.Fatalf("goacl: %v", err)
	}
	for _, o := range c.ops {
		if !got.ops[o] {
			t.Errorf("the goacl graph does not emit %s (emitted: %v): the case does not cover it", o, keys(got.ops))
		}
	}
	var want caseResult
	refName := ""
	switch c.ref {
	case refStock:
		refName = "stock go"
		want, err = runCase(bs.stock, c, c.fn, inputs, w)
	case refSimplegoK:
		refName = "goacl:kernels=simplego"
		want, err = runCase(bs.simplegoK, c, c.fn, inputs, w)
	case refStockAltFn:
		refName = "stock go (alternative formulation)"
		want, err = runCase(bs.stock, c, c.refFn, inputs, w)
	case refGoFunc:
		refName = "Go reference"
		out, grads := c.goRef(flat, wFlat)
		want.vals = append([][]float64{out}, grads...)
		want.shape = got.shape
	}
	if err != nil {
		t.Fatalf("%s: %v", refName, err)
	}
	if c.ref != refGoFunc && !got.shape.Equal(want.shape) {
		t.Fatalf("output shape: goacl %s, %s %s", got.shape, refName, want.shape)
	}
	if c.grad && len(want.vals) != len(got.vals) {
		t.Fatalf("%d outputs on goacl, %d on %s", len(got.vals), len(want.vals), refName)
	}
	rel := confTolerance(got.shape.DType)
	if msg, ok := compareValues(got.vals[0], want.vals[0], rel); !ok {
		t.Errorf("output vs %s: %s", refName, msg)
	}
	for i := 1; c.grad && i < len(got.vals); i++ {
		in := c.in[gradInputs(c)[i-1]]
		if msg, ok := compareValues(got.vals[i], want.vals[i], confTolerance(in.dtype)); !ok {
			t.Errorf("gradient w.r.t. input %d vs %s: %s", gradInputs(c)[i-1], refName, msg)
		}
	}
}

func keys(m map[backends.OpType]bool) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k.String())
	}
	slices.Sort(ks)
	return ks
}

// TestConformanceWithStockSimplego runs every case (see conformanceCases).
func TestConformanceWithStockSimplego(t *testing.T) {
	bs := newConfBackends(t)
	start := time.Now()
	cases := conformanceCases()
	for i := range cases {
		c := &cases[i]
		t.Run(c.name, func(t *testing.T) { checkCase(t, bs, c, uint64(i+1)) })
	}
	t.Logf("%d cases in %.1fs", len(cases), time.Since(start).Seconds())
}

// TestConformanceCoversDeclaredOps: the ops the cases cover are exactly optrace.Covered,
// the list the op inventory test (acl/op_inventory_test.go) checks the project's graphs
// against. (Whether each case's goacl graph really emits its ops is checked as it runs.)
func TestConformanceCoversDeclaredOps(t *testing.T) {
	fromCases := map[backends.OpType]bool{}
	for _, c := range conformanceCases() {
		for _, o := range c.ops {
			fromCases[o] = true
		}
	}
	declared := map[backends.OpType]bool{}
	for _, o := range optrace.Covered {
		if declared[o] {
			t.Errorf("optrace.Covered lists %s twice", o)
		}
		declared[o] = true
	}
	var missing, extra []string
	for o := range declared {
		if !fromCases[o] {
			missing = append(missing, o.String())
		}
	}
	for o := range fromCases {
		if !declared[o] {
			extra = append(extra, o.String())
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	if len(missing) > 0 {
		t.Errorf("optrace.Covered lists ops no conformance case covers: %s", strings.Join(missing, ", "))
	}
	if len(extra) > 0 {
		t.Errorf("conformance cases cover ops missing from optrace.Covered: %s", strings.Join(extra, ", "))
	}
}
