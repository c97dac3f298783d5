package engine

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
)

// withKernel runs fn with the GEMM forced to the named micro-kernel.
func withKernel(t *testing.T, name string, fn func()) {
	t.Helper()
	saved := forcedKernel
	forcedKernel = name
	defer func() { forcedKernel = saved }()
	fn()
}

// naiveGEMM is the reference C = A·B (row-major, float64 accumulation).
func naiveGEMM[T float](m, n, k int, a, b []T) []float64 {
	want := make([]float64, m*n)
	for i := range m {
		for j := range n {
			var sum float64
			for p := range k {
				sum += float64(a[i*k+p]) * float64(b[p*n+j])
			}
			want[i*n+j] = sum
		}
	}
	return want
}

// TestMicroKernels runs every micro-kernel this CPU has (SIMD ones and the scalar one),
// for float32 and float64, on shapes with whole and edge tiles, several k-blocks, row
// tiles and workers, transposed operands, an A with both strides > 1 (gathered rows) and
// an output row stride larger than n (the kernels must write only the tile), against a
// naive product.
func TestMicroKernels(t *testing.T) {
	shapes := [][3]int{{1, 1, 1}, {12, 32, 7}, {24, 16, 300}, {25, 33, 5}, {70, 144, 16}, {37, 10, 513}, {130, 64, 1}, {9, 200, 40}, {20, 16, 1100}, {32, 128, 2048}, {32, 2048, 128}, {5, 33, 17}}
	names32, names64 := []string{}, []string{}
	for _, k := range kernels32 {
		names32 = append(names32, k.name)
	}
	for _, k := range kernels64 {
		names64 = append(names64, k.name)
	}
	t.Logf("float32 kernels: %v; float64 kernels: %v", names32, names64)
	for _, name := range names32 {
		for _, s := range shapes {
			checkKernel[float32](t, name, s[0], s[1], s[2], 2e-6)
		}
	}
	for _, name := range names64 {
		for _, s := range shapes {
			checkKernel[float64](t, name, s[0], s[1], s[2], 1e-13)
		}
	}
}

func checkKernel[T float](t *testing.T, name string, m, n, k int, tol float64) {
	rng := rand.New(rand.NewPCG(uint64(m*1000+n), uint64(k)))
	a, b := make([]T, m*k), make([]T, k*n)
	for i := range a {
		a[i] = T(rng.NormFloat64())
	}
	for i := range b {
		b[i] = T(rng.NormFloat64())
	}
	// Transposed copies: aT is A column-major, bT is B column-major.
	aT, bT := make([]T, m*k), make([]T, k*n)
	for i := range m {
		for p := range k {
			aT[p*m+i] = a[i*k+p]
		}
	}
	for p := range k {
		for j := range n {
			bT[j*k+p] = b[p*n+j]
		}
	}
	// aS holds A with both strides > 1 (element (i, p) at 2·(i·k + p) + 1): rows gathered.
	aS := make([]T, 2*m*k+1)
	for i, v := range a {
		aS[2*i+1] = v
	}
	want := naiveGEMM(m, n, k, a, b)
	scale := 0.0
	for _, v := range want {
		scale = max(scale, math.Abs(v))
	}
	const pad = 3 // extra columns of C that must stay untouched
	ldc := n + pad
	withKernel(t, name, func() {
		if got := pickKernel[T](n).name; got != name {
			t.Fatalf("forced kernel %s, got %s", name, got)
		}
		for _, layout := range []string{"row-major", "transposed", "strided A"} {
			for _, workers := range []int{1, 2} {
				av := matrix[T]{data: a, rs: k, cs: 1}
				bv := matrix[T]{data: b, rs: n, cs: 1}
				switch layout {
				case "transposed":
					av = matrix[T]{data: aT, rs: 1, cs: m}
					bv = matrix[T]{data: bT, rs: 1, cs: k}
				case "strided A":
					av = matrix[T]{data: aS, off: 1, rs: 2 * k, cs: 2}
				}
				c := make([]T, m*ldc)
				for i := range c {
					c[i] = T(math.NaN()) // must be overwritten
				}
				for i := range m {
					for j := n; j < ldc; j++ {
						c[i*ldc+j] = 7 // must stay
					}
				}
				gemm(m, n, k, aSource[T](av), bv, c, ldc, workers)
				label := fmt.Sprintf("%s %T %dx%dx%d %s workers=%d", name, a[0], m, n, k, layout, workers)
				for i := range m {
					for j := range ldc {
						got := float64(c[i*ldc+j])
						if j >= n {
							if got != 7 {
								t.Fatalf("%s: wrote past the tile at (%d,%d)", label, i, j)
							}
							continue
						}
						if d := math.Abs(got - want[i*n+j]); !(d <= tol*max(scale, 1)) {
							t.Fatalf("%s: C[%d,%d] = %g, want %g", label, i, j, got, want[i*n+j])
						}
					}
				}
			}
		}
	})
}
