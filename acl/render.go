package acl

import (
	"bytes"
	"fmt"
	"html"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"
	"strconv"
	"strings"

	"github.com/ainfonce/goacl/datasets"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// This file renders results for notebooks and documents: HTML tables whose numeric cells
// carry their exact value (data-value), and PNG image grids and heatmaps. PNG is used
// for every picture so that the markdown renderings of executed notebooks show them
// offline (no JavaScript).

// HTMLCell is one cell of an HTMLTable: its text, and for numbers the exact value.
type HTMLCell struct {
	Text string
	// Value is the number the cell shows when IsNumber (written as data-value).
	Value    float64
	IsNumber bool
}

// HTMLText is a cell holding text.
func HTMLText(s string) HTMLCell { return HTMLCell{Text: s} }

// HTMLNumber is a cell showing v with a fmt verb such as "%.4f" ("—" for NaN).
func HTMLNumber(v float64, format string) HTMLCell {
	if math.IsNaN(v) {
		return HTMLCell{Text: "—", Value: v, IsNumber: true}
	}
	return HTMLCell{Text: fmt.Sprintf(format, v), Value: v, IsNumber: true}
}

// HTMLPercent is a cell showing a fraction v ∈ [0,1] as a percentage with two decimals;
// its data-value is the fraction itself.
func HTMLPercent(v float64) HTMLCell {
	if math.IsNaN(v) {
		return HTMLCell{Text: "—", Value: v, IsNumber: true}
	}
	return HTMLCell{Text: fmt.Sprintf("%.2f %%", 100*v), Value: v, IsNumber: true}
}

// HTMLTable is a table for notebooks: a name (written as data-name, so tests and scripts
// can find it in an executed notebook), a caption, column headers, rows and notes shown
// under it.
type HTMLTable struct {
	Name    string
	Caption string
	Columns []string
	Rows    [][]HTMLCell
	Notes   []string
}

// NewHTMLTable starts a table with a name, a caption and column headers.
func NewHTMLTable(name, caption string, columns ...string) *HTMLTable {
	return &HTMLTable{Name: name, Caption: caption, Columns: columns}
}

// AddRow appends a row; it must have one cell per column.
func (t *HTMLTable) AddRow(cells ...HTMLCell) error {
	if len(cells) != len(t.Columns) {
		return fmt.Errorf("table %s: row with %d cells for %d columns", t.Name, len(cells), len(t.Columns))
	}
	t.Rows = append(t.Rows, cells)
	return nil
}

// AddNote appends a line shown under the table.
func (t *HTMLTable) AddNote(note string) { t.Notes = append(t.Notes, note) }

// HTML renders the table: <table class="acl-table" data-name=...>, numeric cells with
// data-value (12 significant digits) and right alignment, notes in a <p> under it.
func (t *HTMLTable) HTML() string {
	var b strings.Builder
	fmt.Fprintf(&b, "<table class=\"acl-table\" data-name=\"%s\">\n", html.EscapeString(t.Name))
	if t.Caption != "" {
		fmt.Fprintf(&b, "<caption>%s</caption>\n", html.EscapeString(t.Caption))
	}
	b.WriteString("<thead><tr>")
	for _, c := range t.Columns {
		fmt.Fprintf(&b, "<th>%s</th>", html.EscapeString(c))
	}
	b.WriteString("</tr></thead>\n<tbody>\n")
	for _, row := range t.Rows {
		b.WriteString("<tr>")
		for _, c := range row {
			if c.IsNumber {
				fmt.Fprintf(&b, "<td align=\"right\" data-value=\"%s\">%s</td>", strconv.FormatFloat(c.Value, 'g', 12, 64), html.EscapeString(c.Text))
			} else {
				fmt.Fprintf(&b, "<td>%s</td>", html.EscapeString(c.Text))
			}
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</tbody>\n</table>\n")
	if len(t.Notes) > 0 {
		b.WriteString("<p>")
		for i, n := range t.Notes {
			if i > 0 {
				b.WriteString("<br>\n")
			}
			b.WriteString(html.EscapeString(n))
		}
		b.WriteString("</p>\n")
	}
	return b.String()
}

// ImageRow is one labelled row of an image grid: images of the same size, [0,1] floats.
type ImageRow struct {
	Label  string
	Images []datasets.Image
}

// ViewImages splits a view batch (N images NHWC) into images.
func ViewImages(v datasets.ViewBatch) []datasets.Image {
	out := make([]datasets.Image, v.N)
	size := v.H * v.W * v.C
	for i := range v.N {
		out[i] = datasets.Image{H: v.H, W: v.W, C: v.C, Pix: v.Data[i*size : (i+1)*size]}
	}
	return out
}

// Perturbation returns, for each pair, the amplified difference 0.5 + gain·(adv − clean)
// clipped to [0,1] (grey where the images agree), to make an L∞ perturbation of a few
// 1/255 visible.
func Perturbation(clean, adv []datasets.Image, gain float64) ([]datasets.Image, error) {
	if len(clean) != len(adv) {
		return nil, fmt.Errorf("perturbation: %d clean and %d adversarial images", len(clean), len(adv))
	}
	out := make([]datasets.Image, len(clean))
	for i := range clean {
		if len(clean[i].Pix) != len(adv[i].Pix) {
			return nil, fmt.Errorf("perturbation: image %d sizes differ", i)
		}
		img := datasets.NewImage(clean[i].H, clean[i].W, clean[i].C)
		for j := range img.Pix {
			img.Pix[j] = float32(min(max(0.5+gain*float64(adv[i].Pix[j]-clean[i].Pix[j]), 0), 1))
		}
		out[i] = img
	}
	return out, nil
}

// ImageGridPNG draws rows of images as a PNG: each image magnified scale times (nearest
// neighbour), 2-pixel gaps, the row labels on the left and optional column captions on
// top (e.g. class names), in a 7×13 bitmap font.
func ImageGridPNG(rows []ImageRow, columns []string, scale int) ([]byte, error) {
	if len(rows) == 0 {
		return nil, fmt.Errorf("image grid: no rows")
	}
	if scale < 1 {
		scale = 1
	}
	nCols, h, w := 0, 0, 0
	for _, r := range rows {
		nCols = max(nCols, len(r.Images))
		for _, im := range r.Images {
			if im.C != 1 && im.C != 3 {
				return nil, fmt.Errorf("image grid: %d channels (want 1 or 3)", im.C)
			}
			if len(im.Pix) != im.H*im.W*im.C {
				return nil, fmt.Errorf("image grid: image of %d values for %d×%d×%d", len(im.Pix), im.H, im.W, im.C)
			}
			h, w = max(h, im.H), max(w, im.W)
		}
	}
	if nCols == 0 {
		return nil, fmt.Errorf("image grid: no images")
	}
	const gap, charW, lineH = 2, 7, 13
	labelW := 0
	for _, r := range rows {
		labelW = max(labelW, len([]rune(r.Label))*charW+8)
	}
	cellW, cellH := w*scale, h*scale
	topH := 0
	if len(columns) > 0 {
		topH = lineH + 4
	}
	W := labelW + nCols*(cellW+gap) + gap
	H := topH + len(rows)*(cellH+gap) + gap
	canvas := image.NewRGBA(image.Rect(0, 0, W, H))
	draw.Draw(canvas, canvas.Bounds(), image.White, image.Point{}, draw.Src)
	drawText := func(x, y int, s string) {
		d := &font.Drawer{Dst: canvas, Src: image.Black, Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
		d.DrawString(s)
	}
	for j, c := range columns {
		if j >= nCols {
			break
		}
		maxChars := max(cellW/charW, 1)
		if r := []rune(c); len(r) > maxChars {
			c = string(r[:maxChars])
		}
		drawText(labelW+gap+j*(cellW+gap), lineH, c)
	}
	for i, r := range rows {
		y0 := topH + gap + i*(cellH+gap)
		drawText(2, y0+cellH/2+lineH/3, r.Label)
		for j, im := range r.Images {
			x0 := labelW + gap + j*(cellW+gap)
			for y := range im.H * scale {
				for x := range im.W * scale {
					p := ((y/scale)*im.W + x/scale) * im.C
					var c color.RGBA
					if im.C == 1 {
						v := to8(im.Pix[p])
						c = color.RGBA{v, v, v, 255}
					} else {
						c = color.RGBA{to8(im.Pix[p]), to8(im.Pix[p+1]), to8(im.Pix[p+2]), 255}
					}
					canvas.SetRGBA(x0+x, y0+y, c)
				}
			}
		}
	}
	return encodePNG(canvas)
}

// to8 maps a [0,1] float to a byte, clamping.
func to8(v float32) uint8 {
	if !(v > 0) {
		return 0
	}
	if v >= 1 {
		return 255
	}
	return uint8(math.Round(float64(v) * 255))
}

func encodePNG(img image.Image) ([]byte, error) {
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// HeatmapPNG draws a matrix as a PNG heatmap, each entry a cell×cell square coloured on a
// white→blue scale from 0 to the largest absolute entry (negative entries in red), with a
// title line on top. Block separators every `block` rows/columns (0: none) show the
// view blocks of a loss layout.
func HeatmapPNG(title string, m [][]float64, cell, block int) ([]byte, error) {
	n := len(m)
	if n == 0 {
		return nil, fmt.Errorf("heatmap: empty matrix")
	}
	cols := len(m[0])
	maxAbs := 0.0
	for _, row := range m {
		if len(row) != cols {
			return nil, fmt.Errorf("heatmap: ragged matrix")
		}
		for _, v := range row {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				maxAbs = max(maxAbs, math.Abs(v))
			}
		}
	}
	if cell < 1 {
		cell = 1
	}
	const top = 18
	W, H := cols*cell+2, n*cell+top+2
	canvas := image.NewRGBA(image.Rect(0, 0, W, H))
	draw.Draw(canvas, canvas.Bounds(), image.White, image.Point{}, draw.Src)
	d := &font.Drawer{Dst: canvas, Src: image.Black, Face: basicfont.Face7x13, Dot: fixed.P(2, 13)}
	d.DrawString(title)
	for r, row := range m {
		for c, v := range row {
			f := 0.0
			if maxAbs > 0 && !math.IsNaN(v) {
				f = math.Min(math.Abs(v)/maxAbs, 1)
			}
			col := color.RGBA{uint8(255 * (1 - f)), uint8(255 * (1 - 0.6*f)), 255, 255}
			if v < 0 {
				col = color.RGBA{255, uint8(255 * (1 - f)), uint8(255 * (1 - f)), 255}
			}
			for y := range cell {
				for x := range cell {
					canvas.SetRGBA(1+c*cell+x, top+1+r*cell+y, col)
				}
			}
		}
	}
	if block > 0 {
		grey := color.RGBA{120, 120, 120, 255}
		for k := block; k < max(n, cols); k += block {
			for y := top + 1; y < top+1+n*cell; y++ {
				if k < cols {
					canvas.SetRGBA(1+k*cell, y, grey)
				}
			}
			for x := 1; x < 1+cols*cell; x++ {
				if k < n {
					canvas.SetRGBA(x, top+1+k*cell, grey)
				}
			}
		}
	}
	return encodePNG(canvas)
}
