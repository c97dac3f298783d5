package acl

import (
	"bytes"
	gocontext "context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"

	"github.com/ainfonce/goacl/acl/finetune"
	"github.com/ainfonce/goacl/acl/pretrain"
	"github.com/ainfonce/goacl/acl/rundir"
)

// Pretrain trains the notebook run called name with cfg, or reuses it: a finished run
// directory with the same training configuration (data folders aside, so runs trained on
// another machine and copied here are found) is returned as is (a line on progress says
// so), an interrupted or stopped one is resumed from its newest checkpoint, and a
// fresh one is trained. A run directory holding a different configuration, or a failed
// run, is an error naming the folder to remove. Progress lines (one per logged step) go to
// progress while the run trains.
func (nb *Notebook) Pretrain(name string, cfg pretrain.Config, progress io.Writer) (string, error) {
	dir := nb.RunDir(name)
	var st rundir.Status
	run, openErr := rundir.Open(dir)
	resume := false
	if openErr == nil {
		var stored pretrain.Config
		if err := run.ReadJSON(rundir.ConfigFile, &stored); err != nil {
			return "", err
		}
		// The data folders may differ (runs trained elsewhere and copied here).
		cmp := cfg
		cmp.DataDir, cmp.PseudoLabelDir, cmp.DataFingerprint = stored.DataDir, stored.PseudoLabelDir, stored.DataFingerprint
		if err := pretrain.SameTraining(stored, cmp); err != nil {
			return "", fmt.Errorf("notebook run %s was trained with another configuration (%v): remove the folder to retrain it, or point %s elsewhere", dir, err, NotebookRunsEnv)
		}
		if err := run.ReadJSON(rundir.StatusFile, &st); err == nil {
			switch st.State {
			case "done":
				say(progress, "reusing finished run %s (%d steps)\n", nb.DisplayPath(dir), st.Step)
				return dir, nil
			case "failed":
				return "", fmt.Errorf("notebook run %s failed: %s; remove the folder to retrain it", dir, st.Reason)
			}
		}
		_, _, ckErr := rundir.LatestCheckpoint(run.File(rundir.CheckpointsDir))
		resume = ckErr == nil
	}
	backend, err := nb.Backend()
	if err != nil {
		return "", err
	}
	if resume {
		say(progress, "resuming run %s from step %d\n", nb.DisplayPath(dir), st.Step)
	} else {
		say(progress, "training %s (%s %s, %s width %d, %d images, %d epochs, batch %d) into %s\n",
			name, cfg.Method, cfg.Variant, cfg.Encoder, cfg.Width, cfg.Subset, cfg.Epochs, cfg.BatchSize, nb.DisplayPath(dir))
	}
	// A run folder of this configuration is continued (from the start when it has no
	// checkpoint yet: killed during its first epoch).
	res, err := pretrain.Pretrain(gocontext.Background(), cfg, dir, pretrain.Options{Backend: backend, Resume: openErr == nil, Progress: progress})
	if err != nil {
		return "", err
	}
	if res.Stopped {
		return "", fmt.Errorf("notebook run %s stopped after %d steps (max_steps); rerun the cell to resume it", dir, res.Steps)
	}
	return dir, nil
}

// Probe returns the linear-probe result of a run directory for pc (clean train and test
// accuracy, LinearProbe), computing it once: the result is stored in the run's
// results/notebook-probe.json with pc and reused while pc and the checkpoint the run
// finished with are unchanged.
func (nb *Notebook) Probe(runDir string, pc finetune.ProbeConfig, progress io.Writer) (*finetune.ProbeResult, error) {
	return cachedResult(runDir, "notebook-probe.json", pc, func() (*finetune.ProbeResult, error) {
		backend, err := nb.Backend()
		if err != nil {
			return nil, err
		}
		return finetune.LinearProbe(backend, runDir, pc, progress)
	})
}

// cachedResult returns the value stored in results/<name> of a run when it was computed
// for key (compared as JSON) from the checkpoint the run finished with (path and sha256,
// finetune.PretrainedCheckpoint); otherwise it calls compute and stores the value with the
// key.
func cachedResult[T any](runDir, name string, key any, compute func() (T, error)) (T, error) {
	var zero T
	run, err := rundir.Open(runDir)
	if err != nil {
		return zero, err
	}
	ckpt, err := finetune.PretrainedCheckpoint(runDir)
	if err != nil {
		return zero, err
	}
	keyJSON, err := json.Marshal(key)
	if err != nil {
		return zero, err
	}
	type record struct {
		Key        json.RawMessage `json:"key"`
		Checkpoint string          `json:"checkpoint"`
		SHA256     string          `json:"checkpoint_sha256"`
		Value      T               `json:"value"`
	}
	file := filepath.Join(rundir.ResultsDir, name)
	var rec record
	// A missing, stale or damaged cache is recomputed.
	if err := run.ReadJSON(file, &rec); err == nil && rec.Checkpoint == ckpt.Path && rec.SHA256 == ckpt.SHA256 {
		var stored bytes.Buffer // WriteJSON indents the stored key
		if json.Compact(&stored, rec.Key) == nil && stored.String() == string(keyJSON) {
			return rec.Value, nil
		}
	}
	v, err := compute()
	if err != nil {
		return zero, err
	}
	if err := run.WriteJSON(file, record{Key: keyJSON, Checkpoint: ckpt.Path, SHA256: ckpt.SHA256, Value: v}); err != nil {
		return zero, err
	}
	return v, nil
}
