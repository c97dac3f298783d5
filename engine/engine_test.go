package engine

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/ainfonce/goacl/internal/gradcheck"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func pureGo(t *testing.T) backends.Backend {
	t.Helper()
	b, err := NewWithConfig(PureGoName)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func flat(t *testing.T, x *tensors.Tensor) []float64 {
	t.Helper()
	v, err := tensors.CopyFlatData[float64](x)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func maxAbsDiff(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	m := 0.0
	for i := range a {
		m = math.Max(m, math.Abs(a[i]-b[i]))
	}
	return m
}

// weighted turns any tensor into a scalar with fixed, distinct weights per entry, so that
// a gradient check sees every output entry.
func weighted(x *graph.Node) *graph.Node {
	if x.Rank() == 0 {
		return x
	}
	w := graph.Iota(x.Graph(), x.Shape(), x.Rank()-1)
	w = graph.Add(graph.Sin(graph.Add(w, graph.Iota(x.Graph(), x.Shape(), 0))), graph.Const(x.Graph(), 0.25))
	return graph.ReduceAllSum(graph.Mul(x, graph.ConvertDType(w, x.DType())))
}

func requireGradOK(t *testing.T, name string, res gradcheck.Result, tol float64) {
	t.Helper()
	for i, e := range res.RelErr() {
		if e > tol || math.IsNaN(e) {
			t.Errorf("%s: input %d: finite-difference relative error %.3g > %.3g (max |diff| %.3g, max |grad| %.3g)",
				name, i, e, tol, res.MaxAbsDiff[i], res.MaxAbsGrad[i])
		} else {
			t.Logf("%s: input %d: relative error %.2g", name, i, e)
		}
	}
}

func TestNewDefaultsToRepairedPureGo(t *testing.T) {
	t.Setenv(backends.ConfigEnvVar, "")
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != PureGoName {
		t.Fatalf("default backend = %q, want %q", b.String(), PureGoName)
	}
	t.Setenv(backends.ConfigEnvVar, "go")
	if b, err = New(); err != nil || b.String() != "go" {
		t.Fatalf("GOMLX_BACKEND=go gave %v, %v; want the stock simplego", b, err)
	}
	t.Setenv(backends.ConfigEnvVar, "nosuch")
	if _, err = New(); err == nil || !strings.Contains(err.Error(), PureGoName) {
		t.Fatalf("unknown backend: want an error listing %q, got %v", PureGoName, err)
	}
}

// TestXLASelectedUntouched checks that an xla config reaches GoMLX's XLA backend (which
// fails here only because the plugin file does not exist) instead of our default.
func TestXLASelectedUntouched(t *testing.T) {
	t.Setenv("GOMLX_NO_AUTO_INSTALL", "1")
	t.Setenv(backends.ConfigEnvVar, "xla:/nonexistent/pjrt_plugin.so")
	b, err := New()
	if err == nil {
		t.Fatalf("expected the missing XLA plugin to fail, got backend %s", b)
	}
	if !strings.Contains(err.Error(), "nonexistent") && !strings.Contains(strings.ToLower(err.Error()), "plugin") {
		t.Fatalf("error does not come from the XLA plugin loader: %v", err)
	}
	if IsPureGo(b) {
		t.Fatal("xla config produced a pure-Go backend")
	}
}

func TestReverseValuesAndGradient(t *testing.T) {
	b := pureGo(t)
	x := gradcheck.Random(1, 2, 3, 4)
	out, err := graph.NewExec(b, func(x *graph.Node) *graph.Node { return graph.Reverse(x, 0, 2) })
	if err != nil {
		t.Fatal(err)
	}
	got := flat(t, out.MustExec1(x))
	in := flat(t, x)
	for i := 0; i < 2; i++ {
		for j := 0; j < 3; j++ {
			for k := 0; k < 4; k++ {
				want := in[(1-i)*12+j*4+(3-k)]
				if g := got[i*12+j*4+k]; g != want {
					t.Fatalf("Reverse[%d,%d,%d] = %v, want %v", i, j, k, g, want)
				}
			}
		}
	}
	res, err := gradcheck.Check(b, func(xs []*graph.Node) *graph.Node { return weighted(graph.Reverse(xs[0], 1, 2)) }, 1e-6, x)
	if err != nil {
		t.Fatal(err)
	}
	requireGradOK(t, "Reverse", res, 1e-8)
}

// padReference pads a 2-D row-major matrix like XLA's Pad.
func padReference(in []float64, rows, cols int, fill float64, cfg [2]backends.PadAxis) ([]float64, int, int) {
	dims := [2]int{rows, cols}
	var outDims [2]int
	for a := 0; a < 2; a++ {
		outDims[a] = cfg[a].Start + dims[a] + max(dims[a]-1, 0)*cfg[a].Interior + cfg[a].End
	}
	out := make([]float64, outDims[0]*outDims[1])
	for i := range out {
		out[i] = fill
	}
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			oi := cfg[0].Start + i*(cfg[0].Interior+1)
			oj := cfg[1].Start + j*(cfg[1].Interior+1)
			if oi >= 0 && oi < outDims[0] && oj >= 0 && oj < outDims[1] {
				out[oi*outDims[1]+oj] = in[i*cols+j]
			}
		}
	}
	return out, outDims[0], outDims[1]
}

