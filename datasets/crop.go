package datasets

import (
	"math"
	"math/rand/v2"
)

// Crop returns the h×w window of img whose top-left corner is (top, left). Pixels of the
// window outside img are zero, as torchvision's F.crop pads tensors.
func Crop(img Image, top, left, h, w int) Image {
	out := NewImage(h, w, img.C)
	c := img.C
	for y := 0; y < h; y++ {
		sy := top + y
		if sy < 0 || sy >= img.H {
			continue
		}
		x0, x1 := max(0, -left), min(w, img.W-left)
		if x0 >= x1 {
			continue
		}
		copy(out.Pix[(y*w+x0)*c:(y*w+x1)*c], img.Pix[(sy*img.W+left+x0)*c:(sy*img.W+left+x1)*c])
	}
	return out
}

// Pad adds p zero pixels on every side (torchvision Pad with fill 0, constant mode).
func Pad(img Image, p int) Image {
	return Crop(img, -p, -p, img.H+2*p, img.W+2*p)
}

// RandomCropParams returns the top-left corner of a uniformly placed h×w window in an
// imgH×imgW image (torchvision RandomCrop.get_params); the window must fit.
func RandomCropParams(imgH, imgW, h, w int, r *rand.Rand) (top, left int) {
	if imgH == h && imgW == w {
		return 0, 0
	}
	return r.IntN(imgH - h + 1), r.IntN(imgW - w + 1)
}

// RandomCrop zero-pads the image by padding pixels on every side and takes a uniformly
// placed size×size window (torchvision RandomCrop(size, padding, fill=0,
// padding_mode="constant")). If the padded image is smaller than size it is padded
// further on the bottom/right, like pad_if_needed.
func RandomCrop(size, padding int) Transform {
	return func(img Image, r *rand.Rand) Image {
		h, w := img.H+2*padding, img.W+2*padding
		ph, pw := max(size, h), max(size, w)
		top, left := RandomCropParams(ph, pw, size, size, r)
		return Crop(img, top-padding, left-padding, size, size)
	}
}

// CropBox is a crop window.
type CropBox struct {
	// Top and Left are the row and column of the window's top-left pixel.
	Top, Left int
	// Height and Width are the window's number of rows and columns.
	Height, Width int
}

// DefaultCropRatio is RandomResizedCrop's default aspect-ratio range (3/4, 4/3).
var DefaultCropRatio = [2]float64{3.0 / 4.0, 4.0 / 3.0}

// RandomResizedCropParams draws the crop window of torchvision's
// RandomResizedCrop.get_params for an h×w image:
//
//	up to 10 tries: area = U(scale)·h·w, aspect = exp(U(log ratio)),
//	  cw = round(sqrt(area·aspect)), ch = round(sqrt(area/aspect)) (round half to even);
//	  accept if 0 < cw ≤ w and 0 < ch ≤ h, with top ~ U{0..h−ch}, left ~ U{0..w−cw}.
//	fallback: the central crop of the whole image, narrowed to the nearest aspect ratio
//	  inside ratio (round half to even), placed at ((h−ch)/2, (w−cw)/2) (floor).
func RandomResizedCropParams(h, w int, scale, ratio [2]float64, r *rand.Rand) CropBox {
	area := float64(h * w)
	logLo, logHi := math.Log(ratio[0]), math.Log(ratio[1])
	for range 10 {
		target := area * (scale[0] + (scale[1]-scale[0])*r.Float64())
		aspect := math.Exp(logLo + (logHi-logLo)*r.Float64())
		cw := int(math.RoundToEven(math.Sqrt(target * aspect)))
		ch := int(math.RoundToEven(math.Sqrt(target / aspect)))
		if 0 < cw && cw <= w && 0 < ch && ch <= h {
			top := r.IntN(h - ch + 1)
			left := r.IntN(w - cw + 1)
			return CropBox{Top: top, Left: left, Height: ch, Width: cw}
		}
	}
	return centerCropFallback(h, w, ratio)
}

func centerCropFallback(h, w int, ratio [2]float64) CropBox {
	inRatio := float64(w) / float64(h)
	lo, hi := min(ratio[0], ratio[1]), max(ratio[0], ratio[1])
	cw, ch := w, h
	switch {
	case inRatio < lo:
		ch = int(math.RoundToEven(float64(cw) / lo))
	case inRatio > hi:
		cw = int(math.RoundToEven(float64(ch) * hi))
	}
	return CropBox{Top: (h - ch) / 2, Left: (w - cw) / 2, Height: ch, Width: cw}
}

// RandomResizedCrop crops a random window chosen by RandomResizedCropParams and resizes
// it to size×size with Resize (torchvision tensor semantics, align_corners=False, no
// antialias; bicubic a = −0.75; output clamped to [0,1]).
func RandomResizedCrop(size int, scale, ratio [2]float64, interp Interpolation) Transform {
	return func(img Image, r *rand.Rand) Image {
		b := RandomResizedCropParams(img.H, img.W, scale, ratio, r)
		return Resize(Crop(img, b.Top, b.Left, b.Height, b.Width), size, size, interp)
	}
}
