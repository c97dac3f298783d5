package rundir

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Dir is a run directory: it records one run completely, so that tables and notebooks can
// be built from run directories alone:
//
//	config.json      the fully resolved configuration (every hyperparameter, scale, seed)
//	provenance.json  git commit, backend and device, Go version, host, command, start/end
//	metrics.jsonl    one JSON object per logged step or epoch
//	status.json      running | done | failed, with the reason (e.g. NaN loss at step N)
//	checkpoints/     atomic checkpoints (see SaveCheckpoint), the newest resumable
//	results/         evaluation results written by later stages (finetune, eval)
type Dir struct {
	// Path is the run directory.
	Path string

	mu      sync.Mutex
	metrics *os.File
	lock    *os.File
	// writer is set by Create; dirInfo is the folder as Create found it, so that a folder
	// deleted or replaced while the run writes is noticed (Check).
	writer  bool
	dirInfo os.FileInfo
	// statusMu orders status writes; last is the status this process wrote last (nil:
	// none); frozen is set once InterruptWriters wrote the final status of a process that
	// is about to exit, and stops any later one.
	statusMu sync.Mutex
	last     *Status
	frozen   bool
}

// Run-directory file and folder names (a run directory written by any version of goacl
// uses them).
const (
	ConfigFile     = "config.json"
	ProvenanceFile = "provenance.json"
	MetricsFile    = "metrics.jsonl"
	StatusFile     = "status.json"
	CheckpointsDir = "checkpoints"
	ResultsDir     = "results"
)

// Create prepares path as a run directory for writing: it creates the folder,
// checks that it is writable by writing, syncing and removing a probe file (so that an
// unwritable or full output folder is reported before any training), takes the folder's
// writer lock (so that two processes never write the same run; the kernel releases it
// when the process dies, even by SIGKILL), removes the temporary files of writes a
// killed process left half done, and opens the metrics log for appending.
func Create(path string) (*Dir, error) {
	if path == "" {
		return nil, errors.New("run directory: empty path")
	}
	if err := os.MkdirAll(filepath.Join(path, CheckpointsDir), 0o755); err != nil {
		return nil, fmt.Errorf("run directory %s: cannot create it: %w", path, err)
	}
	if err := writeProbe(filepath.Join(path, writeProbeFile)); err != nil {
		return nil, fmt.Errorf("run directory %s is not writable (or the disk is full): %w", path, err)
	}
	lock, err := lockRunDir(path)
	if err != nil {
		return nil, err
	}
	for _, dir := range []string{path, filepath.Join(path, CheckpointsDir)} {
		removeStaleTemps(dir)
	}
	info, err := os.Stat(path)
	if err != nil {
		unlockRunDir(lock)
		return nil, fmt.Errorf("run directory %s: %w", path, err)
	}
	r := &Dir{Path: path, lock: lock, writer: true, dirInfo: info}
	if err := r.openMetrics(); err != nil {
		unlockRunDir(lock)
		return nil, err
	}
	registerWriter(r)
	return r, nil
}

// writeProbeFile is the file Create writes to test that the folder is writable.
const writeProbeFile = ".write-probe"

// runLockFile is the file of a run directory whose flock marks its one writer (Unix).
const runLockFile = ".lock"

// openMetrics opens the metrics log for appending (creating it).
func (r *Dir) openMetrics() error {
	f, err := os.OpenFile(r.File(MetricsFile), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("run directory %s: %w", r.Path, err)
	}
	r.metrics = f
	return nil
}

// writeProbe writes 64 KiB to path, syncs and removes it.
func writeProbe(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(make([]byte, 64<<10))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	_ = os.Remove(path)
	return err
}

// CheckWritable checks that the folder sub of the run directory (created if missing) can be
// written, by writing, syncing and removing a probe file: an evaluation checks where its
// result goes before it runs, not after.
func (r *Dir) CheckWritable(sub string) error {
	dir := r.File(sub)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("%s: cannot create it: %w", dir, err)
	}
	if err := writeProbe(filepath.Join(dir, writeProbeFile)); err != nil {
		return fmt.Errorf("%s is not writable (or the disk is full): %w", dir, err)
	}
	return nil
}

// removeStaleTemps removes the temporary files writeFileAtomic leaves behind when its
// process is killed mid-write (".<name>.tmp-*"); only called with the writer lock held.
func removeStaleTemps(dir string) {
	paths, _ := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	for _, p := range paths {
		_ = os.Remove(p)
	}
}

