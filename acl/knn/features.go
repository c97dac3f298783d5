package knn

import (
	"fmt"
	"time"

	"github.com/ainfonce/goacl/datasets"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// FeatureExtractor computes an encoder's features of images with the variables of a
// context as they are at each call: BN in eval mode (running statistics, nothing
// updated), one BN branch, fixed-size batches (the last one padded with black images whose
// features are dropped: eval-mode examples are independent, so this is exact and compiles
// one graph).
type FeatureExtractor struct {
	enc       layers.Encoder
	batchSize int
	exec      *context.Exec
}

// NewFeatureExtractor returns the extractor of enc's features with BN branch branch ("" for
// a single BN) on the variables of ctx, in batches of batchSize.
func NewFeatureExtractor(backend backends.Backend, ctx *context.Context, enc layers.Encoder, branch string, batchSize int) (*FeatureExtractor, error) {
	if batchSize < 1 {
		return nil, fmt.Errorf("knn: feature batch size %d, must be ≥ 1", batchSize)
	}
	exec, err := context.NewExec(backend, ctx, func(ctx *context.Context, x *graph.Node) *graph.Node {
		var f *graph.Node
		layers.InMode(ctx, x.Graph(), false, false, func() { f = enc.Features(ctx, x, branch) })
		return f
	})
	if err != nil {
		return nil, err
	}
	return &FeatureExtractor{enc: enc, batchSize: batchSize, exec: exec}, nil
}

// Dim is the dimension of a feature.
func (f *FeatureExtractor) Dim() int { return f.enc.FeatureDim() }

// Features returns the features of every image of ds, un-augmented and in order, as
// ds.Len() rows of Dim() values.
func (f *FeatureExtractor) Features(ds *datasets.Dataset) ([]float32, error) {
	if ds.Len() == 0 {
		return nil, fmt.Errorf("knn: no images to compute features of")
	}
	dim := f.Dim()
	shape := min(f.batchSize, ds.Len())
	out := make([]float32, 0, ds.Len()*dim)
	err := ds.PaddedBatches(shape, func(pix []float32, _ []int32, n int) error {
		res, err := f.exec.Exec(tensors.FromFlatDataAndDimensions(pix, shape, ds.Height, ds.Width, ds.Channels))
		if err != nil {
			return err
		}
		out = append(out, tensors.MustCopyFlatData[float32](res[0])[:n*dim]...)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Monitor measures the kNN accuracy of an encoder as it trains: the features of a fixed
// test set classified against the features of a labelled bank (the training images), both
// recomputed from the current variables at each Evaluate.
type Monitor struct {
	// Bank holds the labelled images whose features vote, Test the images classified.
	Bank, Test *datasets.Dataset
	// K and Temperature are the Classifier's.
	K           int
	Temperature float64

	features *FeatureExtractor
}

// NewMonitor returns the monitor of the features f computes, with bank and test images.
func NewMonitor(f *FeatureExtractor, bank, test *datasets.Dataset, k int, temperature float64) (*Monitor, error) {
	if bank.Len() == 0 || test.Len() == 0 {
		return nil, fmt.Errorf("knn monitor: %d bank and %d test images: both must be > 0", bank.Len(), test.Len())
	}
	if bank.NumClasses != test.NumClasses {
		return nil, fmt.Errorf("knn monitor: bank has %d classes, test %d", bank.NumClasses, test.NumClasses)
	}
	return &Monitor{Bank: bank, Test: test, K: k, Temperature: temperature, features: f}, nil
}

// Result is one evaluation of a Monitor.
type Result struct {
	// Accuracy is the kNN top-1 accuracy on the test images; K, Temperature, BankImages
	// and TestImages its settings; Seconds the time it took.
	Accuracy    float64 `json:"knn_accuracy"`
	K           int     `json:"knn_k"`
	Temperature float64 `json:"knn_temperature"`
	BankImages  int     `json:"knn_bank_images"`
	TestImages  int     `json:"knn_test_images"`
	Seconds     float64 `json:"knn_seconds"`
}

// Evaluate computes the features of the bank and the test images with the variables as
// they are now and returns the kNN accuracy.
func (m *Monitor) Evaluate() (*Result, error) {
	start := time.Now()
	bank, err := m.features.Features(m.Bank)
	if err != nil {
		return nil, fmt.Errorf("knn monitor: bank features: %w", err)
	}
	test, err := m.features.Features(m.Test)
	if err != nil {
		return nil, fmt.Errorf("knn monitor: test features: %w", err)
	}
	c, err := NewClassifier(bank, m.Bank.Labels, m.features.Dim(), m.Bank.NumClasses, m.K, m.Temperature)
	if err != nil {
		return nil, err
	}
	acc, err := c.Accuracy(test, m.Test.Labels)
	if err != nil {
		return nil, err
	}
	return &Result{Accuracy: acc, K: c.K, Temperature: m.Temperature, BankImages: m.Bank.Len(), TestImages: m.Test.Len(),
		Seconds: time.Since(start).Seconds()}, nil
}
