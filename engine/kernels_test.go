package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// The fast kernels must compute what simplego's own executors compute: every test here
// runs the same graph on "goacl" (fast kernels) and on "goacl:kernels=simplego" and
// compares, in float64 (to ~1e-12) and float32 (to ~1e-5 of the largest value).

// kernelBackends returns goacl with its fast kernels but without fusion (so that each
// op of a test graph runs its own kernel; fusion_test.go tests fusion) and goacl with
// simplego's executors.
func kernelBackends(t *testing.T) (fast, ref backends.Backend) {
	t.Helper()
	if err := KernelsStatus(); err != nil {
		t.Fatal(err)
	}
	fast, err := NewWithConfig(PureGoName + ":fusion=off")
	if err != nil {
		t.Fatal(err)
	}
	ref, err = NewWithConfig(PureGoName + ":kernels=simplego")
	if err != nil {
		t.Fatal(err)
	}
	if !FastKernels(fast) || FastKernels(ref) {
		t.Fatalf("FastKernels: goacl=%v, goacl:kernels=simplego=%v; want true, false", FastKernels(fast), FastKernels(ref))
	}
	return fast, ref
}

func randomTensor(dtype dtypes.DType, seed uint64, dims ...int) *tensors.Tensor {
	rng := rand.New(rand.NewPCG(seed, 7))
	n := 1
	for _, d := range dims {
		n *= d
	}
	if dtype == dtypes.Float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return tensors.FromFlatDataAndDimensions(v, dims...)
	}
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return tensors.FromFlatDataAndDimensions(v, dims...)
}

// runBoth executes fn on both backends (inputs cloned for each) and returns the outputs as
// float64 slices.
func runBoth(t *testing.T, fast, ref backends.Backend, fn func(xs []*graph.Node) []*graph.Node, inputs ...*tensors.Tensor) (got, want [][]float64) {
	t.Helper()
	run := func(b backends.Backend) [][]float64 {
		e, err := graph.NewExec(b, fn)
		if err != nil {
			t.Fatal(err)
		}
		args := make([]any, len(inputs))
		for i, x := range inputs {
			c, err := x.LocalClone()
			if err != nil {
				t.Fatal(err)
			}
			args[i] = c
		}
		outs, err := e.Exec(args...)
		if err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		res := make([][]float64, len(outs))
		for i, o := range outs {
			if o.DType() == dtypes.Float32 {
				f := tensors.MustCopyFlatData[float32](o)
				res[i] = make([]float64, len(f))
				for j, v := range f {
					res[i][j] = float64(v)
				}
			} else {
				res[i] = tensors.MustCopyFlatData[float64](o)
			}
		}
		return res
	}
	return run(fast), run(ref)
}

// requireClose compares with a tolerance relative to the largest reference value.
func requireClose(t *testing.T, name string, got, want []float64, rel float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", name, len(got), len(want))
	}
	scale := 1e-30
	for _, v := range want {
		scale = math.Max(scale, math.Abs(v))
	}
	d := maxAbsDiff(got, want)
	if !(d <= rel*scale) {
		t.Errorf("%s: max |fast − simplego| = %.3g, scale %.3g (relative %.3g > %.3g)", name, d, scale, d/scale, rel)
	}
}

func tolerance(dtype dtypes.DType) float64 {
	if dtype == dtypes.Float32 {
		return 2e-5
	}
	return 1e-12
}

