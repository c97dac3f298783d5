package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// TestPaddedConv checks the stride-1 padded convolution path against the definition, for
// 3×3, 1×1 and 5×3 kernels, symmetric and asymmetric padding, channel counts that make
// k-blocks of one tap or several blocks per tap, output widths that use both float32 tile
// shapes and edge tiles, with every micro-kernel (the scalar one goes through packA).
func TestPaddedConv(t *testing.T) {
	cases := []struct {
		b, h, w, c, f, kh, kw, padY, padX, padYHi, padXHi int
	}{
		{2, 16, 16, 16, 16, 3, 3, 1, 1, 1, 1},
		{1, 18, 17, 8, 10, 3, 3, 1, 1, 1, 1},
		{3, 16, 20, 24, 33, 1, 1, 0, 0, 0, 0},
		{1, 20, 18, 12, 32, 5, 3, 2, 1, 1, 2},
		{1, 16, 16, 264, 16, 3, 3, 1, 1, 1, 1}, // C > gemmKC: two blocks per tap
		{1, 16, 17, 128, 8, 3, 3, 1, 1, 1, 1},  // kw·C > gemmKC: one block per tap
		{1, 17, 16, 40, 8, 3, 5, 1, 2, 1, 2},   // a block spans a kernel row of 5 taps
	}
	rng := rand.New(rand.NewPCG(5, 6))
	for _, cs := range cases {
		oh, ow := cs.h+cs.padY+cs.padYHi-cs.kh+1, cs.w+cs.padX+cs.padXHi-cs.kw+1
		g := &convGeometry{batch: cs.b, ch: cs.c, feat: cs.f,
			in: []int{cs.h, cs.w}, ker: []int{cs.kh, cs.kw}, out: []int{oh, ow},
			strides: []int{1, 1}, padLo: []int{cs.padY, cs.padX}, inDil: []int{1, 1}, kerDil: []int{1, 1}}
		if !paddedConvApplies(g) {
			t.Fatalf("%+v: padded path does not apply", cs)
		}
		in := normals(rng, cs.b*cs.h*cs.w*cs.c)
		ker := normals(rng, cs.kh*cs.kw*cs.c*cs.f)
		want := naiveDilatedConv2D(g, in, ker)
		in32, ker32 := toFloat32(in), toFloat32(ker)
		for _, k := range kernels32 {
			withKernel(t, k.name, func() {
				for _, workers := range []int{1, 2} {
					out := make([]float32, len(want))
					paddedConv(g, in32, ker32, out, workers)
					label := fmt.Sprintf("%+v %s workers %d", cs, k.name, workers)
					for i, v := range out {
						if d := math.Abs(float64(v) - want[i]); !(d <= 1e-4*math.Sqrt(float64(cs.c*cs.kh*cs.kw))) {
							t.Fatalf("%s: out[%d] = %g, want %g", label, i, v, want[i])
						}
					}
				}
			})
		}
		out64 := make([]float64, len(want))
		paddedConv(g, in, ker, out64, 2)
		for i, v := range out64 {
			if math.Abs(v-want[i]) > 1e-11 {
				t.Fatalf("%+v float64: out[%d] = %g, want %g", cs, i, v, want[i])
			}
		}
	}
}
