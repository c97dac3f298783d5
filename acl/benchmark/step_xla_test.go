package benchmark

import (
	"math"
	"testing"

	"github.com/ainfonce/goacl/engine"
	"github.com/ainfonce/goacl/internal/xlatest"
)

// TestBenchStepXLAParity runs two steps of the standard benchmark workload (ResNet-18,
// PGD-5 without random start, 3-view NT-Xent, SGD with momentum) on XLA CPU and on the
// pure-Go engine from the same initial weights (the pure-Go step's, copied into the XLA
// step's variables: the two backends draw different random numbers) and the same batch:
// the losses must agree to 1e-4, and the PGD-20 evaluation must classify as many
// adversarial images correctly.
func TestBenchStepXLAParity(t *testing.T) {
	xb := xlatest.Backend(t)
	gb, err := engine.NewWithConfig(engine.PureGoName)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Default(8, 8)
	cfg.NoRandomStart = true
	cfg.EvalSteps = 5
	goStep, err := NewStep(gb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer goStep.Finalize()
	xlaStep, err := NewStep(xb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer xlaStep.Finalize()
	for _, s := range []*Step{goStep, xlaStep} {
		if _, err := s.init.Exec(s.x1); err != nil {
			t.Fatal(err)
		}
	}
	copied := 0
	for v := range goStep.ctx.IterVariables() {
		val, err := v.Value()
		if err != nil {
			t.Fatal(err)
		}
		dst := xlaStep.ctx.GetVariableByScopeAndName(v.Scope(), v.Name())
		if dst == nil {
			t.Fatalf("variable %s missing in the XLA step", v.ScopeAndName())
		}
		c, err := val.LocalClone()
		if err != nil {
			t.Fatal(err)
		}
		if err := dst.SetValue(c); err != nil {
			t.Fatal(err)
		}
		copied++
	}
	for step := 1; step <= 2; step++ {
		lg, err := goStep.TrainStep()
		if err != nil {
			t.Fatal(err)
		}
		lx, err := xlaStep.TrainStep()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("step %d: pure Go %.7f, XLA %.7f, difference %.2g (%d variables copied)", step, lg, lx, lx-lg, copied)
		if math.IsNaN(lx) || math.Abs(lx-lg) > 1e-4 {
			t.Errorf("step %d: XLA loss %v, pure-Go loss %v: want within 1e-4", step, lx, lg)
		}
	}
	cg, err := goStep.EvalBatch()
	if err != nil {
		t.Fatal(err)
	}
	cx, err := xlaStep.EvalBatch()
	if err != nil {
		t.Fatal(err)
	}
	if cg != cx {
		t.Errorf("PGD-5 evaluation: %v correct on pure Go, %v on XLA", cg, cx)
	}
}
