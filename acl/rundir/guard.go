package rundir

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
)

// ErrRunDirChanged is wrapped by the error a writer gets when its run directory, its lock
// or its metrics log was deleted or replaced while it was writing: the run stops instead
// of losing every later record (or writing into another run's folder).
var ErrRunDirChanged = errors.New("run directory changed under its writer")

// Check returns an ErrRunDirChanged error when the run directory of a writer (Create) is
// no longer the folder it locked: the folder, its lock file or its metrics.jsonl was
// deleted or replaced. A reader's Check is always nil. The training loop checks before
// every step, record and checkpoint.
func (r *Dir) Check() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.checkLocked(true)
}

// checkLocked is Check with r.mu held; withMetrics includes the metrics log (a folder
// whose log alone was deleted is still the run's: its status can say why it stopped).
func (r *Dir) checkLocked(withMetrics bool) error {
	if !r.writer {
		return nil
	}
	same := func(path string, f *os.File) bool {
		now, err := os.Stat(path)
		if err != nil {
			return false
		}
		mine, err := f.Stat()
		return err == nil && os.SameFile(now, mine)
	}
	if now, err := os.Stat(r.Path); err != nil || !os.SameFile(now, r.dirInfo) {
		return fmt.Errorf("%w: %s was deleted or replaced while this process was writing it; stopping (nothing more is written there)", ErrRunDirChanged, r.Path)
	}
	if r.lock != nil && !same(r.File(runLockFile), r.lock) {
		return fmt.Errorf("%w: the writer lock %s was deleted or replaced while this process held it; stopping (another writer could start)", ErrRunDirChanged, r.File(runLockFile))
	}
	if withMetrics && r.metrics != nil && !same(r.File(MetricsFile), r.metrics) {
		return fmt.Errorf("%w: %s was deleted or replaced while this run was appending to it; stopping (the records it held are lost: the checkpoints are not)", ErrRunDirChanged, r.File(MetricsFile))
	}
	return nil
}

// writers holds the run directories this process has open for writing (Create, until
// Close), for InterruptWriters.
var writers struct {
	sync.Mutex
	open map[*Dir]bool
}

func registerWriter(r *Dir) {
	writers.Lock()
	defer writers.Unlock()
	if writers.open == nil {
		writers.open = map[*Dir]bool{}
	}
	writers.open[r] = true
}

func unregisterWriter(r *Dir) {
	writers.Lock()
	defer writers.Unlock()
	delete(writers.open, r)
}

// InterruptWriters marks every run directory whose status this process keeps (a training
// that wrote status.json; a folder only locked, like the finished finetuning a new one
// will replace, is left alone) as interrupted, for a process about to exit at once (a
// second Ctrl-C): status.json says "interrupted" with reason, the step, epoch and path of
// the newest valid checkpoint (what a resume continues from) and the warnings of the
// status it replaces; any later status write of this process is dropped, so the work
// still in flight cannot overwrite it. Folders that changed under their writer (Check)
// are left alone. It returns the directories marked.
func InterruptWriters(reason string) []string {
	writers.Lock()
	open := make([]*Dir, 0, len(writers.open))
	for r := range writers.open {
		open = append(open, r)
	}
	writers.Unlock()
	var marked []string
	for _, r := range open {
		r.statusMu.Lock()
		if r.last != nil {
			st := Status{State: StateInterrupted, Reason: reason, Warnings: r.last.Warnings}
			if c, _, err := LatestCheckpoint(r.File(CheckpointsDir)); err == nil {
				var where struct {
					Epoch int `json:"epoch"`
				}
				_ = json.Unmarshal(c.State, &where)
				st.Checkpoint, st.Step, st.Epoch = c.Path, c.Step, where.Epoch
			}
			if r.writeStatusLocked(st) == nil {
				marked = append(marked, r.Path)
			}
		}
		r.frozen = true
		r.statusMu.Unlock()
	}
	return marked
}
