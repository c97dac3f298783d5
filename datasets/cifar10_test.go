package datasets

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestLoadCIFAR10KnownFacts(t *testing.T) {
	train, test := loadCIFAR10(t)
	if train.Len() != 50000 || test.Len() != 10000 {
		t.Fatalf("sizes: train %d test %d, want 50000/10000", train.Len(), test.Len())
	}
	if err := train.Validate(); err != nil {
		t.Fatal(err)
	}
	if got, want := train.Labels[:10], []int32{6, 9, 9, 4, 1, 1, 2, 7, 8, 3}; !slices.Equal(got, want) {
		t.Errorf("first train labels %v, want %v", got, want)
	}
	if got, want := test.Labels[:10], []int32{3, 8, 8, 0, 6, 6, 1, 6, 3, 1}; !slices.Equal(got, want) {
		t.Errorf("first test labels %v, want %v", got, want)
	}
	for c, n := range train.ClassCounts() {
		if n != 5000 {
			t.Errorf("train class %d: %d images, want 5000", c, n)
		}
	}
	for c, n := range test.ClassCounts() {
		if n != 1000 {
			t.Errorf("test class %d: %d images, want 1000", c, n)
		}
	}
	if !slices.Equal(train.ClassNames, CIFAR10ClassNames) {
		t.Errorf("class names %v", train.ClassNames)
	}
	// Per-channel mean /255 of the training set.
	var sum [3]float64
	for i, v := range train.Images {
		sum[i%3] += float64(v)
	}
	want := [3]float64{0.4914, 0.4822, 0.4465}
	for c := range sum {
		m := sum[c] / 255 / float64(train.Len()*1024)
		if d := m - want[c]; d > 5e-5 || d < -5e-5 {
			t.Errorf("channel %d mean %.5f, want %.4f", c, m, want[c])
		}
	}
}

// The HWC conversion must put byte 1+c*1024+y*32+x of a record at pixel (y,x,c).
func TestCIFAR10PlaneLayout(t *testing.T) {
	dir := cifar10Dir(t)
	train, _ := loadCIFAR10(t)
	raw, err := os.ReadFile(filepath.Join(dir, "data_batch_1.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for _, rec := range []int{0, 1, 9999} {
		r := raw[rec*3073 : (rec+1)*3073]
		img := train.Pixels(rec)
		for _, p := range [][3]int{{0, 0, 0}, {0, 31, 1}, {31, 0, 2}, {5, 17, 1}, {31, 31, 2}} {
			y, x, c := p[0], p[1], p[2]
			if got, want := img[(y*32+x)*3+c], r[1+c*1024+y*32+x]; got != want {
				t.Errorf("record %d pixel (%d,%d,%d) = %d, want %d", rec, y, x, c, got, want)
			}
		}
		if int32(r[0]) != train.Labels[rec] {
			t.Errorf("record %d label %d, want %d", rec, train.Labels[rec], r[0])
		}
	}
}

func TestDatasetHelpers(t *testing.T) {
	train, _ := loadCIFAR10(t)
	sub := train.Subset(100, 7)
	if sub.Len() != 100 || sub.Validate() != nil {
		t.Fatalf("subset: len %d, validate %v", sub.Len(), sub.Validate())
	}
	if again := train.Subset(100, 7); !slices.Equal(again.SourceIndex, sub.SourceIndex) {
		t.Error("Subset is not deterministic for a seed")
	}
	if other := train.Subset(100, 8); slices.Equal(other.SourceIndex, sub.SourceIndex) {
		t.Error("Subset ignores the seed")
	}
	if !slices.IsSorted(sub.SourceIndex) {
		t.Error("Subset does not keep the original order")
	}
	for k, src := range sub.SourceIndex {
		if !slices.Equal(sub.Pixels(k), train.Pixels(src)) || sub.Labels[k] != train.Labels[src] {
			t.Fatalf("subset record %d differs from source record %d", k, src)
		}
	}
	take := train.Take(5)
	if take.Len() != 5 || !slices.Equal(take.Labels, train.Labels[:5]) || take.Source(4) != 4 {
		t.Errorf("Take(5): %v", take.Labels)
	}
	// Subset of a subset keeps the original source indices.
	sub2 := sub.Take(3)
	if !slices.Equal(sub2.SourceIndex, sub.SourceIndex[:3]) {
		t.Errorf("nested source index %v, want %v", sub2.SourceIndex, sub.SourceIndex[:3])
	}
	data, labels, err := train.Float32Batch([]int{0, 2})
	if err != nil {
		t.Fatal(err)
	}
	if len(data) != 2*3072 || labels[0] != 6 || labels[1] != 9 {
		t.Fatalf("Float32Batch: len %d labels %v", len(data), labels)
	}
	for i, v := range data[3072:] {
		if want := float32(train.Pixels(2)[i]) / 255; v != want {
			t.Fatalf("Float32Batch value %d = %v, want %v", i, v, want)
		}
		if v < 0 || v > 1 {
			t.Fatalf("value %v outside [0,1]", v)
		}
	}
	if _, _, err := train.Float32Batch([]int{50000}); err == nil {
		t.Error("Float32Batch accepted an out-of-range index")
	}
	if _, err := train.Select([]int{-1}); err == nil {
		t.Error("Select accepted -1")
	}
}

func TestCIFAR10Errors(t *testing.T) {
	// Missing folder: say which folder to fill and how.
	missing := filepath.Join(t.TempDir(), "nope")
	_, _, err := LoadCIFAR10(missing)
	wantErrContains(t, err, missing, "data_batch_1.bin", "cifar-10-binary.tar.gz", "tar xzf", "--strip-components=1")

	// Truncated file: expected N bytes, got M.
	dir := t.TempDir()
	writeTestFile(t, dir, "data_batch_1.bin", make([]byte, 1000))
	_, err = LoadCIFAR10Split(dir, Train)
	wantErrContains(t, err, filepath.Join(dir, "data_batch_1.bin"), "truncated", "expected 30730000 bytes", "got 1000")

	// Bad label: record index and offset.
	bad := make([]byte, 2*3073)
	bad[3073] = 10
	_, _, _, err = decodeCIFAR(bad, "x.bin", 1, 2, 10, 0)
	wantErrContains(t, err, "x.bin", "record 1", "label 10 out of range [0,10)")

	// Wrong size (too long).
	_, _, _, err = decodeCIFAR(make([]byte, 3074), "y.bin", 1, 1, 10, 0)
	wantErrContains(t, err, "y.bin", "wrong size", "expected 3073 bytes", "got 3074")

	if _, err := LoadCIFAR10Split(dir, "valid"); err == nil {
		t.Error("unknown split accepted")
	}
}
