package engine

import (
	"fmt"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// Comparisons of float32 tensors. ReLU's mask (0 ≥ x) is used by both the forward select
// and the gradient's, so fusion (fusion.go) leaves it a node of its own; simplego compares
// one element per iteration, these executors eight (vec.go). They handle float32 operands
// of the output's shape, or one of them a single value; every other case goes to the
// executor installed before. The result is the same: each kernel's predicate has Go's
// NaN behaviour.

// installCompareKernels replaces the executors of the six comparisons (from
// installOpKernels).
func installCompareKernels() {
	if !vecSupported {
		return
	}
	for op := range vecCompareKernels {
		overrideExecutor(op, true, func(_ int, backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, _ []bool) (*simplego.Buffer, bool, error) {
			return execCompare(op, backend, node, inputs)
		})
	}
}

// execCompare runs a comparison it handles; handled is false otherwise.
func execCompare(op backends.OpType, backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer) (out *simplego.Buffer, handled bool, err error) {
	shape := nodeShape(node)
	a, okA := bufferFlat(inputs[0]).([]float32)
	b, okB := bufferFlat(inputs[1]).([]float32)
	n := shape.Size()
	if !okA || !okB || shape.DType != dtypes.Bool || n < 8 || !(len(a) == n || len(a) == 1) || !(len(b) == n || len(b) == 1) || len(a) == 1 && len(b) == 1 {
		return nil, false, nil
	}
	defer recoverToError("comparison", &err)
	if out, err = newOutputBuffer(backend, shape); err != nil {
		return nil, true, err
	}
	compareRun(op, bufferFlat(out).([]bool), a, b)
	return out, true, nil
}

// compareRun computes dst = a op b for the comparisons; a or b may be a single value.
func compareRun(op backends.OpType, dst []bool, a, b []float32) {
	if n := vecCompare(op, dst, a, b); n > 0 { // vec.go
		dst = dst[n:]
		if len(a) > 1 {
			a = a[n:]
		}
		if len(b) > 1 {
			b = b[n:]
		}
	}
	if len(dst) == 0 {
		return
	}
	// The Go loops read both operands per element: expand a single value.
	if len(a) == 1 && len(dst) > 1 {
		a = expand(a[0], len(dst))
	}
	if len(b) == 1 && len(dst) > 1 {
		b = expand(b[0], len(dst))
	}
	dst, b = dst[:len(a)], b[:len(a)]
	switch op {
	case backends.OpTypeGreaterOrEqual:
		for i, v := range a {
			dst[i] = v >= b[i]
		}
	case backends.OpTypeGreaterThan:
		for i, v := range a {
			dst[i] = v > b[i]
		}
	case backends.OpTypeLessOrEqual:
		for i, v := range a {
			dst[i] = v <= b[i]
		}
	case backends.OpTypeLessThan:
		for i, v := range a {
			dst[i] = v < b[i]
		}
	case backends.OpTypeEqual:
		for i, v := range a {
			dst[i] = v == b[i]
		}
	case backends.OpTypeNotEqual:
		for i, v := range a {
			dst[i] = v != b[i]
		}
	default:
		panic(fmt.Sprintf("fused comparison %s", op))
	}
}
