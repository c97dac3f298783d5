package datasets

import (
	"fmt"
	"path/filepath"
)

// cifar100Counts are the official record counts of train.bin and test.bin.
var cifar100Counts = splitCounts{train: 50000, test: 10000}

// splitCounts gives the number of records of each split; tests use small ones.
type splitCounts struct{ train, test int }

func (c splitCounts) of(split Split) int {
	if split == Train {
		return c.train
	}
	return c.test
}

// LoadCIFAR100 reads both splits of CIFAR-100 from dir, a folder holding the content of
// the official cifar-100-binary archive folder (train.bin, test.bin,
// fine_label_names.txt, coarse_label_names.txt). Labels are the 100 fine labels; the 20
// coarse labels are kept in CoarseLabels. Train has 50,000 images and Test 10,000.
func LoadCIFAR100(dir string) (train, test *Dataset, err error) {
	if train, err = LoadCIFAR100Split(dir, Train); err != nil {
		return nil, nil, err
	}
	if test, err = LoadCIFAR100Split(dir, Test); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// LoadCIFAR100Split reads one split of CIFAR-100 from dir (see LoadCIFAR100). The file
// must hold exactly the official number of 3,074-byte records (coarse label byte, fine
// label byte, 3,072 pixel bytes).
func LoadCIFAR100Split(dir string, split Split) (*Dataset, error) {
	return loadCIFAR100Split(dir, split, cifar100Counts)
}

func loadCIFAR100Split(dir string, split Split, counts splitCounts) (*Dataset, error) {
	var file string
	switch split {
	case Train:
		file = "train.bin"
	case Test:
		file = "test.bin"
	default:
		return nil, fmt.Errorf("cifar100: unknown split %q (want %q or %q)", split, Train, Test)
	}
	fineNames, err := readNames(CIFAR100, dir, "fine_label_names.txt", 100)
	if err != nil {
		return nil, err
	}
	coarseNames, err := readNames(CIFAR100, dir, "coarse_label_names.txt", 20)
	if err != nil {
		return nil, err
	}
	n := counts.of(split)
	const rec = 2 + cifarPixels
	data, err := readSized(CIFAR100, dir, file, int64(n)*rec, fmt.Sprintf("%d records of %d bytes", n, rec))
	if err != nil {
		return nil, err
	}
	imgs, fine, coarse, err := decodeCIFAR(data, filepath.Join(dir, file), 2, n, 100, 20)
	if err != nil {
		return nil, err
	}
	return &Dataset{
		Name: CIFAR100, Split: split, Images: imgs, Labels: fine, CoarseLabels: coarse,
		Height: cifarSide, Width: cifarSide, Channels: 3,
		NumClasses: 100, ClassNames: fineNames, CoarseClassNames: coarseNames,
	}, nil
}