// Open opens an existing run directory for reading (tables, finetuning).
func Open(path string) (*Dir, error) {
	if _, err := os.Stat(filepath.Join(path, ConfigFile)); err != nil {
		return nil, fmt.Errorf("%s is not a run directory (no %s): %w", path, ConfigFile, err)
	}
	return &Dir{Path: path}, nil
}

// Close closes the metrics log and releases the writer lock.
func (r *Dir) Close() error {
	unregisterWriter(r)
	r.mu.Lock()
	defer r.mu.Unlock()
	unlockRunDir(r.lock)
	r.lock = nil
	if r.metrics == nil {
		return nil
	}
	err := r.metrics.Close()
	r.metrics = nil
	return err
}

// File returns the path of name inside the run directory.
func (r *Dir) File(name ...string) string {
	return filepath.Join(append([]string{r.Path}, name...)...)
}

// WriteJSON writes v as indented JSON to name inside the run directory, atomically. A
// writer (Create) first checks that its folder and lock are still those it locked (Check).
func (r *Dir) WriteJSON(name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	r.mu.Lock()
	err = r.checkLocked(false)
	r.mu.Unlock()
	if err != nil {
		return err
	}
	path := r.File(name)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return writeFileAtomic(path, func(w io.Writer) error {
		_, err := w.Write(append(data, '\n'))
		return err
	})
}

// ReadJSON reads name inside the run directory into v.
func (r *Dir) ReadJSON(name string, v any) error {
	data, err := os.ReadFile(r.File(name))
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("%s: %w", r.File(name), err)
	}
	return nil
}

// LogMetrics appends one record to metrics.jsonl and syncs it, after checking that the
// folder and the log are still those the run opened (Check).
func (r *Dir) LogMetrics(record any) error {
	data, err := json.Marshal(record)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.metrics == nil {
		return fmt.Errorf("run directory %s: metrics log is not open", r.Path)
	}
	if err := r.checkLocked(true); err != nil {
		return err
	}
	if _, err := r.metrics.Write(append(data, '\n')); err != nil {
		return fmt.Errorf("%s: %w", r.File(MetricsFile), err)
	}
	return r.metrics.Sync()
}

// TruncateMetrics drops metric records whose "step" is greater than step, so that a
// resumed run does not log the steps after its checkpoint twice.
func (r *Dir) TruncateMetrics(step int64) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	path := r.File(MetricsFile)
	data, err := os.ReadFile(path)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	var kept []byte
	for _, line := range strings.SplitAfter(string(data), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		var rec struct {
			Step *int64 `json:"step"`
		}
		if json.Unmarshal([]byte(line), &rec) != nil {
			continue // a line torn by a kill: drop it
		}
		if rec.Step != nil && *rec.Step > step {
			continue
		}
		if !strings.HasSuffix(line, "\n") {
			line += "\n"
		}
		kept = append(kept, line...)
	}
	if r.metrics != nil {
		r.metrics.Close()
	}
	if err := writeFileAtomic(path, func(w io.Writer) error { _, err := w.Write(kept); return err }); err != nil {
		return err
	}
	r.metrics, err = os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o644)
	return err
}

// ReadMetrics returns every record of metrics.jsonl as a generic map.
func (r *Dir) ReadMetrics() ([]map[string]any, error) {
	f, err := os.Open(r.File(MetricsFile))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for sc.Scan() {
		var m map[string]any
		if json.Unmarshal(sc.Bytes(), &m) == nil {
			out = append(out, m)
		}
	}
	return out, sc.Err()
}

// SetStatus writes status.json (nothing once InterruptWriters wrote the final status of
// this process).
func (r *Dir) SetStatus(s Status) error {
	r.statusMu.Lock()
	defer r.statusMu.Unlock()
	return r.writeStatusLocked(s)
}

// writeStatusLocked is SetStatus with r.statusMu held.
func (r *Dir) writeStatusLocked(s Status) error {
	if r.frozen {
		return nil
	}
	s.Updated = time.Now().UTC()
	if err := r.WriteJSON(StatusFile, s); err != nil {
		return err
	}
	r.last = &s
	return nil
}

// FinalLoss returns the last "loss" logged in metrics.jsonl as a number (a training
// run's final loss; records whose loss is not a finite number, such as the record of a
// step that went NaN, are passed over).
func (r *Dir) FinalLoss() (float64, error) {
	recs, err := r.ReadMetrics()
	if err != nil {
		return 0, err
	}
	for i := len(recs) - 1; i >= 0; i-- {
		if v, ok := recs[i]["loss"].(float64); ok {
			return v, nil
		}
	}
	return math.NaN(), fmt.Errorf("run %s: no loss logged in %s", r.Path, MetricsFile)
}
