package datasets

import "math"

// Image is one float32 image in HWC order (row-major rows, interleaved channels), with
// pixels normally in [0,1]. Augmentations never modify the Pix slice of their input.
type Image struct {
	// H, W and C are the height, width and number of channels.
	H, W, C int
	// Pix holds H×W×C values; the value of row y, column x, channel c is Pix[(y*W+x)*C+c].
	Pix []float32
}

// NewImage returns a zero (black) image of the given shape.
func NewImage(h, w, c int) Image {
	return Image{H: h, W: w, C: c, Pix: make([]float32, h*w*c)}
}

// ImageFromUint8 converts HWC uint8 pixels to a float32 image with values v/255, as
// torchvision's ToTensor does (the HWC order is kept).
func ImageFromUint8(pix []uint8, h, w, c int) Image {
	img := NewImage(h, w, c)
	uint8ToFloat(img.Pix, pix)
	return img
}

// At returns the value at row y, column x, channel c.
func (m Image) At(y, x, c int) float32 { return m.Pix[(y*m.W+x)*m.C+c] }

// Clone returns a deep copy of the image.
func (m Image) Clone() Image {
	out := m
	out.Pix = append([]float32(nil), m.Pix...)
	return out
}

// ToUint8 converts the image back to HWC uint8 pixels, rounding v×255 half away from
// zero and clamping to [0,255] (NaN becomes 0).
func (m Image) ToUint8() []uint8 {
	out := make([]uint8, len(m.Pix))
	for i, v := range m.Pix {
		out[i] = clampRoundUint8(float64(v) * 255)
	}
	return out
}

func uint8ToFloat(dst []float32, src []uint8) {
	for i, v := range src {
		dst[i] = float32(v) / 255
	}
}

func clampRoundUint8(v float64) uint8 {
	if !(v > 0) { // also NaN
		return 0
	}
	if v >= 255 {
		return 255
	}
	return uint8(math.Round(v))
}

func clamp01(v float32) float32 {
	if v < 0 {
		return 0
	}
	if v > 1 {
		return 1
	}
	return v
}
