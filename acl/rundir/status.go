package rundir

import (
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// Run states written to status.json's "state".
const (
	// StateRunning: the run is training (or was killed outright: its newest checkpoint is
	// still valid and resumable).
	StateRunning = "running"
	// StateDone: the run finished.
	StateDone = "done"
	// StateFailed: the run stopped on an error (Reason says which).
	StateFailed = "failed"
	// StateInterrupted: stopped by a signal or a cancelled context.
	StateInterrupted = "interrupted"
	// StateStopped: stopped by its step limit (max_steps); resumable with a larger one.
	StateStopped = "stopped"
)

// Provenance says where and how a run was produced.
type Provenance struct {
	// GitCommit and GitDirty identify the source that ran; Backend, GoVersion, Host and
	// NumCPU the machine; Command the command line; Start and End the run's wall-clock
	// span (End zero while it runs).
	GitCommit string    `json:"git_commit"`
	GitDirty  bool      `json:"git_dirty"`
	Backend   string    `json:"backend"`
	GoVersion string    `json:"go_version"`
	Host      string    `json:"host"`
	NumCPU    int       `json:"num_cpu"`
	Command   []string  `json:"command"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end,omitzero"`
	// Resumes lists the times the run was resumed from a checkpoint, with the step.
	Resumes []string `json:"resumes,omitempty"`
	// Import, for a run made from a PyTorch file, says which file and how it was read.
	Import *Import `json:"import,omitempty"`
}

// Status is a run's state.
type Status struct {
	// State is "running", "done", "failed" (Reason says why), "interrupted" (stopped by
	// a signal or a cancelled context; resumable) or "stopped" (MaxSteps reached;
	// resumable). A process killed outright leaves "running": its newest checkpoint is
	// still valid and resumable.
	State  string `json:"state"`
	Reason string `json:"reason,omitempty"`
	// Step and Epoch are where the run stood (for a non-finite loss: the failing step).
	Step  int64 `json:"step"`
	Epoch int   `json:"epoch"`
	// Loss and Terms are the loss and its logged terms at Step when the run failed on a
	// non-finite value ("NaN", "+Inf" and "-Inf" are written as strings).
	Loss  any            `json:"loss,omitempty"`
	Terms map[string]any `json:"terms,omitempty"`
	// Checkpoint is the newest checkpoint the run kept, the one a resume continues from
	// ("" when none was written yet).
	Checkpoint string `json:"checkpoint,omitempty"`
	// Warnings are what the run wants every reader to know about how it got here (e.g. a
	// resume that skipped a damaged checkpoint and continued from an older one).
	Warnings []string  `json:"warnings,omitempty"`
	Updated  time.Time `json:"updated"`
}

// CollectProvenance gathers the provenance of the current process for backend (a
// description from engine.Describe).
func CollectProvenance(backend string) Provenance {
	host, _ := os.Hostname()
	p := Provenance{Backend: backend, GoVersion: runtime.Version(), Host: host, NumCPU: runtime.NumCPU(),
		Command: os.Args, Start: time.Now().UTC()}
	p.GitCommit, p.GitDirty = gitCommit()
	return p
}

// gitCommit returns the commit the binary was built from (from the build info when
// available, else from git in the working directory), and whether the tree was dirty.
func gitCommit() (string, bool) {
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev string
		dirty := false
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
		if rev != "" {
			return rev, dirty
		}
	}
	out, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return "unknown", false
	}
	st, _ := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output()
	return strings.TrimSpace(string(out)), len(strings.TrimSpace(string(st))) > 0
}
