package rundir

// Issue 18 items 7, 9 and 10: what a folder holds before a run starts in it, a run folder
// (or its metrics log) deleted under its writer, and the final status of a process that
// is stopped at once.

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Deleting metrics.jsonl, or the whole run folder, while a run writes used to lose every
// later record silently (appended to a deleted file; the lock on a deleted file let a
// second writer start). The writer now stops at its next write, naming what changed, and
// never writes into a folder another writer made at the same path.
func TestReliabilityDeletedWhileWriting(t *testing.T) {
	t.Run("metrics.jsonl deleted", func(t *testing.T) {
		r, err := Create(filepath.Join(t.TempDir(), "run"))
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		if err := r.LogMetrics(map[string]int{"step": 1}); err != nil {
			t.Fatal(err)
		}
		if err := os.Remove(r.File(MetricsFile)); err != nil {
			t.Fatal(err)
		}
		err = r.LogMetrics(map[string]int{"step": 2})
		if !errors.Is(err, ErrRunDirChanged) || !strings.Contains(err.Error(), r.File(MetricsFile)) {
			t.Fatalf("a record appended to a deleted metrics.jsonl: %v", err)
		}
	})
	t.Run("run folder deleted and made again by another writer", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "run")
		first, err := Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer first.Close()
		if err := os.RemoveAll(path); err != nil {
			t.Fatal(err)
		}
		if err := first.Check(); !errors.Is(err, ErrRunDirChanged) || !strings.Contains(err.Error(), path+" was deleted or replaced") {
			t.Fatalf("Check after the folder was deleted: %v", err)
		}
		second, err := Create(path)
		if err != nil {
			t.Fatal(err)
		}
		defer second.Close()
		for what, write := range map[string]func() error{
			"metrics":     func() error { return first.LogMetrics(map[string]int{"step": 3}) },
			"status.json": func() error { return first.SetStatus(Status{State: StateDone}) },
			"config.json": func() error { return first.WriteJSON(ConfigFile, map[string]int{"x": 1}) },
		} {
			if err := write(); !errors.Is(err, ErrRunDirChanged) {
				t.Errorf("%s written by the first writer into the second's folder: %v", what, err)
			}
		}
		if data, _ := os.ReadFile(second.File(MetricsFile)); len(data) > 0 {
			t.Errorf("the second writer's metrics.jsonl holds %q", data)
		}
		for _, name := range []string{StatusFile, ConfigFile} {
			if _, err := os.Stat(second.File(name)); err == nil {
				t.Errorf("%s was written into the second writer's folder", name)
			}
		}
		if err := second.LogMetrics(map[string]int{"step": 1}); err != nil {
			t.Errorf("the second writer: %v", err)
		}
	})
}

// Examine tells a new or empty folder (or what a process killed during start-up left)
// from a run and from a folder holding anything else.
func TestExamineFolder(t *testing.T) {
	root := t.TempDir()
	mk := func(name string, files ...string) string {
		dir := filepath.Join(root, name)
		os.MkdirAll(dir, 0o755)
		for _, f := range files {
			p := filepath.Join(dir, f)
			os.MkdirAll(filepath.Dir(p), 0o755)
			if strings.HasSuffix(f, "/") {
				continue
			}
			content := []byte("x")
			if f == MetricsFile {
				content = nil
			}
			os.WriteFile(p, content, 0o644)
		}
		return dir
	}
	for _, c := range []struct {
		dir  string
		want Occupancy
	}{
		{filepath.Join(root, "missing"), FolderMissing},
		{mk("empty"), FolderEmpty},
		{mk("skeleton", ".lock", MetricsFile, "checkpoints/.ckpt-000000001.ckpt.tmp-1", ".config.json.tmp-2"), FolderEmpty},
		{mk("run", ConfigFile, MetricsFile, "results/finetune-slf/result.json"), FolderRun},
		{mk("other", "notes.txt"), FolderOther},
		{mk("checkpoints only", "checkpoints/ckpt-000000001.ckpt"), FolderOther},
	} {
		occ, entries, err := Examine(c.dir)
		if err != nil || occ != c.want {
			t.Errorf("%s: %v (%v), want %v; entries %v", filepath.Base(c.dir), occ, err, c.want, entries)
		}
	}
	if _, _, err := Examine(filepath.Join(root, "other", "notes.txt")); err == nil {
		t.Error("a file taken for a folder")
	}
}

// Clear empties a run folder but keeps its writer's lock.
func TestClearKeepsTheLock(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run")
	r, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	os.MkdirAll(r.File(ResultsDir, "finetune-slf"), 0o755)
	os.WriteFile(r.File(ConfigFile), []byte("{}"), 0o644)
	r.LogMetrics(map[string]int{"step": 1})
	if err := r.Clear(); err != nil {
		t.Fatal(err)
	}
	if occ, entries, _ := Examine(path); occ != FolderEmpty {
		t.Fatalf("after Clear: %v %v", occ, entries)
	}
	if err := r.LogMetrics(map[string]int{"step": 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := Create(path); err == nil {
		t.Error("a second writer got the lock after Clear")
	}
}

// A process stopped at once (second Ctrl-C) marks its run interrupted with the newest
// checkpoint, and nothing it still does overwrites that status.
func TestInterruptWritersFreezesStatus(t *testing.T) {
	path := filepath.Join(t.TempDir(), "run")
	r, err := Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.SetStatus(Status{State: StateRunning}); err != nil {
		t.Fatal(err)
	}
	ckpt, err := SaveCheckpoint(testContext(), r.File(CheckpointsDir), 5, map[string]int{"epoch": 1, "batch": 2}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if marked := InterruptWriters("stopped at once"); !slices.Contains(marked, path) {
		t.Fatalf("marked %v", marked)
	}
	if err := r.SetStatus(Status{State: StateRunning}); err != nil {
		t.Fatal(err)
	}
	var st Status
	if err := r.ReadJSON(StatusFile, &st); err != nil {
		t.Fatal(err)
	}
	if st.State != StateInterrupted || st.Step != 5 || st.Epoch != 1 || st.Checkpoint != ckpt || st.Reason != "stopped at once" {
		t.Errorf("status %+v", st)
	}
}
