package datasets

import (
	"fmt"
	"strings"
)

// LoadSplit reads one split of the data set called name (CIFAR10, CIFAR100 or STL10, see
// Names) from its folder dir of official binary files. It is the one place that maps a
// data set's name to its reader.
func LoadSplit(name, dir string, split Split) (*Dataset, error) {
	switch name {
	case CIFAR10:
		return LoadCIFAR10Split(dir, split)
	case CIFAR100:
		return LoadCIFAR100Split(dir, split)
	case STL10:
		return LoadSTL10Split(dir, split)
	}
	return nil, fmt.Errorf("data set %q: want one of %s", name, strings.Join(Names(), ", "))
}

// View returns the view of the batch called name (e.g. "x1"), or an error listing the
// batch's views.
func (b *Batch) View(name string) (ViewBatch, error) {
	names := make([]string, len(b.Views))
	for i, v := range b.Views {
		if v.Name == name {
			return v, nil
		}
		names[i] = v.Name
	}
	return ViewBatch{}, fmt.Errorf("batch has no view %q (views: %v)", name, names)
}
