package datasets

import (
	"context"
	"fmt"
	"iter"
	"runtime"
	"sync"
)

// LoaderConfig configures a Loader.
type LoaderConfig struct {
	// BatchSize is the number of samples per batch (> 0).
	BatchSize int
	// Seed determines the shuffling and every augmentation.
	Seed uint64
	// Shuffle permutes the records anew each epoch (from Seed and the epoch); without it
	// records come in data set order.
	Shuffle bool
	// DropLast drops the last batch when it has fewer than BatchSize samples.
	DropLast bool
	// Workers is the number of goroutines building batches; <= 0 means runtime.NumCPU().
	Workers int
	// ReadAhead is the most batches built or waiting ahead of the consumer; <= 0 means
	// 2×Workers. Memory is about ReadAhead × views × BatchSize × H×W×C × 4 bytes.
	ReadAhead int
}

// ViewBatch is one view of a batch: N images as one float32 NHWC slice.
type ViewBatch struct {
	// Name is the view's name.
	Name string
	// N, H, W and C give the shape of Data.
	N, H, W, C int
	// Data holds N×H×W×C values in NHWC order.
	Data []float32
}

// Batch is one batch of samples: each view of every sample, their labels and indices.
type Batch struct {
	// Epoch and Index identify the batch: it is batch Index of epoch Epoch.
	Epoch, Index int
	// Views holds one ViewBatch per configured view, in order.
	Views []ViewBatch
	// Labels holds the class label of each sample.
	Labels []int32
	// Indices holds each sample's record index in the loader's Dataset.
	Indices []int
	// SourceIndices holds each sample's index in the original split file(s)
	// (Dataset.Source), the index to use for pseudo labels.
	SourceIndices []int
}

// Size returns the number of samples in the batch.
func (b *Batch) Size() int { return len(b.Labels) }

// Loader produces augmented batches of a Dataset with a pool of worker goroutines. For a
// given seed and epoch the batches are identical whatever the number of workers: the
// record order comes from a generator seeded with (Seed, epoch), and view v of record i
// is computed with NewSampleRand(Seed, epoch, source index of i, v).
type Loader struct {
	ds    *Dataset
	views []View
	cfg   LoaderConfig
}

// NewLoader returns a loader of ds producing the given views (see View). It returns an
// error for an invalid data set, view list or batch size.
func NewLoader(ds *Dataset, views []View, cfg LoaderConfig) (*Loader, error) {
	if ds == nil {
		return nil, fmt.Errorf("loader: nil data set")
	}
	if err := ds.Validate(); err != nil {
		return nil, fmt.Errorf("loader: %w", err)
	}
	if err := validateViews(views); err != nil {
		return nil, fmt.Errorf("loader: %w", err)
	}
	if cfg.BatchSize <= 0 {
		return nil, fmt.Errorf("loader: batch size %d, want > 0", cfg.BatchSize)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = runtime.NumCPU()
	}
	if cfg.ReadAhead <= 0 {
		cfg.ReadAhead = 2 * cfg.Workers
	}
	return &Loader{ds: ds, views: append([]View(nil), views...), cfg: cfg}, nil
}

// Config returns the loader's configuration with defaults filled in.
func (l *Loader) Config() LoaderConfig { return l.cfg }

// NumBatches returns the number of batches per epoch.
func (l *Loader) NumBatches() int {
	n, bs := l.ds.Len(), l.cfg.BatchSize
	if l.cfg.DropLast {
		return n / bs
	}
	return (n + bs - 1) / bs
}

// Order returns the record order of an epoch: a permutation drawn from (Seed, epoch) when
// shuffling, else 0..N−1.
func (l *Loader) Order(epoch int) []int {
	if l.cfg.Shuffle {
		return epochRand(l.cfg.Seed, epoch).Perm(l.ds.Len())
	}
	order := make([]int, l.ds.Len())
	for i := range order {
		order[i] = i
	}
	return order
}

// Epoch returns the batches of one epoch, in order, built ahead by the workers. Iteration
// stops at the first error (yielded with a nil batch), when ctx is cancelled (yielding
// ctx.Err()) or when the caller breaks out of the loop; the workers are stopped before
// the iterator returns.
func (l *Loader) Epoch(ctx context.Context, epoch int) iter.Seq2[*Batch, error] {
	return l.EpochFrom(ctx, epoch, 0)
}

