package layers

import (
	"math"
	"testing"

	"github.com/ainfonce/goacl/internal/gradcheck"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// TestLinear checks y = x·W + b against plain Go, the bias switch, and nn.Linear's
// initialisation bounds U(±1/√in).
func TestLinear(t *testing.T) {
	const n, in, out = 4, 64, 32
	ctx := newCtx(t)
	exec, err := context.NewExec(testBackend(t), ctx, func(ctx *context.Context, x *graph.Node) []*graph.Node {
		return []*graph.Node{NewLinear(ctx.In("a"), x, out).Done(), NewLinear(ctx.In("b"), x, out).Bias(false).Done()}
	})
	if err != nil {
		t.Fatal(err)
	}
	x := lcg(17, n*in)
	outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, n, in))
	if err != nil {
		t.Fatal(err)
	}
	w, b := varValue(t, ctx, "/a", "weights"), varValue(t, ctx, "/a", "biases")
	requireClose(t, "linear with bias", flat(t, outs[0]), dense(x, n, in, w, b, out), 1e-12)
	requireClose(t, "linear without bias", flat(t, outs[1]), dense(x, n, in, varValue(t, ctx, "/b", "weights"), nil, out), 1e-12)
	if ctx.GetVariableByScopeAndName("/b", "biases") != nil {
		t.Errorf("Bias(false) created a bias")
	}
	bound := 1 / math.Sqrt(in)
	for name, v := range map[string][]float64{"weights": w, "biases": b} {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, e := range v {
			lo, hi = math.Min(lo, e), math.Max(hi, e)
		}
		if lo < -bound || hi > bound || hi-lo < bound { // within the bounds and spread over them
			t.Errorf("%s init range [%.4g, %.4g], want within ±%.4g and spread", name, lo, hi, bound)
		}
	}
}

