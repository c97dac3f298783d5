package rundir

// Reliability of run directories and checkpoints: nothing lost, nothing silent. Each test
// proves one guarantee of docs/reliability.md (unwritable output folders, one writer per
// run, torn writes, damaged checkpoints).

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/gomlx/gomlx/pkg/ml/context"
)

// An output folder that cannot be created or written, or a full disk, is reported by
// Create, which Pretrain calls before it builds or trains anything. Tests run as
// root, which file modes do not stop, so "unwritable" is a path under a regular file and
// one under /proc, and "full" is the probe file pointing to /dev/full (ENOSPC on write).
func TestReliabilityUnwritableOutput(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plain-file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	underFile := filepath.Join(file, "run")
	if _, err := Create(underFile); err == nil || !strings.Contains(err.Error(), "run directory "+underFile+": cannot create it") ||
		!errors.Is(err, syscall.ENOTDIR) {
		t.Errorf("out under a regular file: %v", err)
	}
	if _, err := Create("/proc/goacl-reliability/run"); err == nil || !strings.Contains(err.Error(), "cannot create it") {
		t.Errorf("out under /proc: %v", err)
	}
	if _, err := os.Stat("/dev/full"); err == nil {
		full := t.TempDir()
		if err := os.Symlink("/dev/full", filepath.Join(full, ".write-probe")); err != nil {
			t.Fatal(err)
		}
		if _, err := Create(full); err == nil || !strings.Contains(err.Error(), "not writable (or the disk is full)") || !errors.Is(err, syscall.ENOSPC) {
			t.Errorf("full disk: %v", err)
		}
	} else {
		t.Log("no /dev/full: the full-disk probe case is not run")
	}
}

// One writer per run directory: a second Create on the same folder fails naming the
// holder until the first is closed. (After a SIGKILL the kernel drops the lock: see the
// resume legs of cmd/acl's kill test.)
func TestReliabilityRunDirLock(t *testing.T) {
	dir := t.TempDir()
	first, err := Create(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Create(dir); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("in use by another writer (pid %d)", os.Getpid())) {
		t.Errorf("second writer: %v", err)
	}
	first.Close()
	again, err := Create(dir)
	if err != nil {
		t.Fatalf("after Close: %v", err)
	}
	again.Close()
}

// A write that fails half way (a full disk, a kill) leaves the previous file intact and no
// temporary file behind; temporary files a killed process left are removed when the run
// directory is opened again, and never taken for checkpoints.
func TestReliabilityTornWrites(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "status.json")
	if err := writeFileAtomic(path, func(w io.Writer) error { _, err := w.Write([]byte("old\n")); return err }); err != nil {
		t.Fatal(err)
	}
	err := writeFileAtomic(path, func(w io.Writer) error {
		w.Write(bytes.Repeat([]byte("new"), 1<<20))
		return syscall.ENOSPC
	})
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("want the write error, got %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != "old\n" {
		t.Errorf("the previous content was lost: %q", truncate(string(data), 20))
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}

	// What a kill during writeFileAtomic leaves: a temporary file next to the target.
	run := t.TempDir()
	ctx := testContext()
	good, err := SaveCheckpoint(ctx, filepath.Join(run, CheckpointsDir), 1, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(good)
	stale := []string{filepath.Join(run, CheckpointsDir, ".ckpt-000000002.ckpt.tmp-12345"), filepath.Join(run, ".status.json.tmp-678")}
	for _, p := range stale {
		if err := os.WriteFile(p, data[:len(data)/2], 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if c, skipped, err := LatestCheckpoint(filepath.Join(run, CheckpointsDir)); err != nil || c.Step != 1 || len(skipped) > 0 {
		t.Errorf("a half-written temporary file must be ignored: %v %v", skipped, err)
	}
	r, err := Create(run)
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	for _, p := range stale {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("stale temporary file %s not removed", p)
		}
	}
	if st, err := os.Stat(good); err != nil || st.Mode().Perm() != 0o644 {
		t.Errorf("checkpoint %s: %v (mode %v, want 0644)", good, err, st.Mode().Perm())
	}
}

// The checkpoint reader never panics: any file gives an error or a checkpoint whose every
// variable converts to a tensor and restores into a fresh context. fixSum rewrites the
// checksums (v1: the data's; v2: the whole file's) so that the fuzzer gets past them to the
// variable table.
func FuzzReadCheckpoint(f *testing.F) {
	seedDir := f.TempDir()
	path, err := SaveCheckpoint(testContext(), seedDir, 7, map[string]int{"epoch": 1}, 0)
	if err != nil {
		f.Fatal(err)
	}
	valid, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid, false)
	f.Add(valid[:len(valid)-5], true)
	negDim := "{\"step\":1,\"variables\":[{\"scope\":\"/a\",\"name\":\"w\",\"dtype\":\"Float32\",\"dims\":[-1],\"offset\":0,\"size\":4}]}\n\x00\x00\x00\x00"
	f.Add([]byte(CheckpointMagicV1+"\n"+negDim), true)
	f.Add([]byte(CheckpointMagic+"\n"+checkpointSumPrefix+"0\n"+negDim), true)
	f.Fuzz(func(t *testing.T, data []byte, fixSum bool) {
		if fixSum {
			data = fixCheckpointSum(data)
		}
		const p = "fuzz/ckpt-000000001.ckpt"
		c, err := parseCheckpoint(p, data)
		if err != nil {
			if !strings.Contains(err.Error(), p) {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		for _, v := range c.Variables {
			tt, err := c.Tensor(v)
			if err != nil {
				t.Fatalf("verified checkpoint, but variable %s: %v", v.Key(), err)
			}
			if int64(tt.Shape().Memory()) != v.Size {
				t.Fatalf("variable %s: %d bytes for %s", v.Key(), v.Size, tt.Shape())
			}
		}
		_ = c.Restore(context.New().Checked(false), RestoreOptions{})
	})
}

// fixCheckpointSum replaces the checksums of a checkpoint file by the right ones, when its
// header is a JSON object: the data's in the header (format v1) and, in format v2, the
// whole-file digest line.
func fixCheckpointSum(data []byte) []byte {
	magic, rest, ok := bytes.Cut(data, []byte("\n"))
	if !ok {
		return data
	}
	v2 := string(magic) == CheckpointMagic
	if v2 {
		if _, rest, ok = bytes.Cut(rest, []byte("\n")); !ok {
			return data
		}
	}
	header, blob, ok := bytes.Cut(rest, []byte("\n"))
	if !ok {
		return data
	}
	var h map[string]any
	if json.Unmarshal(header, &h) != nil || h == nil {
		return data
	}
	if !v2 {
		sum := sha256.Sum256(blob)
		h["blob_sha256"] = hex.EncodeToString(sum[:])
	}
	fixed, err := json.Marshal(h)
	if err != nil {
		return data
	}
	covered := slices.Concat(fixed, []byte("\n"), blob)
	if !v2 {
		return slices.Concat(magic, []byte("\n"), covered)
	}
	sum := sha256.Sum256(covered)
	return slices.Concat(magic, []byte("\n"+checkpointSumPrefix+hex.EncodeToString(sum[:])+"\n"), covered)
}
