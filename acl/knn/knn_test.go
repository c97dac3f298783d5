package knn

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

// clusters returns n features of dim values around numClasses well-separated directions
// (class c's centre is the unit vector e_c, plus Gaussian noise of scale noise) and their
// labels.
func clusters(rng *rand.Rand, n, dim, numClasses int, noise float64) ([]float32, []int32) {
	x := make([]float32, n*dim)
	y := make([]int32, n)
	for i := range n {
		c := rng.IntN(numClasses)
		y[i] = int32(c)
		for d := range dim {
			v := noise * rng.NormFloat64()
			if d == c {
				v += 1
			}
			x[i*dim+d] = float32(v)
		}
	}
	return x, y
}

// accuracy is the kNN accuracy (k 200, T 0.1) of the queries against the bank.
func accuracy(t *testing.T, bank []float32, bankY []int32, q []float32, qY []int32, dim, classes int) float64 {
	t.Helper()
	c, err := NewClassifier(bank, bankY, dim, classes, DefaultK, DefaultTemperature)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := c.Accuracy(q, qY)
	if err != nil {
		t.Fatal(err)
	}
	return acc
}

// A bank of well-separated clusters classifies new points of the clusters almost
// perfectly.
func TestSeparableClustersGiveHighAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const dim, classes = 16, 10
	bank, bankY := clusters(rng, 2000, dim, classes, 0.15)
	q, qY := clusters(rng, 500, dim, classes, 0.15)
	acc := accuracy(t, bank, bankY, q, qY, dim, classes)
	t.Logf("separable clusters: kNN accuracy %.4f", acc)
	if acc < 0.98 {
		t.Errorf("accuracy %.4f on separable clusters, want ≥ 0.98", acc)
	}
}

// With the bank's labels shuffled the neighbours' votes carry no information: the
// accuracy is chance (1/10 ± a few standard errors).
func TestShuffledLabelsGiveChance(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const dim, classes = 16, 10
	bank, bankY := clusters(rng, 2000, dim, classes, 0.15)
	rng.Shuffle(len(bankY), func(i, j int) { bankY[i], bankY[j] = bankY[j], bankY[i] })
	q, qY := clusters(rng, 3000, dim, classes, 0.15)
	acc := accuracy(t, bank, bankY, q, qY, dim, classes)
	se := math.Sqrt(0.1 * 0.9 / 3000)
	t.Logf("shuffled bank labels: kNN accuracy %.4f (chance 0.1, standard error %.4f)", acc, se)
	if math.Abs(acc-0.1) > 5*se {
		t.Errorf("accuracy %.4f with shuffled labels, want chance 0.1 ± %.4f", acc, 5*se)
	}
}

// The votes are weighted by exp(cos/T): one close neighbour of class 1 outvotes two
// farther ones of class 0 at a small temperature, and loses at a large one (uniform-like
// weights). Vector lengths do not matter (cosine).
func TestVotesAreTemperatureWeighted(t *testing.T) {
	// Query along (1, 0). Bank: class 1 at angle 10° (cos 0.985), class 0 twice at 60°
	// (cos 0.5), scaled differently.
	a := func(deg, scale float64) []float32 {
		r := deg * math.Pi / 180
		return []float32{float32(scale * math.Cos(r)), float32(scale * math.Sin(r))}
	}
	bank := append(append(a(10, 3), a(60, 1)...), a(-60, 7)...)
	labels := []int32{1, 0, 0}
	query := []float32{2, 0}
	for _, tc := range []struct {
		temperature float64
		want        int32
	}{{0.1, 1}, {10, 0}} {
		c, err := NewClassifier(bank, labels, 2, 2, 200, tc.temperature)
		if err != nil {
			t.Fatal(err)
		}
		if c.K != 3 {
			t.Errorf("K = %d, want it capped at the bank size 3", c.K)
		}
		pred, err := c.Predict(query)
		if err != nil {
			t.Fatal(err)
		}
		// Votes: class 1 exp(0.985/T), class 0 2·exp(0.5/T).
		if pred[0] != tc.want {
			t.Errorf("T = %g: predicted %d, want %d (votes: class 1 %.3g, class 0 %.3g)", tc.temperature, pred[0], tc.want,
				math.Exp(math.Cos(10*math.Pi/180)/tc.temperature), 2*math.Exp(0.5/tc.temperature))
		}
	}
}

// Only the k most similar bank features vote: the classifier agrees with a brute-force
// sort on random data.
func TestTopKMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const dim, classes, n, k = 8, 5, 300, 17
	bank, bankY := clusters(rng, n, dim, classes, 2)
	q, _ := clusters(rng, 50, dim, classes, 2)
	c, err := NewClassifier(bank, bankY, dim, classes, k, 0.5)
	if err != nil {
		t.Fatal(err)
	}
	pred, err := c.Predict(q)
	if err != nil {
		t.Fatal(err)
	}
	nb, nq := normalizeRows(bank, dim), normalizeRows(q, dim)
	for i := range 50 {
		type sv struct {
			s float64
			j int
		}
		var all []sv
		for j := range n {
			var s float32
			for d := range dim {
				s += nq[i*dim+d] * nb[j*dim+d]
			}
			all = append(all, sv{float64(s), j})
		}
		sort.SliceStable(all, func(a, b int) bool { return all[a].s > all[b].s })
		votes := make([]float64, classes)
		for _, e := range all[:k] {
			votes[bankY[e.j]] += math.Exp(e.s / 0.5)
		}
		best := 0
		for cl, v := range votes {
			if v > votes[best] {
				best = cl
			}
		}
		if pred[i] != int32(best) {
			t.Fatalf("query %d: predicted %d, brute force %d", i, pred[i], best)
		}
	}
}

func TestClassifierRejectsBadInput(t *testing.T) {
	for name, f := range map[string]func() error{
		"empty bank":    func() error { _, err := NewClassifier(nil, nil, 4, 10, 5, 0.1); return err },
		"size mismatch": func() error { _, err := NewClassifier(make([]float32, 7), []int32{0, 1}, 4, 10, 5, 0.1); return err },
		"bad label":     func() error { _, err := NewClassifier(make([]float32, 8), []int32{0, 10}, 4, 10, 5, 0.1); return err },
		"k 0":           func() error { _, err := NewClassifier(make([]float32, 8), []int32{0, 1}, 4, 10, 0, 0.1); return err },
		"T 0":           func() error { _, err := NewClassifier(make([]float32, 8), []int32{0, 1}, 4, 10, 5, 0); return err },
		"T NaN": func() error {
			_, err := NewClassifier(make([]float32, 8), []int32{0, 1}, 4, 10, 5, math.NaN())
			return err
		},
	} {
		if f() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
