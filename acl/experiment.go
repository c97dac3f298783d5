package acl

import (
	gocontext "context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/ainfonce/goacl/acl/experiment"
)

// ExperimentPreset is the evidence experiment of a scale (acl/experiment): the smoke plan,
// the CPU-scale ablation, or the GPU slice.
func (s NotebookScale) ExperimentPreset() string {
	switch s {
	case NotebookCPU:
		return experiment.PresetCPUAblation
	case NotebookGPU:
		return experiment.PresetGPUSlice
	}
	return experiment.PresetSmoke
}

// ExperimentRuns is the runs folder of the notebook's experiment: <runs>/<scale>/ablation,
// where `acl experiment -preset <ExperimentPreset> -runs` writes it for notebook 4.
func (nb *Notebook) ExperimentRuns() string { return nb.RunDir("ablation") }

// Experiment returns the evidence experiment of the notebook's scale, read from its runs
// folder (ExperimentRuns). At smoke and cpu scale it first runs what is not finished
// (experiment.Run: a finished experiment is only read; the cpu ablation from scratch is
// about two hours on two cores, so run it with `acl experiment` first); a runs folder made
// with other settings (e.g. the command line's overrides) is read as it is. At gpu scale
// it only reads: the GPU slice runs on a GPU machine (scripts/gpu-slice.sh) and its runs
// folder is copied here. Progress lines go to progress.
func (nb *Notebook) Experiment(progress io.Writer) (*experiment.Results, error) {
	runs := nb.ExperimentRuns()
	if nb.Scale == NotebookGPU {
		if _, err := os.Stat(filepath.Join(runs, experiment.PlanFile)); err != nil {
			return nil, fmt.Errorf("no GPU slice in %s: run scripts/gpu-slice.sh on a GPU machine and copy its runs folder here", runs)
		}
		return experiment.Collect(runs)
	}
	plan, err := experiment.Preset(nb.Scale.ExperimentPreset())
	if err != nil {
		return nil, err
	}
	backend, err := nb.Backend()
	if err != nil {
		return nil, err
	}
	err = experiment.Run(gocontext.Background(), plan, runs, experiment.Options{Backend: backend, DataDir: nb.DataDir, Progress: progress})
	if errors.Is(err, experiment.ErrOtherPlan) {
		say(progress, "%v: reading it as it is\n", err)
	} else if err != nil {
		return nil, err
	}
	return experiment.Collect(runs)
}
