package experiment

import (
	"encoding/json"
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"
)

// Summary is the mean of values over seeds with its two-sided 95% Student-t interval:
// mean ± t(0.975, n−1)·s/√n, s the sample standard deviation. With one value there is
// no interval (HalfWidth NaN); with none, Mean is NaN too.
type Summary struct {
	// N is the number of values, Mean their mean and SD their sample standard deviation.
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	SD   float64 `json:"sd"`
	// HalfWidth is the interval's half-width, Low and High its ends.
	HalfWidth float64 `json:"half_width"`
	Low       float64 `json:"low"`
	High      float64 `json:"high"`
	// Values are the values summarised, in seed order.
	Values []float64 `json:"values"`
}

// Summarize returns the Summary of values (NaN values, i.e. missing measurements, are
// left out).
func Summarize(values []float64) Summary {
	var vs []float64
	for _, v := range values {
		if !math.IsNaN(v) {
			vs = append(vs, v)
		}
	}
	s := Summary{N: len(vs), Mean: math.NaN(), SD: math.NaN(), HalfWidth: math.NaN(), Low: math.NaN(), High: math.NaN(), Values: vs}
	if s.N == 0 {
		return s
	}
	var sum float64
	for _, v := range vs {
		sum += v
	}
	s.Mean = sum / float64(s.N)
	if s.N < 2 {
		return s
	}
	var ss float64
	for _, v := range vs {
		ss += (v - s.Mean) * (v - s.Mean)
	}
	s.SD = math.Sqrt(ss / float64(s.N-1))
	s.HalfWidth = TQuantile975(s.N-1) * s.SD / math.Sqrt(float64(s.N))
	s.Low, s.High = s.Mean-s.HalfWidth, s.Mean+s.HalfWidth
	return s
}

// TQuantile975 is the 0.975 quantile of Student's t distribution with df degrees of
// freedom (12.71 for df 1, 4.30 for df 2, 1.96 as df grows).
func TQuantile975(df int) float64 {
	return distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(df)}.Quantile(0.975)
}

// Percent formats a summary of fractions as "mean ± half-width" in percent ("mean" alone
// for one value, "–" for none).
func (s Summary) Percent() string {
	switch {
	case s.N == 0:
		return "–"
	case s.N == 1:
		return fmt.Sprintf("%.1f", 100*s.Mean)
	}
	return fmt.Sprintf("%.1f ± %.1f", 100*s.Mean, 100*s.HalfWidth)
}

// Paired returns the Summary of the differences b[i] − a[i] over the indices where both
// are measured: a paired comparison (the same seed gives both runs the same data subset
// and initialisation).
func Paired(a, b []float64) Summary {
	var d []float64
	for i := range min(len(a), len(b)) {
		if !math.IsNaN(a[i]) && !math.IsNaN(b[i]) {
			d = append(d, b[i]-a[i])
		}
	}
	return Summarize(d)
}

// nullable is v, or nil for NaN and ±Inf (which JSON cannot hold).
func nullable(v float64) *float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return &v
}

// MarshalJSON writes the summary with null for the values it does not have (NaN).
func (s Summary) MarshalJSON() ([]byte, error) {
	return json.Marshal(struct {
		N         int       `json:"n"`
		Mean      *float64  `json:"mean"`
		SD        *float64  `json:"sd"`
		HalfWidth *float64  `json:"half_width"`
		Low       *float64  `json:"low"`
		High      *float64  `json:"high"`
		Values    []float64 `json:"values"`
	}{s.N, nullable(s.Mean), nullable(s.SD), nullable(s.HalfWidth), nullable(s.Low), nullable(s.High), s.Values})
}
