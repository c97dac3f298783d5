package torchpickle

import (
	"fmt"
	"math"

	"github.com/ainfonce/goacl/interop/internal/tensorbytes"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// storageDTypes maps the torch storage classes a checkpoint names in its persistent ids to
// their element types. Complex and quantized storages are not supported.
var storageDTypes = map[string]dtypes.DType{
	"torch.FloatStorage":    dtypes.Float32,
	"torch.DoubleStorage":   dtypes.Float64,
	"torch.HalfStorage":     dtypes.Float16,
	"torch.BFloat16Storage": dtypes.BFloat16,
	"torch.LongStorage":     dtypes.Int64,
	"torch.IntStorage":      dtypes.Int32,
	"torch.ShortStorage":    dtypes.Int16,
	"torch.CharStorage":     dtypes.Int8,
	"torch.ByteStorage":     dtypes.Uint8,
	"torch.BoolStorage":     dtypes.Bool,
}

// Storage is one torch storage of a checkpoint: a flat array of NumEl elements of DType,
// stored in the archive as data/<Key>. Its bytes are read when a tensor over it is
// materialised.
type Storage struct {
	// DType is the element type, from the storage class (torch.FloatStorage: Float32).
	DType dtypes.DType
	// Key names the storage's record in the archive (data/<Key>).
	Key string
	// Location is the device it was saved from ("cpu", "cuda:0", …); tensors are always
	// read to the host.
	Location string
	// NumEl is the number of elements.
	NumEl int64
	// load returns the storage's NumEl·DType.Size() little-endian bytes.
	load func() ([]byte, error)
}

// Tensor is a torch tensor of a checkpoint: a strided view of a storage, not yet copied.
type Tensor struct {
	// Storage holds the elements.
	Storage *Storage
	// Offset is the storage offset of element [0,…,0], in elements.
	Offset int64
	// Size and Stride are the tensor's shape and per-axis strides in elements, as in
	// PyTorch; a contiguous tensor has Stride[i] = Size[i+1]·…·Size[n−1].
	Size, Stride []int64
	// RequiresGrad is the saved tensor's flag (true for an nn.Parameter); informational.
	RequiresGrad bool
}

// DType returns the element type.
func (t *Tensor) DType() dtypes.DType { return t.Storage.DType }

// Shape returns the tensor's dimensions as ints.
func (t *Tensor) Shape() []int {
	dims := make([]int, len(t.Size))
	for i, s := range t.Size {
		dims[i] = int(s)
	}
	return dims
}

// NumEl returns the number of elements.
func (t *Tensor) NumEl() int64 {
	n := int64(1)
	for _, s := range t.Size {
		n *= s
	}
	return n
}

// check validates the view against its storage: sizes and strides of the same rank, every
// element inside the storage, and no more elements than the storage holds (a view that
// repeats storage elements, as expand() makes, is refused: state dicts never hold one, and
// it would let a small file demand a huge allocation).
func (t *Tensor) check() error {
	if len(t.Size) != len(t.Stride) {
		return fmt.Errorf("tensor has %d sizes but %d strides", len(t.Size), len(t.Stride))
	}
	n, err := tensorbytes.NumElements(t.Shape(), t.DType().Size())
	if err != nil {
		return fmt.Errorf("tensor: %w", err)
	}
	if n == 0 {
		if t.Offset > t.Storage.NumEl {
			return fmt.Errorf("empty tensor at offset %d past its storage of %d elements", t.Offset, t.Storage.NumEl)
		}
		return nil
	}
	if n > t.Storage.NumEl {
		return fmt.Errorf("tensor of %v (%d elements) views a storage of %d elements: expanded views are not supported", t.Size, n, t.Storage.NumEl)
	}
	last := t.Offset
	for i, s := range t.Size {
		if t.Stride[i] > 0 && s-1 > (math.MaxInt64-last)/t.Stride[i] {
			return fmt.Errorf("tensor of %v with strides %v overflows", t.Size, t.Stride)
		}
		last += (s - 1) * t.Stride[i]
	}
	if last >= t.Storage.NumEl {
		return fmt.Errorf("tensor of %v with strides %v at offset %d reaches element %d of a storage of %d elements",
			t.Size, t.Stride, t.Offset, last, t.Storage.NumEl)
	}
	return nil
}

// Contiguous reports whether the view is row-major contiguous (axes of size 1 may have any
// stride).
func (t *Tensor) Contiguous() bool {
	want := int64(1)
	for i := len(t.Size) - 1; i >= 0; i-- {
		if t.Size[i] != 1 && t.Stride[i] != want {
			return false
		}
		want *= t.Size[i]
	}
	return true
}

// Materialize copies the view into a new contiguous GoMLX tensor of the same dtype and
// shape, reading the storage from the archive if needed.
func (t *Tensor) Materialize() (*tensors.Tensor, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	data, err := t.Storage.load()
	if err != nil {
		return nil, err
	}
	es := int64(t.DType().Size())
	if int64(len(data)) != t.Storage.NumEl*es {
		return nil, fmt.Errorf("storage %s holds %d bytes, want %d", t.Storage.Key, len(data), t.Storage.NumEl*es)
	}
	n := t.NumEl()
	if n == 0 {
		return tensorbytes.FromBytes(t.DType(), t.Shape(), nil)
	}
	if t.Contiguous() {
		return tensorbytes.FromBytes(t.DType(), t.Shape(), data[t.Offset*es:(t.Offset+n)*es])
	}
	out := make([]byte, 0, n*es)
	idx := make([]int64, len(t.Size))
	for range n {
		pos := t.Offset
		for i, j := range idx {
			pos += j * t.Stride[i]
		}
		out = append(out, data[pos*es:(pos+1)*es]...)
		for i := len(idx) - 1; i >= 0; i-- {
			idx[i]++
			if idx[i] < t.Size[i] {
				break
			}
			idx[i] = 0
		}
	}
	return tensorbytes.FromBytes(t.DType(), t.Shape(), out)
}
