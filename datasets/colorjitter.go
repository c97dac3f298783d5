package datasets

import (
	"math"
	"math/rand/v2"
)

// AdjustBrightness multiplies every value by factor and clamps to [0,1] (torchvision
// adjust_brightness on float tensors: a blend with a black image).
func AdjustBrightness(img Image, factor float64) Image {
	out := NewImage(img.H, img.W, img.C)
	f := float32(factor)
	for i, v := range img.Pix {
		out.Pix[i] = clamp01(f * v)
	}
	return out
}

// AdjustContrast blends the image with the mean of its grayscale version,
// factor·x + (1−factor)·mean, clamped to [0,1] (torchvision adjust_contrast on float
// tensors). Only 3-channel images are changed.
func AdjustContrast(img Image, factor float64) Image {
	if img.C != 3 {
		return img
	}
	var sum float64
	for _, l := range luma(img) {
		sum += float64(l)
	}
	mean := float32(sum / float64(img.H*img.W))
	return blend(img, func(int) float32 { return mean }, float32(factor))
}

// AdjustSaturation blends the image with its grayscale version,
// factor·x + (1−factor)·gray, clamped to [0,1] (torchvision adjust_saturation on float
// tensors). Only 3-channel images are changed.
func AdjustSaturation(img Image, factor float64) Image {
	if img.C != 3 {
		return img
	}
	gray := luma(img)
	return blend(img, func(p int) float32 { return gray[p] }, float32(factor))
}

// blend computes clamp01(factor·x + (1−factor)·other(pixel)) for every value of a
// 3-channel image.
func blend(img Image, other func(p int) float32, factor float32) Image {
	out := NewImage(img.H, img.W, img.C)
	for p := 0; p < img.H*img.W; p++ {
		o := (1 - factor) * other(p)
		for ch := 0; ch < 3; ch++ {
			out.Pix[3*p+ch] = clamp01(factor*img.Pix[3*p+ch] + o)
		}
	}
	return out
}

// AdjustHue shifts the hue of a 3-channel image by shift (a fraction of the colour
// circle, in [−0.5, 0.5]) with torchvision's tensor adjust_hue: RGB→HSV, h = (h+shift)
// mod 1, HSV→RGB, where p, q, t are clamped to [0,1]. Images without 3 channels are
// returned unchanged.
func AdjustHue(img Image, shift float64) Image {
	if img.C != 3 {
		return img
	}
	out := NewImage(img.H, img.W, 3)
	s32 := float32(shift)
	for p := 0; p < img.H*img.W; p++ {
		px := img.Pix[3*p : 3*p+3]
		h, s, v := rgbToHSV(px[0], px[1], px[2])
		h = frac(h + s32) // Python-style (h + shift) % 1.0
		r, g, b := hsvToRGB(h, s, v)
		out.Pix[3*p], out.Pix[3*p+1], out.Pix[3*p+2] = r, g, b
	}
	return out
}

// frac returns x − floor(x), in [0,1): Python's x % 1.0, and C's fmod(x, 1) for x ≥ 0
// (both exact for the arguments used here, which lie in (−1, 2)).
func frac(x float32) float32 {
	f := x - float32(math.Floor(float64(x)))
	if f >= 1 { // x slightly below an integer, rounded up by the subtraction
		return 0
	}
	return f
}

// rgbToHSV is torchvision's _rgb2hsv for one pixel.
func rgbToHSV(r, g, b float32) (h, s, v float32) {
	maxc := max(r, g, b)
	minc := min(r, g, b)
	eqc := maxc == minc
	cr := maxc - minc
	div := maxc
	if eqc {
		div = 1
	}
	s = cr / div
	crDiv := cr
	if eqc {
		crDiv = 1
	}
	rc := (maxc - r) / crDiv
	gc := (maxc - g) / crDiv
	bc := (maxc - b) / crDiv
	switch {
	case maxc == r:
		h = bc - gc
	case maxc == g:
		h = 2 + rc - bc
	default:
		h = 4 + gc - rc
	}
	h = frac(h/6 + 1) // fmod(h/6 + 1, 1) for a positive argument
	return h, s, maxc
}

// hsvToRGB is torchvision's _hsv2rgb for one pixel.
func hsvToRGB(h, s, v float32) (r, g, b float32) {
	i := float32(math.Floor(float64(h * 6)))
	f := h*6 - i
	p := clamp01(v * (1 - s))
	q := clamp01(v * (1 - s*f))
	t := clamp01(v * (1 - s*(1-f)))
	switch ((int(i) % 6) + 6) % 6 {
	case 0:
		return v, t, p
	case 1:
		return q, v, p
	case 2:
		return p, v, t
	case 3:
		return p, q, v
	case 4:
		return t, p, v
	default:
		return v, p, q
	}
}

// ColorJitterParams are the factor ranges of a ColorJitter; a nil range means that
// adjustment is disabled (torchvision sets it to None when the range is {1} or {0}).
type ColorJitterParams struct {
	// Brightness, Contrast and Saturation are ranges of blend factors (1 = unchanged).
	Brightness, Contrast, Saturation *[2]float64
	// Hue is a range of hue shifts, as fractions of the colour circle within [−0.5, 0.5].
	Hue *[2]float64
}

// NewColorJitterParams converts torchvision-style strengths to ranges: brightness,
// contrast and saturation s give [max(0,1−s), 1+s], hue h gives [−h, h] (h is clamped
// to 0.5); a strength of 0 disables the adjustment.
func NewColorJitterParams(brightness, contrast, saturation, hue float64) ColorJitterParams {
	factor := func(s float64) *[2]float64 {
		if s <= 0 {
			return nil
		}
		return &[2]float64{max(0, 1-s), 1 + s}
	}
	var p ColorJitterParams
	p.Brightness, p.Contrast, p.Saturation = factor(brightness), factor(contrast), factor(saturation)
	if hue > 0 {
		hue = min(hue, 0.5)
		p.Hue = &[2]float64{-hue, hue}
	}
	return p
}

// ColorJitter returns torchvision's ColorJitter(brightness, contrast, saturation, hue):
// each call draws a random order of the four adjustments and, for each enabled one, a
// factor uniform in its range (see NewColorJitterParams), then applies AdjustBrightness,
// AdjustContrast, AdjustSaturation and AdjustHue in that order.
func ColorJitter(brightness, contrast, saturation, hue float64) Transform {
	return ColorJitterWith(NewColorJitterParams(brightness, contrast, saturation, hue))
}

// ColorJitterWith is ColorJitter with explicit factor ranges.
func ColorJitterWith(p ColorJitterParams) Transform {
	uniform := func(rg *[2]float64, r *rand.Rand) float64 {
		return rg[0] + (rg[1]-rg[0])*r.Float64()
	}
	return func(img Image, r *rand.Rand) Image {
		order := r.Perm(4)
		var b, c, s, h float64
		if p.Brightness != nil {
			b = uniform(p.Brightness, r)
		}
		if p.Contrast != nil {
			c = uniform(p.Contrast, r)
		}
		if p.Saturation != nil {
			s = uniform(p.Saturation, r)
		}
		if p.Hue != nil {
			h = uniform(p.Hue, r)
		}
		for _, fn := range order {
			switch {
			case fn == 0 && p.Brightness != nil:
				img = AdjustBrightness(img, b)
			case fn == 1 && p.Contrast != nil:
				img = AdjustContrast(img, c)
			case fn == 2 && p.Saturation != nil:
				img = AdjustSaturation(img, s)
			case fn == 3 && p.Hue != nil:
				img = AdjustHue(img, h)
			}
		}
		return img
	}
}
