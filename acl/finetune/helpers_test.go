package finetune

import (
	"math"
	"testing"

	"github.com/ainfonce/goacl/internal/testbackend"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// testBackend returns the project's default backend, shared by all tests of the package.
func testBackend(t testing.TB) backends.Backend { return testbackend.Get(t) }

// toF64 copies a float tensor into float64s.
func toF64(t testing.TB, x *tensors.Tensor) []float64 {
	t.Helper()
	if v, err := tensors.CopyFlatData[float64](x); err == nil {
		return v
	}
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

// maxRelErr returns max|a−b| / max(max|b|, 1e-12).
func maxRelErr(a, b []float64) float64 {
	if len(a) != len(b) {
		return math.Inf(1)
	}
	d, m := 0.0, 0.0
	for i := range a {
		d = math.Max(d, math.Abs(a[i]-b[i]))
		m = math.Max(m, math.Abs(b[i]))
	}
	return d / math.Max(m, 1e-12)
}