func TestFastDotGeneralMatchesSimplego(t *testing.T) {
	fast, ref := kernelBackends(t)
	cases := []dotCase{
		{"edges", []int{301, 70}, []int{70, 37}, []int{1}, nil, []int{0}, nil},
		{"NT", []int{200, 50}, []int{30, 50}, []int{1}, nil, []int{1}, nil},
		{"TN", []int{50, 200}, []int{50, 30}, []int{0}, nil, []int{0}, nil},
		{"split-k", []int{2100, 10}, []int{2100, 6}, []int{0}, nil, []int{0}, nil},
		{"wide", []int{5, 64}, []int{64, 700}, []int{1}, nil, []int{0}, nil},
		{"batched", []int{3, 40, 20}, []int{3, 20, 25}, []int{2}, []int{0}, []int{1}, []int{0}},
		{"batch-middle", []int{20, 3, 40}, []int{20, 3, 25}, []int{0}, []int{1}, []int{0}, []int{1}},
		{"two-contracting", []int{4, 5, 6}, []int{5, 6, 7}, []int{1, 2}, nil, []int{0, 1}, nil},
		{"cross-merged", []int{3, 4, 5, 6}, []int{6, 7}, []int{3}, nil, []int{0}, nil},
		{"fallback", []int{3, 4, 2, 2}, []int{2, 4, 3, 5}, []int{1, 0}, []int{3}, []int{1, 2}, []int{0}},
		{"vector", []int{9}, []int{9}, []int{0}, nil, []int{0}, nil},
	}
	for _, dtype := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
		for i, c := range cases {
			l := randomTensor(dtype, uint64(2*i), c.lhsDims...)
			r := randomTensor(dtype, uint64(2*i+1), c.rhsDims...)
			got, want := runBoth(t, fast, ref, func(xs []*graph.Node) []*graph.Node {
				return []*graph.Node{graph.DotGeneral(xs[0], c.lc, c.lb, xs[1], c.rc, c.rb)}
			}, l, r)
			requireClose(t, fmt.Sprintf("%s %s", c.name, dtype), got[0], want[0], tolerance(dtype))
		}
	}
}

type fastConvCase struct {
	n, h, w, c, f, k, stride, pad, dil int
	channelsFirst                      bool
}

func TestFastConvMatchesSimplego(t *testing.T) {
	fast, ref := kernelBackends(t)
	cases := []fastConvCase{
		{2, 6, 6, 3, 4, 3, 1, 1, 1, false},
		{2, 6, 6, 3, 4, 3, 2, 1, 1, false},
		{2, 7, 7, 3, 5, 3, 2, 1, 1, false},
		{2, 6, 6, 3, 4, 1, 2, 0, 1, false},
		{2, 7, 5, 3, 4, 3, 1, 0, 1, false},
		{1, 9, 9, 2, 3, 3, 1, 2, 2, false},
		{2, 6, 6, 3, 4, 3, 2, 1, 1, true},
		{4, 12, 12, 8, 12, 3, 1, 1, 1, false},
	}
	for _, dtype := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
		for i, c := range cases {
			xDims := []int{c.n, c.h, c.w, c.c}
			if c.channelsFirst {
				xDims = []int{c.n, c.c, c.h, c.w}
			}
			kDims := []int{c.k, c.k, c.c, c.f}
			if c.channelsFirst { // NCHW input and output, OIHW kernel.
				kDims = []int{c.f, c.c, c.k, c.k}
			}
			x := randomTensor(dtype, uint64(100+i), xDims...)
			k := randomTensor(dtype, uint64(200+i), kDims...)
			name := fmt.Sprintf("%+v %s", c, dtype)
			got, want := runBoth(t, fast, ref, func(xs []*graph.Node) []*graph.Node {
				conv := graph.Convolve(xs[0], xs[1]).StridePerAxis(c.stride, c.stride).
					PaddingPerDim([][2]int{{c.pad, c.pad}, {c.pad, c.pad}}).DilationPerAxis(c.dil, c.dil)
				if c.channelsFirst {
					conv = conv.AxesConfig(graph.ConvolveAxesConfig{
						InputBatch: 0, InputChannels: 1, InputSpatial: []int{2, 3},
						KernelOutputChannels: 0, KernelInputChannels: 1, KernelSpatial: []int{2, 3},
						OutputBatch: 0, OutputChannels: 1, OutputSpatial: []int{2, 3}})
				}
				y := conv.Done()
				return append([]*graph.Node{y}, graph.Gradient(weightedAny(y), xs...)...)
			}, x, k)
			for j, what := range []string{"output", "d/dx", "d/dkernel"} {
				requireClose(t, name+" "+what, got[j], want[j], tolerance(dtype))
			}
		}
	}
}

