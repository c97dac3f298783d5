package experiment

import (
	"math"
	"testing"
)

// The t quantiles are the textbook ones, and the interval of known values is
// mean ± t·s/√n.
func TestSummarizeTInterval(t *testing.T) {
	for df, want := range map[int]float64{1: 12.706, 2: 4.303, 4: 2.776, 9: 2.262, 29: 2.045} {
		if got := TQuantile975(df); math.Abs(got-want) > 1e-3 {
			t.Errorf("t(0.975, %d) = %.4f, want %.3f", df, got, want)
		}
	}
	s := Summarize([]float64{0.30, 0.32, 0.34, math.NaN()})
	// mean 0.32, s = 0.02, half-width 4.303·0.02/√3 = 0.049688
	if s.N != 3 || math.Abs(s.Mean-0.32) > 1e-12 || math.Abs(s.SD-0.02) > 1e-12 || math.Abs(s.HalfWidth-0.049688) > 1e-5 {
		t.Errorf("summary %+v; want n 3, mean 0.32, sd 0.02, half-width 0.0497", s)
	}
	if got := s.Percent(); got != "32.0 ± 5.0" {
		t.Errorf("Percent() = %q", got)
	}
	one := Summarize([]float64{0.5})
	if one.N != 1 || one.Mean != 0.5 || !math.IsNaN(one.HalfWidth) || one.Percent() != "50.0" {
		t.Errorf("one value: %+v %q", one, one.Percent())
	}
	if none := Summarize(nil); none.N != 0 || !math.IsNaN(none.Mean) || none.Percent() != "–" {
		t.Errorf("no value: %+v", none)
	}
	d := Paired([]float64{0.1, 0.2, math.NaN(), 0.4}, []float64{0.2, 0.25, 0.9, 0.45})
	if d.N != 3 || math.Abs(d.Mean-(0.1+0.05+0.05)/3) > 1e-12 {
		t.Errorf("paired %+v; want the 3 differences measured on both sides", d)
	}
}
