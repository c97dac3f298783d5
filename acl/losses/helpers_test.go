package losses

import (
	"math"
	"testing"

	"github.com/ainfonce/goacl/internal/testbackend"
	"github.com/ainfonce/goacl/internal/testvals"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// The shared test helpers: the default backend, float tensor values, the golden README's
// error measures, seeded data.
var (
	testBackend = testbackend.Get
	toF64       = testvals.Float64s
	maxRelErr   = testvals.MaxRelErr
	relErr      = testvals.RelErr
	randomData  = testvals.RandomData
)

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

// lossAndGrad evaluates fn and its gradient at the given flat data/dims in dtype,
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