func TestPadMatchesXLASemantics(t *testing.T) {
	b := pureGo(t)
	x := gradcheck.Random(2, 4, 5)
	cases := [][2]backends.PadAxis{
		{{Start: 1, End: 2}, {Start: 0, End: 3}},
		{{Start: 0, End: 0, Interior: 1}, {Start: 2, End: 1, Interior: 2}},
		{{Start: -1, End: 1}, {Start: 1, End: -2}},
		{{Start: -1, End: -1, Interior: 1}, {Start: 0, End: -1, Interior: 1}},
	}
	for _, cfg := range cases {
		cfg := cfg
		exec, err := graph.NewExec(b, func(x *graph.Node) *graph.Node {
			return graph.Pad(x, graph.Const(x.Graph(), 7.5), cfg[0], cfg[1])
		})
		if err != nil {
			t.Fatal(err)
		}
		got, err := exec.Exec1(x)
		if err != nil {
			t.Fatalf("Pad %+v: %v", cfg, err)
		}
		want, r, c := padReference(flat(t, x), 4, 5, 7.5, cfg)
		if d := got.Shape().Dimensions; d[0] != r || d[1] != c {
			t.Fatalf("Pad %+v: shape %v, want [%d %d]", cfg, d, r, c)
		}
		if diff := maxAbsDiff(flat(t, got), want); diff != 0 {
			t.Fatalf("Pad %+v: values differ by %g", cfg, diff)
		}
	}
}

// TestStridedSliceGradient exercises Pad with interior padding, which is the gradient of a
// strided slice (as used by im2col with stride 2).
func TestStridedSliceGradient(t *testing.T) {
	b := pureGo(t)
	x := gradcheck.Random(3, 2, 7, 6, 3)
	res, err := gradcheck.Check(b, func(xs []*graph.Node) *graph.Node {
		s := graph.Slice(xs[0], graph.AxisRange(), graph.AxisRange(1, 6).Stride(2), graph.AxisRange(0, 5).Stride(2), graph.AxisRange())
		return weighted(s)
	}, 1e-6, x)
	if err != nil {
		t.Fatal(err)
	}
	requireGradOK(t, "strided Slice", res, 1e-8)
}

type convCase struct{ k, stride, pad, h int }

var convCases = []convCase{{3, 1, 1, 6}, {3, 2, 1, 6}, {1, 2, 0, 6}, {1, 1, 0, 5}, {3, 2, 1, 7}}

// TestNativeConvGradientOnRepairedBackend checks GoMLX's own convolution and its gradient
// (which emits Reverse and ConvGeneral with nil strides/dilations) on the repaired backend.
func TestNativeConvGradientOnRepairedBackend(t *testing.T) {
	b := pureGo(t)
	for _, c := range convCases {
		x := gradcheck.Random(10, 2, c.h, c.h, 3)
		k := gradcheck.Random(11, c.k, c.k, 3, 4)
		res, err := gradcheck.Check(b, func(xs []*graph.Node) *graph.Node {
			return weighted(graph.Convolve(xs[0], xs[1]).StridePerAxis(c.stride, c.stride).
				PaddingPerDim([][2]int{{c.pad, c.pad}, {c.pad, c.pad}}).Done())
		}, 1e-6, x, k)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		requireGradOK(t, "native conv", res, 1e-7)
	}
}

// TestConv2DMatchesNativeAndDifferentiates checks that the im2col convolution equals GoMLX's
// native convolution in value, and that its gradients agree with finite differences, for
// kernel 1 and 3, stride 1 and 2 and PyTorch's padding.
func TestConv2DMatchesNativeAndDifferentiates(t *testing.T) {
	b := pureGo(t)
	for _, c := range convCases {
		x := gradcheck.Random(20, 2, c.h, c.h, 3)
		k := gradcheck.Random(21, c.k, c.k, 3, 4)
		exec, err := graph.NewExec(b, func(x, k *graph.Node) (*graph.Node, *graph.Node) {
			native := graph.Convolve(x, k).StridePerAxis(c.stride, c.stride).
				PaddingPerDim([][2]int{{c.pad, c.pad}, {c.pad, c.pad}}).Done()
			return native, Conv2D(x, k, c.stride, c.pad)
		})
		if err != nil {
			t.Fatal(err)
		}
		outs, err := exec.Exec(x, k)
		if err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
		if ds, di := outs[0].Shape().Dimensions, outs[1].Shape().Dimensions; len(ds) != 4 || ds[1] != di[1] || ds[3] != di[3] {
			t.Fatalf("%+v: native shape %v, im2col shape %v", c, ds, di)
		}
		wantH := (c.h+2*c.pad-c.k)/c.stride + 1
		if outs[1].Shape().Dimensions[1] != wantH {
			t.Fatalf("%+v: output height %d, want PyTorch's %d", c, outs[1].Shape().Dimensions[1], wantH)
		}
		if d := maxAbsDiff(flat(t, outs[0]), flat(t, outs[1])); d > 1e-13 {
			t.Fatalf("%+v: im2col differs from native conv by %g", c, d)
		}
		res, err := gradcheck.Check(b, func(xs []*graph.Node) *graph.Node {
			return weighted(Conv2D(xs[0], xs[1], c.stride, c.pad))
		}, 1e-6, x, k)
		if err != nil {
			t.Fatal(err)
		}
		requireGradOK(t, "Conv2D", res, 1e-7)
	}
}

