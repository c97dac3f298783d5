package datasets

import "math/rand/v2"

// HFlip mirrors an image left to right.
func HFlip(img Image) Image {
	out := NewImage(img.H, img.W, img.C)
	c := img.C
	for y := 0; y < img.H; y++ {
		row := img.Pix[y*img.W*c : (y+1)*img.W*c]
		dst := out.Pix[y*img.W*c : (y+1)*img.W*c]
		for x := 0; x < img.W; x++ {
			copy(dst[(img.W-1-x)*c:(img.W-x)*c], row[x*c:(x+1)*c])
		}
	}
	return out
}

// RandomHorizontalFlip flips the image left to right with probability p (torchvision
// RandomHorizontalFlip: flips when a uniform draw in [0,1) is below p).
func RandomHorizontalFlip(p float64) Transform {
	return func(img Image, r *rand.Rand) Image {
		if r.Float64() < p {
			return HFlip(img)
		}
		return img
	}
}
