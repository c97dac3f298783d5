package pretrain

// Issue 18, "nothing silent": configurations, folders and data a pretraining must refuse
// before it writes anything. Each test reproduces one of the filer's cases.

import (
	gocontext "context"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Every field is validated whatever the variant: with -variant base, a NaN α, an infinite
// β, a NaN τ⁺ or a NaN CE weight used to pass validation and then fail when config.json
// was written, leaving a lock, checkpoints/ and metrics.jsonl behind.
func TestReliabilityEveryFieldValidatedWhateverVariant(t *testing.T) {
	cases := []struct {
		name   string
		method string
		mutate func(*Config)
		want   string
	}{
		{"alpha NaN", "rocl", func(c *Config) { c.Loss.Alpha = math.NaN() }, "loss.alpha"},
		{"alpha 3", "rocl", func(c *Config) { c.Loss.Alpha = 3 }, "loss.alpha"},
		{"beta Inf", "rocl", func(c *Config) { c.Loss.Beta = math.Inf(1) }, "loss.beta"},
		{"tau-plus NaN", "rocl", func(c *Config) { c.Loss.TauPlus = math.NaN() }, "loss.tau_plus"},
		{"ce-weight NaN", "advcl", func(c *Config) { c.CEWeight = math.NaN() }, "ce_weight"},
		{"regularizer Inf", "rocl", func(c *Config) { c.RegularizerWeight = math.Inf(1) }, "regularizer_weight"},
		{"weight decay NaN", "rocl", func(c *Config) { c.Optimizer.WeightDecay = math.NaN() }, "optimizer.weight_decay"},
		{"epsilon Inf", "rocl", func(c *Config) { c.Attack.Epsilon = math.Inf(1) }, "attack.epsilon"},
		{"step size NaN", "rocl", func(c *Config) { c.Attack.StepSize = math.NaN() }, "attack.step_size"},
		// Bounded settings (issue 18 item 10): the attack is unrolled in the graph.
		{"attack steps 100000", "rocl", func(c *Config) { c.Attack.Steps = 100000 }, "attack.steps = 100000: must be in [0, 1000]"},
		{"epsilon 2", "rocl", func(c *Config) { c.Attack.Epsilon = 2 }, "attack.epsilon = 2: must be in [0, 1]"},
		// A setting the method never reads is not recorded as if it were (item 15).
		{"pseudo labels with rocl", "rocl", func(c *Config) { c.PseudoLabelDir = c.DataDir }, "method rocl reads no pseudo labels"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := tinyConfig(t, "base")
			if c.method != "rocl" {
				var err error
				if cfg, err = Preset(c.method, "base", ScaleSmoke, cfg.DataDir); err != nil {
					t.Fatal(err)
				}
			}
			c.mutate(&cfg)
			if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Validate: want an error naming %s, got %v", c.want, err)
			}
			out := filepath.Join(t.TempDir(), "run")
			if _, err := Pretrain(gocontext.Background(), cfg, out, Options{Backend: testBackend(t)}); err == nil {
				t.Fatal("Pretrain accepted it")
			}
			if _, err := os.Stat(out); err == nil {
				t.Error("the run directory was created")
			}
		})
	}
}
