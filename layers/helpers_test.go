package layers

import (
	"math"
	"testing"

	"github.com/ainfonce/goacl/internal/testbackend"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// testBackend returns the process backend (engine.New: GOMLX_BACKEND or the repaired
// pure-Go one), created once.
func testBackend(t testing.TB) backends.Backend { return testbackend.Get(t) }

// newCtx returns an unchecked context with a fixed RNG seed.
func newCtx(t testing.TB) *context.Context {
	t.Helper()
	ctx := context.New().Checked(false)
	if err := ctx.SetRNGStateFromSeed(42); err != nil {
		t.Fatal(err)
	}
	return ctx
}

func flat(t testing.TB, x *tensors.Tensor) []float64 {
	t.Helper()
	switch x.DType().String() {
	case "Float32":
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
	v, err := tensors.CopyFlatData[float64](x)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// varValue returns the flat float64 value of the variable scope/name.
func varValue(t testing.TB, ctx *context.Context, scope, name string) []float64 {
	t.Helper()
	v := ctx.GetVariableByScopeAndName(scope, name)
	if v == nil {
		t.Fatalf("variable %s/%s does not exist", scope, name)
	}
	val, err := v.Value()
	if err != nil {
		t.Fatalf("variable %s/%s: %v", scope, name, err)
	}
	return flat(t, val)
}

// relErr returns max|got−want| / max(max|want|, 1e-12), or +Inf on a length mismatch.
func relErr(got, want []float64) float64 {
	if len(got) != len(want) {
		return math.Inf(1)
	}
	d, m := 0.0, 0.0
	for i := range got {
		if math.IsNaN(got[i]) {
			return math.Inf(1)
		}
		d = math.Max(d, math.Abs(got[i]-want[i]))
		m = math.Max(m, math.Abs(want[i]))
	}
	return d / math.Max(m, 1e-12)
}

func requireClose(t testing.TB, what string, got, want []float64, tol float64) {
	t.Helper()
	if e := relErr(got, want); e > tol {
		t.Errorf("%s: relative error %.3g > %.3g (len got %d, want %d)", what, e, tol, len(got), len(want))
	}
}

// permute transposes row-major data of dims so that output axis i is input axis perm[i].
func permute(data []float64, dims, perm []int) ([]float64, []int) {
	rank := len(dims)
	outDims := make([]int, rank)
	for i, p := range perm {
		outDims[i] = dims[p]
	}
	inStrides := make([]int, rank)
	s := 1
	for i := rank - 1; i >= 0; i-- {
		inStrides[i] = s
		s *= dims[i]
	}
	out := make([]float64, len(data))
	idx := make([]int, rank)
	for o := range out {
		off := 0
		for i := range rank {
			off += idx[i] * inStrides[perm[i]]
		}
		out[o] = data[off]
		for i := rank - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < outDims[i] {
				break
			}
			idx[i] = 0
		}
	}
	return out, outDims
}

// lcg returns n deterministic values in [-1, 1).
func lcg(seed uint64, n int) []float64 {
	out := make([]float64, n)
	state := seed*6364136223846793005 + 1442695040888963407
	for i := range out {
		state = state*6364136223846793005 + 1442695040888963407
		out[i] = float64(state>>11)/float64(1<<53)*2 - 1
	}
	return out
}

// weightedSum turns x into a scalar with distinct fixed weights per entry, so that a
// gradient sees every entry (a plain sum of a BN output has zero gradient).
func weightedSum(x *graph.Node) *graph.Node {
	g := x.Graph()
	w := graph.Sin(graph.AddScalar(graph.MulScalar(graph.IotaFull(g, x.Shape()), 0.7), 0.3))
	return graph.ReduceAllSum(graph.Mul(x, w))
}

func countTrainable(ctx *context.Context) int {
	n := 0
	for v := range ctx.IterVariables() {
		if v.Trainable {
			n += v.Shape().Size()
		}
	}
	return n
}