// TestConv2DFastMatchesGraphIm2col checks engine.Conv2D on the fast backend (native
// convolution, fast kernels) against the graph-level im2col it uses on
// kernels=simplego, values and gradients.
func TestConv2DFastMatchesGraphIm2col(t *testing.T) {
	fast, ref := kernelBackends(t)
	for _, dtype := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
		for i, c := range convCases {
			x := randomTensor(dtype, uint64(300+i), 3, c.h, c.h, 5)
			k := randomTensor(dtype, uint64(400+i), c.k, c.k, 5, 6)
			got, want := runBoth(t, fast, ref, func(xs []*graph.Node) []*graph.Node {
				y := Conv2D(xs[0], xs[1], c.stride, c.pad)
				return append([]*graph.Node{y}, graph.Gradient(weightedAny(y), xs...)...)
			}, x, k)
			for j, what := range []string{"output", "d/dx", "d/dkernel"} {
				requireClose(t, fmt.Sprintf("%+v %s %s", c, dtype, what), got[j], want[j], tolerance(dtype))
			}
		}
	}
}

// TestStockSimplegoUntouched checks that GOMLX_BACKEND=go does not get the fast kernels
// and still computes correctly through the replaced executor table.
func TestStockSimplegoUntouched(t *testing.T) {
	_, ref := kernelBackends(t)
	stock, err := NewWithConfig("go:parallelism=-1")
	if err != nil {
		t.Fatal(err)
	}
	if FastKernels(stock) {
		t.Fatal("the stock simplego backend reports fast kernels")
	}
	x := randomTensor(dtypes.Float64, 1, 2, 5, 5, 3)
	k := randomTensor(dtypes.Float64, 2, 3, 3, 3, 4)
	got, want := runBoth(t, stock, ref, func(xs []*graph.Node) []*graph.Node {
		return []*graph.Node{graph.Convolve(xs[0], xs[1]).StridePerAxis(1, 1).DilationPerAxis(1, 1).
			PaddingPerDim([][2]int{{1, 1}, {1, 1}}).Done(),
			graph.DotGeneral(xs[0], []int{3}, nil, xs[1], []int{2}, nil)}
	}, x, k)
	requireClose(t, "stock conv", got[0], want[0], 1e-14)
	requireClose(t, "stock dot", got[1], want[1], 1e-14)
}

// weightedAny is weighted for any float dtype.
func weightedAny(x *graph.Node) *graph.Node {
	g := x.Graph()
	w := graph.Add(graph.Iota(g, x.Shape(), x.Rank()-1), graph.Iota(g, x.Shape(), 0))
	w = graph.Add(graph.Sin(w), graph.Scalar(g, x.DType(), 0.25))
	return graph.ReduceAllSum(graph.Mul(x, w))
}

func TestPureGoKernelsOption(t *testing.T) {
	if _, err := NewWithConfig(PureGoName + ":kernels=fastest"); err == nil || !strings.Contains(err.Error(), "kernels=simplego") {
		t.Fatalf("bad kernels option: want an error naming the choices, got %v", err)
	}
	if _, err := NewWithConfig(PureGoName + ":parallelism=x"); err == nil {
		t.Fatal("bad parallelism: want an error")
	}
	b, err := NewWithConfig(PureGoName + ":parallelism=1,kernels=goacl")
	if err != nil || !FastKernels(b) {
		t.Fatalf("goacl:parallelism=1,kernels=goacl: %v, fast=%v", err, FastKernels(b))
	}
}

// TestGEMMDirect checks the GEMM against a naive triple loop on shapes that exercise
// every path: edge tiles, several tiles per worker, the split contraction, one worker.
func TestGEMMDirect(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, s := range [][3]int{{1, 1, 1}, {3, 5, 7}, {129, 33, 300}, {7, 9, 5000}, {64, 1030, 40}} {
		m, n, k := s[0], s[1], s[2]
		a := make([]float64, m*k)
		b := make([]float64, k*n)
		for i := range a {
			a[i] = rng.NormFloat64()
		}
		for i := range b {
			b[i] = rng.NormFloat64()
		}
		want := make([]float64, m*n)
		for i := range m {
			for j := range n {
				var sum float64
				for p := range k {
					sum += a[i*k+p] * b[p*n+j]
				}
				want[i*n+j] = sum
			}
		}
		for _, workers := range []int{1, 2, 3} {
			c := make([]float64, m*n)
			for i := range c {
				c[i] = math.NaN() // must be overwritten
			}
			gemm(m, n, k, aSource[float64](matrix[float64]{data: a, rs: k, cs: 1}), matrix[float64]{data: b, rs: n, cs: 1}, c, n, workers)
			requireClose(t, fmt.Sprintf("gemm %v workers %d", s, workers), c, want, 1e-12)
		}
	}
}

