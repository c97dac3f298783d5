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
