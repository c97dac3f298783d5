package finetune

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/acl/rundir"
)

// A run without any checkpoint file says so, instead of "no usable checkpoint ([])"
// (issue 18 item 15).
func TestNoCheckpointMessage(t *testing.T) {
	run := t.TempDir()
	cfg, err := pretrain.Preset("rocl", "base", pretrain.ScaleSmoke, "data")
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(cfg)
	os.WriteFile(filepath.Join(run, rundir.ConfigFile), data, 0o644)
	os.MkdirAll(filepath.Join(run, rundir.CheckpointsDir), 0o755)
	_, err = PretrainedCheckpoint(run)
	if !errors.Is(err, rundir.ErrNoCheckpoint) || strings.Contains(err.Error(), "[]") || !strings.Contains(err.Error(), "no checkpoint in") {
		t.Errorf("a run without checkpoints: %v", err)
	}
	os.WriteFile(filepath.Join(run, rundir.CheckpointsDir, "ckpt-000000001.ckpt"), []byte("junk"), 0o644)
	if _, err = PretrainedCheckpoint(run); err == nil || !strings.Contains(err.Error(), "ckpt-000000001.ckpt") {
		t.Errorf("a run whose only checkpoint is damaged: %v", err)
	}
}
