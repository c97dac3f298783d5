package torchenv

import (
	"math"
	"testing"

	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/internal/testdirs"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestImages returns the first n CIFAR-10 test images as NHWC float32 in [0,1] and their
// labels.
func TestImages(t testing.TB, n int) (*tensors.Tensor, []int32) {
	t.Helper()
	ds, err := datasets.LoadCIFAR10Split(testdirs.CIFAR10(t), datasets.Test)
	if err != nil {
		t.Fatal(err)
	}
	return Images(t, ds, n)
}

// Images returns the first n images of ds (n ≤ 0: all) as NHWC float32 in [0,1] and their
// labels.
func Images(t testing.TB, ds *datasets.Dataset, n int) (*tensors.Tensor, []int32) {
	t.Helper()
	if n <= 0 || n > ds.Len() {
		n = ds.Len()
	}
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	pix, labels, err := ds.Float32Batch(idx)
	if err != nil {
		t.Fatal(err)
	}
	return tensors.FromFlatDataAndDimensions(pix, n, ds.Height, ds.Width, ds.Channels), labels
}

// NCHW returns NHWC float32 images as NCHW, PyTorch's layout.
func NCHW(x *tensors.Tensor) *tensors.Tensor {
	d := x.Shape().Dimensions
	n, h, w, c := d[0], d[1], d[2], d[3]
	src := tensors.MustCopyFlatData[float32](x)
	dst := make([]float32, len(src))
	for i := range n {
		for y := range h {
			for xx := range w {
				for ch := range c {
					dst[((i*c+ch)*h+y)*w+xx] = src[((i*h+y)*w+xx)*c+ch]
				}
			}
		}
	}
	return tensors.FromFlatDataAndDimensions(dst, n, c, h, w)
}

// Compare checks goacl's outputs [N, D] against PyTorch's: max |Δ| ≤ limit (and ≤
// limit·scale when the outputs are smaller than 1), and the same argmax per image, both
// of the raw outputs and of the outputs centred by PyTorch's per-column mean over the
// images. (Random models tend to put one class first for every image; the centred argmax
// varies from image to image, so that agreeing on it means something. It must take at
// least two values.) It returns the max |Δ| and the largest |output|.
func Compare(t testing.TB, what string, ours, theirs *tensors.Tensor, limit float64) (maxDiff, maxAbs float64) {
	t.Helper()
	if !ours.Shape().Equal(theirs.Shape()) {
		t.Fatalf("%s: goacl %s, PyTorch %s", what, ours.Shape(), theirs.Shape())
	}
	a, b := tensors.MustCopyFlatData[float32](ours), tensors.MustCopyFlatData[float32](theirs)
	n, d := ours.Shape().Dimensions[0], ours.Shape().Dimensions[1]
	mean := make([]float64, d)
	for i := range n {
		for j := range d {
			mean[j] += float64(b[i*d+j]) / float64(n)
		}
	}
	argmax := func(v []float32, i int, offset []float64) int {
		best := 0
		for j := range d {
			if float64(v[i*d+j])-offset[j] > float64(v[i*d+best])-offset[best] {
				best = j
			}
		}
		return best
	}
	zero := make([]float64, d)
	agree, agreeCentred := 0, 0
	classes := map[int]bool{}
	for i := range n {
		for j := range d {
			k := i*d + j
			maxDiff = max(maxDiff, math.Abs(float64(a[k]-b[k])))
			maxAbs = max(maxAbs, math.Abs(float64(b[k])))
		}
		if argmax(a, i, zero) == argmax(b, i, zero) {
			agree++
		}
		c := argmax(b, i, mean)
		if argmax(a, i, mean) == c {
			agreeCentred++
		}
		classes[c] = true
	}
	if maxDiff > limit*min(1, maxAbs) || agree != n || agreeCentred != n || math.IsNaN(maxDiff) {
		t.Errorf("%s: max |goacl − PyTorch| = %.3g (limit %g·min(1, %.3g)), argmax agrees on %d/%d (centred %d/%d)",
			what, maxDiff, limit, maxAbs, agree, n, agreeCentred, n)
	}
	if len(classes) < 2 {
		t.Errorf("%s: the centred outputs have one argmax for every image: the comparison would prove little", what)
	}
	return maxDiff, maxAbs
}
