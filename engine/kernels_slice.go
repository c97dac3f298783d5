package engine

import (
	"reflect"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/backends/simplego"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Slice. The repaired builder reverses convolution kernels for the transposed
// convolutions of the backward pass by slicing them tap by tap (purego.go), hundreds of
// slices per step, and simplego copies every slice one element at a time through a
// multi-axis index iterator. This executor copies contiguous blocks: the trailing axes
// taken whole are merged into one block, the innermost partial axis copies its blocks in
// one piece (stride 1) or block by block (strided), and the outer axes advance once per
// block. Bit-identical (it only copies). Float32 and float64; other dtypes and a node
// whose parameters do not have the expected layout go to simplego's executor.

// installSliceKernels replaces the Slice executor (from installKernels).
func installSliceKernels() {
	overrideExecutor(backends.OpTypeSlice, true, func(_ int, backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer, _ []bool) (*simplego.Buffer, bool, error) {
		return execSlice(backend, node, inputs)
	})
}

// sliceParams reads simplego's sliceNode (starts, limits, strides), checking its layout.
func sliceParams(node *simplego.Node, rank int) (starts, strides []int, ok bool) {
	v := reflect.ValueOf(nodeData(node))
	if v.Kind() != reflect.Pointer || v.IsNil() || v.Elem().Kind() != reflect.Struct {
		return nil, nil, false
	}
	v = v.Elem()
	intsT := reflect.TypeOf([]int(nil))
	for _, name := range []string{"starts", "strides"} {
		if f, ok := v.Type().FieldByName(name); !ok || f.Type != intsT {
			return nil, nil, false
		}
	}
	starts, strides = readInts(v, "starts"), readInts(v, "strides")
	if strides == nil {
		strides = make([]int, rank)
		for i := range strides {
			strides[i] = 1
		}
	}
	if len(starts) != rank || len(strides) != rank {
		return nil, nil, false
	}
	return starts, strides, true
}

// execSlice runs Slice if it is a case it handles; handled is false otherwise.
func execSlice(backend *simplego.Backend, node *simplego.Node, inputs []*simplego.Buffer) (out *simplego.Buffer, handled bool, err error) {
	outShape, inShape := nodeShape(node), bufferShape(inputs[0])
	r := inShape.Rank()
	if outShape.Rank() != r || r == 0 || outShape.DType != inShape.DType || outShape.Size() == 0 {
		return nil, false, nil
	}
	starts, strides, ok := sliceParams(node, r)
	if !ok {
		return nil, false, nil
	}
	for a := range r {
		if strides[a] < 1 || starts[a] < 0 || starts[a]+(outShape.Dimensions[a]-1)*strides[a] >= inShape.Dimensions[a] {
			return nil, false, nil
		}
	}
	defer recoverToError("Slice", &err)
	switch in := bufferFlat(inputs[0]).(type) {
	case []float32:
		out, err = runSlice(backend, outShape, inShape, in, starts, strides)
	case []float64:
		out, err = runSlice(backend, outShape, inShape, in, starts, strides)
	default:
		return nil, false, nil
	}
	return out, true, err
}

func runSlice[T float](backend *simplego.Backend, outShape, inShape shapes.Shape, in []T, starts, strides []int) (*simplego.Buffer, error) {
	out, err := newOutputBuffer(backend, outShape)
	if err != nil {
		return nil, err
	}
	o := bufferFlat(out).([]T)
	od, id := outShape.Dimensions, inShape.Dimensions
	r := len(od)
	inStride := make([]int, r)
	base, st := 0, 1
	for a := r - 1; a >= 0; a-- {
		inStride[a] = st
		base += starts[a] * st
		st *= id[a]
	}
	// Axes after k are taken whole: each index of axis k is a contiguous block of size B.
	k := r - 1
	for k > 0 && starts[k] == 0 && strides[k] == 1 && od[k] == id[k] {
		k--
	}
	B, n, step := inStride[k], od[k], strides[k]*inStride[k]
	idx := make([]int, k)
	off := base
	for start := 0; start < len(o); start += n * B {
		dst := o[start : start+n*B]
		switch {
		case step == B: // contiguous
			copy(dst, in[off:off+n*B])
		case B == 1:
			for i := range dst {
				dst[i] = in[off+i*step]
			}
		default:
			for i := range n {
				copy(dst[i*B:(i+1)*B], in[off+i*step:off+i*step+B])
			}
		}
		for a := k - 1; a >= 0; a-- {
			idx[a]++
			off += strides[a] * inStride[a]
			if idx[a] < od[a] {
				break
			}
			off -= idx[a] * strides[a] * inStride[a]
			idx[a] = 0
		}
	}
	return out, nil
}
