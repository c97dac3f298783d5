package pretrain

import (
	gocontext "context"
	"iter"

	"github.com/ainfonce/goacl/acl/field"
	"github.com/ainfonce/goacl/acl/train"
	"github.com/ainfonce/goacl/datasets"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// data is a pretraining's train.Data: the (subset of the) training split, the method's
// views of each epoch and AdvCL's pseudo labels.
type data struct {
	cfg    *Config
	method Method
	ds     *datasets.Dataset
	pseudo *datasets.PseudoLabels
	// batches is the number of batches of an epoch (it does not depend on the views).
	batches int
}

// loaderConfig is the loader setting of a pretraining: shuffled, seeded, full batches.
func loaderConfig(cfg *Config) datasets.LoaderConfig {
	return datasets.LoaderConfig{BatchSize: cfg.BatchSize, Seed: cfg.Seed, Shuffle: true, DropLast: true}
}

// loadData loads the training split (fetching a missing folder where the network
// allows), applies the subset and, when the method reads them, AdvCL's pseudo labels.
// Errors name the field they come from (data_dir, subset, pseudo_label_dir).
func loadData(cfg *Config, m Method) (*data, error) {
	if err := datasets.Ensure(cfg.Dataset, cfg.DataDir); err != nil {
		return nil, field.Wrap("data_dir", err)
	}
	ds, err := datasets.LoadSplit(cfg.Dataset, cfg.DataDir, datasets.Train)
	if err != nil {
		return nil, err
	}
	if cfg.Subset > 0 {
		if cfg.Subset > ds.Len() {
			return nil, field.Errorf("subset", "{subset} = %d is larger than the %d training images of %s", cfg.Subset, ds.Len(), cfg.Dataset)
		}
		ds = ds.Subset(cfg.Subset, cfg.Seed)
	}
	d := &data{cfg: cfg, method: m, ds: ds}
	loader, err := d.loader(0)
	if err != nil {
		return nil, err
	}
	d.batches = loader.NumBatches()
	if m.Inputs(cfg, 0).PseudoLabels {
		if cfg.PseudoLabelDir == "" {
			return nil, field.Errorf("pseudo_label_dir", "{pseudo_label_dir}: method %s needs the AdvCL pseudo-label folder (pseudo_train_{2,10,50,100,500}.npy)", cfg.Method)
		}
		if d.pseudo, err = datasets.LoadPseudoLabels(cfg.PseudoLabelDir, datasets.Train); err != nil {
			return nil, field.Wrap("pseudo_label_dir", err)
		}
	}
	return d, nil
}

// loader returns the loader of epoch: the data set with the method's views of that epoch.
// A loader only holds the data set and the view list, so building one per epoch is free,
// and batches depend only on (seed, epoch, batch).
func (d *data) loader(epoch int) (*datasets.Loader, error) {
	return datasets.NewLoader(d.ds, d.method.Inputs(d.cfg, epoch).Views, loaderConfig(d.cfg))
}

// pseudoLabelSets is the number of pseudo-label inputs of the step.
func (d *data) pseudoLabelSets() int {
	if d.pseudo == nil {
		return 0
	}
	return len(d.pseudo.K)
}

// BatchesPerEpoch implements train.Data.
func (d *data) BatchesPerEpoch() int { return d.batches }

// Epoch implements train.Data: the step inputs of each batch are the used views, then
// the pseudo labels of the batch's images (by source index), then their class labels when
// the method reads them (Inputs.Labels).
func (d *data) Epoch(epoch, from int) iter.Seq2[train.Batch, error] {
	return func(yield func(train.Batch, error) bool) {
		loader, err := d.loader(epoch)
		if err != nil {
			yield(train.Batch{}, err)
			return
		}
		in := d.method.Inputs(d.cfg, epoch)
		for b, err := range loader.EpochFrom(gocontext.Background(), epoch, from) {
			if err != nil {
				yield(train.Batch{}, err)
				return
			}
			var args []any
			for _, i := range in.Used {
				v := b.Views[i]
				args = append(args, tensors.FromFlatDataAndDimensions(v.Data, v.N, v.H, v.W, v.C))
			}
			if d.pseudo != nil {
				for k := range d.pseudo.K {
					labels := make([]int32, b.Size())
					for i, src := range b.SourceIndices {
						labels[i] = d.pseudo.Labels[k][src]
					}
					args = append(args, tensors.FromFlatDataAndDimensions(labels, len(labels)))
				}
			}
			if in.Labels {
				args = append(args, tensors.FromFlatDataAndDimensions(append([]int32(nil), b.Labels...), b.Size()))
			}
			if !yield(train.Batch{Inputs: args, Size: b.Size()}, nil) {
				return
			}
		}
	}
}
