package datasets

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// seqImage returns an h×w×c image whose value at (y,x,ch) is (y*w*c + x*c + ch)/1000.
func seqImage(h, w, c int) Image {
	img := NewImage(h, w, c)
	for i := range img.Pix {
		img.Pix[i] = float32(i) / 1000
	}
	return img
}

func approxEqual(a, b, tol float32) bool { return float32(math.Abs(float64(a-b))) <= tol }

func TestHFlip(t *testing.T) {
	img := seqImage(3, 4, 3)
	f := HFlip(img)
	for y := 0; y < 3; y++ {
		for x := 0; x < 4; x++ {
			for c := 0; c < 3; c++ {
				if f.At(y, x, c) != img.At(y, 3-x, c) {
					t.Fatalf("flip (%d,%d,%d)", y, x, c)
				}
			}
		}
	}
	if !slices.Equal(HFlip(f).Pix, img.Pix) {
		t.Error("flip twice is not the identity")
	}
	r := rand.New(rand.NewPCG(1, 2))
	if got := RandomHorizontalFlip(0)(img, r); !slices.Equal(got.Pix, img.Pix) {
		t.Error("p=0 flipped")
	}
	if got := RandomHorizontalFlip(1)(img, r); !slices.Equal(got.Pix, f.Pix) {
		t.Error("p=1 did not flip")
	}
	flips := 0
	for range 2000 {
		if RandomHorizontalFlip(0.5)(img, r).Pix[0] != img.Pix[0] {
			flips++
		}
	}
	if flips < 900 || flips > 1100 {
		t.Errorf("p=0.5 flipped %d/2000", flips)
	}
}

func TestCropAndPad(t *testing.T) {
	img := seqImage(5, 6, 3)
	c := Crop(img, 1, 2, 3, 2)
	if c.H != 3 || c.W != 2 {
		t.Fatalf("shape %dx%d", c.H, c.W)
	}
	for y := 0; y < 3; y++ {
		for x := 0; x < 2; x++ {
			if c.At(y, x, 1) != img.At(1+y, 2+x, 1) {
				t.Fatalf("crop (%d,%d)", y, x)
			}
		}
	}
	p := Pad(img, 2)
	if p.H != 9 || p.W != 10 || p.At(0, 0, 0) != 0 || p.At(8, 9, 2) != 0 || p.At(2, 2, 0) != img.At(0, 0, 0) || p.At(6, 7, 2) != img.At(4, 5, 2) {
		t.Error("pad")
	}
	// RandomCrop(32, 4): the window is the padded image at the drawn offset.
	src := randomImage(32, 32, rand.New(rand.NewPCG(3, 3)))
	for seed := range uint64(50) {
		r1 := rand.New(rand.NewPCG(seed, 9))
		r2 := rand.New(rand.NewPCG(seed, 9))
		got := RandomCrop(32, 4)(src, r1)
		top, left := RandomCropParams(40, 40, 32, 32, r2)
		if top < 0 || top > 8 || left < 0 || left > 8 {
			t.Fatalf("offset %d,%d", top, left)
		}
		want := Crop(Pad(src, 4), top, left, 32, 32)
		if !slices.Equal(got.Pix, want.Pix) {
			t.Fatalf("seed %d: RandomCrop differs from Crop(Pad) at (%d,%d)", seed, top, left)
		}
	}
	// Offsets cover 0..8 uniformly-ish.
	seen := map[int]bool{}
	r := rand.New(rand.NewPCG(5, 5))
	for range 500 {
		top, _ := RandomCropParams(40, 40, 32, 32, r)
		seen[top] = true
	}
	if len(seen) != 9 {
		t.Errorf("top offsets seen: %v", seen)
	}
}