// TestConvInit checks both kernel initialisations: Kaiming-normal fan_out has standard
// deviation √(2/(k²·Cout)); PyTorch's default is U(±1/√(k²·Cin)).
func TestConvInit(t *testing.T) {
	const cin, cout = 16, 64
	ctx := newCtx(t)
	exec, err := context.NewExec(testBackend(t), ctx, func(ctx *context.Context, x *graph.Node) []*graph.Node {
		return []*graph.Node{
			NewConv2D(ctx.In("kaiming"), x, cout).Done(),
			NewConv2D(ctx.In("torch"), x, cout).Init(PyTorchDefault).Done(),
			NewConv2D(ctx.In("one"), x, cout).Kernel(1).Stride(2).Done(),
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(lcg(1, 2*6*6*cin), 2, 6, 6, cin))
	if err != nil {
		t.Fatal(err)
	}
	requireShape(t, "3×3 stride-1 output", outs[0], 2, 6, 6, cout)
	requireShape(t, "1×1 stride-2 output", outs[2], 2, 3, 3, cout)
	k := varValue(t, ctx, "/kaiming", "weights")
	mean, sq := 0.0, 0.0
	for _, v := range k {
		mean += v / float64(len(k))
		sq += v * v / float64(len(k))
	}
	want := math.Sqrt(2.0 / (9 * cout))
	if std := math.Sqrt(sq - mean*mean); math.Abs(std/want-1) > 0.05 || math.Abs(mean) > 0.05*want {
		t.Errorf("kaiming fan_out init: mean %.3g std %.4g, want 0 and %.4g", mean, std, want)
	}
	bound := 1 / math.Sqrt(9*cin)
	hi := 0.0
	for _, v := range varValue(t, ctx, "/torch", "weights") {
		hi = math.Max(hi, math.Abs(v))
	}
	if hi > bound || hi < 0.95*bound {
		t.Errorf("pytorch default init: max |w| %.4g, want just under %.4g", hi, bound)
	}
	for _, name := range []string{"kaiming_normal_fan_out", "pytorch_default"} {
		c, err := ParseConvInit(name)
		if err != nil || c.String() != name {
			t.Errorf("ParseConvInit(%q) = %v, %v", name, c, err)
		}
	}
	if _, err := ParseConvInit("xavier"); err == nil {
		t.Errorf("ParseConvInit accepted an unknown name")
	}
}

// TestReLUGradientAtZero checks PyTorch's convention: the gradient at exactly 0 is 0.
func TestReLUGradientAtZero(t *testing.T) {
	exec, err := graph.NewExec(testBackend(t), func(x *graph.Node) []*graph.Node {
		y := ReLU(x)
		return append([]*graph.Node{y}, graph.Gradient(graph.ReduceAllSum(y), x)...)
	})
	if err != nil {
		t.Fatal(err)
	}
	outs, err := exec.Exec([]float64{-1, 0, 2})
	if err != nil {
		t.Fatal(err)
	}
	requireClose(t, "relu", flat(t, outs[0]), []float64{0, 0, 2}, 0)
	requireClose(t, "relu gradient", flat(t, outs[1]), []float64{0, 0, 1}, 0)
}

// TestReLUSpecialValues checks ReLU's values and gradient at −0, ±∞ and NaN: the values
// of max(0, x) (+0 for −0, NaN for NaN), gradient 0 for x ≤ 0 and 1 for x > 0, and, like
// PyTorch's threshold_backward, 1 at NaN; in float32 and float64.
func TestReLUSpecialValues(t *testing.T) {
	inf, nan := math.Inf(1), math.NaN()
	x := []float64{math.Copysign(0, -1), 0, -inf, inf, nan, -3.5, 0.25}
	wantY := []float64{0, 0, 0, inf, nan, 0, 0.25}
	wantG := []float64{0, 0, 0, 1, 1, 0, 1}
	exec, err := graph.NewExec(testBackend(t), func(x *graph.Node) []*graph.Node {
		y := ReLU(x)
		return append([]*graph.Node{y}, graph.Gradient(graph.ReduceAllSum(y), x)...)
	})
	if err != nil {
		t.Fatal(err)
	}
	x32 := make([]float32, len(x))
	for i, v := range x {
		x32[i] = float32(v)
	}
	for _, in := range []any{x, x32} {
		outs, err := exec.Exec(in)
		if err != nil {
			t.Fatal(err)
		}
		y, gx := flat(t, outs[0]), flat(t, outs[1])
		for i := range x {
			same := func(got, want float64) bool {
				return math.IsNaN(want) && math.IsNaN(got) || got == want && math.Signbit(got) == math.Signbit(want)
			}
			if !same(y[i], wantY[i]) || !same(gx[i], wantG[i]) {
				t.Errorf("%T: ReLU(%g) = %g with gradient %g, want %g with gradient %g", in, x[i], y[i], gx[i], wantY[i], wantG[i])
			}
		}
	}
}

// TestL2Normalize checks F.normalize semantics (x / max(‖x‖, 1e-12)), including a zero
// row, and the gradient by finite differences.
func TestL2Normalize(t *testing.T) {
	exec, err := graph.NewExec(testBackend(t), func(x *graph.Node) []*graph.Node {
		y := L2Normalize(x)
		return append([]*graph.Node{y}, graph.Gradient(weightedSum(y), x)...)
	})
	if err != nil {
		t.Fatal(err)
	}
	tiny := 1e-14
	outs, err := exec.Exec([][]float64{{3, 4}, {0, 0}, {tiny, 0}})
	if err != nil {
		t.Fatal(err)
	}
	requireClose(t, "normalize", flat(t, outs[0]), []float64{0.6, 0.8, 0, 0, tiny / 1e-12, 0}, 1e-15)
	for _, g := range flat(t, outs[1]) {
		if math.IsNaN(g) || math.IsInf(g, 0) {
			t.Fatalf("non-finite gradient %v", flat(t, outs[1]))
		}
	}
	res, err := gradcheck.Check(testBackend(t), func(xs []*graph.Node) *graph.Node { return weightedSum(L2Normalize(xs[0])) },
		1e-6, gradcheck.Random(3, 4, 5))
	if err != nil {
		t.Fatal(err)
	}
	if e := res.RelErr()[0]; e > 1e-7 {
		t.Errorf("L2Normalize gradient: relative error %.3g", e)
	}
}

// TestGlobalAvgPool checks the spatial mean.
func TestGlobalAvgPool(t *testing.T) {
	exec, err := graph.NewExec(testBackend(t), GlobalAvgPool)
	if err != nil {
		t.Fatal(err)
	}
	x := lcg(2, 2*2*3*2)
	outs, err := exec.Exec(tensors.FromFlatDataAndDimensions(x, 2, 2, 3, 2))
	if err != nil {
		t.Fatal(err)
	}
	want := make([]float64, 4)
	for i, v := range x {
		n, c := i/12, i%2
		want[n*2+c] += v / 6
	}
	requireClose(t, "global average pool", flat(t, outs[0]), want, 1e-15)
}
