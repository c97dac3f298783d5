package datasets

import (
	"context"
	"slices"
	"testing"
)

// EpochFrom must yield exactly the batches Epoch yields from the given batch on, so that a
// run resumed in the middle of an epoch sees the same data.
func TestEpochFromMatchesEpochTail(t *testing.T) {
	ds := randomDataset(40, 7)
	l, err := NewLoader(ds, RoCLViews(), LoaderConfig{BatchSize: 8, Seed: 3, Shuffle: true, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	var all []*Batch
	for b, err := range l.Epoch(context.Background(), 2) {
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, b)
	}
	var tail []*Batch
	for b, err := range l.EpochFrom(context.Background(), 2, 3) {
		if err != nil {
			t.Fatal(err)
		}
		tail = append(tail, b)
	}
	if len(all) != 5 || len(tail) != 2 {
		t.Fatalf("got %d and %d batches, want 5 and 2", len(all), len(tail))
	}
	for i, b := range tail {
		want := all[3+i]
		if b.Index != want.Index || !slices.Equal(b.Indices, want.Indices) || !slices.Equal(b.Views[1].Data, want.Views[1].Data) {
			t.Fatalf("batch %d of EpochFrom differs from Epoch's", b.Index)
		}
	}
	for range l.EpochFrom(context.Background(), 2, 5) {
		t.Fatal("EpochFrom past the last batch must yield nothing")
	}
}
