package rundir

// The checkpoint's checksum covers the whole file, header included (issue 18 item 1): a
// changed offset, step or variable name is refused, naming the file; checkpoints written
// in format v1 (before the header was covered) still load, flagged as such.

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/gomlx/gomlx/pkg/ml/context"
)

// tamper rewrites the first occurrence of old by new in the file at path.
func tamper(t *testing.T, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(old)) {
		t.Fatalf("%s holds no %q", path, old)
	}
	if err := os.WriteFile(path, bytes.Replace(data, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

// The filer's three reproductions: a shifted offset (loads shifted weights), an earlier
// step (resume trains an extra epoch), a renamed variable (resume re-initialises it).
func TestCheckpointHeaderCoveredByChecksum(t *testing.T) {
	for _, c := range []struct{ name, old, new string }{
		{"offset", `"offset":16`, `"offset":20`},
		{"step", `"step":42`, `"step":41`},
		{"epoch in the state", `"epoch":3`, `"epoch":2`},
		{"variable name", `"name":"weights"`, `"name":"weighus"`},
		{"trainable flag", `"trainable":false`, `"trainable":true `},
	} {
		t.Run(c.name, func(t *testing.T) {
			path, err := SaveCheckpoint(testContext(), t.TempDir(), 42, map[string]int{"epoch": 3}, 0)
			if err != nil {
				t.Fatal(err)
			}
			tamper(t, path, c.old, c.new)
			_, err = ReadCheckpoint(path)
			if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "checksum") {
				t.Fatalf("a checkpoint with a changed %s must be refused naming the file and the checksum; got %v", c.name, err)
			}
			if _, _, err := LatestCheckpoint(filepath.Dir(path)); err == nil {
				t.Error("LatestCheckpoint took the tampered checkpoint")
			}
		})
	}
}

// A checkpoint written in format v1 (testdata/format-v1, written by the code before the
// header was covered) still loads, flagged as v1; its header's layout is still checked
// (variables are stored back to back), so a shifted offset is refused there too.
func TestCheckpointFormatV1StillLoads(t *testing.T) {
	v1 := filepath.Join("testdata", "format-v1", "ckpt-000000042.ckpt")
	c, err := ReadCheckpoint(v1)
	if err != nil {
		t.Fatal(err)
	}
	if c.Format != 1 || c.Step != 42 || len(c.Variables) != 3 {
		t.Fatalf("format %d step %d, %d variables", c.Format, c.Step, len(c.Variables))
	}
	ctx := context.New()
	if err := c.Restore(ctx, RestoreOptions{}); err != nil {
		t.Fatal(err)
	}
	want, err := SaveCheckpoint(testContext(), t.TempDir(), 42, map[string]int{"batch": 5, "epoch": 3}, 0)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := ReadCheckpoint(want)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Format != 2 {
		t.Errorf("new checkpoints are written in format %d, want 2", c2.Format)
	}
	if d := c.DifferentValues(c2); len(d) > 0 {
		t.Errorf("the v1 checkpoint's values differ from the same context saved now: %v", d)
	}
	shifted := filepath.Join(t.TempDir(), "ckpt-000000042.ckpt")
	data, _ := os.ReadFile(v1)
	os.WriteFile(shifted, data, 0o644)
	tamper(t, shifted, `"offset":16`, `"offset":20`)
	if _, err := ReadCheckpoint(shifted); err == nil || !strings.Contains(err.Error(), shifted) {
		t.Errorf("a v1 checkpoint with a shifted offset must be refused: %v", err)
	}
}

// Flipping any single bit of a checkpoint makes it unreadable: an exhaustive pass over a
// small file.
func TestCheckpointEveryBitFlipRefused(t *testing.T) {
	orig := flipBase(t)
	for i := range orig {
		for bit := range 8 {
			data := bytes.Clone(orig)
			data[i] ^= 1 << bit
			if _, err := parseCheckpoint("flip.ckpt", data); err == nil {
				t.Fatalf("byte %d bit %d flipped: the checkpoint still reads", i, bit)
			}
		}
	}
}

var flipOnce struct {
	sync.Once
	data []byte
	err  error
}

// flipBase is the checkpoint the flip tests mutate: the test context at step 42.
func flipBase(t testing.TB) []byte {
	flipOnce.Do(func() {
		dir, err := os.MkdirTemp("", "flipbase")
		if err != nil {
			flipOnce.err = err
			return
		}
		defer os.RemoveAll(dir)
		path, err := SaveCheckpoint(testContext(), dir, 42, map[string]int{"epoch": 3, "batch": 5}, 0)
		if err == nil {
			flipOnce.data, err = os.ReadFile(path)
		}
		flipOnce.err = err
	})
	if flipOnce.err != nil {
		t.Fatal(flipOnce.err)
	}
	return flipOnce.data
}

// FuzzCheckpointByteFlips changes random bytes anywhere in a checkpoint (each 5 bytes of
// the input: a position and a value XORed there) and asserts that the result is either
// refused or loads exactly the original: same step, state, variables and bit-identical
// values.
func FuzzCheckpointByteFlips(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 1})
	f.Add([]byte{20, 0, 0, 0, 0x20, 200, 0, 0, 0, 4})
	f.Add([]byte{0xff, 0xff, 0, 0, 0x80})
	f.Fuzz(func(t *testing.T, flips []byte) {
		orig := flipBase(t)
		data := bytes.Clone(orig)
		for i := 0; i+5 <= len(flips); i += 5 {
			pos := int(binary.LittleEndian.Uint32(flips[i:]) % uint32(len(data)))
			data[pos] ^= flips[i+4]
		}
		c, err := parseCheckpoint("fuzz/ckpt-000000042.ckpt", data)
		if err != nil {
			if !strings.Contains(err.Error(), "fuzz/ckpt-000000042.ckpt") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		want, err := parseCheckpoint("orig", orig)
		if err != nil {
			t.Fatal(err)
		}
		if c.Step != want.Step || !bytes.Equal(c.State, want.State) || len(c.Variables) != len(want.Variables) {
			t.Fatalf("a changed checkpoint loaded with step %d state %s, want %d %s", c.Step, c.State, want.Step, want.State)
		}
		for i, v := range c.Variables {
			w := want.Variables[i]
			if v.Key() != w.Key() || v.Trainable != w.Trainable {
				t.Fatalf("a changed checkpoint loaded variable %s (trainable %v), want %s (%v)", v.Key(), v.Trainable, w.Key(), w.Trainable)
			}
		}
		if d := c.DifferentValues(want); len(d) > 0 {
			t.Fatalf("a changed checkpoint loaded other values for %v", d)
		}
	})
}