func TestGrayscale(t *testing.T) {
	img := NewImage(1, 3, 3)
	copy(img.Pix, []float32{1, 0, 0, 0, 1, 0, 0.2, 0.4, 0.6})
	g := Grayscale(img)
	want := []float32{0.299, 0.587, 0.299*0.2 + 0.587*0.4 + 0.114*0.6}
	for p, w := range want {
		for c := 0; c < 3; c++ {
			if !approxEqual(g.At(0, p, c), w, 1e-6) {
				t.Errorf("pixel %d chan %d = %v, want %v", p, c, g.At(0, p, c), w)
			}
		}
	}
	r := rand.New(rand.NewPCG(1, 1))
	if got := RandomGrayscale(0)(img, r); !slices.Equal(got.Pix, img.Pix) {
		t.Error("p=0 changed the image")
	}
	if got := RandomGrayscale(1)(img, r); !slices.Equal(got.Pix, g.Pix) {
		t.Error("p=1 did not convert")
	}
}

func TestColorAdjustments(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	img := randomImage(8, 8, r)
	same := func(name string, got Image, tol float32) {
		t.Helper()
		for i := range img.Pix {
			if !approxEqual(got.Pix[i], img.Pix[i], tol) {
				t.Fatalf("%s: value %d = %v, want %v", name, i, got.Pix[i], img.Pix[i])
			}
		}
	}
	same("brightness 1", AdjustBrightness(img, 1), 0)
	same("contrast 1", AdjustContrast(img, 1), 0)
	same("saturation 1", AdjustSaturation(img, 1), 0)
	same("hue 0", AdjustHue(img, 0), 1e-6)

	b := AdjustBrightness(img, 1.3)
	for i, v := range img.Pix {
		if want := min(1.3*v, 1); !approxEqual(b.Pix[i], want, 1e-6) {
			t.Fatalf("brightness: %v, want %v", b.Pix[i], want)
		}
	}
	// Saturation 0 is grayscale; contrast 0 is the mean luma everywhere.
	if s, g := AdjustSaturation(img, 0), Grayscale(img); !slices.EqualFunc(s.Pix, g.Pix, func(a, b float32) bool { return approxEqual(a, b, 1e-6) }) {
		t.Error("saturation 0 is not grayscale")
	}
	var mean float64
	for _, l := range luma(img) {
		mean += float64(l)
	}
	mean /= 64
	for _, v := range AdjustContrast(img, 0).Pix {
		if !approxEqual(v, float32(mean), 1e-6) {
			t.Fatalf("contrast 0: %v, want mean %v", v, mean)
		}
	}
	// Contrast 2 extrapolates away from the mean and clamps.
	c2 := AdjustContrast(img, 2)
	for i, v := range img.Pix {
		want := clamp01(2*v - float32(mean))
		if !approxEqual(c2.Pix[i], want, 1e-6) {
			t.Fatalf("contrast 2: %v, want %v", c2.Pix[i], want)
		}
	}
	// Hue: a third of the circle turns red into green and green into blue.
	rgb := NewImage(1, 2, 3)
	copy(rgb.Pix, []float32{1, 0, 0, 0, 0.5, 0})
	h := AdjustHue(rgb, 1.0/3)
	want := []float32{0, 1, 0, 0, 0, 0.5}
	for i := range want {
		if !approxEqual(h.Pix[i], want[i], 1e-6) {
			t.Errorf("hue shift: %v, want %v", h.Pix, want)
			break
		}
	}
	// Negative shifts wrap around: −1/3 turns red into blue.
	if h := AdjustHue(rgb, -1.0/3); !approxEqual(h.Pix[2], 1, 1e-6) || !approxEqual(h.Pix[0], 0, 1e-6) {
		t.Errorf("hue −1/3 of red: %v", h.Pix[:3])
	}
	// HSV round trip.
	for i := 0; i < len(img.Pix); i += 3 {
		hh, ss, vv := rgbToHSV(img.Pix[i], img.Pix[i+1], img.Pix[i+2])
		r2, g2, b2 := hsvToRGB(hh, ss, vv)
		if !approxEqual(r2, img.Pix[i], 1e-5) || !approxEqual(g2, img.Pix[i+1], 1e-5) || !approxEqual(b2, img.Pix[i+2], 1e-5) {
			t.Fatalf("HSV round trip of %v: %v %v %v", img.Pix[i:i+3], r2, g2, b2)
		}
	}
	// Gray pixels keep their value under any hue shift.
	gray := Grayscale(img)
	same2 := AdjustHue(gray, 0.37)
	for i := range gray.Pix {
		if !approxEqual(same2.Pix[i], gray.Pix[i], 1e-6) {
			t.Fatal("hue changed a gray pixel")
		}
	}
}

