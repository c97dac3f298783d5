//go:build linux

package engine

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

// processCPUSeconds is the user+system CPU time of this process: on a machine shared with
// other jobs it measures the work done better than the wall clock.
func processCPUSeconds() float64 {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// gemmShapes are the matmuls of the ResNet-18 step at width 16, batch 16 (the loss pass
// runs 48 images): the stage-1 and stage-4 convolution forward (NN), their input
// gradients (NT) and weight gradients (TN, a long contraction).
var gemmShapes = []struct {
	name    string
	m, n, k int
	ta, tb  bool
}{
	{"stage1-fwd", 48 * 1024, 16, 144, false, false},
	{"stage1-dx", 48 * 1024, 144, 16, false, true},
	{"stage1-dw", 144, 16, 48 * 1024, true, false},
	{"stage4-fwd", 48 * 16, 128, 1152, false, false},
	{"stage4-dw", 1152, 128, 48 * 16, true, false},
	{"square-512", 512, 512, 512, false, false},
}

// BenchmarkGEMM reports the GEMM's GFLOP/s per wall second and per CPU second (all
// goroutines) on the shapes of the standard workload.
func BenchmarkGEMM(b *testing.B) {
	for _, s := range gemmShapes {
		for _, workers := range []int{1, 2} {
			b.Run(fmt.Sprintf("%s/w%d", s.name, workers), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 2))
				a := make([]float32, s.m*s.k)
				bm := make([]float32, s.k*s.n)
				for i := range a {
					a[i] = rng.Float32()
				}
				for i := range bm {
					bm[i] = rng.Float32()
				}
				c := make([]float32, s.m*s.n)
				av := matrix[float32]{data: a, rs: s.k, cs: 1}
				if s.ta {
					av = matrix[float32]{data: a, rs: 1, cs: s.m}
				}
				bv := matrix[float32]{data: bm, rs: s.n, cs: 1}
				if s.tb {
					bv = matrix[float32]{data: bm, rs: 1, cs: s.k}
				}
				cpu0, t0 := processCPUSeconds(), time.Now()
				for range b.N {
					gemm(s.m, s.n, s.k, aSource[float32](av), bv, c, s.n, workers)
				}
				flops := 2 * float64(s.m) * float64(s.n) * float64(s.k) * float64(b.N)
				b.ReportMetric(flops/time.Since(t0).Seconds()/1e9, "GFLOP/s")
				b.ReportMetric(flops/(processCPUSeconds()-cpu0)/1e9, "GFLOP/cpu-s")
			})
		}
	}
}
