package engine

import (
	"math"
	"math/rand/v2"
	"testing"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
)

// specialF32 returns n float32 values mixing ordinary numbers with the IEEE special
// cases (±0, ±Inf, NaN, subnormals, equal neighbours) so that every comparison and
// arithmetic corner is met.
func specialF32(rng *rand.Rand, n int) []float32 {
	specials := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
		float32(math.NaN()), 1e-42, -1e-42, 1, -1, 3.5}
	v := make([]float32, n)
	for i := range v {
		if rng.IntN(4) == 0 {
			v[i] = specials[rng.IntN(len(specials))]
		} else {
			v[i] = float32(rng.NormFloat64())
		}
	}
	return v
}

func sameBitsF32(a, b []float32) bool {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) && !(a[i] != a[i] && b[i] != b[i]) {
			return false
		}
	}
	return len(a) == len(b)
}

// TestVecKernelsMatchGoLoops runs every vector kernel (vec_amd64.s) and the Go loop it
// replaces on the same operands, at lengths around the kernels' 8- and 32-element steps
// and at unaligned offsets: the results must be the same bits (NaNs: both NaN).
func TestVecKernelsMatchGoLoops(t *testing.T) {
	if !vecSupported {
		t.Skip("no vector kernels on this CPU or build")
	}
	defer func(v bool) { vecOn = v }(vecOn)
	rng := rand.New(rand.NewPCG(5, 9))
	run := func(on bool, f func()) { vecOn = on; f() }
	for _, n := range []int{0, 1, 7, 8, 9, 31, 32, 33, 40, 63, 64, 100, 1024, 1031} {
		for _, off := range []int{0, 1, 3} {
			a, b := specialF32(rng, n+off)[off:], specialF32(rng, n+off)[off:]
			for _, op := range []binaryOp{opAdd, opSub, opMul, opDiv} {
				for _, left := range []bool{true, false} {
					got, want := make([]float32, n), make([]float32, n)
					run(true, func() { binaryRun(op, got, a, b, left) })
					run(false, func() { binaryRun(op, want, a, b, left) })
					if !sameBitsF32(got, want) {
						t.Fatalf("binary op %d (x left %v), n=%d off=%d: vector and Go loops differ", op, left, n, off)
					}
				}
			}
			cond := make([]bool, n)
			for i := range cond {
				cond[i] = rng.IntN(2) == 0
			}
			// Operand pairs: both full, and each side a single value.
			pairs := [][2][]float32{{a, b}, {a[:min(1, n)], b}, {a, b[:min(1, n)]}}
			for k, pr := range pairs {
				if n == 0 || k > 0 && n == 1 {
					continue
				}
				got, want := make([]float32, n), make([]float32, n)
				run(true, func() { selectBits(cond, floatBits[uint32](pr[0]), floatBits[uint32](pr[1]), floatBits[uint32](got)) })
				run(false, func() { selectBits(cond, floatBits[uint32](pr[0]), floatBits[uint32](pr[1]), floatBits[uint32](want)) })
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
						t.Fatalf("select (pair %d) n=%d off=%d: element %d differs", k, n, off, i)
					}
				}
				for _, op := range []backends.OpType{backends.OpTypeGreaterOrEqual, backends.OpTypeGreaterThan, backends.OpTypeLessOrEqual,
					backends.OpTypeLessThan, backends.OpTypeEqual, backends.OpTypeNotEqual} {
					got, want := make([]bool, n), make([]bool, n)
					run(true, func() { compareRun(op, got, pr[0], pr[1]) })
					// The definition, element by element.
					at := func(s []float32, i int) float32 { return s[min(i, len(s)-1)] }
					for i := range want {
						x, y := at(pr[0], i), at(pr[1], i)
						want[i] = map[backends.OpType]bool{backends.OpTypeGreaterOrEqual: x >= y, backends.OpTypeGreaterThan: x > y,
							backends.OpTypeLessOrEqual: x <= y, backends.OpTypeLessThan: x < y, backends.OpTypeEqual: x == y, backends.OpTypeNotEqual: x != y}[op]
					}
					for i := range got {
						if got[i] != want[i] {
							t.Fatalf("%s (pair %d) n=%d off=%d: element %d gives %v, want %v", op, k, n, off, i, got[i], want[i])
						}
						if b := *(*uint8)(unsafeBoolByte(&got[i])); b > 1 {
							t.Fatalf("%s: element %d is the byte %d, not 0 or 1", op, i, b)
						}
					}
				}
			}
		}
	}
}

func unsafeBoolByte(b *bool) unsafe.Pointer { return unsafe.Pointer(b) }
