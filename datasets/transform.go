package datasets

import "math/rand/v2"

// Transform is one (possibly random) augmentation of a float32 HWC image. It draws all
// its randomness from r, returns a new image (or its input unchanged) and never modifies
// the input's pixels.
type Transform func(img Image, r *rand.Rand) Image

// Identity returns its input unchanged (ToTensor only).
func Identity() Transform {
	return func(img Image, _ *rand.Rand) Image { return img }
}

// Compose applies the transforms in order (torchvision transforms.Compose).
func Compose(ts ...Transform) Transform {
	ts = append([]Transform(nil), ts...)
	return func(img Image, r *rand.Rand) Image {
		for _, t := range ts {
			img = t(img, r)
		}
		return img
	}
}

// RandomApply applies t with probability p (torchvision transforms.RandomApply: one
// uniform u in [0,1) is drawn and t is skipped when p < u).
func RandomApply(t Transform, p float64) Transform {
	return func(img Image, r *rand.Rand) Image {
		if p < r.Float64() {
			return img
		}
		return t(img, r)
	}
}
