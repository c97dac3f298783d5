package rundir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Occupancy is what a folder holds, as far as starting or resuming a run in it goes.
type Occupancy int

const (
	// FolderMissing: the path does not exist.
	FolderMissing Occupancy = iota
	// FolderEmpty: the folder is empty, or holds only what Create makes before a run
	// records anything (the lock, an empty metrics log, an empty checkpoints/ folder,
	// temporary files): a run killed during its start-up.
	FolderEmpty
	// FolderRun: the folder holds a run (config.json).
	FolderRun
	// FolderOther: the folder holds files that are not a run's.
	FolderOther
)

// Examine says what the folder path holds; entries lists the names of its top-level
// entries (for messages), sorted. A path that exists but is not a folder is an error.
func Examine(path string) (occ Occupancy, entries []string, err error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		// (ENOTDIR: a path under a file, which Create reports when it cannot make it.)
		return FolderMissing, nil, nil
	}
	if err != nil {
		return 0, nil, fmt.Errorf("run directory %s: %w", path, err)
	}
	if !st.IsDir() {
		return 0, nil, fmt.Errorf("run directory %s: not a folder", path)
	}
	des, err := os.ReadDir(path)
	if err != nil {
		return 0, nil, fmt.Errorf("run directory %s: %w", path, err)
	}
	occ = FolderEmpty
	for _, de := range des {
		name := de.Name()
		entries = append(entries, name)
		switch {
		case name == ConfigFile:
			occ = FolderRun
		case occ == FolderRun:
		case isSkeleton(path, de):
		default:
			occ = FolderOther
		}
	}
	sort.Strings(entries)
	return occ, entries, nil
}

// isSkeleton reports whether the entry de of the folder dir is one Create makes before a
// run records anything.
func isSkeleton(dir string, de fs.DirEntry) bool {
	name := de.Name()
	switch {
	case name == runLockFile, name == writeProbeFile, strings.HasPrefix(name, ".") && strings.Contains(name, ".tmp-"):
		return true
	case name == MetricsFile:
		info, err := de.Info()
		return err == nil && info.Size() == 0
	case name == CheckpointsDir && de.IsDir():
		inner, err := os.ReadDir(filepath.Join(dir, name))
		if err != nil {
			return false
		}
		for _, e := range inner {
			if !(strings.HasPrefix(e.Name(), ".") && strings.Contains(e.Name(), ".tmp-")) {
				return false
			}
		}
		return true
	}
	return false
}

// Clear removes everything in the run directory but its lock (which r holds): the
// checkpoints, records and results of the run that was there. Only a writer (Create)
// clears, so no other process is writing the folder.
func (r *Dir) Clear() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.writer {
		return fmt.Errorf("run directory %s: only its writer (Create) clears it", r.Path)
	}
	if err := r.checkLocked(false); err != nil {
		return err
	}
	des, err := os.ReadDir(r.Path)
	if err != nil {
		return err
	}
	if r.metrics != nil {
		r.metrics.Close()
		r.metrics = nil
	}
	for _, de := range des {
		if de.Name() == runLockFile {
			continue
		}
		if err := os.RemoveAll(filepath.Join(r.Path, de.Name())); err != nil {
			return fmt.Errorf("clearing run directory %s: %w", r.Path, err)
		}
	}
	if err := os.MkdirAll(r.File(CheckpointsDir), 0o755); err != nil {
		return err
	}
	return r.openMetrics()
}
