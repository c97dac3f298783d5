package datasets

import (
	"slices"
	"testing"
)

// PaddedBatches visits every record once, in order, in batches of one shape: the last
// batch of 7 records in batches of 3 holds one real image and two black ones labelled 0.
func TestPaddedBatches(t *testing.T) {
	d := randomDataset(7, 3)
	all, allLabels, err := d.Float32Batch([]int{0, 1, 2, 3, 4, 5, 6})
	if err != nil {
		t.Fatal(err)
	}
	var got []float32
	var gotLabels []int32
	var ns []int
	err = d.PaddedBatches(3, func(pix []float32, labels []int32, n int) error {
		if len(pix) != 3*d.ImageSize() || len(labels) != 3 {
			t.Fatalf("batch of %d values and %d labels, want the shape of 3 images", len(pix), len(labels))
		}
		for _, v := range pix[n*d.ImageSize():] {
			if v != 0 {
				t.Fatal("padding is not black")
			}
		}
		for _, l := range labels[n:] {
			if l != 0 {
				t.Fatal("padding is not labelled 0")
			}
		}
		got, gotLabels, ns = append(got, pix[:n*d.ImageSize()]...), append(gotLabels, labels[:n]...), append(ns, n)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ns, []int{3, 3, 1}) || !slices.Equal(got, all) || !slices.Equal(gotLabels, allLabels) {
		t.Errorf("batches of %v real images; records in order: %v", ns, slices.Equal(got, all) && slices.Equal(gotLabels, allLabels))
	}
	// A batch size above the data set's is the data set's: one batch, no padding.
	calls := 0
	if err := d.PaddedBatches(100, func(pix []float32, _ []int32, n int) error {
		calls++
		if n != 7 || len(pix) != 7*d.ImageSize() {
			t.Errorf("n %d, %d values; want the 7 images alone", n, len(pix))
		}
		return nil
	}); err != nil || calls != 1 {
		t.Errorf("%d calls, %v", calls, err)
	}
}
