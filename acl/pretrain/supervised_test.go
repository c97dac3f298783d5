package pretrain

import (
	gocontext "context"
	"math"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/acl/rundir"
	"github.com/ainfonce/goacl/internal/testdirs"
)

// The supervised baseline (PGD-AT) learns from the labels: without an attack (ε 0) on 64
// images it fits them (batch accuracy far above the 10% of chance after 30 epochs; 0.59 measured), and its
// run keeps the linear head outside the encoder's scope.
func TestSupervisedBaselineLearnsTheLabels(t *testing.T) {
	cfg, err := Preset("supervised", "base", ScaleSmoke, testdirs.CIFAR10(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Width, cfg.Subset, cfg.BatchSize, cfg.Epochs, cfg.Schedule.Epochs = 8, 64, 16, 30, 30
	cfg.Attack.Epsilon, cfg.Attack.Steps = 0, 1
	cfg.LogEvery = 1
	dir := t.TempDir()
	if _, err := Pretrain(gocontext.Background(), cfg, dir, Options{Backend: testBackend(t)}); err != nil {
		t.Fatal(err)
	}
	run, _ := rundir.Open(dir)
	recs, err := run.ReadMetrics()
	if err != nil {
		t.Fatal(err)
	}
	first, _ := recs[0]["loss"].(float64)
	if math.Abs(first-math.Log(10)) > 1 {
		t.Errorf("first cross-entropy %.3f, want about ln 10 = 2.30 for an untrained 10-class head", first)
	}
	var last float64
	for _, r := range recs[len(recs)-4:] {
		last += r["adv_accuracy"].(float64) / 4
	}
	t.Logf("first loss %.3f; last epoch's batch accuracy %.3f", first, last)
	if last < 0.35 {
		t.Errorf("batch accuracy %.3f in the last epoch on 64 training images, want ≥ 0.35 (chance 0.1): the labels do not reach the loss", last)
	}
	ck := runLatestCheckpoint(t, dir)
	head := 0
	for _, v := range ck.Variables {
		if strings.HasPrefix(v.Key(), "/"+SupervisedHeadScope+"/") {
			head++
		}
	}
	if head != 2 {
		t.Errorf("checkpoint holds %d variables under /%s/, want the head's weights and biases", head, SupervisedHeadScope)
	}
}

// The baseline trains base only, and its schedule decays at half and three quarters of
// the run (Madry's 40,000 and 60,000 of 80,000 steps).
func TestSupervisedVariantsAndSchedule(t *testing.T) {
	cfg, err := Preset("supervised", "ip", ScaleSmoke, testdirs.CIFAR10(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "variant") {
		t.Errorf("supervised ip: %v; want a variant error", err)
	}
	s := MadryStep{Base: 0.1, Gamma: 0.1, Epochs: 8}
	for e, want := range []float64{0.1, 0.1, 0.1, 0.1, 0.01, 0.01, 0.001, 0.001} {
		if got := s.LearningRate(e, 0, 1); math.Abs(got-want) > 1e-12 {
			t.Errorf("epoch %d: lr %g, want %g", e, got, want)
		}
	}
}
