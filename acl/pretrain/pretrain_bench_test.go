package pretrain

import (
	gocontext "context"
	"os"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/ainfonce/goacl/acl/rundir"

	"github.com/ainfonce/goacl/internal/testdirs"
)

// BenchmarkPretrainStep measures one training step (attack, forward and backward passes,
// update: one execution of the compiled step graph) of each method at a preset scale,
// $ACL_BENCH_SCALE (smoke by default: SmallCNN width 8, batch 32, 256 images, the
// official attack steps; or cpu: ResNet-18 width 16, batch 64). Each sub-benchmark runs
// b.N+1 steps of a real Pretrain and times the last b.N from the step times the run logs
// (the first step compiles the graph); it reports the median as ns/op and images/s, and
// the median process CPU time per step (cpu-s/step, between consecutive progress lines:
// the step, its logging and the next batch's augmentation), which a loaded machine
// disturbs less than the wall time. Run with a fixed count, e.g.
//
//	go test ./acl/ -run XXX -bench PretrainStep -benchtime 3x
func BenchmarkPretrainStep(b *testing.B) {
	scale := os.Getenv("ACL_BENCH_SCALE")
	if scale == "" {
		scale = ScaleSmoke
	}
	for _, c := range []struct{ method, variant string }{
		{"rocl", "base"}, {advclName, "base"}, {advclName, "ip"}, {aclName, "base"}, {dynaclName, "base"},
	} {
		b.Run(c.method+"-"+c.variant, func(b *testing.B) {
			cfg, err := Preset(c.method, c.variant, scale, testdirs.CIFAR10(b))
			if err != nil {
				b.Fatal(err)
			}
			if c.method == advclName {
				cfg.PseudoLabelDir = testdirs.PseudoLabels(b, "cifar-10")
			}
			cfg.MaxSteps, cfg.LogEvery = int64(b.N+1), 1
			if need := (b.N + 1) * cfg.BatchSize; cfg.Subset < need {
				cfg.Subset = need
			}
			out := b.TempDir()
			cpu := &cpuPerLine{}
			if _, err := Pretrain(gocontext.Background(), cfg, out, Options{Progress: cpu}); err != nil {
				b.Fatal(err)
			}
			metrics, err := (&rundir.Dir{Path: out}).ReadMetrics()
			if err != nil || len(metrics) != b.N+1 {
				b.Fatalf("%d metric records, %v", len(metrics), err)
			}
			reportStepTimes(b, metrics, cfg.BatchSize, cpu)
		})
	}
}

// reportStepTimes reports the median of the logged step times after the first (ns/op,
// images/s for batch images a step) and the median CPU time between consecutive progress
// lines (cpu-s/step).
func reportStepTimes(b *testing.B, metrics []map[string]any, batch int, cpu *cpuPerLine) {
	var secs []float64
	for _, m := range metrics[1:] {
		secs = append(secs, m["step_seconds"].(float64))
	}
	sort.Float64s(secs)
	median := secs[len(secs)/2]
	b.ReportMetric(median*1e9, "ns/op")
	b.ReportMetric(float64(batch)/median, "images/s")
	if len(cpu.at) == len(metrics) {
		var cs []float64
		for i := 1; i < len(cpu.at); i++ {
			cs = append(cs, (cpu.at[i] - cpu.at[i-1]).Seconds())
		}
		sort.Float64s(cs)
		b.ReportMetric(cs[len(cs)/2], "cpu-s/step")
	}
}

// cpuPerLine records the process CPU time (user + system) at each progress line.
type cpuPerLine struct{ at []time.Duration }

func (c *cpuPerLine) Write(p []byte) (int, error) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		c.at = append(c.at, time.Duration(ru.Utime.Nano()+ru.Stime.Nano()))
	}
	return len(p), nil
}
