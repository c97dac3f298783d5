package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cifar10Dir returns $ACL_CIFAR10_DIR or ../shared/datasets/cifar-10 next to the
// repository root (the folder holding go.mod), skipping the test if it is absent.
func cifar10Dir(t *testing.T) string {
	t.Helper()
	if dir := os.Getenv("ACL_CIFAR10_DIR"); dir != "" {
		return dir
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		if filepath.Dir(dir) == dir {
			t.Fatal("go.mod not found")
		}
		dir = filepath.Dir(dir)
	}
	dir = filepath.Join(dir, "..", "shared", "datasets", "cifar-10")
	if _, err := os.Stat(filepath.Join(dir, "data_batch_1.bin")); err != nil {
		t.Skipf("CIFAR-10 not available: %v", err)
	}
	return dir
}

func TestDataVerifyCIFAR10(t *testing.T) {
	dir := cifar10Dir(t)
	var out, errOut bytes.Buffer
	if code := runDataTo([]string{"verify", "-dataset", "cifar10", "-dir", dir}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errOut.String())
	}
	s := out.String()
	for _, want := range []string{"train: 50000 images", "test: 10000 images", "OK: cifar10"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	if strings.Count(s, " 5000\n") != 10 || strings.Count(s, " 1000\n") != 10 {
		t.Errorf("per-class counts:\n%s", s)
	}
}

func TestDataVerifyTruncated(t *testing.T) {
	src := cifar10Dir(t)
	dir := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		abs, _ := filepath.Abs(filepath.Join(src, e.Name()))
		if e.Name() == "data_batch_2.bin" {
			data, err := os.ReadFile(abs)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, e.Name()), data[:len(data)/2], 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.Symlink(abs, filepath.Join(dir, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	var out, errOut bytes.Buffer
	code := runDataTo([]string{"verify", "-dataset", "cifar10", "-dir", dir}, &out, &errOut)
	if code == 0 {
		t.Fatalf("truncated file accepted:\n%s", out.String())
	}
	for _, want := range []string{filepath.Join(dir, "data_batch_2.bin"), "truncated", "expected 30730000 bytes", "got 15365000"} {
		if !strings.Contains(errOut.String(), want) {
			t.Errorf("stderr lacks %q: %s", want, errOut.String())
		}
	}
}

func TestDataVerifyUsage(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := runDataTo([]string{"verify", "-dataset", "mnist", "-dir", "x"}, &out, &errOut); code == 0 ||
		!strings.Contains(errOut.String(), "-dataset") || !strings.Contains(errOut.String(), "cifar10|cifar100|stl10") {
		t.Errorf("unknown data set: exit %d, %q", code, errOut.String())
	}
	errOut.Reset()
	if code := runDataTo([]string{"verify", "-dataset", "cifar10"}, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), "-dir is required") {
		t.Errorf("missing -dir: exit %d, %q", code, errOut.String())
	}
	errOut.Reset()
	if code := runDataTo([]string{"fetch"}, &out, &errOut); code == 0 || !strings.Contains(errOut.String(), "unknown subcommand") {
		t.Errorf("unknown subcommand: exit %d, %q", code, errOut.String())
	}
	errOut.Reset()
	missing := filepath.Join(t.TempDir(), "none")
	if code := runDataTo([]string{"verify", "-dataset", "stl10", "-dir", missing}, &out, &errOut); code != 1 || !strings.Contains(errOut.String(), missing) {
		t.Errorf("missing folder: exit %d, %q", code, errOut.String())
	}
	if code := runDataTo(nil, &out, &errOut); code == 0 {
		t.Error("no subcommand accepted")
	}
}