func TestColorJitterParams(t *testing.T) {
	p := NewColorJitterParams(0.4, 0.4, 0.4, 0.1)
	if *p.Brightness != [2]float64{0.6, 1.4} || *p.Hue != [2]float64{-0.1, 0.1} {
		t.Errorf("%v %v", *p.Brightness, *p.Hue)
	}
	if p := NewColorJitterParams(1.5, 0, 0, 0); p.Brightness[0] != 0 || p.Contrast != nil || p.Hue != nil {
		t.Error("strength > 1 must clip the lower bound at 0; 0 disables")
	}
	// Jitter with all strengths 0 is the identity; ColorJitter stays in [0,1].
	r := rand.New(rand.NewPCG(2, 2))
	img := randomImage(8, 8, r)
	if got := ColorJitter(0, 0, 0, 0)(img, r); !slices.Equal(got.Pix, img.Pix) {
		t.Error("zero jitter changed the image")
	}
	// Brightness-only jitter multiplies by a factor in [0.6,1.4].
	ref := 0
	for i, v := range img.Pix {
		if v > 0.3 && v < 0.7 {
			ref = i // never clamped: 0.7·1.4 < 1
			break
		}
	}
	for range 50 {
		got := ColorJitter(0.4, 0, 0, 0)(img, r)
		f := got.Pix[ref] / img.Pix[ref]
		if f < 0.6-1e-5 || f > 1.4+1e-5 {
			t.Fatalf("brightness factor %v", f)
		}
		for i := range img.Pix {
			if want := clamp01(f * img.Pix[i]); got.Pix[i] < 1 && !approxEqual(got.Pix[i], want, 1e-5) {
				t.Fatalf("brightness jitter is not one factor: %v vs %v", got.Pix[i], want)
			}
		}
	}
}

func TestRandomApply(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	img := randomImage(4, 4, r)
	black := func(img Image, _ *rand.Rand) Image { return NewImage(img.H, img.W, img.C) }
	if got := RandomApply(black, 0)(img, r); !slices.Equal(got.Pix, img.Pix) {
		t.Error("p=0 applied")
	}
	if got := RandomApply(black, 1)(img, r); got.Pix[0] != 0 {
		t.Error("p=1 not applied")
	}
	n := 0
	for range 4000 {
		if RandomApply(black, 0.8)(img, r).Pix[0] == 0 {
			n++
		}
	}
	if n < 3100 || n > 3300 {
		t.Errorf("p=0.8 applied %d/4000", n)
	}
}

