package engine

import (
	"sync/atomic"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
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

// kernel runs an op with one of this package's kernels if it is a case the kernel takes;
// handled is false otherwise (nothing was done).
type kernel func(workers int, backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (out *simplego.Buffer, handled bool, err error)

// overrideExecutor puts k in front of the executor installed for op (if there is one):
// for backends with the fast kernels on, k runs first, its handled executions counted in
// opKernelCalls when counted is set; every other call goes to the executor it replaces.
func overrideExecutor(op backends.OpType, counted bool, k kernel) {
	prev := simplegoNodeExecutors[op]
	if prev == nil {
		return
	}
	simplegoNodeExecutors[op] = func(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (*simplego.Buffer, error) {
		if workers, ok := fastWorkers(backend); ok {
			if out, handled, err := k(workers, backend, node, inputs, owned); handled {
				if counted {
					opKernelCalls[op].Add(1)
				}
				return out, err
			}
		}
		return prev(backend, node, inputs, owned)
	}
}
