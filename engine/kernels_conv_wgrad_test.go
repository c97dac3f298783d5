package engine

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/ainfonce/goacl/internal/gradcheck"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// wgradCase is a convolution x [n, h, w, c] * kernel [kh, kw, c, f] with strides (sy, sx)
// and low paddings (padY, padX), whose kernel gradient the tests compute.
type wgradCase struct {
	n, h, w, c, f, kh, kw, sy, sx, padY, padX, padYHi, padXHi int
}

func (cs wgradCase) out() (int, int) {
	return (cs.h+cs.padY+cs.padYHi-cs.kh)/cs.sy + 1, (cs.w+cs.padX+cs.padXHi-cs.kw)/cs.sx + 1
}

// geometry is the canonical reverse convolution GoMLX builds for the kernel gradient.
func (cs wgradCase) geometry() *convGeometry {
	ho, wo := cs.out()
	return &convGeometry{batch: cs.c, ch: cs.n, feat: cs.f,
		in: []int{cs.h, cs.w}, ker: []int{ho, wo}, out: []int{cs.kh, cs.kw},
		strides: []int{1, 1}, padLo: []int{cs.padY, cs.padX}, inDil: []int{1, 1}, kerDil: []int{cs.sy, cs.sx}}
}

// naiveWgrad is dW [C, kh, kw, F] (the reverse convolution's canonical output) by
// definition: Σ_{n, oy, ox} x[n, oy·sy + ky − padY, ox·sx + kx − padX, c]·dy[n, oy, ox, f].
func naiveWgrad(cs wgradCase, x, dy []float64) []float64 {
	ho, wo := cs.out()
	dw := make([]float64, cs.c*cs.kh*cs.kw*cs.f)
	for n := range cs.n {
		for oy := range ho {
			for ox := range wo {
				for ky := range cs.kh {
					for kx := range cs.kw {
						iy, ix := oy*cs.sy+ky-cs.padY, ox*cs.sx+kx-cs.padX
						if iy < 0 || iy >= cs.h || ix < 0 || ix >= cs.w {
							continue
						}
						for c := range cs.c {
							v := x[((n*cs.h+iy)*cs.w+ix)*cs.c+c]
							for f := range cs.f {
								dw[((c*cs.kh+ky)*cs.kw+kx)*cs.f+f] += v * dy[((n*ho+oy)*wo+ox)*cs.f+f]
							}
						}
					}
				}
			}
		}
	}
	return dw
}

// TestWgradConv checks the kernel-gradient path against the definition, in float64 and
// float32 with every strided micro-kernel, on odd sizes, paddings 0/1 (and asymmetric,
// as GoMLX's adjusted high padding makes them), strides 1 and 2, channel counts that are
// not multiples of the tiles (edge row panels, padded B columns) and batches of 1–3.
func TestWgradConv(t *testing.T) {
	cases := []wgradCase{
		{2, 9, 9, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1},
		{1, 7, 6, 5, 3, 3, 3, 1, 1, 0, 0, 0, 0},
		{3, 11, 9, 7, 10, 3, 3, 2, 2, 1, 1, 1, 1},
		{2, 10, 10, 16, 32, 3, 3, 2, 2, 1, 1, 0, 0},
		{1, 9, 8, 3, 17, 1, 1, 2, 2, 0, 0, 0, 0},
		{2, 8, 7, 6, 5, 2, 3, 2, 1, 0, 1, 1, 1},
		{1, 13, 12, 9, 40, 5, 5, 1, 1, 2, 2, 2, 2},
		{2, 8, 8, 4, 24, 3, 3, 3, 3, 1, 1, 1, 1}, // stride > kernel/2: phases with one tap
	}
	rng := rand.New(rand.NewPCG(7, 8))
	for _, cs := range cases {
		g := cs.geometry()
		ho, wo := cs.out()
		x := normals(rng, cs.n*cs.h*cs.w*cs.c)
		dy := normals(rng, cs.n*ho*wo*cs.f)
		want := naiveWgrad(cs, x, dy)
		x32, dy32 := toFloat32(x), toFloat32(dy)
		tol := 1e-5 * math.Sqrt(float64(cs.n*ho*wo))
		for _, k := range kernels32 {
			withKernel(t, k.name, func() {
				for _, workers := range []int{1, 2, 3} {
					out := make([]float32, len(want))
					for i := range out {
						out[i] = float32(math.NaN()) // must be overwritten
					}
					wgradConv(g, x32, dy32, out, workers)
					for i, v := range out {
						if d := math.Abs(float64(v) - want[i]); !(d <= tol) {
							t.Fatalf("%+v %s workers %d: dW[%d] = %g, want %g", cs, k.name, workers, i, v, want[i])
						}
					}
				}
			})
		}
		for _, workers := range []int{1, 2} {
			out := make([]float64, len(want))
			wgradConv(g, x, dy, out, workers)
			for i, v := range out {
				if math.Abs(v-want[i]) > 1e-11*math.Sqrt(float64(cs.n*ho*wo)) {
					t.Fatalf("%+v float64 workers %d: dW[%d] = %g, want %g", cs, workers, i, v, want[i])
				}
			}
		}
	}
}

