package datasets

// Bad input gets a clear error naming the file and what was expected (docs/reliability.md).
// The record decoders and the .npy reader are also fuzzed (fuzz_test.go, seed corpus in
// testdata/fuzz); these cases use real-size files.

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// linkedCIFAR10 returns a folder of symbolic links to the real CIFAR-10 files, so that a
// case can replace one file by a damaged one.
func linkedCIFAR10(t *testing.T) string {
	t.Helper()
	src := cifar10Dir(t)
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

// replaceWithFile swaps dir/name's link for a regular file holding data.
func replaceWithFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	os.Remove(p)
	return writeTestFile(t, dir, name, data)
}

func TestReliabilityCIFAR10Files(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string) string // returns the file the error must name
		want   []string
	}{
		{"missing file", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "test_batch.bin")
			os.Remove(p)
			return p
		}, []string{"missing file", "cifar-10-binary.tar.gz", "tar xzf"}},
		{"truncated file", func(t *testing.T, dir string) string {
			data, err := os.ReadFile(filepath.Join(dir, "test_batch.bin"))
			if err != nil {
				t.Fatal(err)
			}
			return replaceWithFile(t, dir, "test_batch.bin", data[:len(data)-100])
		}, []string{"truncated", "expected 30730000 bytes (10000 records of 3073 bytes), got 30729900"}},
		{"wrong format: CIFAR-100 records", func(t *testing.T, dir string) string {
			// A CIFAR-100 test.bin (10,000 records of 2 label bytes + 3,072 pixels) put
			// where CIFAR-10's test_batch.bin belongs; a sparse file of that size.
			p := replaceWithFile(t, dir, "test_batch.bin", nil)
			if err := os.Truncate(p, 10000*3074); err != nil {
				t.Fatal(err)
			}
			return p
		}, []string{"wrong size", "expected 30730000 bytes (10000 records of 3073 bytes), got 30740000"}},
		{"folder instead of file", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "test_batch.bin")
			os.Remove(p)
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
			return p
		}, []string{"not a regular file"}},
		{"label out of range", func(t *testing.T, dir string) string {
			data, err := os.ReadFile(filepath.Join(dir, "test_batch.bin"))
			if err != nil {
				t.Fatal(err)
			}
			data[42*3073] = 200
			return replaceWithFile(t, dir, "test_batch.bin", data)
		}, []string{"record 42 (byte offset " + strconv.Itoa(42*3073) + ")", "label 200 out of range [0,10)"}},
		{"class-name file", func(t *testing.T, dir string) string {
			return replaceWithFile(t, dir, "batches.meta.txt", []byte("airplane\nautomobile\n"))
		}, []string{"expected 10 class names (one per line), got 2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := linkedCIFAR10(t)
			file := c.damage(t, dir)
			_, err := LoadCIFAR10Split(dir, Test)
			wantErrContains(t, err, append([]string{file}, c.want...)...)
		})
	}
}

func TestReliabilityPseudoLabelFiles(t *testing.T) {
	real := pseudoDir(t, "cifar-10")
	link := func(t *testing.T) string {
		dir := t.TempDir()
		for _, k := range PseudoLabelGranularities {
			name := "pseudo_train_" + strconv.Itoa(k) + ".npy"
			if err := os.Symlink(filepath.Join(real, name), filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	npyBytes := func(vals []int32) []byte {
		var b bytes.Buffer
		if err := WriteNPYInt32(&b, vals); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	cases := []struct {
		name   string
		damage func(t *testing.T, dir string) string
		want   []string
	}{
		{"wrong length: the test split's labels", func(t *testing.T, dir string) string {
			data, err := os.ReadFile(filepath.Join(real, "pseudo_test_50.npy"))
			if err != nil {
				t.Fatal(err)
			}
			return replaceWithFile(t, dir, "pseudo_train_50.npy", data)
		}, []string{"expected 50000 labels (one per train record), got 10000"}},
		{"truncated", func(t *testing.T, dir string) string {
			data, err := os.ReadFile(filepath.Join(real, "pseudo_train_10.npy"))
			if err != nil {
				t.Fatal(err)
			}
			return replaceWithFile(t, dir, "pseudo_train_10.npy", data[:len(data)-10])
		}, []string{"data truncated"}},
		{"label out of range", func(t *testing.T, dir string) string {
			vals := make([]int32, 50000)
			vals[123] = 2
			return replaceWithFile(t, dir, "pseudo_train_2.npy", npyBytes(vals))
		}, []string{"record 123", "label 2 out of range [0,2)"}},
		{"wrong dtype", func(t *testing.T, dir string) string {
			data := npyBytes(make([]int32, 50000))
			i := bytes.Index(data, []byte("<i4"))
			copy(data[i:], "<f4")
			return replaceWithFile(t, dir, "pseudo_train_100.npy", data)
		}, []string{`dtype "<f4"`}},
		{"not a .npy file", func(t *testing.T, dir string) string {
			return replaceWithFile(t, dir, "pseudo_train_500.npy", []byte("label\n0\n1\n"))
		}, []string{"bad magic"}},
		{"missing", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "pseudo_train_500.npy")
			os.Remove(p)
			return p
		}, []string{"no such file"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := link(t)
			file := c.damage(t, dir)
			_, err := LoadPseudoLabels(dir, Train)
			wantErrContains(t, err, append([]string{file}, c.want...)...)
		})
	}
}
