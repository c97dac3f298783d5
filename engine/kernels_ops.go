package engine

import (
	"sync/atomic"

	"github.com/gomlx/gomlx/backends"
)

// installOpKernels replaces simplego's executors of the non-GEMM ops that dominate a
// training step once the GEMMs are fast (from installKernels, after installBinaryKernels):
// BroadcastInDim (kernels_broadcast.go), ReduceSum/Max/Min (kernels_reduce.go), Where
// (kernels_select.go), Slice (kernels_slice.go), large same-shape
// Add/Sub/Mul/Div/Max/Min (kernels_elementwise.go, wrapping kernels_binary.go's
// executors) and the float32 comparisons (kernels_compare.go). Like the other kernels they act only for backends with fast kernels on and
// hand every case they do not handle to the executor they replace.
func installOpKernels() {
	installBroadcastKernels()
	installReduceKernels()
	installSelectKernels()
	installSliceKernels()
	installElementwiseKernels()
	installCompareKernels()
}

// opKernelCalls counts, per op type, the executions the kernels of installOpKernels
// handled themselves (not handed to simplego): the tests check with it that a case
// really ran the kernel.
var opKernelCalls [backends.OpTypeLast]atomic.Int64