// TestWgradConvApplies checks which convolutions take the kernel-gradient path: GoMLX's
// kernel gradients of the project's 3×3 stride-1 and stride-2 and 1×1 stride-2
// convolutions on large maps, not their forward passes, not other layouts, not tiny maps.
func TestWgradConvApplies(t *testing.T) {
	nhwcGrad := backends.ConvolveAxesConfig{InputBatch: 3, InputChannels: 0, InputSpatial: []int{1, 2},
		KernelInputChannels: 0, KernelOutputChannels: 3, KernelSpatial: []int{1, 2},
		OutputBatch: 2, OutputChannels: 3, OutputSpatial: []int{0, 1}}
	nhwc := backends.ConvolveAxesConfig{InputBatch: 0, InputChannels: 3, InputSpatial: []int{1, 2},
		KernelInputChannels: 2, KernelOutputChannels: 3, KernelSpatial: []int{0, 1},
		OutputBatch: 0, OutputChannels: 3, OutputSpatial: []int{1, 2}}
	for _, c := range []struct {
		cs   wgradCase
		axes backends.ConvolveAxesConfig
		want bool
	}{
		{wgradCase{32, 32, 32, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1}, nhwcGrad, true},
		{wgradCase{32, 32, 32, 16, 32, 3, 3, 2, 2, 1, 1, 0, 0}, nhwcGrad, true},
		{wgradCase{32, 32, 32, 16, 32, 1, 1, 2, 2, 0, 0, 0, 0}, nhwcGrad, true},
		{wgradCase{32, 32, 32, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1}, nhwc, false},
		{wgradCase{32, 4, 4, 128, 128, 3, 3, 1, 1, 1, 1, 1, 1}, nhwcGrad, false}, // 36 virtual for 16 real positions
	} {
		if got := wgradConvApplies[float32](c.cs.geometry(), c.axes); got != c.want {
			t.Errorf("%+v: applies = %v, want %v", c.cs, got, c.want)
		}
	}
	g := wgradCase{2, 16, 16, 16, 16, 3, 3, 1, 1, 1, 1, 1, 1}.geometry()
	g.strides = []int{2, 2}
	if wgradConvApplies[float32](g, nhwcGrad) {
		t.Errorf("strided reverse convolution: applies")
	}
}

// TestConv2DGradientFastPaths compares the gradients of engine.Conv2D (NHWC, as the
// project's layers build it) on goacl with those on goacl with simplego's executors, for
// shapes whose kernel gradient takes wgradConv (checked) and whose strided input
// gradient takes the transposed convolution, in float64 and float32.
func TestConv2DGradientFastPaths(t *testing.T) {
	fast := pureGo(t)
	ref, err := NewWithConfig(PureGoName + ":kernels=simplego")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ n, h, w, cin, cout, k, s, p int }{
		{2, 13, 14, 8, 16, 3, 1, 1},
		{3, 14, 13, 16, 20, 3, 2, 1},
		{1, 12, 12, 12, 8, 1, 2, 0},
		{2, 13, 13, 8, 12, 3, 2, 0},
	} {
		for _, dt := range []dtypes.DType{dtypes.Float64, dtypes.Float32} {
			x := gradcheck.Random(40, c.n, c.h, c.w, c.cin)
			k := gradcheck.Random(41, c.k, c.k, c.cin, c.cout)
			grads := func(be backends.Backend) []*tensors.Tensor {
				e, err := graph.NewExec(be, func(x, k *graph.Node) []*graph.Node {
					xc, kc := graph.ConvertDType(x, dt), graph.ConvertDType(k, dt)
					loss := weightedAny(Conv2D(xc, kc, c.s, c.p))
					gs := graph.Gradient(loss, xc, kc)
					return []*graph.Node{graph.ConvertDType(gs[0], dtypes.Float64), graph.ConvertDType(gs[1], dtypes.Float64)}
				})
				if err != nil {
					t.Fatal(err)
				}
				xl, err := x.LocalClone()
				if err != nil {
					t.Fatal(err)
				}
				kl, err := k.LocalClone()
				if err != nil {
					t.Fatal(err)
				}
				out, err := e.Exec(xl, kl)
				if err != nil {
					t.Fatalf("%+v %s on %s: %v", c, dt, be, err)
				}
				return out
			}
			before := wgradCalls.Load()
			ours := grads(fast)
			if wgradCalls.Load() == before {
				t.Errorf("%+v %s: the kernel gradient did not take wgradConv", c, dt)
			}
			theirs := grads(ref)
			tol := 1e-10
			if dt == dtypes.Float32 {
				tol = 1e-3
			}
			for i, name := range []string{"dx", "dW"} {
				a, b := flat(t, ours[i]), flat(t, theirs[i])
				scale := 0.0
				for _, v := range b {
					scale = math.Max(scale, math.Abs(v))
				}
				if d := maxAbsDiff(a, b); !(d <= tol*math.Max(1, scale)) {
					t.Errorf("%+v %s: %s differs from simplego's by %g (max |%s| %g)", c, dt, name, d, name, scale)
				}
			}
		}
	}
}
