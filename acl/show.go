package acl

import (
	"github.com/ainfonce/goacl/acl/report"
	"github.com/janpfeifer/gonb/gonbui"
	"github.com/janpfeifer/gonb/gonbui/protocol"
)

// The notebooks' displays (GoNB; outside a notebook they do nothing).

// ShowTable displays an HTML table in the notebook.
func ShowTable(t *report.HTMLTable) { gonbui.DisplayHTML(t.HTML()) }

// ShowPNG displays a PNG image (an image grid, a heatmap) in the notebook.
func ShowPNG(png []byte) { gonbui.DisplayPNG(png) }

// ShowPlot displays a plot in the notebook as one output with two forms: an interactive
// plotly.js chart (report.LinePlot.PlotlyHTML: values on hover, zoom, series toggled from
// the legend), which Jupyter shows, and the static PNG (16×10 cm), which renderings
// without scripts show (the markdown of docs/notebooks/, GitHub) and which the chart's
// <div> also holds until plotly.js has loaded.
func ShowPlot(p *report.LinePlot) error {
	png, err := p.PNG(16, 10)
	if err != nil {
		return err
	}
	h, err := p.PlotlyHTML("acl-plot-"+gonbui.UniqueId(), png)
	if err != nil {
		return err
	}
	if gonbui.IsNotebook {
		gonbui.SendData(&protocol.DisplayData{Data: map[protocol.MIMEType]any{
			protocol.MIMETextHTML: h, protocol.MIMEImagePNG: png}})
	}
	return nil
}
