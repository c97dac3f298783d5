package report

import (
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"math"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

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
