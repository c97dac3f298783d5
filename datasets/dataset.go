package datasets

import (
	"fmt"
	"math/rand/v2"
	"slices"
)

// Split names a part of a data set as published: the training or the test records.
type Split string

const (
	// Train is the training split (CIFAR: 50,000 images; STL-10: the 5,000 labelled images).
	Train Split = "train"
	// Test is the test split (CIFAR: 10,000 images; STL-10: 8,000 images).
	Test Split = "test"
)

// Dataset is an in-memory image classification data set: N images of Height×Width×Channels
// uint8 pixels stored contiguously in NHWC order, with one label per image.
type Dataset struct {
	// Name is the data set's name, e.g. "cifar10".
	Name string
	// Split is the part of the data set these records come from.
	Split Split
	// Images holds N×Height×Width×Channels pixels, image-major, then row, column, channel.
	Images []uint8
	// Labels holds one class index in [0, NumClasses) per image.
	Labels []int32
	// CoarseLabels holds CIFAR-100's 20 super-class labels; nil for other data sets.
	CoarseLabels []int32
	// SourceIndex maps each record to its position in the original split file(s); nil
	// means the identity (record i is source record i). Subset and Take fill it so that
	// per-record side data such as pseudo labels can still be looked up.
	SourceIndex []int
	// Height, Width and Channels give the shape of one image.
	Height, Width, Channels int
	// NumClasses is the number of classes of Labels.
	NumClasses int
	// ClassNames gives a name per class (len NumClasses).
	ClassNames []string
	// CoarseClassNames gives CIFAR-100's super-class names; nil for other data sets.
	CoarseClassNames []string
}

// Len returns the number of images.
func (d *Dataset) Len() int { return len(d.Labels) }

// ImageSize returns the number of uint8 values of one image (Height×Width×Channels).
func (d *Dataset) ImageSize() int { return d.Height * d.Width * d.Channels }

// Pixels returns the HWC uint8 pixels of image i, aliasing the data set's storage.
func (d *Dataset) Pixels(i int) []uint8 {
	n := d.ImageSize()
	return d.Images[i*n : (i+1)*n : (i+1)*n]
}

// Image returns image i converted to float32 in [0,1] (torchvision's ToTensor, kept HWC).
func (d *Dataset) Image(i int) Image {
	return ImageFromUint8(d.Pixels(i), d.Height, d.Width, d.Channels)
}

// Source returns the position of record i in the original split file(s).
func (d *Dataset) Source(i int) int {
	if d.SourceIndex == nil {
		return i
	}
	return d.SourceIndex[i]
}

// Validate checks that the slices agree with the declared shape and that every label
// lies in [0, NumClasses); it returns an error naming the first offending record.
func (d *Dataset) Validate() error {
	n := len(d.Labels)
	if d.Height <= 0 || d.Width <= 0 || d.Channels <= 0 {
		return fmt.Errorf("%s %s: invalid image shape %dx%dx%d", d.Name, d.Split, d.Height, d.Width, d.Channels)
	}
	if len(d.Images) != n*d.ImageSize() {
		return fmt.Errorf("%s %s: %d labels need %d pixel bytes, have %d", d.Name, d.Split, n, n*d.ImageSize(), len(d.Images))
	}
	if d.CoarseLabels != nil && len(d.CoarseLabels) != n {
		return fmt.Errorf("%s %s: %d labels but %d coarse labels", d.Name, d.Split, n, len(d.CoarseLabels))
	}
	if d.SourceIndex != nil && len(d.SourceIndex) != n {
		return fmt.Errorf("%s %s: %d labels but %d source indices", d.Name, d.Split, n, len(d.SourceIndex))
	}
	for i, l := range d.Labels {
		if l < 0 || int(l) >= d.NumClasses {
			return fmt.Errorf("%s %s: record %d: label %d out of range [0,%d)", d.Name, d.Split, i, l, d.NumClasses)
		}
	}
	return nil
}

// ClassCounts returns the number of images of each class (len NumClasses).
func (d *Dataset) ClassCounts() []int {
	counts := make([]int, d.NumClasses)
	for _, l := range d.Labels {
		if l >= 0 && int(l) < d.NumClasses {
			counts[l]++
		}
	}
	return counts
}

