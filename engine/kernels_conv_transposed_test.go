package engine

import (
	"math"
	"math/rand/v2"
	"testing"
)

// naiveDilatedConv2D is the canonical 2-D convolution with unit strides of an
// input-dilated input (the input gradient of a strided convolution) by definition:
// out[b, oy, ox, f] = Σ in[b, iy, ix, c]·ker[ky, kx, c, f] over iy·dil = oy + ky·kerDil − padLo.
func naiveDilatedConv2D(g *convGeometry, in, ker []float64) []float64 {
	h, w, c, f := g.in[0], g.in[1], g.ch, g.feat
	kh, kw, oh, ow := g.ker[0], g.ker[1], g.out[0], g.out[1]
	out := make([]float64, g.batch*oh*ow*f)
	for b := range g.batch {
		for oy := range oh {
			for ox := range ow {
				for ky := range kh {
					for kx := range kw {
						py, px := oy+ky*g.kerDil[0]-g.padLo[0], ox+kx*g.kerDil[1]-g.padLo[1]
						if py < 0 || px < 0 || py%g.inDil[0] != 0 || px%g.inDil[1] != 0 {
							continue
						}
						iy, ix := py/g.inDil[0], px/g.inDil[1]
						if iy >= h || ix >= w {
							continue
						}
						for ci := range c {
							v := in[((b*h+iy)*w+ix)*c+ci]
							for fi := range f {
								out[((b*oh+oy)*ow+ox)*f+fi] += v * ker[((ky*kw+kx)*c+ci)*f+fi]
							}
						}
					}
				}
			}
		}
	}
	return out
}

// TestTransposedConv2D checks the transposed convolution (GEMM + col2im by addRows)
// against the definition on input gradients of stride-2 (and 3) convolutions with odd
// sizes, paddings 0/1/2 (so that taps fall outside the output on both sides) and feature
// counts that leave a tail after the vector adds.
func TestTransposedConv2D(t *testing.T) {
	cases := []struct{ b, h, w, c, f, kh, kw, dil, padY, padX, oh, ow int }{
		{2, 8, 8, 16, 16, 3, 3, 2, 1, 1, 16, 16},
		{1, 5, 4, 7, 3, 3, 3, 2, 1, 0, 9, 8},
		{3, 4, 5, 5, 13, 3, 2, 2, 2, 1, 8, 9},
		{2, 6, 6, 9, 20, 1, 1, 2, 0, 0, 11, 12},
		{1, 4, 4, 4, 6, 3, 3, 3, 2, 2, 10, 10},
	}
	rng := rand.New(rand.NewPCG(9, 10))
	for _, cs := range cases {
		g := &convGeometry{batch: cs.b, ch: cs.c, feat: cs.f,
			in: []int{cs.h, cs.w}, ker: []int{cs.kh, cs.kw}, out: []int{cs.oh, cs.ow},
			strides: []int{1, 1}, padLo: []int{cs.padY, cs.padX}, inDil: []int{cs.dil, cs.dil}, kerDil: []int{1, 1}}
		if !transposedConvApplies(g) {
			t.Fatalf("%+v: transposed path does not apply", cs)
		}
		in := normals(rng, cs.b*cs.h*cs.w*cs.c)
		ker := normals(rng, cs.kh*cs.kw*cs.c*cs.f)
		want := naiveDilatedConv2D(g, in, ker)
		// transposedConv takes the kernel as [C, kh, kw, F].
		taps := cs.kh * cs.kw
		kerT := make([]float64, len(ker))
		for tp := range taps {
			for ci := range cs.c {
				copy(kerT[(ci*taps+tp)*cs.f:(ci*taps+tp+1)*cs.f], ker[(tp*cs.c+ci)*cs.f:(tp*cs.c+ci+1)*cs.f])
			}
		}
		in32, kerT32 := toFloat32(in), toFloat32(kerT)
		for _, workers := range []int{1, 2} {
			out := make([]float32, len(want))
			transposedConv(g, in32, kerT32, out, workers)
			for i, v := range out {
				if d := math.Abs(float64(v) - want[i]); !(d <= 1e-4*math.Sqrt(float64(cs.c*taps))) {
					t.Fatalf("%+v float32 workers %d: out[%d] = %g, want %g", cs, workers, i, v, want[i])
				}
			}
			out64 := make([]float64, len(want))
			transposedConv(g, in, kerT, out64, workers)
			for i, v := range out64 {
				if math.Abs(v-want[i]) > 1e-11 {
					t.Fatalf("%+v float64 workers %d: out[%d] = %g, want %g", cs, workers, i, v, want[i])
				}
			}
		}
	}
}

// TestAddRows checks the strided row adds (AVX groups and the Go tail) for lengths around
// the vector width, touching nothing outside the rows.
func TestAddRows(t *testing.T) {
	for _, n := range []int{1, 3, 4, 7, 8, 9, 16, 21} {
		const rows, ldd, lds = 3, 40, 29
		dst := make([]float32, (rows-1)*ldd+n+5)
		dst64 := make([]float64, len(dst))
		src := make([]float32, (rows-1)*lds+n)
		src64 := make([]float64, len(src))
		for i := range dst {
			dst[i], dst64[i] = float32(i), float64(i)
		}
		for i := range src {
			src[i], src64[i] = float32(1000+i), float64(1000+i)
		}
		addRows(rows, dst, ldd, src, lds, n)
		addRows(rows, dst64, ldd, src64, lds, n)
		for i := range dst {
			want := float64(i)
			if r, j := i/ldd, i%ldd; r < rows && j < n {
				want += float64(1000 + r*lds + j)
			}
			if float64(dst[i]) != want || dst64[i] != want {
				t.Fatalf("n=%d: dst[%d] = %g / %g, want %g", n, i, dst[i], dst64[i], want)
			}
		}
	}
}
