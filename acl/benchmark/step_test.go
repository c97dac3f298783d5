package benchmark

import (
	"math"
	"testing"

	"github.com/ainfonce/goacl/engine"
)

// TestBenchStepWork runs the benchmark workload at toy size on the pure-Go backend and
// checks, with the fast kernels' FLOP counter, that one training step does the nominal
// work of TrainFLOPs: no weight gradients in the attack (that would add 5·B·F, +25%) and
// nothing computed twice. The loss pass does not need the stem's input gradient, hence a
// little less than nominal.
func TestBenchStepWork(t *testing.T) {
	b, err := engine.NewWithConfig(engine.PureGoName)
	if err != nil {
		t.Fatal(err)
	}
	if !engine.FastKernels(b) {
		t.Skipf("fast kernels unavailable: %v", engine.KernelsStatus())
	}
	cfg := Default(4, 4)
	cfg.EvalSteps = 2
	s, err := NewStep(b, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Finalize()
	if _, err := s.TrainStep(); err != nil { // compiles
		t.Fatal(err)
	}
	f0 := engine.GEMMFlops()
	loss, err := s.TrainStep()
	if err != nil {
		t.Fatal(err)
	}
	work := float64(engine.GEMMFlops() - f0)
	if math.IsNaN(loss) || loss <= 0 {
		t.Fatalf("loss %v: want a positive finite NT-Xent", loss)
	}
	ratio := work / cfg.TrainFLOPs()
	t.Logf("train step: %.4g FLOP in GEMMs, nominal %.4g, ratio %.4f, loss %.4f", work, cfg.TrainFLOPs(), ratio, loss)
	if ratio < 0.97 || ratio > 1.01 {
		t.Errorf("train step does %.3f× the nominal work: want 0.97–1.01 (1.25 would mean weight gradients in the attack)", ratio)
	}
	f0 = engine.GEMMFlops()
	correct, err := s.EvalBatch()
	if err != nil {
		t.Fatal(err)
	}
	if correct < 0 || correct > float64(cfg.Batch) {
		t.Fatalf("eval: %v correct of %d", correct, cfg.Batch)
	}
	// The eval batch adds the 10-class head on top of EvalFLOPs' encoder count.
	if r := float64(engine.GEMMFlops()-f0) / cfg.EvalFLOPs(); r < 0.9 || r > 1.05 {
		t.Errorf("eval batch does %.3f× the nominal work, want 0.9–1.05", r)
	}
}

func TestBenchConfigValidate(t *testing.T) {
	for _, c := range []Config{Default(0, 16), Default(16, 1)} {
		if c.Validate() == nil {
			t.Errorf("%+v: want an error", c)
		}
	}
	if got := ResNet18ForwardFLOPs(64); math.Abs(got-1.1115e9)/1.1115e9 > 0.01 {
		t.Errorf("ResNet-18 width 64 forward = %.4g FLOP, want ≈1.11e9", got)
	}
}

// TestBenchStepFusionBitIdentical runs two training steps and an evaluation batch of the
// benchmark workload (ResNet-18, PGD attack, NT-Xent, SGD) on goacl with its elementwise
// fusion and with fusion=off: the losses and the evaluation must be the same bits, since
// fused chains compute every element with the same float32 operations (engine/fusion.go).
func TestBenchStepFusionBitIdentical(t *testing.T) {
	run := func(config string) []float64 {
		b, err := engine.NewWithConfig(config)
		if err != nil {
			t.Fatal(err)
		}
		if !engine.FastKernels(b) {
			t.Skipf("fast kernels unavailable: %v", engine.KernelsStatus())
		}
		s, err := NewStep(b, Default(4, 4))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Finalize()
		var out []float64
		for range 2 {
			loss, err := s.TrainStep()
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, loss)
		}
		correct, err := s.EvalBatch()
		if err != nil {
			t.Fatal(err)
		}
		return append(out, correct)
	}
	fused, unfused := run(engine.PureGoName), run(engine.PureGoName+":fusion=off")
	t.Logf("fused %v, unfused %v", fused, unfused)
	for i := range fused {
		if math.Float64bits(fused[i]) != math.Float64bits(unfused[i]) {
			t.Errorf("value %d (losses of steps 1, 2, then eval correct): fused %v, unfused %v", i, fused[i], unfused[i])
		}
	}
}
