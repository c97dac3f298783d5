package engine

import "math/rand/v2"

// normals returns n standard-normal values from rng (the test operands of the kernels).
func normals(rng *rand.Rand, n int) []float64 {
	v := make([]float64, n)
	for i := range v {
		v[i] = rng.NormFloat64()
	}
	return v
}

// toFloat32 rounds float64 test values to float32.
func toFloat32(x []float64) []float32 {
	y := make([]float32, len(x))
	for i, v := range x {
		y[i] = float32(v)
	}
	return y
}
