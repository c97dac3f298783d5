package datasets

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestVerifyCIFAR10(t *testing.T) {
	dir := cifar10Dir(t)
	var out bytes.Buffer
	if err := Verify(CIFAR10, dir, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{
		"train: 50000 images of 32x32x3, 10 classes", "test: 10000 images of 32x32x3, 10 classes",
		"md5 5dd7e06a14cb22eb9f671a540d1b7c25 ok", "md5 803d5f7f4d78ea53de84dbe85f74fb6d ok",
		"airplane", "5000", "1000", "OK: cifar10",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("report lacks %q:\n%s", want, s)
		}
	}
	if strings.Count(s, "  5000\n") != 10 || strings.Count(s, "  1000\n") != 10 {
		t.Errorf("per-class counts:\n%s", s)
	}
}

// linkCIFAR10 makes a copy of the CIFAR-10 folder in which every file but replaced is a
// symbolic link to the real one; replaced is written with data.
func linkCIFAR10(t *testing.T, replaced string, data []byte) string {
	t.Helper()
	src := cifar10Dir(t)
	dir := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == replaced {
			continue
		}
		abs, _ := filepath.Abs(filepath.Join(src, e.Name()))
		if err := os.Symlink(abs, filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	if data != nil {
		writeTestFile(t, dir, replaced, data)
	}
	return dir
}

func TestVerifyCIFAR10Problems(t *testing.T) {
	src := cifar10Dir(t)
	orig, err := os.ReadFile(filepath.Join(src, "data_batch_3.bin"))
	if err != nil {
		t.Fatal(err)
	}
	// Truncated file.
	dir := linkCIFAR10(t, "data_batch_3.bin", orig[:len(orig)-3073])
	err = Verify(CIFAR10, dir, &bytes.Buffer{})
	wantErrContains(t, err, filepath.Join(dir, "data_batch_3.bin"), "truncated", "expected 30730000 bytes", "got 30726927")
	// One changed pixel: the md5 catches it.
	changed := bytes.Clone(orig)
	changed[100]++
	dir = linkCIFAR10(t, "data_batch_3.bin", changed)
	err = Verify(CIFAR10, dir, &bytes.Buffer{})
	wantErrContains(t, err, filepath.Join(dir, "data_batch_3.bin"), "md5 mismatch", "942cd6a4bcdd0dd3c604fbe906cb4421")
	// Missing file.
	dir = linkCIFAR10(t, "test_batch.bin", nil)
	err = Verify(CIFAR10, dir, &bytes.Buffer{})
	wantErrContains(t, err, filepath.Join(dir, "test_batch.bin"), "missing file", "tar xzf")
	// Malformed class names.
	dir = linkCIFAR10(t, "batches.meta.txt", []byte("cat\ndog\n"))
	err = Verify(CIFAR10, dir, &bytes.Buffer{})
	wantErrContains(t, err, "batches.meta.txt", "expected 10 class names (one per line), got 2")

	if err := Verify("imagenet", dir, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "cifar10, cifar100, stl10") {
		t.Errorf("unknown data set: %v", err)
	}
}

func TestVerifySmallCIFAR100AndSTL10(t *testing.T) {
	var out bytes.Buffer
	dir := writeCIFAR100(t, 6, 2)
	if err := verify(CIFAR100, dir, &out, splitCounts{6, 2}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "train: 6 images of 32x32x3, 100 classes") || !strings.Contains(out.String(), "size ok") {
		t.Errorf("report:\n%s", out.String())
	}
	// The official sizes reject the small files, naming the file.
	wantErrContains(t, Verify(CIFAR100, dir, &bytes.Buffer{}), filepath.Join(dir, "train.bin"), "expected 153700000 bytes")

	out.Reset()
	dir = writeSTL10(t, 4, 3)
	if err := verify(STL10, dir, &out, splitCounts{4, 3}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "test: 3 images of 96x96x3") || !strings.Contains(out.String(), "unlabeled_X.bin  absent (optional)") {
		t.Errorf("report:\n%s", out.String())
	}
	writeTestFile(t, dir, "unlabeled_X.bin", []byte{1, 2, 3})
	wantErrContains(t, verify(STL10, dir, &bytes.Buffer{}, splitCounts{4, 3}), "unlabeled_X.bin", "truncated", "got 3")
	os.Remove(filepath.Join(dir, "unlabeled_X.bin"))
	writeTestFile(t, dir, "test_y.bin", []byte{1, 2, 12})
	wantErrContains(t, verify(STL10, dir, &bytes.Buffer{}, splitCounts{4, 3}), "test_y.bin", "record 2", "label 12")

	missing := filepath.Join(t.TempDir(), "none")
	wantErrContains(t, Verify(STL10, missing, &bytes.Buffer{}), missing, "stl10_binary.tar.gz")
}
