package datasets

import (
	"fmt"
	"math"
)

// pilPrecisionBits is the fixed-point precision of Pillow's 8-bit resampling
// (PRECISION_BITS = 32 - 8 - 2).
const pilPrecisionBits = 22

// ResizeAntialiasUint8 resizes one HWC uint8 image of h×w×c to outH×outW×c with an
// antialiased filter, bit-exactly as Pillow's Image.resize does for 8-bit images, which
// is what torchvision's Resize computes on the PIL images of the reference code (and what
// its tensor path with antialias=True approximates in floating point):
//
//   - Per axis, scale = in/out and filterscale = max(scale, 1); the filter support is
//     stretched by filterscale (1 for Bilinear's triangle, 2 for Bicubic, whose Pillow
//     kernel uses a = -0.5). Output pixel i is centred at (i+0.5)·scale; its taps are the
//     input pixels [int(centre−support+0.5), int(centre+support+0.5)) clipped to the
//     image, weighted filter((x−centre+0.5)/filterscale) and normalised to sum 1.
//   - Weights are converted to 22-bit fixed point (rounded half away from zero), sums
//     start at 2^21 and are shifted right by 22 then clamped to [0,255].
//   - The horizontal pass runs first into a uint8 intermediate image, then the vertical
//     pass; an axis whose size does not change is not resampled.
//
// For STL-10's Resize(32) (96→32, Bilinear) every output pixel is the separable
// 1-2-3-2-1 weighted average of a 5×5 neighbourhood (4 taps at the borders).
func ResizeAntialiasUint8(src []uint8, h, w, c, outH, outW int, interp Interpolation) ([]uint8, error) {
	if h <= 0 || w <= 0 || c <= 0 || outH <= 0 || outW <= 0 {
		return nil, fmt.Errorf("resize: invalid shape %dx%dx%d -> %dx%d", h, w, c, outH, outW)
	}
	if len(src) != h*w*c {
		return nil, fmt.Errorf("resize: image of %dx%dx%d needs %d bytes, got %d", h, w, c, h*w*c, len(src))
	}
	filter, support, err := pilFilter(interp)
	if err != nil {
		return nil, err
	}
	cur, curW := src, w
	if outW != w {
		bounds, kk, ksize := pilCoeffs(w, outW, filter, support)
		tmp := make([]uint8, h*outW*c)
		for y := 0; y < h; y++ {
			row := cur[y*w*c : (y+1)*w*c]
			for xx := 0; xx < outW; xx++ {
				xmin, n := bounds[2*xx], bounds[2*xx+1]
				k := kk[xx*ksize : xx*ksize+n]
				for ch := 0; ch < c; ch++ {
					ss := int32(1 << (pilPrecisionBits - 1))
					for x, kv := range k {
						ss += int32(row[(xmin+x)*c+ch]) * kv
					}
					tmp[(y*outW+xx)*c+ch] = pilClip8(ss)
				}
			}
		}
		cur, curW = tmp, outW
	}
	if outH != h {
		bounds, kk, ksize := pilCoeffs(h, outH, filter, support)
		out := make([]uint8, outH*curW*c)
		stride := curW * c
		for yy := 0; yy < outH; yy++ {
			ymin, n := bounds[2*yy], bounds[2*yy+1]
			k := kk[yy*ksize : yy*ksize+n]
			for i := 0; i < stride; i++ {
				ss := int32(1 << (pilPrecisionBits - 1))
				for y, kv := range k {
					ss += int32(cur[(ymin+y)*stride+i]) * kv
				}
				out[yy*stride+i] = pilClip8(ss)
			}
		}
		cur = out
	}
	if &cur[0] == &src[0] { // nothing resampled: still return a copy
		cur = append([]uint8(nil), src...)
	}
	return cur, nil
}

// Resize returns a copy of the data set with every image resized to height×width by
// ResizeAntialiasUint8 with Bilinear interpolation: torchvision's Resize on PIL images,
// as used by the AdvCL STL-10 fine-tuning script (Resize(32) of the 96×96 images).
func (d *Dataset) Resize(height, width int) (*Dataset, error) {
	out := d.emptyLike(0)
	out.Height, out.Width = height, width
	out.Labels = append([]int32(nil), d.Labels...)
	if d.CoarseLabels != nil {
		out.CoarseLabels = append([]int32(nil), d.CoarseLabels...)
	}
	out.SourceIndex = nil
	if d.SourceIndex != nil {
		out.SourceIndex = append([]int(nil), d.SourceIndex...)
	}
	out.Images = make([]uint8, 0, d.Len()*out.ImageSize())
	for i := 0; i < d.Len(); i++ {
		img, err := ResizeAntialiasUint8(d.Pixels(i), d.Height, d.Width, d.Channels, height, width, Bilinear)
		if err != nil {
			return nil, fmt.Errorf("%s %s: image %d: %w", d.Name, d.Split, i, err)
		}
		out.Images = append(out.Images, img...)
	}
	return out, nil
}

func pilFilter(interp Interpolation) (func(float64) float64, float64, error) {
	switch interp {
	case Bilinear:
		return func(x float64) float64 {
			x = math.Abs(x)
			if x < 1 {
				return 1 - x
			}
			return 0
		}, 1, nil
	case Bicubic:
		const a = -0.5
		return func(x float64) float64 {
			x = math.Abs(x)
			if x < 1 {
				return ((a+2)*x-(a+3))*x*x + 1
			}
			if x < 2 {
				return (((x-5)*x+8)*x - 4) * a
			}
			return 0
		}, 2, nil
	}
	return nil, 0, fmt.Errorf("resize: unsupported interpolation %v", interp)
}

// pilCoeffs reproduces Pillow's precompute_coeffs + normalize_coeffs_8bpc for one axis.
// bounds holds (first tap, number of taps) per output pixel; kk holds ksize fixed-point
// weights per output pixel.
func pilCoeffs(inSize, outSize int, filter func(float64) float64, filterSupport float64) (bounds []int, kk []int32, ksize int) {
	scale := float64(inSize) / float64(outSize)
	filterscale := max(scale, 1)
	support := filterSupport * filterscale
	ksize = int(math.Ceil(support))*2 + 1
	bounds = make([]int, 2*outSize)
	kk = make([]int32, outSize*ksize)
	pre := make([]float64, ksize)
	for xx := 0; xx < outSize; xx++ {
		center := (float64(xx) + 0.5) * scale
		ss := 1 / filterscale
		xmin := int(center - support + 0.5) // C cast: truncation toward zero
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		ww := 0.0
		for x := 0; x < xmax; x++ {
			pre[x] = filter((float64(x+xmin) - center + 0.5) * ss)
			ww += pre[x]
		}
		for x := 0; x < xmax; x++ {
			v := pre[x]
			if ww != 0 {
				v /= ww
			}
			if v < 0 {
				kk[xx*ksize+x] = int32(-0.5 + v*(1<<pilPrecisionBits))
			} else {
				kk[xx*ksize+x] = int32(0.5 + v*(1<<pilPrecisionBits))
			}
		}
		bounds[2*xx], bounds[2*xx+1] = xmin, xmax
	}
	return bounds, kk, ksize
}

func pilClip8(ss int32) uint8 {
	v := ss >> pilPrecisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}
