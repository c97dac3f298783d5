// Package testrun makes the small pretraining runs the tests of the packages above
// pretrain (finetune, eval, report, the notebook facade) start from.
package testrun

import (
	gocontext "context"
	"testing"

	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/internal/testbackend"
	"github.com/ainfonce/goacl/internal/testdirs"
)

// Tiny is a RoCL run small enough for a unit test: the smoke preset with a width-4 CNN on
// 64 CIFAR-10 images, batch 16, 2 epochs of 4 steps, a 2-step attack, every step logged.
func Tiny(t testing.TB, variant string) pretrain.Config {
	t.Helper()
	cfg, err := pretrain.Preset("rocl", variant, pretrain.ScaleSmoke, testdirs.CIFAR10(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Width, cfg.Subset, cfg.BatchSize, cfg.Epochs, cfg.Schedule.Epochs = 4, 64, 16, 2, 2
	cfg.Attack.Steps = 2
	cfg.LogEvery = 1
	return cfg
}

// Pretrained pretrains Tiny("base") for one epoch into a fresh folder and returns it.
func Pretrained(t testing.TB) string {
	t.Helper()
	cfg := Tiny(t, "base")
	cfg.Epochs, cfg.Schedule.Epochs = 1, 1
	out := t.TempDir()
	if _, err := pretrain.Pretrain(gocontext.Background(), cfg, out, pretrain.Options{Backend: testbackend.Get(t)}); err != nil {
		t.Fatal(err)
	}
	return out
}

// TinyMethod is a run of method (rocl, advcl, acl, dynacl; variant base) as small as a
// unit test allows: the smoke preset with a width-4 CNN on 32 CIFAR-10 images, batch 16,
// one epoch of 2 steps, a 1-step attack.
func TinyMethod(t testing.TB, method string) pretrain.Config {
	t.Helper()
	cfg, err := pretrain.Preset(method, "base", pretrain.ScaleSmoke, testdirs.CIFAR10(t))
	if err != nil {
		t.Fatal(err)
	}
	if method == "advcl" {
		cfg.PseudoLabelDir = testdirs.PseudoLabels(t, "cifar-10")
	}
	cfg.Width, cfg.Subset, cfg.BatchSize, cfg.Epochs, cfg.Schedule.Epochs = 4, 32, 16, 1, 1
	if cfg.Schedule.WarmEpochs >= 1 {
		cfg.Schedule.WarmEpochs = 0
	}
	cfg.Attack.Steps = 1
	return cfg
}

// PretrainedMethod pretrains TinyMethod(method) into a fresh folder and returns it.
func PretrainedMethod(t testing.TB, method string) string {
	t.Helper()
	out := t.TempDir()
	if _, err := pretrain.Pretrain(gocontext.Background(), TinyMethod(t, method), out, pretrain.Options{Backend: testbackend.Get(t)}); err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	return out
}
