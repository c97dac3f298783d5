package pretrain

import (
	gocontext "context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/internal/testdirs"
)

// linkCIFAR10 makes a CIFAR-10 folder of symbolic links to the real files, so a test can
// replace one of them with a damaged copy.
func linkCIFAR10(t *testing.T) string {
	t.Helper()
	src := testdirs.CIFAR10(t)
	dir := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if err := os.Symlink(filepath.Join(src, e.Name()), filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Missing, truncated or corrupted training files stop Pretrain before the run directory
// exists, with an error naming the file and what was expected.
func TestReliabilityBadDataRejectedBeforeWork(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string) string // returns the damaged file
		want   []string
	}{
		{"missing file", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "data_batch_5.bin")
			os.Remove(p)
			return p
		}, []string{"data_dir", "missing", "tar xzf"}},
		{"truncated file", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "data_batch_3.bin")
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			os.Remove(p)
			if err := os.WriteFile(p, data[:1000], 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}, []string{"truncated", "expected 30730000 bytes (10000 records of 3073 bytes), got 1000"}},
		{"label out of range", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "data_batch_1.bin")
			data, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			data[7*3073] = 10
			os.Remove(p)
			if err := os.WriteFile(p, data, 0o644); err != nil {
				t.Fatal(err)
			}
			return p
		}, []string{"record 7", "label 10 out of range [0,10)"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := linkCIFAR10(t)
			file := c.damage(t, dir)
			cfg := tinyConfig(t, "ip")
			cfg.DataDir = dir
			out := filepath.Join(t.TempDir(), "run")
			_, err := Pretrain(gocontext.Background(), cfg, out, Options{Backend: testBackend(t)})
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range append([]string{file}, c.want...) {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if _, serr := os.Stat(out); serr == nil {
				t.Error("the run directory was created")
			}
		})
	}
}
