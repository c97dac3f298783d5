package datasets

import (
	"fmt"
	"path/filepath"
)

// STL-10 image geometry.
const (
	stl10Side   = 96
	stl10Plane  = stl10Side * stl10Side // 9216 bytes per colour plane
	stl10Pixels = 3 * stl10Plane        // 27648 bytes per image
)

// stl10Counts are the official image counts of train_X.bin and test_X.bin.
var stl10Counts = splitCounts{train: 5000, test: 8000}

// stl10UnlabeledImages is the official image count of unlabeled_X.bin.
const stl10UnlabeledImages = 100000

// STL10ClassNames are the STL-10 class names in label order (as in class_names.txt).
var STL10ClassNames = []string{"airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"}

// LoadSTL10 reads the labelled splits of STL-10 from dir, a folder holding the content of
// the official stl10_binary archive folder (train_X.bin, train_y.bin, test_X.bin,
// test_y.bin, class_names.txt). Images are returned at their native 96×96×3 (HWC) and
// labels are converted from the files' 1..10 to 0..9. Train has 5,000 images, Test
// 8,000. Use Dataset.Resize(32, 32) for the 32×32 transfer protocol.
func LoadSTL10(dir string) (train, test *Dataset, err error) {
	if train, err = LoadSTL10Split(dir, Train); err != nil {
		return nil, nil, err
	}
	if test, err = LoadSTL10Split(dir, Test); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// LoadSTL10Split reads one labelled split of STL-10 from dir (see LoadSTL10).
func LoadSTL10Split(dir string, split Split) (*Dataset, error) {
	return loadSTL10Split(dir, split, stl10Counts)
}

func loadSTL10Split(dir string, split Split, counts splitCounts) (*Dataset, error) {
	if split != Train && split != Test {
		return nil, fmt.Errorf("stl10: unknown split %q (want %q or %q)", split, Train, Test)
	}
	names, err := classNamesOrDefault(STL10, dir, "class_names.txt", STL10ClassNames)
	if err != nil {
		return nil, err
	}
	n := counts.of(split)
	xName, yName := string(split)+"_X.bin", string(split)+"_y.bin"
	x, err := readSized(STL10, dir, xName, int64(n)*stl10Pixels, fmt.Sprintf("%d images of 3x96x96 bytes", n))
	if err != nil {
		return nil, err
	}
	y, err := readSized(STL10, dir, yName, int64(n), fmt.Sprintf("%d label bytes", n))
	if err != nil {
		return nil, err
	}
	imgs, labels, err := decodeSTL10(x, y, filepath.Join(dir, xName), filepath.Join(dir, yName), n)
	if err != nil {
		return nil, err
	}
	return &Dataset{
		Name: STL10, Split: split, Images: imgs, Labels: labels,
		Height: stl10Side, Width: stl10Side, Channels: 3, NumClasses: 10, ClassNames: names,
	}, nil
}

// decodeSTL10 decodes n STL-10 images and labels. Each image is 3 colour planes of 96×96
// bytes stored column-major (Fortran order): byte c*9216 + x*96 + y of an image is the
// pixel at row y, column x of channel c. Labels are bytes in 1..10 and are returned as
// 0..9. The images are returned in HWC order. fileX and fileY only name the sources in
// error messages.
func decodeSTL10(x, y []byte, fileX, fileY string, n int) ([]uint8, []int32, error) {
	if n < 0 {
		return nil, nil, fmt.Errorf("%s: invalid image count %d", fileX, n)
	}
	if err := checkSize(fileX, int64(len(x)), int64(n)*stl10Pixels, fmt.Sprintf("%d images of 3x96x96 bytes", n)); err != nil {
		return nil, nil, err
	}
	if err := checkSize(fileY, int64(len(y)), int64(n), fmt.Sprintf("%d label bytes", n)); err != nil {
		return nil, nil, err
	}
	labels := make([]int32, n)
	for i, b := range y {
		if b < 1 || b > 10 {
			return nil, nil, fmt.Errorf("%s: record %d: label %d out of range [1,10]", fileY, i, b)
		}
		labels[i] = int32(b) - 1
	}
	imgs := make([]uint8, n*stl10Pixels)
	for i := 0; i < n; i++ {
		src := x[i*stl10Pixels : (i+1)*stl10Pixels]
		dst := imgs[i*stl10Pixels : (i+1)*stl10Pixels]
		for c := 0; c < 3; c++ {
			plane := src[c*stl10Plane : (c+1)*stl10Plane]
			for col := 0; col < stl10Side; col++ {
				column := plane[col*stl10Side : (col+1)*stl10Side]
				for row, v := range column {
					dst[(row*stl10Side+col)*3+c] = v
				}
			}
		}
	}
	return imgs, labels, nil
}
