package datasets

import "math/rand/v2"

// Luma weights of ITU-R 601-2 (the weights of PIL's convert("L"), used by torchvision's
// Grayscale on PIL images; torchvision's tensor path rounds the red weight to 0.2989).
const (
	LumaR = 0.299
	LumaG = 0.587
	LumaB = 0.114
)

// luma returns the ITU-R 601-2 luma plane (H×W) of a 3-channel image.
func luma(img Image) []float32 {
	out := make([]float32, img.H*img.W)
	for p := range out {
		px := img.Pix[3*p : 3*p+3]
		out[p] = LumaR*px[0] + LumaG*px[1] + LumaB*px[2]
	}
	return out
}

// Grayscale converts a 3-channel image to its ITU-R 601-2 luma
// (0.299 R + 0.587 G + 0.114 B), replicated to 3 channels. Images that do not have 3
// channels are returned unchanged.
func Grayscale(img Image) Image {
	if img.C != 3 {
		return img
	}
	out := NewImage(img.H, img.W, 3)
	for p, l := range luma(img) {
		out.Pix[3*p], out.Pix[3*p+1], out.Pix[3*p+2] = l, l, l
	}
	return out
}

// RandomGrayscale converts the image to 3-channel grayscale with probability p
// (torchvision RandomGrayscale: converts when a uniform draw in [0,1) is below p).
func RandomGrayscale(p float64) Transform {
	return func(img Image, r *rand.Rand) Image {
		if r.Float64() < p {
			return Grayscale(img)
		}
		return img
	}
}
