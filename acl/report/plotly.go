package report

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
)

// PlotlySrc is where PlotlyHTML loads plotly.js from (the version GoNB's plotly support
// uses).
var PlotlySrc = "https://cdn.plot.ly/plotly-2.34.0.min.js"

// plotlyTrace and plotlyLayout are the parts of a plotly.js figure a LinePlot uses
// (https://plotly.com/javascript/reference/).
type plotlyTrace struct {
	Type string    `json:"type"`
	Mode string    `json:"mode"`
	Name string    `json:"name"`
	X    []float64 `json:"x"`
	Y    []float64 `json:"y"`
}

type plotlyAxis struct {
	Title    map[string]string `json:"title"`
	Range    []float64         `json:"range,omitempty"`
	ShowGrid bool              `json:"showgrid"`
}

type plotlyLayout struct {
	Title  map[string]string `json:"title"`
	XAxis  plotlyAxis        `json:"xaxis"`
	YAxis  plotlyAxis        `json:"yaxis"`
	Legend map[string]any    `json:"legend"`
	Width  int               `json:"width"`
	Height int               `json:"height"`
}

// PlotlyFigure returns the plot as a plotly.js figure, {"data": […], "layout": {…}}:
// one "lines+markers" scatter trace per series (non-finite points left out, as in PNG),
// the titles, the fixed Y range when set, and the legend on the left when LegendLeft.
func (p *LinePlot) PlotlyFigure() ([]byte, error) {
	if len(p.Series) == 0 {
		return nil, fmt.Errorf("plot %q: no series", p.Title)
	}
	var traces []plotlyTrace
	for _, s := range p.Series {
		if len(s.X) != len(s.Y) {
			return nil, fmt.Errorf("plot %q: series %q has %d x and %d y values", p.Title, s.Name, len(s.X), len(s.Y))
		}
		t := plotlyTrace{Type: "scatter", Mode: "lines+markers", Name: s.Name, X: []float64{}, Y: []float64{}}
		for i := range s.X {
			if finiteFloat(s.X[i]) && finiteFloat(s.Y[i]) {
				t.X, t.Y = append(t.X, s.X[i]), append(t.Y, s.Y[i])
			}
		}
		traces = append(traces, t)
	}
	layout := plotlyLayout{Title: map[string]string{"text": p.Title}, Width: 640, Height: 400,
		XAxis:  plotlyAxis{Title: map[string]string{"text": p.XLabel}, ShowGrid: true},
		YAxis:  plotlyAxis{Title: map[string]string{"text": p.YLabel}, ShowGrid: true},
		Legend: map[string]any{"x": 1.02, "y": 1}}
	if p.YMax > p.YMin {
		layout.YAxis.Range = []float64{p.YMin, p.YMax}
	}
	if p.LegendLeft {
		layout.Legend = map[string]any{"x": 0.01, "y": 0.99, "bgcolor": "rgba(255,255,255,0.6)"}
	}
	return json.Marshal(map[string]any{"data": traces, "layout": layout})
}

// PlotlyHTML returns the plot as an interactive plotly.js chart (values on hover, zoom,
// series toggled from the legend): a <div> holding the static PNG, which a script
// replaces by the chart once plotly.js is loaded (from PlotlySrc, through RequireJS where
// the page has it, as GoNB's plotly support does). Where scripts do not run or the network
// is out of reach, the PNG stays. id must be unique in the page.
func (p *LinePlot) PlotlyHTML(id string, png []byte) (string, error) {
	fig, err := p.PlotlyFigure()
	if err != nil {
		return "", err
	}
	img := ""
	if len(png) > 0 {
		img = fmt.Sprintf(`<img src="data:image/png;base64,%s" alt="%s">`, base64.StdEncoding.EncodeToString(png), html.EscapeString(p.Title))
	}
	src := PlotlySrc
	return fmt.Sprintf(`<div id="%[1]s" class="acl-plot">%[2]s</div>
<script charset="utf-8">
(function () {
	var fig = %[3]s;
	function draw(P) {
		var el = document.getElementById("%[1]s");
		if (!el || !P) { return; }
		el.innerHTML = "";
		P.newPlot(el, fig.data, fig.layout);
	}
	if (window.Plotly) { draw(window.Plotly); return; }
	if (typeof requirejs === "function") {
		requirejs.config({paths: {plotly: "%[4]s"}});
		require(["plotly"], draw);
		return;
	}
	var s = document.createElement("script");
	s.src = "%[5]s";
	s.charset = "utf-8";
	s.onload = function () { draw(window.Plotly); };
	document.head.appendChild(s);
})();
</script>
`, id, img, fig, src[:len(src)-len(".js")], src), nil
}
