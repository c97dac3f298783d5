package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// TestPermuteCopy checks canonical's layout changes (row copies, 16×16 tile transposes
// and the strided fallback, serial and parallel) against a per-element reference.
func TestPermuteCopy(t *testing.T) {
	cases := []struct {
		dims []int
		perm []int
	}{
		{[]int{4, 5, 6, 7}, []int{3, 1, 2, 0}},    // [B,H,W,C] → [C,H,W,B]: tiles
		{[]int{33, 17}, []int{1, 0}},              // 2-D transpose with edge tiles
		{[]int{3, 40, 40, 20}, []int{1, 2, 0, 3}}, // rows contiguous, large
		{[]int{2, 3, 4}, []int{0, 2, 1}},
		{[]int{5, 1, 9}, []int{2, 1, 0}}, // size-1 axis
		{[]int{64, 64, 8}, []int{2, 0, 1}},
		{[]int{7}, []int{0}},
	}
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range cases {
		n := 1
		for _, d := range c.dims {
			n *= d
		}
		src := make([]float32, n)
		for i := range src {
			src[i] = rng.Float32()
		}
		srcStrides := shapes.Make(0, c.dims...).Strides()
		outDims := make([]int, len(c.perm))
		for j, a := range c.perm {
			outDims[j] = c.dims[a]
		}
		want := make([]float32, n)
		idx := make([]int, len(outDims))
		for o := range n {
			r := o
			for j := len(outDims) - 1; j >= 0; j-- {
				idx[j] = r % outDims[j]
				r /= outDims[j]
			}
			off := 0
			for j, a := range c.perm {
				off += idx[j] * srcStrides[a]
			}
			want[o] = src[off]
		}
		for _, workers := range []int{1, 2, 3} {
			got := make([]float32, n)
			permuteInto(got, src, c.dims, c.perm, workers)
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("%s: element %d = %v, want %v", fmt.Sprint(c.dims, c.perm, " workers ", workers), i, got[i], want[i])
				}
			}
		}
	}
}