// EpochFrom is Epoch starting at batch first (the batches before it are not built), for
// resuming an epoch in the middle; it yields exactly the batches Epoch yields from there.
func (l *Loader) EpochFrom(ctx context.Context, epoch, first int) iter.Seq2[*Batch, error] {
	return func(yield func(*Batch, error) bool) {
		nb := l.NumBatches()
		if nb == 0 || first >= nb {
			return
		}
		first = max(first, 0)
		order := l.Order(epoch)
		type result struct {
			b   *Batch
			err error
		}
		var wg sync.WaitGroup
		defer wg.Wait()
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		results := make([]chan result, nb)
		for i := range results {
			results[i] = make(chan result, 1)
		}
		jobs := make(chan int)
		slots := make(chan struct{}, l.cfg.ReadAhead)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(jobs)
			for b := first; b < nb; b++ {
				select {
				case slots <- struct{}{}:
				case <-ctx.Done():
					return
				}
				select {
				case jobs <- b:
				case <-ctx.Done():
					return
				}
			}
		}()
		for range min(l.cfg.Workers, nb) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for b := range jobs {
					bt, err := l.safeBatch(epoch, b, order)
					results[b] <- result{bt, err}
				}
			}()
		}
		for b := first; b < nb; b++ {
			var r result
			select {
			case r = <-results[b]:
			case <-ctx.Done():
				yield(nil, ctx.Err())
				return
			}
			<-slots
			if !yield(r.b, r.err) || r.err != nil {
				return
			}
		}
	}
}

// Batch builds batch b of an epoch synchronously (the same batch Epoch yields).
func (l *Loader) Batch(epoch, b int) (*Batch, error) {
	if b < 0 || b >= l.NumBatches() {
		return nil, fmt.Errorf("loader: batch %d out of range [0,%d)", b, l.NumBatches())
	}
	return l.safeBatch(epoch, b, l.Order(epoch))
}

// safeBatch builds a batch, turning a panic of a view transform into an error.
func (l *Loader) safeBatch(epoch, b int, order []int) (bt *Batch, err error) {
	defer func() {
		if p := recover(); p != nil {
			bt, err = nil, fmt.Errorf("loader: epoch %d batch %d: view transform panicked: %v", epoch, b, p)
		}
	}()
	return l.buildBatch(epoch, b, order)
}

func (l *Loader) buildBatch(epoch, b int, order []int) (*Batch, error) {
	bs := l.cfg.BatchSize
	rows := order[b*bs : min((b+1)*bs, len(order))]
	n := len(rows)
	bt := &Batch{
		Epoch: epoch, Index: b,
		Views:         make([]ViewBatch, len(l.views)),
		Labels:        make([]int32, n),
		Indices:       append([]int(nil), rows...),
		SourceIndices: make([]int, n),
	}
	outs := make([]Image, len(l.views))
	for k, row := range rows {
		src := l.ds.Source(row)
		bt.Labels[k] = l.ds.Labels[row]
		bt.SourceIndices[k] = src
		img := l.ds.Image(row)
		for v, view := range l.views {
			in := img
			if view.Input != FromSource {
				in = outs[view.Input]
			}
			out := view.Transform(in, NewSampleRand(l.cfg.Seed, epoch, src, v))
			outs[v] = out
			vb := &bt.Views[v]
			if k == 0 {
				*vb = ViewBatch{Name: view.Name, N: n, H: out.H, W: out.W, C: out.C, Data: make([]float32, n*out.H*out.W*out.C)}
			}
			size := vb.H * vb.W * vb.C
			if out.H != vb.H || out.W != vb.W || out.C != vb.C || len(out.Pix) != size {
				return nil, fmt.Errorf("loader: view %q of record %d is %dx%dx%d (%d values), but the batch's first sample is %dx%dx%d",
					view.Name, row, out.H, out.W, out.C, len(out.Pix), vb.H, vb.W, vb.C)
			}
			copy(vb.Data[k*size:(k+1)*size], out.Pix)
		}
	}
	return bt, nil
}