// Select returns a new data set holding copies of the given records, in the given order.
// It returns an error if an index is out of range.
func (d *Dataset) Select(indices []int) (*Dataset, error) {
	n := d.ImageSize()
	out := d.emptyLike(len(indices))
	for k, i := range indices {
		if i < 0 || i >= d.Len() {
			return nil, fmt.Errorf("%s %s: select: index %d out of range [0,%d)", d.Name, d.Split, i, d.Len())
		}
		copy(out.Images[k*n:(k+1)*n], d.Pixels(i))
		out.Labels[k] = d.Labels[i]
		if d.CoarseLabels != nil {
			out.CoarseLabels[k] = d.CoarseLabels[i]
		}
		out.SourceIndex[k] = d.Source(i)
	}
	return out, nil
}

// Take returns a copy of the first n records (all of them if n >= Len).
func (d *Dataset) Take(n int) *Dataset {
	n = max(0, min(n, d.Len()))
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	out, _ := d.Select(idx) // indices are in range by construction
	return out
}

// Subset returns a copy of n records drawn without replacement with a PCG generator
// seeded by seed, kept in their original order (all records if n >= Len). The same
// seed always selects the same records.
func (d *Dataset) Subset(n int, seed uint64) *Dataset {
	n = max(0, min(n, d.Len()))
	r := rand.New(rand.NewPCG(mix64(seed), 0x5ab5e7))
	idx := r.Perm(d.Len())[:n]
	slices.Sort(idx)
	out, _ := d.Select(idx) // indices are in range by construction
	return out
}

// Float32Batch converts the given records to float32 in [0,1] (pixel/255, no mean/std
// normalisation) and returns them as one NHWC slice of len(indices)×Height×Width×Channels
// values, with their labels.
func (d *Dataset) Float32Batch(indices []int) ([]float32, []int32, error) {
	n := d.ImageSize()
	data := make([]float32, len(indices)*n)
	labels := make([]int32, len(indices))
	for k, i := range indices {
		if i < 0 || i >= d.Len() {
			return nil, nil, fmt.Errorf("%s %s: batch: index %d out of range [0,%d)", d.Name, d.Split, i, d.Len())
		}
		uint8ToFloat(data[k*n:(k+1)*n], d.Pixels(i))
		labels[k] = d.Labels[i]
	}
	return data, labels, nil
}

// PaddedBatches calls fn for consecutive batches of the records in order, each of exactly
// min(size, Len()) images as Float32Batch returns them; the last batch is padded with black
// images labelled 0, and n says how many of a batch's images are real. A graph compiled
// for one batch shape then measures every record (eval-mode results of the padding are
// dropped by the caller). An empty data set calls fn never.
func (d *Dataset) PaddedBatches(size int, fn func(pixels []float32, labels []int32, n int) error) error {
	shape := min(size, d.Len())
	for start := 0; start < d.Len(); start += shape {
		n := min(shape, d.Len()-start)
		idx := make([]int, n)
		for i := range idx {
			idx[i] = start + i
		}
		pix, labels, err := d.Float32Batch(idx)
		if err != nil {
			return err
		}
		if n < shape {
			pix = append(pix, make([]float32, (shape-n)*d.ImageSize())...)
			labels = append(labels, make([]int32, shape-n)...)
		}
		if err := fn(pix, labels, n); err != nil {
			return err
		}
	}
	return nil
}

func (d *Dataset) emptyLike(n int) *Dataset {
	out := &Dataset{
		Name: d.Name, Split: d.Split,
		Images:      make([]uint8, n*d.ImageSize()),
		Labels:      make([]int32, n),
		SourceIndex: make([]int, n),
		Height:      d.Height, Width: d.Width, Channels: d.Channels,
		NumClasses:       d.NumClasses,
		ClassNames:       slices.Clone(d.ClassNames),
		CoarseClassNames: slices.Clone(d.CoarseClassNames),
	}
	if d.CoarseLabels != nil {
		out.CoarseLabels = make([]int32, n)
	}
	return out
}
