package datasets

import (
	"context"
	"errors"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"
)

// collect runs one epoch and returns its batches.
func collect(t *testing.T, l *Loader, epoch int) []*Batch {
	t.Helper()
	var out []*Batch
	for b, err := range l.Epoch(context.Background(), epoch) {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

func TestLoaderDeterministicAcrossWorkers(t *testing.T) {
	ds := randomDataset(70, 1)
	var runs [][]*Batch
	for _, workers := range []int{1, 3, 8} {
		l, err := NewLoader(ds, AdvCLViews(), LoaderConfig{BatchSize: 16, Seed: 42, Shuffle: true, Workers: workers, ReadAhead: workers})
		if err != nil {
			t.Fatal(err)
		}
		runs = append(runs, collect(t, l, 3))
	}
	for _, run := range runs[1:] {
		if len(run) != len(runs[0]) {
			t.Fatalf("%d vs %d batches", len(run), len(runs[0]))
		}
		for b := range run {
			if !slices.Equal(run[b].Indices, runs[0][b].Indices) {
				t.Fatalf("batch %d: order differs across worker counts", b)
			}
			for v := range run[b].Views {
				if !slices.Equal(run[b].Views[v].Data, runs[0][b].Views[v].Data) {
					t.Fatalf("batch %d view %s differs across worker counts", b, run[b].Views[v].Name)
				}
			}
		}
	}
	// Shape, labels, index coverage, HFC of the weak view, values.
	batches := runs[0]
	if len(batches) != 5 || batches[4].Size() != 6 {
		t.Fatalf("%d batches, last of %d; want 5 and 6", len(batches), batches[4].Size())
	}
	seen := map[int]bool{}
	for _, b := range batches {
		if len(b.Views) != 4 || b.Views[3].Name != "hfc" || b.Views[0].N != b.Size() || b.Views[0].H != 32 {
			t.Fatalf("views %+v", b.Views[0])
		}
		for k, i := range b.Indices {
			seen[i] = true
			if b.Labels[k] != ds.Labels[i] || b.SourceIndices[k] != i {
				t.Fatal("label/index mismatch")
			}
			xo := Image{H: 32, W: 32, C: 3, Pix: b.Views[2].Data[k*3072 : (k+1)*3072]}
			hfc, _ := AdvCLHighPass.Apply(xo)
			if !slices.Equal(hfc.Pix, b.Views[3].Data[k*3072:(k+1)*3072]) {
				t.Fatal("hfc view is not the high-pass of the weak view of the same sample")
			}
		}
		for v := 0; v < 3; v++ {
			for _, x := range b.Views[v].Data {
				if x < 0 || x > 1 {
					t.Fatalf("view %d value %v outside [0,1]", v, x)
				}
			}
		}
	}
	if len(seen) != 70 {
		t.Errorf("epoch covered %d of 70 records", len(seen))
	}
	// The same seed and epoch again: identical; another epoch: another order and views.
	l, _ := NewLoader(ds, AdvCLViews(), LoaderConfig{BatchSize: 16, Seed: 42, Shuffle: true, Workers: 2})
	again, err := l.Batch(3, 1)
	if err != nil || !slices.Equal(again.Views[0].Data, batches[1].Views[0].Data) {
		t.Fatalf("Batch(3,1) differs from the epoch's batch 1: %v", err)
	}
	other := collect(t, l, 4)
	if slices.Equal(other[0].Indices, batches[0].Indices) {
		t.Error("epochs 3 and 4 have the same order")
	}
	// Views of one record depend only on (seed, epoch, record, view), not on the order.
	l2, _ := NewLoader(ds, AdvCLViews(), LoaderConfig{BatchSize: 70, Seed: 42, Workers: 1})
	all, _ := l2.Batch(3, 0)
	i := batches[2].Indices[5]
	if !slices.Equal(all.Views[1].Data[i*3072:(i+1)*3072], batches[2].Views[1].Data[5*3072:6*3072]) {
		t.Error("a record's view depends on the batch composition")
	}
}

func TestLoaderOptions(t *testing.T) {
	ds := randomDataset(10, 2)
	l, err := NewLoader(ds, EvalViews(), LoaderConfig{BatchSize: 4, DropLast: true, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if l.NumBatches() != 2 {
		t.Fatalf("drop_last: %d batches", l.NumBatches())
	}
	batches := collect(t, l, 0)
	if len(batches) != 2 || !slices.Equal(batches[1].Indices, []int{4, 5, 6, 7}) {
		t.Fatalf("unshuffled order: %v", batches[1].Indices)
	}
	data, _, _ := ds.Float32Batch([]int{4, 5, 6, 7})
	if !slices.Equal(batches[1].Views[0].Data, data) {
		t.Error("eval view is not ToTensor")
	}
	// Source indices follow a subset.
	sub := ds.Subset(5, 3)
	l, _ = NewLoader(sub, FinetuneViews(), LoaderConfig{BatchSize: 5})
	b, _ := l.Batch(0, 0)
	if !slices.Equal(b.SourceIndices, sub.SourceIndex) {
		t.Errorf("source indices %v, want %v", b.SourceIndices, sub.SourceIndex)
	}
	// Invalid configurations.
	if _, err := NewLoader(ds, nil, LoaderConfig{BatchSize: 4}); err == nil {
		t.Error("no views accepted")
	}
	if _, err := NewLoader(ds, EvalViews(), LoaderConfig{}); err == nil {
		t.Error("batch size 0 accepted")
	}
	if _, err := NewLoader(ds, []View{{Name: "bad", Input: 0, Transform: Identity()}}, LoaderConfig{BatchSize: 1}); err == nil {
		t.Error("a view reading itself accepted")
	}
	broken := *ds
	broken.Labels = slices.Clone(ds.Labels)
	broken.Labels[3] = 10
	if _, err := NewLoader(&broken, EvalViews(), LoaderConfig{BatchSize: 1}); err == nil {
		t.Error("invalid label accepted")
	}
	if _, err := l.Batch(0, 9); err == nil {
		t.Error("out-of-range batch accepted")
	}
}

func TestLoaderStopsEarly(t *testing.T) {
	ds := randomDataset(200, 3)
	before := runtime.NumGoroutine()
	l, _ := NewLoader(ds, RoCLViews(), LoaderConfig{BatchSize: 8, Workers: 4, Seed: 1, Shuffle: true})
	n := 0
	for _, err := range l.Epoch(context.Background(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		if n++; n == 2 {
			break
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var gotErr error
	for _, err := range l.Epoch(ctx, 1) {
		gotErr = err
		if err != nil {
			break
		}
	}
	if gotErr != nil && !errors.Is(gotErr, context.Canceled) {
		t.Errorf("cancelled epoch: %v", gotErr)
	}
	// A panicking transform becomes an error.
	boom := []View{{Name: "boom", Input: FromSource, Transform: func(Image, *rand.Rand) Image { panic("boom") }}}
	l, _ = NewLoader(ds, boom, LoaderConfig{BatchSize: 8, Workers: 2})
	var perr error
	for _, err := range l.Epoch(context.Background(), 0) {
		perr = err
	}
	wantErrContains(t, perr, "panicked", "boom")
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if g := runtime.NumGoroutine(); g > before {
		t.Errorf("%d goroutines left running (before: %d)", g, before)
	}
}

func TestLoaderRealCIFAR10(t *testing.T) {
	train, _ := loadCIFAR10(t)
	sub := train.Subset(64, 1)
	l, err := NewLoader(sub, AdvCLViews(), LoaderConfig{BatchSize: 32, Seed: 0, Shuffle: true})
	if err != nil {
		t.Fatal(err)
	}
	pl, err := LoadPseudoLabels(pseudoDir(t, "cifar-10"), Train)
	if err != nil {
		t.Fatal(err)
	}
	for b, err := range l.Epoch(context.Background(), 0) {
		if err != nil {
			t.Fatal(err)
		}
		labels, err := pl.Gather(b.SourceIndices)
		if err != nil || len(labels) != 5 || len(labels[0]) != b.Size() {
			t.Fatalf("gather: %v", err)
		}
	}
}
