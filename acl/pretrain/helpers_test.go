package pretrain

import (
	"math"
	"strings"
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

// testWriter sends progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
