package datasets

import (
	"fmt"
	"path"
	"slices"
	"strings"
)

// Names of the data sets this package reads, as accepted by Verify and Ensure.
const (
	CIFAR10  = "cifar10"
	CIFAR100 = "cifar100"
	STL10    = "stl10"
)

// Names returns the data set names accepted by Verify and Ensure, sorted.
func Names() []string { return []string{CIFAR10, CIFAR100, STL10} }

// Archive describes the official release archive of a data set.
type Archive struct {
	// URL is where the archive is downloaded from.
	URL string
	// MD5 is the archive's published md5 checksum (lower-case hex).
	MD5 string
	// Root is the folder inside the archive that holds the data files; its content is
	// what a data set folder must contain.
	Root string
	// Files lists the files that must be present once the archive is extracted.
	Files []string
}

// FileName returns the base name of the archive in its URL.
func (a Archive) FileName() string { return path.Base(a.URL) }

// officialArchives are the published release archives (URLs and md5 from the data
// sets' home pages).
var officialArchives = map[string]Archive{
	CIFAR10: {
		URL:  "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
		MD5:  "c32a1d4ab5d03f1284b67883e8d87530",
		Root: "cifar-10-batches-bin",
		Files: []string{"data_batch_1.bin", "data_batch_2.bin", "data_batch_3.bin", "data_batch_4.bin",
			"data_batch_5.bin", "test_batch.bin", "batches.meta.txt"},
	},
	CIFAR100: {
		URL:   "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
		MD5:   "03b5dce01913d631647c71ecec9e9cb8",
		Root:  "cifar-100-binary",
		Files: []string{"train.bin", "test.bin", "fine_label_names.txt", "coarse_label_names.txt"},
	},
	STL10: {
		URL:   "http://ai.stanford.edu/~acoates/stl10/stl10_binary.tar.gz",
		MD5:   "91f7769df0f17e558f3565bffb0c7dfb",
		Root:  "stl10_binary",
		Files: []string{"train_X.bin", "train_y.bin", "test_X.bin", "test_y.bin", "class_names.txt"},
	},
}

// OfficialArchive returns the official release archive of the named data set
// (one of Names()).
func OfficialArchive(name string) (Archive, error) {
	a, ok := officialArchives[name]
	if !ok {
		return Archive{}, unknownDatasetError(name)
	}
	a.Files = slices.Clone(a.Files)
	return a, nil
}

func unknownDatasetError(name string) error {
	return fmt.Errorf("unknown data set %q: want one of %s", name, strings.Join(Names(), ", "))
}

// fillHint tells the user how to fill dir with the named data set by hand.
func fillHint(name, dir string) string {
	a, ok := officialArchives[name]
	if !ok {
		return ""
	}
	return fmt.Sprintf("fill folder %s with the official %s release: download %s (md5 %s) and run "+
		"`mkdir -p %s && tar xzf %s -C %s --strip-components=1` (the archive's %s/ folder holds the files), "+
		"or call datasets.Ensure(%q, %q) on a machine with network access",
		dir, name, a.URL, a.MD5, dir, a.FileName(), dir, a.Root, name, dir)
}
