// Package tensorbytes moves GoMLX tensors to and from the little-endian, row-major byte
// layout that safetensors files and PyTorch storages use. It is shared by the interop
// readers and writers; it checks sizes, never trusts them.
package tensorbytes

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// hostLittleEndian reports whether this machine stores numbers little-endian, as GoMLX
// tensors hold their values in host order.
var hostLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// CheckHost returns an error on big-endian machines, where the raw bytes of a GoMLX tensor
// are not the little-endian bytes the file formats store.
func CheckHost() error {
	if !hostLittleEndian {
		return fmt.Errorf("interop: big-endian hosts are not supported (tensor files are little-endian)")
	}
	return nil
}

// Supported lists the dtypes the interop formats exchange: those with a fixed-size Go
// element type on both sides.
var Supported = []dtypes.DType{dtypes.Bool, dtypes.Int8, dtypes.Int16, dtypes.Int32, dtypes.Int64,
	dtypes.Uint8, dtypes.Uint16, dtypes.Uint32, dtypes.Uint64, dtypes.Float16, dtypes.BFloat16,
	dtypes.Float32, dtypes.Float64}

// NumElements returns the product of dims, or an error when a dimension is negative or the
// product (times elemSize bytes) overflows an int64: the guard to run on untrusted shapes
// before anything is allocated.
func NumElements(dims []int, elemSize int) (int64, error) {
	n := int64(1)
	for _, d := range dims {
		if d < 0 {
			return 0, fmt.Errorf("negative dimension in shape %v", dims)
		}
		if d != 0 && n > math.MaxInt64/int64(elemSize)/int64(d) {
			return 0, fmt.Errorf("shape %v is too large", dims)
		}
		n *= int64(d)
	}
	return n, nil
}

// FromBytes returns a new tensor of dtype and dims holding data, which must be exactly the
// little-endian row-major bytes of that shape.
func FromBytes(dtype dtypes.DType, dims []int, data []byte) (*tensors.Tensor, error) {
	if err := CheckHost(); err != nil {
		return nil, err
	}
	if !slices.Contains(Supported, dtype) {
		return nil, fmt.Errorf("unsupported dtype %s", dtype)
	}
	n, err := NumElements(dims, dtype.Size())
	if err != nil {
		return nil, err
	}
	if want := n * int64(dtype.Size()); want != int64(len(data)) {
		return nil, fmt.Errorf("%s%v needs %d bytes, got %d", dtype, dims, want, len(data))
	}
	t := tensors.FromShape(shapes.Make(dtype, dims...))
	if n == 0 {
		return t, nil // GoMLX's byte accessors need at least one element
	}
	if err := t.MutableBytes(func(dst []byte) { copy(dst, data) }); err != nil {
		return nil, err
	}
	return t, nil
}

// Bytes returns a copy of t's values as little-endian row-major bytes.
func Bytes(t *tensors.Tensor) ([]byte, error) {
	if err := CheckHost(); err != nil {
		return nil, err
	}
	if !slices.Contains(Supported, t.DType()) {
		return nil, fmt.Errorf("unsupported dtype %s", t.DType())
	}
	if t.Shape().Size() == 0 {
		return []byte{}, nil
	}
	var out []byte
	err := t.ConstBytes(func(src []byte) { out = slices.Clone(src) })
	return out, err
}
