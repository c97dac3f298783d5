//go:build !amd64 || purego

package engine

// simdKernels: no SIMD micro-kernels on this architecture (or with the purego build tag);
// the GEMM runs its scalar kernel.
func simdKernels() (k32 []microKernel[float32], k64 []microKernel[float64]) { return nil, nil }
