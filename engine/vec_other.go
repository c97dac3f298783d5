//go:build !amd64 || purego

package engine

import "github.com/gomlx/gomlx/backends"

// Without the amd64 kernels (other architectures, the purego tag) every elementwise op
// runs its Go loop: the tables of vec_amd64.go are empty.

const vecSupported = false

var (
	vecBinaryKernels  [4]func(dst, a, b *float32, n int)
	vecSelectKernels  [3]func(cond *bool, t, f, dst *float32, n int)
	vecCompareKernels map[backends.OpType][2]func(dst *bool, a, b *float32, n int)
)