// TestMinMaxGradientRouting checks the Max/Min gradient override against GoMLX's rule
// (adjoint to the first operand where x0 − x1 ≥ 0, ties included, else to the second;
// swapped for Min), on values with ties, zeros (the ReLU case) and infinities.
func TestMinMaxGradientRouting(t *testing.T) {
	b := pureGo(t)
	inf := math.Inf(1)
	x0 := []float64{1, -2, 0, 3, 0, inf, -inf, 5, -1}
	x1 := []float64{0, -1, 0, 3, 2, inf, -inf, -inf, inf}
	w := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9}
	for _, isMin := range []bool{false, true} {
		e, err := graph.NewExec(b, func(a, c, wt *graph.Node) []*graph.Node {
			y := graph.Max(a, c)
			if isMin {
				y = graph.Min(a, c)
			}
			// Where keeps infinite outputs out of the loss (their weights would give NaN).
			finite := graph.LessThan(graph.Abs(y), graph.Scalar(a.Graph(), a.DType(), 1e300))
			loss := graph.ReduceAllSum(graph.Where(finite, graph.Mul(y, wt), graph.ZerosLike(y)))
			return graph.Gradient(loss, a, c)
		})
		if err != nil {
			t.Fatal(err)
		}
		outs, err := e.Exec(x0, x1, w)
		if err != nil {
			t.Fatal(err)
		}
		g0, g1 := flat(t, outs[0]), flat(t, outs[1])
		for i := range x0 {
			y := math.Max(x0[i], x1[i])
			if isMin {
				y = math.Min(x0[i], x1[i])
			}
			v := w[i]
			if math.IsInf(y, 0) {
				v = 0
			}
			toFirst := x0[i]-x1[i] >= 0 || math.IsNaN(x0[i]-x1[i])
			if isMin {
				toFirst = !toFirst
			}
			want0, want1 := 0.0, v
			if toFirst {
				want0, want1 = v, 0
			}
			if g0[i] != want0 || g1[i] != want1 {
				t.Errorf("min=%v x0=%v x1=%v: gradients (%v, %v), want (%v, %v)", isMin, x0[i], x1[i], g0[i], g1[i], want0, want1)
			}
		}
	}
}

// TestFastBroadcastBinaryMatchesSimplego compares the broadcasting Add/Sub/Mul/Div with
// simplego's on the layouts batch norm and its gradient produce, with the full operand on
// either side.
func TestFastBroadcastBinaryMatchesSimplego(t *testing.T) {
	fast, ref := kernelBackends(t)
	full := []int{4, 5, 6, 16}
	smalls := [][]int{{1, 1, 1, 16}, {4, 1, 1, 1}, {1, 5, 6, 1}, {4, 5, 1, 16}, {1, 5, 1, 16}, {4, 5, 6, 1}, {1, 1, 6, 16}}
	for _, dtype := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
		for i, sd := range smalls {
			x := randomTensor(dtype, uint64(500+i), full...)
			y := randomTensor(dtype, uint64(600+i), sd...)
			// Keep divisors away from 0.
			got, want := runBoth(t, fast, ref, func(xs []*graph.Node) []*graph.Node {
				a, b := xs[0], graph.AddScalar(graph.Abs(xs[1]), 0.5)
				return []*graph.Node{graph.Add(a, b), graph.Add(b, a), graph.Sub(a, b), graph.Sub(b, a),
					graph.Mul(a, b), graph.Mul(b, a), graph.Div(a, b), graph.Div(b, graph.AddScalar(graph.Abs(a), 0.5))}
			}, x, y)
			for j := range got {
				requireClose(t, fmt.Sprintf("%v op %v #%d %s", full, sd, j, dtype), got[j], want[j], 0)
			}
		}
	}
}
