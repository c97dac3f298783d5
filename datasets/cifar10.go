package datasets

import (
	"fmt"
	"path/filepath"
)

// cifar10Records is the number of records in each CIFAR-10 batch file.
const cifar10Records = 10000

// cifar10TrainFiles and cifar10TestFile are the data files of cifar-10-batches-bin.
var (
	cifar10TrainFiles = []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin"}
	cifar10TestFile   = "test_batch.bin"
)

// cifar10MD5 are the md5 checksums of the official cifar-10-batches-bin data files.
var cifar10MD5 = map[string]string{
	"data_batch_1.bin": "5dd7e06a14cb22eb9f671a540d1b7c25",
	"data_batch_2.bin": "5ea93a67294ea407fff1d09f752e9692",
	"data_batch_3.bin": "942cd6a4bcdd0dd3c604fbe906cb4421",
	"data_batch_4.bin": "ae636b3ba5c66a11e91e8cb52e771fcb",
	"data_batch_5.bin": "53f37980c15c3d472c316c40844f3f0d",
	"test_batch.bin":   "803d5f7f4d78ea53de84dbe85f74fb6d",
}

// CIFAR10ClassNames are the CIFAR-10 class names in label order (as in batches.meta.txt).
var CIFAR10ClassNames = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

// LoadCIFAR10 reads both splits of CIFAR-10 from dir, a folder holding the content of
// the official cifar-10-batches-bin archive folder (data_batch_1..5.bin, test_batch.bin,
// batches.meta.txt). Train has 50,000 images and Test 10,000, 32×32×3 HWC.
func LoadCIFAR10(dir string) (train, test *Dataset, err error) {
	if train, err = LoadCIFAR10Split(dir, Train); err != nil {
		return nil, nil, err
	}
	if test, err = LoadCIFAR10Split(dir, Test); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// LoadCIFAR10Split reads one split of CIFAR-10 from dir (see LoadCIFAR10). Every file
// must hold exactly 10,000 records of 3,073 bytes with labels in [0,10).
func LoadCIFAR10Split(dir string, split Split) (*Dataset, error) {
	var files []string
	switch split {
	case Train:
		files = cifar10TrainFiles
	case Test:
		files = []string{cifar10TestFile}
	default:
		return nil, fmt.Errorf("cifar10: unknown split %q (want %q or %q)", split, Train, Test)
	}
	names, err := classNamesOrDefault(CIFAR10, dir, "batches.meta.txt", CIFAR10ClassNames)
	if err != nil {
		return nil, err
	}
	ds := &Dataset{Name: CIFAR10, Split: split, Height: cifarSide, Width: cifarSide, Channels: 3, NumClasses: 10, ClassNames: names,
		Images: make([]uint8, 0, len(files)*cifar10Records*cifarPixels), Labels: make([]int32, 0, len(files)*cifar10Records)}
	for _, f := range files {
		const rec = 1 + cifarPixels
		data, err := readSized(CIFAR10, dir, f, cifar10Records*rec, fmt.Sprintf("%d records of %d bytes", cifar10Records, rec))
		if err != nil {
			return nil, err
		}
		imgs, labels, _, err := decodeCIFAR(data, filepath.Join(dir, f), 1, cifar10Records, 10, 0)
		if err != nil {
			return nil, err
		}
		ds.Images = append(ds.Images, imgs...)
		ds.Labels = append(ds.Labels, labels...)
	}
	return ds, nil
}
