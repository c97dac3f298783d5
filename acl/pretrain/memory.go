package pretrain

import (
	"fmt"

	"github.com/ainfonce/goacl/acl/field"
	"github.com/ainfonce/goacl/engine"
	"github.com/ainfonce/goacl/layers"
	"github.com/gomlx/gomlx/backends"
)

// StepMemory is a lower bound, in bytes, of the memory one training step of cfg needs
// (layers.StepMemory with every row of the step's encoder pass: the method's clean views
// and its adversarial view, per image of the batch).
func StepMemory(cfg *Config) (float64, error) {
	m, err := MethodByName(cfg.Method)
	if err != nil {
		return 0, err
	}
	rows := float64(cfg.BatchSize) * float64(len(m.Inputs(cfg, 0).Used)+1)
	return layers.StepMemory(cfg.Encoder, cfg.Width, 32, 32, rows)
}

// checkMemory refuses, before anything is built or written, a configuration whose step
// cannot fit in the memory of backend b (engine.CheckMemory), naming the width or the
// batch, whichever dominates the estimate.
func checkMemory(cfg *Config, b backends.Backend) error {
	need, err := StepMemory(cfg)
	if err != nil {
		return err
	}
	what := fmt.Sprintf("a step of %s width %d with batch %d", cfg.Encoder, cfg.Width, cfg.BatchSize)
	if err := engine.CheckMemory(b, need, what); err != nil {
		key := "batch_size"
		if weights, _ := layers.StepMemory(cfg.Encoder, cfg.Width, 32, 32, 0); weights > need/2 {
			key = "width"
		}
		return field.Errorf(key, "{%s}: %v; use a smaller {width} or {batch_size}", key, err)
	}
	return nil
}
