package losses

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

func mustAdaptive(t *testing.T, a0 float64, ew int, dmin float64) *AdaptiveAlpha {
	t.Helper()
	a, err := NewAdaptiveAlpha(a0, ew, dmin)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAdaptiveAlphaWarmupMeanWeightedByBatch(t *testing.T) {
	a := mustAdaptive(t, 0.2, 2, 0.4)
	steps := []struct {
		d float64
		n int
	}{{1.0, 10}, {2.0, 30}, {1.5, 20}}
	for i, s := range steps {
		if got := a.Observe(i%2, s.d, s.n); got != 0.2 { // epochs 0 and 1 are warm-up (E_w = 2)
			t.Errorf("warm-up step %d: α = %g, want α₀ = 0.2", i, got)
		}
	}
	want := (1.0*10 + 2.0*30 + 1.5*20) / 60
	if math.Abs(a.Mean()-want) > 1e-15 {
		t.Errorf("warm-up mean %g, want batch-weighted %g", a.Mean(), want)
	}
	if a.DMax != 2.0 {
		t.Errorf("DMax %g, want 2", a.DMax)
	}
}

func TestAdaptiveAlphaFreezesAfterWarmup(t *testing.T) {
	a := mustAdaptive(t, 0.2, 2, 0.4)
	if !a.InWarmup(0) || !a.InWarmup(1) || a.InWarmup(2) {
		t.Fatalf("warm-up must be epoch+1 ≤ E_w: got %v %v %v for epochs 0,1,2", a.InWarmup(0), a.InWarmup(1), a.InWarmup(2))
	}
	a.Observe(1, 1.0, 8) // last warm-up epoch
	mean := a.Mean()
	a.Observe(2, 0.1, 8) // first adaptive epoch: must not move d̄
	a.Observe(5, 5.0, 8)
	if a.Mean() != mean || a.Count != 8 {
		t.Errorf("d̄ moved after warm-up: %g (count %g), want %g (count 8)", a.Mean(), a.Count, mean)
	}
}

func TestAdaptiveAlphaBranches(t *testing.T) {
	a := mustAdaptive(t, 0.2, 1, 0.4)
	a.Observe(0, 1.0, 4) // d̄ = 1.0
	cases := []struct {
		d, want float64
	}{
		{1.5, 0.2},  // d > d̄: α₀
		{1.0, 0.2},  // d = d̄: formula gives α₀
		{0.3, 0.5},  // d < d_min: 0.5
		{0.4, 0.5},  // d = d_min: formula gives 0.5
		{0.7, 0.35}, // halfway: α₀ + (0.5−α₀)·(1−0.7)/(1−0.4) = 0.2 + 0.3·0.5
		{0.85, 0.2 + 0.3*0.25},
	}
	for _, c := range cases {
		if got := a.Observe(1, c.d, 4); math.Abs(got-c.want) > 1e-15 {
			t.Errorf("d = %g: α = %.17g, want %.17g", c.d, got, c.want)
		}
	}
	// Official expression, evaluated in the same order.
	d := 0.61
	want := (1.0-d)/(1.0-0.4)*(0.5-0.2) + 0.2
	if got := a.Alpha(d); got != want {
		t.Errorf("α(%g) = %.17g, want %.17g", d, got, want)
	}
	// E_w = 0: no warm-up, d̄ = 0 (AverageMeter's initial avg) so α = α₀ for any d > 0.
	b := mustAdaptive(t, 0.3, 0, 0.5)
	if got := b.Observe(0, 0.7, 16); got != 0.3 || b.Count != 0 {
		t.Errorf("E_w = 0: α = %g (count %g), want 0.3 and no accumulation", got, b.Count)
	}
	// d̄ below d_min: every d ≤ d̄ is below d_min.
	c := mustAdaptive(t, 0.3, 1, 0.5)
	c.Observe(0, 0.4, 1)
	if got := c.Alpha(0.4); got != 0.5 {
		t.Errorf("d̄ < d_min, d = d̄: α = %g, want 0.5", got)
	}
	// d̄ = d_min = d: the interpolation limit α₀, no NaN.
	e := mustAdaptive(t, 0.3, 1, 0.5)
	e.Observe(0, 0.5, 1)
	if got := e.Alpha(0.5); got != 0.3 {
		t.Errorf("d̄ = d_min = d: α = %g, want α₀", got)
	}
	if got := e.Alpha(math.NaN()); got != 0.3 {
		t.Errorf("NaN distance: α = %g, want α₀", got)
	}
}

func TestAdaptiveAlphaJSONRoundTrip(t *testing.T) {
	a := mustAdaptive(t, 0.2, 3, 0.4)
	for i, d := range []float64{1.1, 0.9, 1.3, 1.7} {
		a.Observe(i/2, d, 7+i)
	}
	raw, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	var b AdaptiveAlpha
	if err := json.Unmarshal(raw, &b); err != nil {
		t.Fatal(err)
	}
	if b != *a {
		t.Fatalf("round trip changed the state:\n%+v\n%+v", *a, b)
	}
	for step, d := range []float64{0.8, 1.05, 0.5, 2.0, 0.3} {
		epoch := 2 + step/2 // finishes warm-up, then adapts
		if x, y := a.Observe(epoch, d, 9), b.Observe(epoch, d, 9); x != y {
			t.Errorf("resumed run diverges at step %d: %v vs %v", step, x, y)
		}
	}
	if err := json.Unmarshal([]byte(`{"alpha0":2,"warmup_epochs":1,"d_min":0.4}`), &b); err == nil ||
		!strings.Contains(err.Error(), "Alpha0") {
		t.Errorf("invalid state accepted or unnamed: %v", err)
	}
}

func TestNewAdaptiveAlphaErrors(t *testing.T) {
	for _, c := range []struct {
		a0    float64
		ew    int
		dmin  float64
		field string
	}{
		{-0.1, 10, 0.4, "Alpha0"}, {1.5, 10, 0.4, "Alpha0"}, {math.NaN(), 10, 0.4, "Alpha0"},
		{0.2, -1, 0.4, "WarmupEpochs"}, {0.2, 10, -0.1, "DMin"}, {0.2, 10, math.Inf(1), "DMin"},
	} {
		if _, err := NewAdaptiveAlpha(c.a0, c.ew, c.dmin); err == nil || !strings.Contains(err.Error(), c.field) {
			t.Errorf("NewAdaptiveAlpha(%g, %d, %g): error %v, want one naming %s", c.a0, c.ew, c.dmin, err, c.field)
		}
	}
}
