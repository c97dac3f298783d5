package losses

import (
	"math"
	"testing"

	"github.com/ainfonce/goacl/internal/testbackend"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// testBackend returns the project's default backend, shared by all tests of the package.
func testBackend(t testing.TB) backends.Backend { return testbackend.Get(t) }

// lossFn builds a scalar loss from one features node.
type lossFn func(x *graph.Node) *graph.Node

// lossAndGrad evaluates fn and its gradient at the given flat data/dims in dtype,
// returning float64 copies.
func lossAndGrad(t testing.TB, fn lossFn, dtype dtypes.DType, data []float64, dims ...int) (float64, []float64) {
	t.Helper()
	b := testBackend(t)
	exec, err := graph.NewExec(b, func(x *graph.Node) (*graph.Node, *graph.Node) {
		loss := fn(x)
		return loss, graph.Gradient(loss, x)[0]
	})
	if err != nil {
		t.Fatal(err)
	}
	var in *tensors.Tensor
	switch dtype {
	case dtypes.Float64:
		in = tensors.FromFlatDataAndDimensions(append([]float64(nil), data...), dims...)
	case dtypes.Float32:
		f := make([]float32, len(data))
		for i, v := range data {
			f[i] = float32(v)
		}
		in = tensors.FromFlatDataAndDimensions(f, dims...)
	default:
		t.Fatalf("unsupported dtype %s", dtype)
	}
	outs, err := exec.Exec(in)
	if err != nil {
		t.Fatal(err)
	}
	return toF64(t, outs[0])[0], toF64(t, outs[1])
}

// evalNodes runs fn on the inputs (float64 flat data with dims) and returns every output
// as float64 flat data.
func evalNodes(t testing.TB, fn func(xs []*graph.Node) []*graph.Node, inputs ...*tensors.Tensor) [][]float64 {
	t.Helper()
	exec, err := graph.NewExec(testBackend(t), fn)
	if err != nil {
		t.Fatal(err)
	}
	args := make([]any, len(inputs))
	for i, in := range inputs {
		args[i] = in
	}
	outs, err := exec.Exec(args...)
	if err != nil {
		t.Fatal(err)
	}
	res := make([][]float64, len(outs))
	for i, o := range outs {
		res[i] = toF64(t, o)
	}
	return res
}

func toF64(t testing.TB, x *tensors.Tensor) []float64 {
	t.Helper()
	switch x.DType() {
	case dtypes.Float64:
		v, err := tensors.CopyFlatData[float64](x)
		if err != nil {
			t.Fatal(err)
		}
		return v
	case dtypes.Float32:
		v, err := tensors.CopyFlatData[float32](x)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float64, len(v))
		for i, f := range v {
			out[i] = float64(f)
		}
		return out
	}
	t.Fatalf("unexpected dtype %s", x.DType())
	return nil
}

// maxRelErr returns max|a−b| / max(max|b|, 1e-12) (the golden README's array criterion).
func maxRelErr(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d, m := 0.0, 0.0
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
		m = math.Max(m, math.Abs(b[i]))
	}
	if math.IsNaN(d) {
		return math.NaN()
	}
	return d / math.Max(m, 1e-12)
}

// relErr returns |a−b| / |b| (the golden README's loss criterion; absolute when b = 0).
func relErr(a, b float64) float64 {
	if b == 0 {
		return math.Abs(a)
	}
	return math.Abs(a-b) / math.Abs(b)
}

// randomData returns n deterministic pseudo-random values in [-1, 1) from seed.
func randomData(seed uint64, n int) []float64 {
	data := make([]float64, n)
	state := seed*6364136223846793005 + 1442695040888963407
	for i := range data {
		state = state*6364136223846793005 + 1442695040888963407
		data[i] = float64(state>>11)/float64(1<<53)*2 - 1
	}
	return data
}

// normalizedAdvCL returns [B][V][d] random features with unit-norm rows.
func normalizedAdvCL(seed uint64, B, V, d int) []float64 {
	x := randomData(seed, B*V*d)
	for r := 0; r < B*V; r++ {
		row := x[r*d : (r+1)*d]
		n := 0.0
		for _, v := range row {
			n += v * v
		}
		n = math.Sqrt(n)
		for i := range row {
			row[i] /= n
		}
	}
	return x
}
