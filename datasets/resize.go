package datasets

import (
	"fmt"
	"math"
)

// Interpolation selects the resampling kernel of a resize.
type Interpolation int

const (
	// Bilinear is linear interpolation along each axis (torchvision InterpolationMode.BILINEAR).
	Bilinear Interpolation = iota
	// Bicubic is cubic convolution along each axis (torchvision InterpolationMode.BICUBIC).
	Bicubic
)

// String returns "bilinear" or "bicubic".
func (i Interpolation) String() string {
	switch i {
	case Bilinear:
		return "bilinear"
	case Bicubic:
		return "bicubic"
	}
	return fmt.Sprintf("Interpolation(%d)", int(i))
}

// torchCubicA is the cubic-convolution coefficient of PyTorch's upsample_bicubic2d.
const torchCubicA = -0.75

// Resize resamples img to outH×outW with the semantics of torchvision's tensor
// F.resize(antialias=False), i.e. torch.nn.functional.interpolate with
// align_corners=False:
//
//   - Per axis, scale = in/out and the source coordinate of output pixel i is
//     (i+0.5)·scale − 0.5.
//   - Bilinear clamps negative source coordinates to 0 and blends the two nearest pixels
//     (the upper index clamped to the last pixel).
//   - Bicubic uses the 4 pixels around floor(src) with Keys' kernel, a = −0.75, indices
//     clamped to the image (edge replication).
//
// The interpolation is separable (horizontal, then vertical, in float64) and the result
// is clamped to [0,1]. The clamp is what the uint8 paths of torchvision and PIL do
// implicitly; torchvision's float tensor path does not clamp bicubic overshoot.
// No antialiasing is applied, which only matters when shrinking: RandomResizedCrop on
// 32×32 images never shrinks, because its crops are at most 32×32.
func Resize(img Image, outH, outW int, interp Interpolation) Image {
	out := NewImage(outH, outW, img.C)
	if outH <= 0 || outW <= 0 || img.H <= 0 || img.W <= 0 {
		return out
	}
	ix, wx := torchTaps(img.W, outW, interp)
	iy, wy := torchTaps(img.H, outH, interp)
	taps := len(ix) / outW
	c := img.C
	// horizontal pass: H × outW × C
	tmp := make([]float64, img.H*outW*c)
	for y := 0; y < img.H; y++ {
		row := img.Pix[y*img.W*c : (y+1)*img.W*c]
		for x := 0; x < outW; x++ {
			for ch := 0; ch < c; ch++ {
				s := 0.0
				for t := 0; t < taps; t++ {
					s += wx[x*taps+t] * float64(row[ix[x*taps+t]*c+ch])
				}
				tmp[(y*outW+x)*c+ch] = s
			}
		}
	}
	// vertical pass
	stride := outW * c
	for y := 0; y < outH; y++ {
		for i := 0; i < stride; i++ {
			s := 0.0
			for t := 0; t < taps; t++ {
				s += wy[y*taps+t] * tmp[iy[y*taps+t]*stride+i]
			}
			out.Pix[y*stride+i] = clamp01(float32(s))
		}
	}
	return out
}

// torchTaps returns, per output pixel, the input indices and weights used by PyTorch's
// align_corners=False upsampling kernels (2 taps for bilinear, 4 for bicubic).
func torchTaps(in, out int, interp Interpolation) ([]int, []float64) {
	scale := float64(in) / float64(out)
	switch interp {
	case Bicubic:
		idx := make([]int, 4*out)
		w := make([]float64, 4*out)
		for i := 0; i < out; i++ {
			src := scale*(float64(i)+0.5) - 0.5
			x0 := math.Floor(src)
			t := src - x0
			coeffs := cubicCoeffs(t, torchCubicA)
			for k := 0; k < 4; k++ {
				idx[4*i+k] = min(max(int(x0)-1+k, 0), in-1)
				w[4*i+k] = coeffs[k]
			}
		}
		return idx, w
	default: // Bilinear
		idx := make([]int, 2*out)
		w := make([]float64, 2*out)
		for i := 0; i < out; i++ {
			src := max(scale*(float64(i)+0.5)-0.5, 0)
			x0 := int(src)
			x1 := x0
			if x0 < in-1 {
				x1 = x0 + 1
			}
			l := src - float64(x0)
			idx[2*i], idx[2*i+1] = x0, x1
			w[2*i], w[2*i+1] = 1-l, l
		}
		return idx, w
	}
}

// cubicCoeffs are PyTorch's get_cubic_upsample_coefficients for fractional offset t.
func cubicCoeffs(t, a float64) [4]float64 {
	conv1 := func(x float64) float64 { return ((a+2)*x-(a+3))*x*x + 1 }
	conv2 := func(x float64) float64 { return ((a*x-5*a)*x+8*a)*x - 4*a }
	return [4]float64{conv2(t + 1), conv1(t), conv1(1 - t), conv2(2 - t)}
}
