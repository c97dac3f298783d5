package datasets

import (
	"math"
	"math/cmplx"
	"math/rand/v2"
	"testing"
)

// naiveDFT2 is the direct 2-D DFT of an h×w complex array (sign −1 forward, +1 inverse;
// the inverse is divided by h·w), as torch.fft.fftn / ifftn.
func naiveDFT2(x []complex128, h, w int, inverse bool) []complex128 {
	sign := -1.0
	if inverse {
		sign = 1
	}
	out := make([]complex128, h*w)
	for u := 0; u < h; u++ {
		for v := 0; v < w; v++ {
			var s complex128
			for m := 0; m < h; m++ {
				for n := 0; n < w; n++ {
					a := sign * 2 * math.Pi * (float64(u*m)/float64(h) + float64(v*n)/float64(w))
					s += x[m*w+n] * cmplx.Exp(complex(0, a))
				}
			}
			if inverse {
				s /= complex(float64(h*w), 0)
			}
			out[u*w+v] = s
		}
	}
	return out
}

// roll is torch.roll over both axes: out[(i+si) mod h][(j+sj) mod w] = x[i][j].
func roll(x []complex128, h, w, si, sj int) []complex128 {
	out := make([]complex128, len(x))
	for i := 0; i < h; i++ {
		for j := 0; j < w; j++ {
			out[(((i+si)%h+h)%h)*w+((j+sj)%w+w)%w] = x[i*w+j]
		}
	}
	return out
}

// generateHighReference is AdvCL's fr_util.generate_high for one channel, literally:
// fftshift(fft2), multiply by 1 − mask, ifftshift, ifft2, real part.
func generateHighReference(ch []float64, h, w int, r float64) []float64 {
	x := make([]complex128, h*w)
	for i, v := range ch {
		x[i] = complex(v, 0)
	}
	fd := roll(naiveDFT2(x, h, w, false), h, w, h/2, w/2) // fftshift
	for i := 0; i < h; i++ {
		for j := 0; j < w; j++ {
			di, dj := float64(i)-float64(h)/2, float64(j)-float64(h)/2
			if math.Sqrt(di*di+dj*dj) < r {
				fd[i*w+j] = 0
			}
		}
	}
	back := naiveDFT2(roll(fd, h, w, -(h/2), -(w/2)), h, w, true) // ifftshift, ifft2
	out := make([]float64, h*w)
	for i, v := range back {
		out[i] = real(v)
	}
	return out
}

func TestHighPassMatchesNaiveDFT(t *testing.T) {
	if AdvCLHighPass.NumKept() != 193 { // lattice points with u²+v² < 64
		t.Errorf("radius 8 on 32x32 removes %d frequencies, want 193", AdvCLHighPass.NumKept())
	}
	r := rand.New(rand.NewPCG(21, 21))
	img := randomImage(32, 32, r)
	got, err := AdvCLHighPass.Apply(img)
	if err != nil {
		t.Fatal(err)
	}
	negative := false
	for c := 0; c < 3; c++ {
		ch := make([]float64, 1024)
		for p := range ch {
			ch[p] = float64(img.Pix[3*p+c])
		}
		want := generateHighReference(ch, 32, 32, 8)
		for p := range want {
			if d := math.Abs(float64(got.Pix[3*p+c]) - want[p]); d > 2e-6 {
				t.Fatalf("channel %d pixel %d: %v, reference %v", c, p, got.Pix[3*p+c], want[p])
			}
			negative = negative || want[p] < 0
		}
	}
	if !negative {
		t.Error("expected negative high-frequency values (no clamp)")
	}
	// A non-square size and another radius, against the same reference.
	f, err := NewHighPassFilter(12, 20, 3.5)
	if err != nil {
		t.Fatal(err)
	}
	small := randomImage(12, 20, r)
	got, _ = f.Apply(small)
	ch := make([]float64, 240)
	for p := range ch {
		ch[p] = float64(small.Pix[3*p+1])
	}
	for p, w := range generateHighReference(ch, 12, 20, 3.5) {
		if d := math.Abs(float64(got.Pix[3*p+1]) - w); d > 2e-6 {
			t.Fatalf("12x20: pixel %d: %v, reference %v", p, got.Pix[3*p+1], w)
		}
	}
}

func TestHighPassProperties(t *testing.T) {
	// A constant image has only the DC frequency: its high-pass is zero.
	c := NewImage(32, 32, 3)
	for i := range c.Pix {
		c.Pix[i] = 0.7
	}
	got, _ := AdvCLHighPass.Apply(c)
	for _, v := range got.Pix {
		if math.Abs(float64(v)) > 1e-6 {
			t.Fatalf("constant image: %v", v)
		}
	}
	// A zero-mean checkerboard is the Nyquist frequency (16,16), far outside the radius:
	// unchanged.
	for y := 0; y < 32; y++ {
		for x := 0; x < 32; x++ {
			for ch := 0; ch < 3; ch++ {
				c.Pix[(y*32+x)*3+ch] = float32((x+y)%2) - 0.5
			}
		}
	}
	got, _ = AdvCLHighPass.Apply(c)
	for i, v := range got.Pix {
		if math.Abs(float64(v-c.Pix[i])) > 1e-6 {
			t.Fatalf("checkerboard changed at %d: %v vs %v", i, v, c.Pix[i])
		}
	}
	// Linearity: hp(a x + b y) = a hp(x) + b hp(y).
	r := rand.New(rand.NewPCG(5, 6))
	x, y := randomImage(32, 32, r), randomImage(32, 32, r)
	xy := NewImage(32, 32, 3)
	for i := range xy.Pix {
		xy.Pix[i] = 0.25*x.Pix[i] - 2*y.Pix[i]
	}
	hx, _ := AdvCLHighPass.Apply(x)
	hy, _ := AdvCLHighPass.Apply(y)
	hxy, _ := AdvCLHighPass.Apply(xy)
	for i := range hxy.Pix {
		if d := math.Abs(float64(hxy.Pix[i] - (0.25*hx.Pix[i] - 2*hy.Pix[i]))); d > 1e-5 {
			t.Fatalf("not linear at %d: %v", i, d)
		}
	}
	if _, err := AdvCLHighPass.Apply(NewImage(16, 16, 3)); err == nil {
		t.Error("size mismatch accepted")
	}
	if _, err := NewHighPassFilter(0, 3, 8); err == nil {
		t.Error("empty size accepted")
	}
	// HighFrequencyTransform handles other sizes with their own filter.
	img := randomImage(16, 16, r)
	out := HighFrequencyTransform()(img, nil)
	f, _ := NewHighPassFilter(16, 16, AdvCLRadius)
	want, _ := f.Apply(img)
	for i := range want.Pix {
		if out.Pix[i] != want.Pix[i] {
			t.Fatal("HighFrequencyTransform(16x16) differs from its filter")
		}
	}
}
