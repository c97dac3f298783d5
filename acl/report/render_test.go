package report

import (
	"bytes"
	"encoding/json"
	"image/png"
	"math"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/acl/finetune"

	"github.com/ainfonce/goacl/datasets"
)

func TestHTMLTable(t *testing.T) {
	tb := NewHTMLTable("probe", "a <caption>", "run", "SA")
	if err := tb.AddRow(HTMLText("a&b"), HTMLPercent(0.4375)); err != nil {
		t.Fatal(err)
	}
	if err := tb.AddRow(HTMLText("x")); err == nil {
		t.Errorf("AddRow accepted a short row")
	}
	tb.AddNote("n<1>")
	h := tb.HTML()
	for _, want := range []string{`data-name="probe"`, "a &lt;caption&gt;", "<td>a&amp;b</td>", `data-value="0.4375">43.75 %</td>`, "n&lt;1&gt;"} {
		if !strings.Contains(h, want) {
			t.Errorf("table HTML lacks %q:\n%s", want, h)
		}
	}
	if c := HTMLNumber(math.NaN(), "%.2f"); c.Text != "—" {
		t.Errorf("NaN cell text %q", c.Text)
	}
}

func TestImageGridAndHeatmapPNG(t *testing.T) {
	img := datasets.NewImage(4, 5, 3)
	for i := range img.Pix {
		img.Pix[i] = float32(i%7) / 6
	}
	pert, err := Perturbation([]datasets.Image{img}, []datasets.Image{img}, 10)
	if err != nil || pert[0].Pix[0] != 0.5 {
		t.Fatalf("Perturbation of equal images: %v %v", pert, err)
	}
	data, err := ImageGridPNG([]ImageRow{{Label: "clean", Images: []datasets.Image{img, img}}, {Label: "p", Images: pert}}, []string{"cat", "dog"}, 3)
	if err != nil {
		t.Fatal(err)
	}
	im, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if b := im.Bounds(); b.Dx() < 2*15 || b.Dy() < 2*12 {
		t.Errorf("grid is %v", b)
	}
	if _, err := ImageGridPNG(nil, nil, 1); err == nil {
		t.Errorf("empty grid accepted")
	}
	hm, err := HeatmapPNG("terms", [][]float64{{0, 1}, {-1, 0.5}}, 4, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(hm)); err != nil {
		t.Fatal(err)
	}
}

func TestLinePlotPNG(t *testing.T) {
	p := &LinePlot{Title: "t", XLabel: "x", YLabel: "y", YMin: 0, YMax: 1}
	if err := p.Add("a", []float64{0, 1, 2}, []float64{0.1, math.NaN(), 0.3}); err != nil {
		t.Fatal(err)
	}
	if err := p.Add("bad", []float64{0}, nil); err == nil {
		t.Errorf("mismatched series accepted")
	}
	data, err := p.PNG(12, 8)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.Decode(bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if _, err := (&LinePlot{}).PNG(10, 10); err == nil {
		t.Errorf("empty plot rendered")
	}
}

func TestRobustSSLReference(t *testing.T) {
	refs := RobustSSLReference()
	find := func(method, pre, down string, mode finetune.Mode) *ReferenceResult {
		for i := range refs {
			r := &refs[i]
			if r.Method == method && r.Pretrain == pre && r.Downstream == down && r.Mode == mode {
				return r
			}
		}
		return nil
	}
	if r := find("A-InfoNCE", "cifar10", "cifar10", finetune.SLF); r == nil || r.RA != 42.72 || r.CA != 74.09 || r.SA != 83.70 {
		t.Errorf("A-InfoNCE C10 SLF = %+v, want 42.72 / 74.09 / 83.70 (spec §7.2)", r)
	}
	if r := find("RoCL", "cifar10", "cifar10", finetune.ALF); r == nil || r.RA != 29.69 || !math.IsNaN(r.CA) || r.SA != 75.62 {
		t.Errorf("RoCL C10 ALF = %+v, want 29.69 / – / 75.62", r)
	}
	if r := find("DynACL++", "cifar100", "cifar100", finetune.AFF); r == nil || r.RA != 25.21 || r.SA != 57.30 {
		t.Errorf("DynACL++ C100 AFF = %+v", r)
	}
	for _, absent := range []struct {
		m, pre, down string
		mode         finetune.Mode
	}{{"RoCL", "cifar100", "cifar100", finetune.ALF}, {"DeACL", "cifar100", "cifar100", finetune.SLF}, {"DynACL++", "cifar10", "stl10", finetune.AFF}} {
		if r := find(absent.m, absent.pre, absent.down, absent.mode); r != nil {
			t.Errorf("%+v: the leaderboard has no number there, got %+v", absent, r)
		}
	}
	// 12 settings × 7 methods minus the empty cells of spec §7.2's table.
	if len(refs) != 12*7-20 {
		t.Errorf("%d reference results, want %d", len(refs), 12*7-20)
	}
	h := ReferenceHTML("cifar10", "cifar10", "A-InfoNCE", "RoCL").HTML()
	for _, want := range []string{"<td>A-InfoNCE</td>", "<td>RoCL</td>", `data-value="0.4272"`, "AutoAttack standard"} {
		if !strings.Contains(h, want) {
			t.Errorf("reference table lacks %q", want)
		}
	}
	if strings.Contains(h, "<td>AdvCL</td>") {
		t.Errorf("reference table shows a method that was not asked for")
	}
}

// The interactive plot carries every finite point of every series and keeps the static
// PNG inside its <div> as the fallback.
func TestLinePlotPlotly(t *testing.T) {
	p := &LinePlot{Title: "t", XLabel: "x", YLabel: "y", YMin: 0, YMax: 1}
	if err := p.Add("a", []float64{0, 1, 2}, []float64{0.5, math.NaN(), 0.25}); err != nil {
		t.Fatal(err)
	}
	fig, err := p.PlotlyFigure()
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Data []struct {
			Name string
			X, Y []float64
		}
		Layout struct{ YAxis struct{ Range []float64 } }
	}
	if err := json.Unmarshal(fig, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Data) != 1 || got.Data[0].Name != "a" || len(got.Data[0].X) != 2 || got.Data[0].Y[1] != 0.25 || len(got.Layout.YAxis.Range) != 2 {
		t.Errorf("figure %s", fig)
	}
	h, err := p.PlotlyHTML("plot-1", []byte{1, 2, 3})
	if err != nil || !strings.Contains(h, `<div id="plot-1" class="acl-plot"><img src="data:image/png;base64,AQID"`) ||
		!strings.Contains(h, "newPlot") || !strings.Contains(h, PlotlySrc) {
		t.Errorf("plotly HTML %v:\n%s", err, h)
	}
	if _, err := (&LinePlot{Title: "empty"}).PlotlyFigure(); err == nil {
		t.Error("a plot without series was accepted")
	}
}
