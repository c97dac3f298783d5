// Package testvals holds the value helpers the tests of several packages share: reading
// a float tensor back as float64s, the golden README's error measures, and deterministic
// pseudo-random data.
package testvals

import (
	"math"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Float64s copies a float32 or float64 tensor into float64s, failing the test otherwise.
func Float64s(t testing.TB, x *tensors.Tensor) []float64 {
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

// MaxRelErr returns max|a−b| / max(max|b|, 1e-12) (the golden README's array criterion);
// +Inf when the lengths differ, NaN when a difference is NaN.
func MaxRelErr(a, b []float64) float64 {
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

// RelErr returns |a−b| / |b| (the golden README's loss criterion; absolute when b = 0).
func RelErr(a, b float64) float64 {
	if b == 0 {
		return math.Abs(a)
	}
	return math.Abs(a-b) / math.Abs(b)
}

// RandomData returns n deterministic pseudo-random values in [-1, 1) from seed.
func RandomData(seed uint64, n int) []float64 {
	data := make([]float64, n)
	state := seed*6364136223846793005 + 1442695040888963407
	for i := range data {
		state = state*6364136223846793005 + 1442695040888963407
		data[i] = float64(state>>11)/float64(1<<53)*2 - 1
	}
	return data
}