func TestResize(t *testing.T) {
	// Constant stays constant (both kernels' weights sum to 1).
	c := NewImage(7, 5, 3)
	for i := range c.Pix {
		c.Pix[i] = 0.3
	}
	for _, interp := range []Interpolation{Bilinear, Bicubic} {
		for _, sz := range [][2]int{{32, 32}, {3, 9}, {7, 5}} {
			got := Resize(c, sz[0], sz[1], interp)
			for _, v := range got.Pix {
				if !approxEqual(v, 0.3, 1e-6) {
					t.Fatalf("%v %v: constant image gave %v", interp, sz, v)
				}
			}
		}
		// Same size is the identity.
		img := randomImage(6, 6, rand.New(rand.NewPCG(1, 1)))
		if got := Resize(img, 6, 6, interp); !slices.EqualFunc(got.Pix, img.Pix, func(a, b float32) bool { return approxEqual(a, b, 1e-6) }) {
			t.Errorf("%v: same-size resize is not the identity", interp)
		}
	}
	// Bilinear 2x upsampling of a 1x2 row [0, 1] (align_corners=False): source
	// coordinates -0.25 (clamped to 0), 0.25, 0.75, 1.25 -> 0, 0.25, 0.75, 1.
	row := NewImage(1, 2, 1)
	row.Pix[1] = 1
	got := Resize(row, 1, 4, Bilinear)
	want := []float32{0, 0.25, 0.75, 1}
	for i := range want {
		if !approxEqual(got.Pix[i], want[i], 1e-6) {
			t.Fatalf("bilinear: %v, want %v", got.Pix, want)
		}
	}
	// Bicubic of the same row, A = -0.75, edge replication: output 1 has source 0.25,
	// taps at -1,0,1,2 -> values 0,0,1,1 with weights w2(1.25), w1(0.25), w1(0.75),
	// w2(1.75).
	w1 := func(x float64) float64 { return ((-0.75+2)*x-(-0.75+3))*x*x + 1 }
	w2 := func(x float64) float64 { return ((-0.75*x+5*0.75)*x-8*0.75)*x + 4*0.75 }
	want1 := w1(0.75) + w2(1.75)
	got = Resize(row, 1, 4, Bicubic)
	if !approxEqual(got.Pix[1], float32(want1), 1e-6) {
		t.Errorf("bicubic: %v, want %v", got.Pix[1], want1)
	}
	// Bicubic overshoot is clamped to [0,1].
	step := NewImage(1, 4, 1)
	copy(step.Pix, []float32{0, 0, 1, 1})
	for _, v := range Resize(step, 1, 16, Bicubic).Pix {
		if v < 0 || v > 1 {
			t.Fatalf("bicubic value %v outside [0,1]", v)
		}
	}
}

func TestRandomResizedCropParams(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	for range 2000 {
		b := RandomResizedCropParams(32, 32, [2]float64{0.08, 1}, DefaultCropRatio, r)
		if b.Height <= 0 || b.Width <= 0 || b.Top < 0 || b.Left < 0 || b.Top+b.Height > 32 || b.Left+b.Width > 32 {
			t.Fatalf("box %+v outside the image", b)
		}
		area := float64(b.Height * b.Width)
		if area < 0.08*1024*0.75 || area > 1024 {
			t.Fatalf("box %+v area %v outside the scale range", b, area)
		}
	}
	// Impossible scale: every try fails, fallback is the central crop clamped to ratio.
	b := RandomResizedCropParams(32, 32, [2]float64{2, 3}, DefaultCropRatio, r)
	if b != (CropBox{0, 0, 32, 32}) {
		t.Errorf("square fallback %+v", b)
	}
	b = RandomResizedCropParams(10, 40, [2]float64{2, 3}, DefaultCropRatio, r)
	if b != (CropBox{Top: 0, Left: 13, Height: 10, Width: 13}) { // w = round(10*4/3) = 13
		t.Errorf("wide fallback %+v", b)
	}
	b = RandomResizedCropParams(40, 10, [2]float64{2, 3}, DefaultCropRatio, r)
	if b != (CropBox{Top: 13, Left: 0, Height: 13, Width: 10}) { // h = round(10/(3/4)) = 13
		t.Errorf("tall fallback %+v", b)
	}
	// Full-scale, ratio 1: the whole image.
	b = RandomResizedCropParams(32, 32, [2]float64{1, 1}, [2]float64{1, 1}, r)
	if b != (CropBox{0, 0, 32, 32}) {
		t.Errorf("full crop %+v", b)
	}
	// With scale (1,1) and ratio (1,1) RandomResizedCrop is the identity.
	img := randomImage(32, 32, r)
	for _, interp := range []Interpolation{Bilinear, Bicubic} {
		got := RandomResizedCrop(32, [2]float64{1, 1}, [2]float64{1, 1}, interp)(img, r)
		if !slices.EqualFunc(got.Pix, img.Pix, func(a, b float32) bool { return approxEqual(a, b, 1e-6) }) {
			t.Errorf("%v: full-image RRC is not the identity", interp)
		}
	}
	// A crop of one pixel resized is constant.
	got := Resize(Crop(img, 5, 7, 1, 1), 32, 32, Bilinear)
	for p := 0; p < 32*32; p++ {
		for c := 0; c < 3; c++ {
			if got.Pix[3*p+c] != img.At(5, 7, c) {
				t.Fatal("1-pixel crop is not constant")
			}
		}
	}
}

