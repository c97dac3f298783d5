package torchnames

// Tensor-level conversions: axis permutations, float widths, scalar reads.

import (
	"fmt"
	"math"

	"github.com/ainfonce/goacl/interop/internal/tensorbytes"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/dtypes/bfloat16"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/x448/float16"
)

// batchCount reads num_batches_tracked: an integer scalar.
func batchCount(t *tensors.Tensor) (int64, error) {
	switch t.DType() {
	case dtypes.Int64:
		return tensors.ToScalar[int64](t), nil
	case dtypes.Int32:
		return int64(tensors.ToScalar[int32](t)), nil
	}
	return 0, fmt.Errorf("dtype %s, want an int64 count", t.DType())
}

// checkValues compares a float vector with want, to float32 precision.
func checkValues(t *tensors.Tensor, want []float64) error {
	if !t.DType().IsFloat() {
		return fmt.Errorf("dtype %s, want floats", t.DType())
	}
	got, err := floats(t)
	if err != nil {
		return err
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-6*max(1, math.Abs(want[i])) {
			return fmt.Errorf("holds %v, the layout's input normalisation is %v", got, want)
		}
	}
	return nil
}

// Permutations of the axes: out axis i is in axis perm[i].
var (
	hwioToOIHW = []int{3, 2, 0, 1}
	oihwToHWIO = []int{2, 3, 1, 0}
	transpose2 = []int{1, 0}
)

// convertLayout returns t rearranged for kind: to PyTorch's layout, or from it when
// fromTorch. Same kinds are returned as they are.
func convertLayout(t *tensors.Tensor, kind Kind, fromTorch bool) (*tensors.Tensor, error) {
	var perm []int
	switch kind {
	case ConvKernel:
		perm = hwioToOIHW
		if fromTorch {
			perm = oihwToHWIO
		}
	case LinearWeight:
		perm = transpose2
	default:
		return t, nil
	}
	data, err := tensorbytes.Bytes(t)
	if err != nil {
		return nil, err
	}
	dims := t.Shape().Dimensions
	outDims := make([]int, len(perm))
	for i, p := range perm {
		outDims[i] = dims[p]
	}
	return tensorbytes.FromBytes(t.DType(), outDims, permute(data, t.DType().Size(), dims, perm))
}

// permute returns the row-major bytes of the tensor data (dims, es bytes per element) with
// its axes permuted: output axis i is input axis perm[i].
func permute(data []byte, es int, dims, perm []int) []byte {
	rank := len(dims)
	inStride := make([]int, rank)
	s := 1
	for i := rank - 1; i >= 0; i-- {
		inStride[i] = s
		s *= dims[i]
	}
	outDims := make([]int, rank)
	stride := make([]int, rank) // input stride of each output axis
	for i, p := range perm {
		outDims[i], stride[i] = dims[p], inStride[p]
	}
	out := make([]byte, 0, len(data))
	if s == 0 {
		return out
	}
	idx := make([]int, rank)
	for range s {
		pos := 0
		for i, j := range idx {
			pos += j * stride[i]
		}
		out = append(out, data[pos*es:(pos+1)*es]...)
		for i := rank - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < outDims[i] {
				break
			}
			idx[i] = 0
		}
	}
	return out
}

// floats returns a floating-point tensor's values as float64s.
func floats(t *tensors.Tensor) ([]float64, error) {
	out := make([]float64, t.Shape().Size())
	switch t.DType() {
	case dtypes.Float64:
		copy(out, tensors.MustCopyFlatData[float64](t))
	case dtypes.Float32:
		for i, v := range tensors.MustCopyFlatData[float32](t) {
			out[i] = float64(v)
		}
	case dtypes.Float16:
		for i, v := range tensors.MustCopyFlatData[float16.Float16](t) {
			out[i] = float64(v.Float32())
		}
	case dtypes.BFloat16:
		for i, v := range tensors.MustCopyFlatData[bfloat16.BFloat16](t) {
			out[i] = float64(v.Float32())
		}
	default:
		return nil, fmt.Errorf("dtype %s is not floating point", t.DType())
	}
	return out, nil
}

// castFloat returns t as dtype (Float32 or Float64).
func castFloat(t *tensors.Tensor, dtype dtypes.DType) (*tensors.Tensor, error) {
	if t.DType() == dtype {
		return t, nil
	}
	vals, err := floats(t)
	if err != nil {
		return nil, err
	}
	dims := t.Shape().Dimensions
	if dtype == dtypes.Float64 {
		return tensors.FromFlatDataAndDimensions(vals, dims...), nil
	}
	f := make([]float32, len(vals))
	for i, v := range vals {
		f[i] = float32(v)
	}
	return tensors.FromFlatDataAndDimensions(f, dims...), nil
}
