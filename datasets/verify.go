package datasets

import (
	"crypto/md5"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// officialCounts are the official train/test record counts of each data set.
var officialCounts = map[string]splitCounts{
	CIFAR10:  {train: 5 * cifar10Records, test: cifar10Records},
	CIFAR100: cifar100Counts,
	STL10:    stl10Counts,
}

// nameFiles are the class-name files of each data set; optional ones fall back to
// built-in names.
var nameFiles = map[string][]struct {
	name     string
	count    int
	optional bool
}{
	CIFAR10:  {{"batches.meta.txt", 10, true}},
	CIFAR100: {{"fine_label_names.txt", 100, false}, {"coarse_label_names.txt", 20, false}},
	STL10:    {{"class_names.txt", 10, true}},
}

// verifyFile is one file checked by Verify.
type verifyFile struct {
	name     string
	size     int64  // expected size in bytes
	what     string // description of the expected content
	md5      string // official md5, "" when not known
	optional bool   // absent is fine (reported, not an error)
}

// Verify checks the data set folder dir of the named data set (one of Names()) and
// writes a report to w: every data file's size (and, for CIFAR-10, its official md5),
// then per split the number of images and the number per class. Label ranges are checked
// while decoding, and for the official files each class must have its official count
// (CIFAR-10: 5,000/1,000, CIFAR-100: 500/100, STL-10: 500/800 per class in
// train/test). It returns an error naming the file on the first problem.
// CIFAR-100 and STL-10 files are checked by size only: no per-file md5 is published.
func Verify(name, dir string, w io.Writer) error {
	counts, ok := officialCounts[name]
	if !ok {
		return unknownDatasetError(name)
	}
	return verify(name, dir, w, counts)
}

func verifyFiles(name string, counts splitCounts) []verifyFile {
	switch name {
	case CIFAR10:
		const rec = 1 + cifarPixels
		per := counts.train / len(cifar10TrainFiles)
		var fs []verifyFile
		for _, f := range cifar10TrainFiles {
			fs = append(fs, verifyFile{name: f, size: int64(per) * rec, what: fmt.Sprintf("%d records of %d bytes", per, rec), md5: cifar10MD5[f]})
		}
		fs = append(fs, verifyFile{name: cifar10TestFile, size: int64(counts.test) * rec, what: fmt.Sprintf("%d records of %d bytes", counts.test, rec), md5: cifar10MD5[cifar10TestFile]})
		return fs
	case CIFAR100:
		const rec = 2 + cifarPixels
		return []verifyFile{
			{name: "train.bin", size: int64(counts.train) * rec, what: fmt.Sprintf("%d records of %d bytes", counts.train, rec)},
			{name: "test.bin", size: int64(counts.test) * rec, what: fmt.Sprintf("%d records of %d bytes", counts.test, rec)},
		}
	case STL10:
		return []verifyFile{
			{name: "train_X.bin", size: int64(counts.train) * stl10Pixels, what: fmt.Sprintf("%d images of 3x96x96 bytes", counts.train)},
			{name: "train_y.bin", size: int64(counts.train), what: fmt.Sprintf("%d label bytes", counts.train)},
			{name: "test_X.bin", size: int64(counts.test) * stl10Pixels, what: fmt.Sprintf("%d images of 3x96x96 bytes", counts.test)},
			{name: "test_y.bin", size: int64(counts.test), what: fmt.Sprintf("%d label bytes", counts.test)},
			{name: "unlabeled_X.bin", size: stl10UnlabeledImages * stl10Pixels, what: fmt.Sprintf("%d images of 3x96x96 bytes", stl10UnlabeledImages), optional: true},
		}
	}
	return nil
}

func verify(name, dir string, w io.Writer, counts splitCounts) error {
	official := counts == officialCounts[name]
	fmt.Fprintf(w, "%s in %s\n", name, dir)
	if _, err := os.Stat(dir); err != nil {
		return fmt.Errorf("%s: data folder not readable (%w); %s", dir, err, fillHint(name, dir))
	}
	for _, f := range verifyFiles(name, counts) {
		p := filepath.Join(dir, f.name)
		st, err := os.Stat(p)
		if f.optional && errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(w, "  %-16s absent (optional)\n", f.name)
			continue
		}
		if err != nil {
			return missingFileError(name, dir, p, err)
		}
		if err := checkSize(p, st.Size(), f.size, f.what); err != nil {
			return err
		}
		status := "size ok"
		if f.md5 != "" {
			got, err := fileMD5(p)
			if err != nil {
				return err
			}
			if got != f.md5 {
				return fmt.Errorf("%s: md5 mismatch: expected %s (official), got %s", p, f.md5, got)
			}
			status = "md5 " + got + " ok"
		}
		fmt.Fprintf(w, "  %-16s %11d bytes  %s\n", f.name, st.Size(), status)
	}
	for _, nf := range nameFiles[name] {
		p := filepath.Join(dir, nf.name)
		if _, err := os.Stat(p); nf.optional && errors.Is(err, fs.ErrNotExist) {
			fmt.Fprintf(w, "  %-16s absent (built-in class names used)\n", nf.name)
			continue
		}
		if _, err := readNames(name, dir, nf.name, nf.count); err != nil {
			return err
		}
		fmt.Fprintf(w, "  %-16s %d class names\n", nf.name, nf.count)
	}
	for _, split := range []Split{Train, Test} {
		var ds *Dataset
		var err error
		switch name {
		case CIFAR10:
			ds, err = LoadCIFAR10Split(dir, split)
		case CIFAR100:
			ds, err = loadCIFAR100Split(dir, split, counts)
		case STL10:
			ds, err = loadSTL10Split(dir, split, counts)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s: %d images of %dx%dx%d, %d classes\n", split, ds.Len(), ds.Height, ds.Width, ds.Channels, ds.NumClasses)
		cc := ds.ClassCounts()
		for c, n := range cc {
			fmt.Fprintf(w, "  %3d %-20s %6d\n", c, ds.ClassNames[c], n)
		}
		if official {
			want := ds.Len() / ds.NumClasses
			for c, n := range cc {
				if n != want {
					return fmt.Errorf("%s: %s split: class %d (%s) has %d images, expected %d (the official split is balanced)",
						filepath.Join(dir, splitFiles(name, split)), split, c, ds.ClassNames[c], n, want)
				}
			}
		}
	}
	fmt.Fprintf(w, "OK: %s in %s\n", name, dir)
	return nil
}

// splitFiles names the label-carrying files of a split, for messages.
func splitFiles(name string, split Split) string {
	switch {
	case name == CIFAR10 && split == Train:
		return "data_batch_{1..5}.bin"
	case name == CIFAR10:
		return cifar10TestFile
	case name == CIFAR100:
		return string(split) + ".bin"
	default:
		return string(split) + "_y.bin"
	}
}

func fileMD5(p string) (string, error) { return hashFile(p, md5.New()) }
