package report

import (
	"bytes"
	"fmt"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// PlotSeries is one curve of a LinePlot: points (X[i], Y[i]); NaN points are skipped.
type PlotSeries struct {
	// Name is the curve's legend entry; X and Y its points' coordinates.
	Name string    `json:"name"`
	X    []float64 `json:"x"`
	Y    []float64 `json:"y"`
}

// LinePlot is a line chart with markers: the plot data of a notebook figure, rendered to
// PNG by gonum/plot (static, so it shows in markdown renderings and offline).
type LinePlot struct {
	// Title, XLabel and YLabel label the chart and its axes; Series are its curves.
	Title  string       `json:"title"`
	XLabel string       `json:"x_label"`
	YLabel string       `json:"y_label"`
	Series []PlotSeries `json:"series"`
	// YMin and YMax fix the Y range when YMax > YMin (e.g. 0..1 for accuracies).
	YMin float64 `json:"y_min,omitempty"`
	YMax float64 `json:"y_max,omitempty"`
	// LegendLeft puts the legend on the left (default: top right).
	LegendLeft bool `json:"legend_left,omitempty"`
}

// Add appends a series; X and Y must have the same length.
func (p *LinePlot) Add(name string, x, y []float64) error {
	if len(x) != len(y) {
		return fmt.Errorf("plot %q: series %q has %d x and %d y values", p.Title, name, len(x), len(y))
	}
	p.Series = append(p.Series, PlotSeries{Name: name, X: x, Y: y})
	return nil
}

// PNG renders the plot at width×height centimetres (96 dpi).
func (p *LinePlot) PNG(widthCM, heightCM float64) ([]byte, error) {
	if len(p.Series) == 0 {
		return nil, fmt.Errorf("plot %q: no series", p.Title)
	}
	pl := plot.New()
	pl.Title.Text = p.Title
	pl.X.Label.Text = p.XLabel
	pl.Y.Label.Text = p.YLabel
	pl.Legend.Top = true
	pl.Legend.Left = p.LegendLeft
	pl.Add(plotter.NewGrid())
	var args []any
	points := 0
	for _, s := range p.Series {
		if len(s.X) != len(s.Y) {
			return nil, fmt.Errorf("plot %q: series %q has %d x and %d y values", p.Title, s.Name, len(s.X), len(s.Y))
		}
		xys := make(plotter.XYs, 0, len(s.X))
		for i := range s.X {
			if finiteFloat(s.X[i]) && finiteFloat(s.Y[i]) {
				xys = append(xys, plotter.XY{X: s.X[i], Y: s.Y[i]})
			}
		}
		if len(xys) == 0 {
			continue
		}
		points += len(xys)
		args = append(args, s.Name, xys)
	}
	if points == 0 {
		return nil, fmt.Errorf("plot %q: no finite points", p.Title)
	}
	if err := plotutil.AddLinePoints(pl, args...); err != nil {
		return nil, fmt.Errorf("plot %q: %w", p.Title, err)
	}
	if p.YMax > p.YMin {
		pl.Y.Min, pl.Y.Max = p.YMin, p.YMax
	}
	wt, err := pl.WriterTo(vg.Length(widthCM)*vg.Centimeter, vg.Length(heightCM)*vg.Centimeter, "png")
	if err != nil {
		return nil, fmt.Errorf("plot %q: %w", p.Title, err)
	}
	var buf bytes.Buffer
	if _, err := wt.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("plot %q: %w", p.Title, err)
	}
	return buf.Bytes(), nil
}

func finiteFloat(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
