package report

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"math"

	"github.com/ainfonce/goacl/datasets"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// ImageRow is one labelled row of an image grid: images of the same size, [0,1] floats.
type ImageRow struct {
	// Label is shown left of the row; Images are its images, left to right.
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
