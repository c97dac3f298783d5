package datasets

import (
	"fmt"
	"path/filepath"
)

// PseudoLabelGranularities are the cluster counts of AdvCL's pseudo labels, in the order
// of its five classification heads fc_002, fc_010, fc_050, fc_100, fc_500.
var PseudoLabelGranularities = []int{2, 10, 50, 100, 500}

// IgnoreLabel marks a record without a pseudo label (the CE loss's ignore_index).
const IgnoreLabel = -1

// PseudoLabels holds AdvCL's ClusterFit pseudo labels of one split at every granularity.
type PseudoLabels struct {
	// Split is the split the labels belong to.
	Split Split
	// K lists the granularities (cluster counts), PseudoLabelGranularities.
	K []int
	// Labels[g][i] is the cluster of record i at granularity K[g], in [0, K[g]) or
	// IgnoreLabel.
	Labels [][]int32
}

// Len returns the number of records labelled.
func (p *PseudoLabels) Len() int {
	if len(p.Labels) == 0 {
		return 0
	}
	return len(p.Labels[0])
}

// Gather returns, for each granularity, the labels of the given source indices
// (e.g. Batch.SourceIndices). It returns an error for an index out of range.
func (p *PseudoLabels) Gather(indices []int) ([][]int32, error) {
	out := make([][]int32, len(p.Labels))
	for g, labels := range p.Labels {
		out[g] = make([]int32, len(indices))
		for k, i := range indices {
			if i < 0 || i >= len(labels) {
				return nil, fmt.Errorf("pseudo labels (%s): index %d out of range [0,%d)", p.Split, i, len(labels))
			}
			out[g][k] = labels[i]
		}
	}
	return out, nil
}

// cifarSplitSize is the number of records of a CIFAR-10/CIFAR-100 split.
func cifarSplitSize(split Split) (int, error) {
	switch split {
	case Train:
		return 50000, nil
	case Test:
		return 10000, nil
	}
	return 0, fmt.Errorf("pseudo labels: unknown split %q (want %q or %q)", split, Train, Test)
}

// LoadPseudoLabels reads dir/pseudo_<split>_<K>.npy for K in PseudoLabelGranularities
// (1-D little-endian int32 or int64 .npy files, e.g. the cifar-10/ or cifar-100/ folder
// of the shared advcl-pseudo-labels data). Each array must have one label per record of
// the CIFAR split (50,000 for Train, 10,000 for Test) and values in [0,K) or −1
// (ignore). Errors name the file.
func LoadPseudoLabels(dir string, split Split) (*PseudoLabels, error) {
	n, err := cifarSplitSize(split)
	if err != nil {
		return nil, err
	}
	return loadPseudoLabels(dir, split, n)
}

// LoadPseudoLabelsFor is LoadPseudoLabels for a data set whose split size is not the
// CIFAR one: each array must have exactly n labels.
func LoadPseudoLabelsFor(dir string, split Split, n int) (*PseudoLabels, error) {
	if split != Train && split != Test {
		return nil, fmt.Errorf("pseudo labels: unknown split %q (want %q or %q)", split, Train, Test)
	}
	return loadPseudoLabels(dir, split, n)
}

func loadPseudoLabels(dir string, split Split, n int) (*PseudoLabels, error) {
	p := &PseudoLabels{Split: split, K: append([]int(nil), PseudoLabelGranularities...)}
	for _, k := range p.K {
		path := filepath.Join(dir, fmt.Sprintf("pseudo_%s_%d.npy", split, k))
		labels, err := LoadNPYInt32(path)
		if err != nil {
			return nil, fmt.Errorf("pseudo labels: %w", err)
		}
		if len(labels) != n {
			return nil, fmt.Errorf("pseudo labels: %s: expected %d labels (one per %s record), got %d", path, n, split, len(labels))
		}
		for i, l := range labels {
			if l != IgnoreLabel && (l < 0 || int(l) >= k) {
				return nil, fmt.Errorf("pseudo labels: %s: record %d: label %d out of range [0,%d) (or -1 = ignore)", path, i, l, k)
			}
		}
		p.Labels = append(p.Labels, labels)
	}
	return p, nil
}
