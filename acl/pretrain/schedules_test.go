package pretrain

import (
	"math"
	"testing"

	"github.com/ainfonce/goacl/acl/optim"
)

// The methods' official schedules follow their formulas, and each kind is registered.
func TestSchedulesMatchOfficialFormulas(t *testing.T) {
	// AdvCL: batch 512 warms up for 10 epochs from 0.01, then cosine with η_min = lr·1e-3.
	adv := AdvCLCosine{Base: 0.5, Epochs: 400, WarmEpochs: 10, WarmFrom: 0.01}
	if got := adv.LearningRate(0, 0, 98); got != 0.01 {
		t.Errorf("AdvCL first iteration lr = %g, want the warm-up start 0.01", got)
	}
	etaMin := 0.5e-3
	want10 := etaMin + (0.5-etaMin)*(1+math.Cos(math.Pi*10/400))/2
	if got := adv.LearningRate(10, 0, 98); math.Abs(got-(etaMin+(0.5-etaMin)*(1+math.Cos(math.Pi*11/400))/2)) > 1e-15 {
		t.Errorf("AdvCL epoch index 10 lr = %g", got)
	}
	if got := adv.LearningRate(9, 97, 98); math.Abs(got-(0.01+(979.0/980)*(want10-0.01))) > 1e-12 {
		t.Errorf("AdvCL last warm-up iteration lr = %g", got)
	}
	// RoCL: ×15 warm-up over 10 epochs, then cosine from the peak.
	rocl := RoCLWarmupCosine{Base: 0.1, Multiplier: 15, WarmEpochs: 10, Epochs: 1000}
	if got := rocl.LearningRate(0, 0, 1); math.Abs(got-0.1*2.4) > 1e-15 {
		t.Errorf("RoCL epoch 1 lr = %g, want 0.24", got)
	}
	if got := rocl.LearningRate(9, 0, 1); math.Abs(got-1.5) > 1e-12 {
		t.Errorf("RoCL epoch 10 lr = %g, want the peak 1.5", got)
	}
	if got := rocl.LearningRate(10, 0, 1); math.Abs(got-1.5) > 1e-12 {
		t.Errorf("RoCL epoch 11 lr = %g, want the peak 1.5 (cosine step 0)", got)
	}
	if got, want := rocl.LearningRate(999, 0, 1), 1.5*(1+math.Cos(math.Pi*989/1000))/2; math.Abs(got-want) > 1e-12 {
		t.Errorf("RoCL last epoch lr = %g, want %g", got, want)
	}
	// ACL: per-iteration linear warm-up then cosine to 1e-6.
	aclc := ACLCosine{Base: 5, Epochs: 100, WarmEpochs: 10, Min: 1e-6}
	if got := aclc.LearningRate(0, 0, 10); math.Abs(got-5.0/100) > 1e-15 {
		t.Errorf("ACL first iteration lr = %g, want 0.05", got)
	}
	if got := aclc.LearningRate(99, 9, 10); math.Abs(got-1e-6) > 1e-12 {
		t.Errorf("ACL last iteration lr = %g, want 1e-6", got)
	}
	for _, kind := range []string{"advcl-cosine", "rocl-warmup-cosine", "acl-cosine", "dynacl-cosine"} {
		if _, err := (optim.ScheduleConfig{Kind: kind, Base: 1, Epochs: 10, WarmEpochs: 1, Multiplier: 2}).Build(); err != nil {
			t.Errorf("schedule %s: %v", kind, err)
		}
	}
}
