package engine

import (
	"sync/atomic"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// Large same-shape Add, Sub, Mul, Div, Max and Min, split over the backend's workers.
// simplego's loops for operands of equal shapes are already tight (and reuse an owned
// operand's buffer), but they run on one goroutine: with the GEMMs fast, the full-size
// elementwise passes of batch norm and ReLU and their gradients leave the other cores
// idle whenever the graph has no second op ready. From parallelElementwiseMin elements on
// (the step's largest activations, [48,32,32,16] at width 16 and batch 16, and every
// activation of larger runs), these executors cut the output into blocks of at least
// elementwiseBlock elements handed out by parallelFor; each element is computed exactly
// as simplego computes it. Measured on 2 cores: 1.4× on a 786k-element float32 Mul, no
// gain at 262k and below (memory-bound), hence the threshold. Smaller ops, broadcasting
// operands (see kernels_binary.go) and other dtypes go to the executor installed before.

// parallelElementwiseMin is a variable so that tests can exercise the split on small
// tensors.
var parallelElementwiseMin = 1 << 19

const elementwiseBlock = 1 << 16

// parallelSplits counts the ops split over the workers (same-shape and broadcasting
// binary ops, selects), for the tests.
var parallelSplits atomic.Int64

var elementwiseOpTypes = map[backends.OpType]binaryOp{
	backends.OpTypeAdd: opAdd, backends.OpTypeSub: opSub, backends.OpTypeMul: opMul, backends.OpTypeDiv: opDiv,
	backends.OpTypeMax: opMax, backends.OpTypeMin: opMin,
}

const (
	opMax binaryOp = 4
	opMin binaryOp = 5
)

// installElementwiseKernels wraps the executors of Add, Sub, Mul, Div, Max and Min (from
// installKernels, after installBinaryKernels, whose executors it calls for what it does
// not handle).
func installElementwiseKernels() {
	for opType, op := range elementwiseOpTypes {
		overrideExecutor(opType, true, func(workers int, backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (*simplego.Buffer, bool, error) {
			if workers < 2 {
				return nil, false, nil
			}
			return execParallelBinary(op, workers, backend, node, inputs, owned)
		})
	}
}

// execParallelBinary runs op on operands of the output's shape if the output is large
// enough; handled is false otherwise.
func execParallelBinary(op binaryOp, workers int, backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (out *simplego.Buffer, handled bool, err error) {
	outShape := nodeShape(node)
	if outShape.Size() < parallelElementwiseMin || !bufferShape(inputs[0]).Equal(outShape) || !bufferShape(inputs[1]).Equal(outShape) ||
		outShape.DType != dtypes.Float32 && outShape.DType != dtypes.Float64 {
		return nil, false, nil
	}
	defer recoverToError("elementwise op", &err)
	// Reuse an owned operand's buffer, the right one first (as simplego does).
	reuse := -1
	switch {
	case owned[1]:
		reuse = 1
	case owned[0]:
		reuse = 0
	}
	if reuse >= 0 {
		out = inputs[reuse]
	} else if out, err = newOutputBuffer(backend, outShape); err != nil {
		return nil, true, err
	}
	switch l := bufferFlat(inputs[0]).(type) {
	case []float32:
		parallelBinary(op, workers, bufferFlat(out).([]float32), l, bufferFlat(inputs[1]).([]float32))
	case []float64:
		parallelBinary(op, workers, bufferFlat(out).([]float64), l, bufferFlat(inputs[1]).([]float64))
	}
	if reuse >= 0 {
		inputs[reuse] = nil // tells simplego the buffer was taken over
	}
	return out, true, nil
}

// parallelBinary computes dst = x op y in blocks over the workers (dst may be x or y).
func parallelBinary[T float](op binaryOp, workers int, dst, x, y []T) {
	parallelSplits.Add(1)
	n := len(dst)
	blocks := min(workers*4, max(2, n/elementwiseBlock))
	size := (n + blocks - 1) / blocks
	parallelFor(blocks, workers, func(b int) {
		lo, hi := b*size, min(n, (b+1)*size)
		if lo >= hi {
			return
		}
		d, a, c := dst[lo:hi], x[lo:hi], y[lo:hi]
		switch op {
		case opMax:
			for i, v := range a {
				d[i] = max(v, c[i])
			}
		case opMin:
			for i, v := range a {
				d[i] = min(v, c[i])
			}
		default:
			binaryRun(op, d, a, c, true)
		}
	})
}
