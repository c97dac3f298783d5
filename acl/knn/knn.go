// Package knn measures what an encoder has learned without training anything on top of it:
// the features of a set of images (FeatureExtractor) and the weighted k-nearest-neighbour
// accuracy of test features against a labelled bank of training features (Classifier,
// Monitor), the monitor self-supervised codebases print while they pretrain.
//
// The convention is the kNN monitor of the MoCo CIFAR-10 demo (facebookresearch/moco,
// colab/moco_cifar10_demo.ipynb, knn_predict), which follows the weighted kNN of InstDisc
// (Wu et al., CVPR 2018, "Unsupervised Feature Learning via Non-Parametric Instance
// Discrimination", lemniscate.pytorch): features are L2-normalised, the similarity is the
// cosine, the k most similar bank features vote for their labels with weight
// exp(similarity / T), and the class with the largest summed weight is the prediction.
// The demo uses k = 200 and T = 0.1 (DefaultK, DefaultTemperature); InstDisc and
// solo-learn's WeightedKNNClassifier use T = 0.07 (solo-learn with k = 20 by default).
package knn

import (
	"container/heap"
	"fmt"
	"math"
	"runtime"
	"sync"
)

// The MoCo CIFAR-10 demo's kNN monitor settings (see the package documentation).
const (
	// DefaultK is the number of neighbours that vote.
	DefaultK = 200
	// DefaultTemperature is T of the vote weights exp(similarity / T).
	DefaultTemperature = 0.1
)

// Classifier is a weighted kNN classifier over a labelled bank of features (see the
// package documentation for the rule).
type Classifier struct {
	// K is the number of neighbours that vote (at most the bank's size) and Temperature T
	// of the weights exp(similarity / T).
	K           int
	Temperature float64
	// NumClasses is the number of classes labels take values in.
	NumClasses int

	dim    int
	bank   []float32 // L2-normalised rows
	labels []int32
}

// NewClassifier returns the classifier of the bank: n = len(labels) features of dim
// values each, row after row in bank (copied and L2-normalised), labels in
// [0, numClasses). k is capped at n.
func NewClassifier(bank []float32, labels []int32, dim, numClasses, k int, temperature float64) (*Classifier, error) {
	n := len(labels)
	switch {
	case dim < 1 || n < 1:
		return nil, fmt.Errorf("knn: the bank needs at least one feature of dimension ≥ 1 (got %d of dimension %d)", n, dim)
	case len(bank) != n*dim:
		return nil, fmt.Errorf("knn: bank has %d values for %d features of dimension %d", len(bank), n, dim)
	case numClasses < 1:
		return nil, fmt.Errorf("knn: numClasses = %d, must be ≥ 1", numClasses)
	case k < 1:
		return nil, fmt.Errorf("knn: k = %d, must be ≥ 1", k)
	case !(temperature > 0) || math.IsInf(temperature, 0):
		return nil, fmt.Errorf("knn: temperature = %g, must be > 0", temperature)
	}
	for i, l := range labels {
		if l < 0 || int(l) >= numClasses {
			return nil, fmt.Errorf("knn: bank label %d of feature %d out of range [0,%d)", l, i, numClasses)
		}
	}
	c := &Classifier{K: min(k, n), Temperature: temperature, NumClasses: numClasses, dim: dim,
		bank: normalizeRows(bank, dim), labels: append([]int32(nil), labels...)}
	return c, nil
}

// normalizeRows returns a copy of x with every row of dim values divided by its L2 norm
// (rows of norm below 1e-12 are divided by 1e-12, as torch.nn.functional.normalize does).
func normalizeRows(x []float32, dim int) []float32 {
	out := make([]float32, len(x))
	for s := 0; s < len(x); s += dim {
		var ss float64
		for _, v := range x[s : s+dim] {
			ss += float64(v) * float64(v)
		}
		inv := 1 / max(math.Sqrt(ss), 1e-12)
		for j, v := range x[s : s+dim] {
			out[s+j] = float32(float64(v) * inv)
		}
	}
	return out
}

// Predict returns the predicted class of each query feature (rows of dim values). Ties in
// similarity prefer the earlier bank feature and ties in votes the smaller class index, so
// predictions are deterministic. Queries are split over GOMAXPROCS goroutines.
func (c *Classifier) Predict(queries []float32) ([]int32, error) {
	if len(queries)%c.dim != 0 {
		return nil, fmt.Errorf("knn: %d query values are not rows of dimension %d", len(queries), c.dim)
	}
	q := normalizeRows(queries, c.dim)
	n := len(q) / c.dim
	pred := make([]int32, n)
	workers := max(1, min(runtime.GOMAXPROCS(0), n))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sims := make([]float32, len(c.labels))
			votes := make([]float64, c.NumClasses)
			top := make(neighbours, 0, c.K)
			for i := w; i < n; i += workers {
				pred[i] = c.predictOne(q[i*c.dim:(i+1)*c.dim], sims, votes, top)
			}
		}()
	}
	wg.Wait()
	return pred, nil
}

// predictOne classifies one normalised query, using the scratch buffers given.
func (c *Classifier) predictOne(q, sims []float32, votes []float64, top neighbours) int32 {
	for j := range sims {
		row := c.bank[j*c.dim : (j+1)*c.dim]
		var s float32
		for d, v := range q {
			s += v * row[d]
		}
		sims[j] = s
	}
	// The K most similar: a min-heap of the best so far, its root the weakest of them.
	top = top[:0]
	for j, s := range sims {
		switch {
		case len(top) < c.K:
			heap.Push(&top, neighbour{s, j})
		case better(neighbour{s, j}, top[0]):
			top[0] = neighbour{s, j}
			heap.Fix(&top, 0)
		}
	}
	clear(votes)
	for _, nb := range top {
		votes[c.labels[nb.index]] += math.Exp(float64(nb.sim) / c.Temperature)
	}
	best := 0
	for k, v := range votes {
		if v > votes[best] {
			best = k
		}
	}
	return int32(best)
}

// Accuracy is the fraction of queries whose predicted class is their label.
func (c *Classifier) Accuracy(queries []float32, labels []int32) (float64, error) {
	pred, err := c.Predict(queries)
	if err != nil {
		return 0, err
	}
	if len(pred) != len(labels) || len(pred) == 0 {
		return 0, fmt.Errorf("knn: %d queries for %d labels", len(pred), len(labels))
	}
	correct := 0
	for i, p := range pred {
		if p == labels[i] {
			correct++
		}
	}
	return float64(correct) / float64(len(pred)), nil
}

// neighbour is a bank feature's similarity to the query and its index in the bank.
type neighbour struct {
	sim   float32
	index int
}

// better orders neighbours: higher similarity first, then the earlier bank feature.
func better(a, b neighbour) bool {
	if a.sim != b.sim {
		return a.sim > b.sim
	}
	return a.index < b.index
}

// neighbours is a min-heap under better: its root is the worst neighbour kept.
type neighbours []neighbour

func (h neighbours) Len() int           { return len(h) }
func (h neighbours) Less(i, j int) bool { return better(h[j], h[i]) }
func (h neighbours) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *neighbours) Push(x any)        { *h = append(*h, x.(neighbour)) }
func (h *neighbours) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
