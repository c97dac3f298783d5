package pretrain

import (
	gocontext "context"
	"fmt"
	"math"
	"os"
	"testing"
	"time"

	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/internal/testdirs"
	"github.com/ainfonce/goacl/internal/xlatest"
)

// BenchmarkDataParallelStep measures what splitting a step over N host devices of the
// XLA CPU plugin costs (N = 1, 2, 4; every N is a backend of exactly N devices). On one
// CPU the devices share its cores, so this shows the partitioned program's overhead, not
// a speed-up. Method and variant are $ACL_BENCH_METHOD and $ACL_BENCH_VARIANT (rocl,
// iphn), the scale $ACL_BENCH_SCALE (smoke, or cpu: ResNet-18 width 16, batch 64). Each
// sub-benchmark runs b.N+1 steps of a real Pretrain and reports the median of the last
// b.N step times (ns/op, images/s), the median process CPU time per step (cpu-s/step),
// the first step's time (first-step-s: compiling the variable initialisation and the
// step, then running it) and the largest relative difference of a step's loss from the
// N = 1 run of the same sub-benchmark count (loss-rel-diff; float32, see
// docs/pretraining.md). Run e.g.
//
//	ACL_BENCH_SCALE=cpu go test ./acl/pretrain/ -run XXX -bench DataParallelStep -benchtime 6x
func BenchmarkDataParallelStep(b *testing.B) {
	scale, method, variant := envOr("ACL_BENCH_SCALE", ScaleSmoke), envOr("ACL_BENCH_METHOD", "rocl"), envOr("ACL_BENCH_VARIANT", "iphn")
	var ref []float64
	for _, n := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("%s-%s-%s/devices=%d", method, variant, scale, n), func(b *testing.B) {
			backend := xlatest.BackendWithDevices(b, n)
			cfg, err := Preset(method, variant, scale, testdirs.CIFAR10(b))
			if err != nil {
				b.Fatal(err)
			}
			if method == advclName {
				cfg.PseudoLabelDir = testdirs.PseudoLabels(b, "cifar-10")
			}
			cfg.MaxSteps, cfg.LogEvery, cfg.Devices = int64(b.N+1), 1, n
			if need := (b.N + 1) * cfg.BatchSize; cfg.Subset < need {
				cfg.Subset = need
			}
			out := b.TempDir()
			cpu := &cpuPerLine{}
			t0 := time.Now()
			if _, err := Pretrain(gocontext.Background(), cfg, out, Options{Backend: backend, Progress: cpu}); err != nil {
				b.Fatal(err)
			}
			total := time.Since(t0).Seconds()
			metrics, err := (&rundir.Dir{Path: out}).ReadMetrics()
			if err != nil || len(metrics) != b.N+1 {
				b.Fatalf("%d metric records, %v", len(metrics), err)
			}
			var losses []float64
			for _, m := range metrics {
				losses = append(losses, m["loss"].(float64))
			}
			if n == 1 {
				ref = losses
			} else if len(ref) == len(losses) {
				worst := 0.0
				for i := range losses {
					worst = math.Max(worst, math.Abs(losses[i]-ref[i])/math.Abs(ref[i]))
				}
				b.ReportMetric(worst, "loss-rel-diff")
			}
			b.ReportMetric(metrics[0]["step_seconds"].(float64), "first-step-s")
			reportStepTimes(b, metrics, cfg.BatchSize, cpu)
			b.Logf("devices %d: %d steps in %.1f s, losses %v", n, b.N+1, total, losses)
		})
	}
}

// envOr returns the environment variable key, or def when it is unset or empty.
func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