// allTransforms are the named per-method transforms.
func allTransforms() map[string]Transform {
	return map[string]Transform{
		"rocl": RoCLTransform(), "advcl-strong": AdvCLStrongTransform(), "advcl-weak": AdvCLWeakTransform(),
		"acl": ACLTransform(), "dynacl-1": DynACLTransform(1), "dynacl-0.5": DynACLTransform(0.5),
		"dynacl-0": DynACLTransform(0), "finetune": FinetuneTransform(),
	}
}

func TestViewsRangeAndDeterminism(t *testing.T) {
	src := rand.New(rand.NewPCG(11, 11))
	imgs := make([]Image, 40)
	for i := range imgs {
		imgs[i] = randomImage(32, 32, src)
	}
	for name, tr := range allTransforms() {
		for i, img := range imgs {
			a := tr(img, NewSampleRand(1, 0, i, 0))
			b := tr(img, NewSampleRand(1, 0, i, 0))
			if a.H != 32 || a.W != 32 || a.C != 3 {
				t.Fatalf("%s: shape %dx%dx%d", name, a.H, a.W, a.C)
			}
			if !slices.Equal(a.Pix, b.Pix) {
				t.Fatalf("%s: same seed, different output", name)
			}
			for _, v := range a.Pix {
				if !(v >= 0 && v <= 1) {
					t.Fatalf("%s: value %v outside [0,1]", name, v)
				}
			}
		}
	}
	// Different seeds give different views; the input is never modified.
	img := imgs[0].Clone()
	a := RoCLTransform()(img, NewSampleRand(1, 0, 0, 0))
	b := RoCLTransform()(img, NewSampleRand(2, 0, 0, 0))
	if slices.Equal(a.Pix, b.Pix) {
		t.Error("different seeds gave identical RoCL views")
	}
	if !slices.Equal(img.Pix, imgs[0].Pix) {
		t.Error("a transform modified its input")
	}
	// DynACL at strength 0: crop scale (1,1) keeps the whole image (up to the ratio draw),
	// no jitter, no grayscale; only flips and aspect-ratio crops remain.
	for i, img := range imgs[:10] {
		out := DynACLTransform(0)(img, NewSampleRand(3, 0, i, 0))
		fl := HFlip(img)
		if !slices.Equal(out.Pix, img.Pix) && !slices.Equal(out.Pix, fl.Pix) {
			// a ratio ≠ 1 draw can only give w or h > 32 → retried or fallback to the full image
			t.Fatalf("DynACL(0) of image %d is neither the image nor its flip", i)
		}
	}
}

func TestImageConversions(t *testing.T) {
	pix := []uint8{0, 128, 255, 7, 8, 9}
	img := ImageFromUint8(pix, 1, 2, 3)
	if img.Pix[2] != 1 || img.Pix[1] != float32(128)/255 {
		t.Error(img.Pix)
	}
	if back := img.ToUint8(); !slices.Equal(back, pix) {
		t.Errorf("round trip %v", back)
	}
	odd := Image{H: 1, W: 1, C: 3, Pix: []float32{-0.5, 2, float32(math.NaN())}}
	if got := odd.ToUint8(); !slices.Equal(got, []uint8{0, 255, 0}) {
		t.Errorf("clamping %v", got)
	}
}