type dotCase struct {
	name             string
	lhsDims, rhsDims []int
	lc, lb, rc, rb   []int
}

var dotCases = []dotCase{
	{"matmul", []int{4, 5}, []int{5, 3}, []int{1}, nil, []int{0}, nil},
	{"matmul-transposed", []int{5, 4}, []int{3, 5}, []int{0}, nil, []int{1}, nil},
	{"batched", []int{2, 4, 5}, []int{2, 5, 3}, []int{2}, []int{0}, []int{1}, []int{0}},
	{"batch-last-two-contracting", []int{3, 4, 2, 2}, []int{2, 4, 3, 5}, []int{1, 0}, []int{3}, []int{1, 2}, []int{0}},
}

// TestDotGeneralGradient checks the matmul-based DotGeneral gradient against finite
// differences and against GoMLX's original gradient (on the stock backend).
func TestDotGeneralGradient(t *testing.T) {
	b := pureGo(t)
	stock, err := NewWithConfig("go:parallelism=-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range dotCases {
		l := gradcheck.Random(30, c.lhsDims...)
		r := gradcheck.Random(31, c.rhsDims...)
		fn := func(xs []*graph.Node) *graph.Node {
			return weighted(graph.DotGeneral(xs[0], c.lc, c.lb, xs[1], c.rc, c.rb))
		}
		res, err := gradcheck.Check(b, fn, 1e-6, l, r)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		requireGradOK(t, c.name, res, 1e-8)
		grads := func(be backends.Backend) []*tensors.Tensor {
			e, err := graph.NewExec(be, func(xs []*graph.Node) []*graph.Node { return graph.Gradient(fn(xs), xs...) })
			if err != nil {
				t.Fatal(err)
			}
			lc, err := l.LocalClone()
			if err != nil {
				t.Fatal(err)
			}
			rc, err := r.LocalClone()
			if err != nil {
				t.Fatal(err)
			}
			out, err := e.Exec(lc, rc)
			if err != nil {
				t.Fatalf("%s on %s: %v", c.name, be, err)
			}
			return out
		}
		ours, theirs := grads(b), grads(stock)
		for i := range ours {
			if d := maxAbsDiff(flat(t, ours[i]), flat(t, theirs[i])); d > 1e-12 {
				t.Errorf("%s: gradient %d differs from GoMLX's original by %g", c.name, i, d)
			}
		}
	}
}

func TestDotGradient(t *testing.T) {
	b := pureGo(t)
	for _, dims := range [][2][]int{{{4, 5}, {5, 3}}, {{4, 5}, {5}}, {{5}, {5}}} {
		l, r := gradcheck.Random(40, dims[0]...), gradcheck.Random(41, dims[1]...)
		res, err := gradcheck.Check(b, func(xs []*graph.Node) *graph.Node { return weighted(graph.Dot(xs[0], xs[1])) }, 1e-6, l, r)
		if err != nil {
			t.Fatalf("%v: %v", dims, err)
		}
		requireGradOK(t, "Dot", res, 1e-8)
	}
}

// TestNoDeadlockWithParallelMatmuls runs independent matmuls that simplego's default
// parallelism would schedule concurrently (and deadlock on); the repaired backend must
// finish.
func TestNoDeadlockWithParallelMatmuls(t *testing.T) {
	b := pureGo(t)
	done := make(chan error, 1)
	go func() {
		e, err := graph.NewExec(b, func(x *graph.Node) *graph.Node {
			var parts []*graph.Node
			for i := 0; i < 8; i++ {
				y := graph.MulScalar(x, float64(i+1))
				parts = append(parts, graph.ReduceAllSum(graph.MatMul(y, graph.Transpose(y, 0, 1))))
			}
			out := parts[0]
			for _, p := range parts[1:] {
				out = graph.Add(out, p)
			}
			return out
		})
		if err == nil {
			_, err = e.Exec(gradcheck.Random(50, 256, 256))
		}
		done <- err
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("parallel matmuls did not finish in 2 minutes: deadlock")
	}
}
