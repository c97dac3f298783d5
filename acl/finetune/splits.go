package finetune

import (
	"math/rand/v2"
	"slices"
	"sort"

	"github.com/ainfonce/goacl/acl/field"
	"github.com/ainfonce/goacl/datasets"
)

// splits returns the training, validation (nil when ValSize is 0) and test images:
// the validation split is the last ValSize images of a Seed-permutation of the training
// split, the training images the rest (then TrainSubset of them), the test images
// TestSubset of the test split (all when 0).
func splits(c *Config, dataset, dataDir string) (train, val, test *datasets.Dataset, err error) {
	full, err := datasets.LoadSplit(dataset, dataDir, datasets.Train)
	if err != nil {
		return nil, nil, nil, err
	}
	if c.ValSize >= full.Len() {
		return nil, nil, nil, field.Errorf("val_size", "{val_size} = %d leaves no training images (%s has %d)", c.ValSize, dataset, full.Len())
	}
	perm := rand.New(rand.NewPCG(c.Seed, 0x7a11da7e)).Perm(full.Len())
	cut := full.Len() - c.ValSize
	trainIdx, valIdx := slices.Clone(perm[:cut]), slices.Clone(perm[cut:])
	sort.Ints(trainIdx)
	sort.Ints(valIdx)
	if train, err = full.Select(trainIdx); err != nil {
		return nil, nil, nil, err
	}
	if c.ValSize > 0 {
		if val, err = full.Select(valIdx); err != nil {
			return nil, nil, nil, err
		}
	}
	if c.TrainSubset > 0 {
		if c.TrainSubset > train.Len() {
			return nil, nil, nil, field.Errorf("train_subset", "{train_subset} = %d exceeds the %d training images left after the %d-image validation split", c.TrainSubset, train.Len(), c.ValSize)
		}
		train = train.Subset(c.TrainSubset, c.Seed)
	}
	test, err = TestSplit(dataset, dataDir, c.TestSubset, c.Seed)
	return train, val, test, err
}

// TestSplit returns the evaluation images of a finetuning: the test split of dataset,
// reduced to subset images drawn with seed when 0 < subset < its size (subset equal to
// the size is all of it). A larger subset is a *field.Error of the key test_subset: a
// result is never labelled a subset it is not.
func TestSplit(dataset, dataDir string, subset int, seed uint64) (*datasets.Dataset, error) {
	test, err := datasets.LoadSplit(dataset, dataDir, datasets.Test)
	if err != nil {
		return nil, err
	}
	if subset > test.Len() {
		return nil, field.Errorf("test_subset", "{test_subset} = %d is larger than the %d test images of %s", subset, test.Len(), dataset)
	}
	if subset > 0 && subset < test.Len() {
		test = test.Subset(subset, seed)
	}
	return test, nil
}
