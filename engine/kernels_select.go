package engine

import (
	"slices"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Where (select). The ReLU gradient (minmaxgrad.go) routes the adjoint with two selects
// per ReLU whose condition follows the activation's sign pattern, so simplego's branchy
// per-element loop mispredicts about half of the time (≈2% of the benchmark step's op time,
// ≈4 ns per element). This executor selects without branches: the condition byte becomes
// an all-ones or all-zero mask that picks the bits of onTrue or onFalse (≈0.5 ns per
// element). Like simplego's, it writes into an operand it may reuse (onTrue or onFalse of
// the output's shape, owned by the executor). It handles a condition of the output's shape
// with branches of the output's shape or scalars, float32 and float64, and splits selects
// of parallelElementwiseMin elements or more over the workers; a scalar condition and
// other dtypes go to simplego's executor. The result is bit-identical (it only copies).

// installSelectKernels replaces the Where executor (from installKernels).
func installSelectKernels() {
	overrideExecutor(backends.OpTypeWhere, true, execWhere)
}

// execWhere runs Where if it is a case it handles; handled is false otherwise.
func execWhere(workers int, backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, owned []bool) (out *simplego.Buffer, handled bool, err error) {
	outShape := nodeShape(node)
	cs, ts, fs := bufferShape(inputs[0]), bufferShape(inputs[1]), bufferShape(inputs[2])
	fits := func(s shapes.Shape) bool { return s.Equal(outShape) || s.IsScalar() && s.DType == outShape.DType }
	if cs.IsScalar() || !slices.Equal(cs.Dimensions, outShape.Dimensions) || !fits(ts) || !fits(fs) {
		return nil, false, nil
	}
	cond, ok := bufferFlat(inputs[0]).([]bool)
	if !ok {
		return nil, false, nil
	}
	defer recoverToError("Where", &err)
	switch t := bufferFlat(inputs[1]).(type) {
	case []float32:
		out, err = runWhere[float32, uint32](workers, backend, outShape, cond, t, bufferFlat(inputs[2]).([]float32), inputs, owned)
	case []float64:
		out, err = runWhere[float64, uint64](workers, backend, outShape, cond, t, bufferFlat(inputs[2]).([]float64), inputs, owned)
	default:
		return nil, false, nil
	}
	return out, true, err
}

func runWhere[T float, U uint32 | uint64](workers int, backend *simplego.Backend, outShape shapes.Shape, cond []bool, t, f []T, inputs []*simplego.Buffer, owned []bool) (*simplego.Buffer, error) {
	tFull, fFull := bufferShape(inputs[1]).Equal(outShape), bufferShape(inputs[2]).Equal(outShape)
	if !tFull {
		t = t[:1]
	}
	if !fFull {
		f = f[:1]
	}
	var out *simplego.Buffer
	switch {
	case owned[1] && tFull:
		out, inputs[1] = inputs[1], nil
	case owned[2] && fFull:
		out, inputs[2] = inputs[2], nil
	default:
		var err error
		if out, err = newOutputBuffer(backend, outShape); err != nil {
			return nil, err
		}
	}
	tb, fb, ob := floatBits[U](t), floatBits[U](f), floatBits[U](bufferFlat(out).([]T))
	if workers < 2 || len(cond) < parallelElementwiseMin {
		selectBits(cond, tb, fb, ob)
		return out, nil
	}
	// Large selects are cut into blocks computed by the workers (kernels_elementwise.go).
	parallelSplits.Add(1)
	n := len(cond)
	blocks := min(workers*4, max(2, n/elementwiseBlock))
	parallelFor(blocks, workers, func(b int) {
		lo, hi := b*n/blocks, (b+1)*n/blocks
		bt, bf := tb, fb
		if len(bt) > 1 {
			bt = bt[lo:hi]
		}
		if len(bf) > 1 {
			bf = bf[lo:hi]
		}
		selectBits(cond[lo:hi], bt, bf, ob[lo:hi])
	})
	return out, nil
}

// selectBits sets o[i] = t[i] where cond[i], f[i] elsewhere; t or f may have length 1
// (a scalar) and may be o itself.
func selectBits[U uint32 | uint64](cond []bool, t, f, o []U) {
	o = o[:len(cond)]
	if n := vecSelect(cond, t, f, o); n > 0 { // vec.go
		cond, o = cond[n:], o[n:]
		if len(t) > 1 {
			t = t[n:]
		}
		if len(f) > 1 {
			f = f[n:]
		}
		if len(cond) == 0 {
			return
		}
	}
	c := unsafe.Slice((*uint8)(unsafe.Pointer(unsafe.SliceData(cond))), len(cond))
	switch {
	case len(t) == 1 && len(f) == 1:
		tv, fv := t[0], f[0]
		for i, ci := range c {
			o[i] = fv ^ (fv^tv)&-U(ci&1)
		}
	case len(t) == 1:
		tv := t[0]
		f = f[:len(c)]
		for i, ci := range c {
			o[i] = f[i] ^ (f[i]^tv)&-U(ci&1)
		}
	case len(f) == 1:
		fv := f[0]
		t = t[:len(c)]
		for i, ci := range c {
			o[i] = fv ^ (fv^t[i])&-U(ci&1)
		}
	default:
		t, f = t[:len(c)], f[:len(c)]
		for i, ci := range c {
			o[i] = f[i] ^ (f[i]^t[i])&-U(ci&1)
		}
	}
}

// floatBits reinterprets a float slice as the unsigned integers of its bits (U of T's
// size: uint32 for float32, uint64 for float64).
func floatBits[U uint32 | uint64, T float](s []T) []U {
	if unsafe.Sizeof(U(0)) != unsafe.Sizeof(T(0)) {
		panic("floatBits: size mismatch")
	}
	return unsafe.Slice((*U)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}
