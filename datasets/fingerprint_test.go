package datasets

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The fingerprint depends on the files' content only: a folder of links to the same files
// has the same one, one changed byte another; a missing file is an error naming it.
func TestFingerprint(t *testing.T) {
	src := cifar10Dir(t)
	want, err := Fingerprint(CIFAR10, src)
	if err != nil || !strings.HasPrefix(want, "sha256:") {
		t.Fatalf("%q, %v", want, err)
	}
	dir := t.TempDir()
	for _, f := range append(append([]string{}, cifar10TrainFiles...), cifar10TestFile) {
		if err := os.Symlink(filepath.Join(src, f), filepath.Join(dir, f)); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := Fingerprint(CIFAR10, dir); err != nil || got != want {
		t.Errorf("links to the same files: %q, %v; want %q", got, err, want)
	}
	test := filepath.Join(dir, cifar10TestFile)
	data, err := os.ReadFile(test)
	if err != nil {
		t.Fatal(err)
	}
	data[12345] ^= 1
	os.Remove(test)
	if err := os.WriteFile(test, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if got, err := Fingerprint(CIFAR10, dir); err != nil || got == want {
		t.Errorf("one changed byte: %q, %v", got, err)
	}
	os.Remove(test)
	if _, err := Fingerprint(CIFAR10, dir); err == nil || !strings.Contains(err.Error(), test) {
		t.Errorf("a missing file: %v", err)
	}
}
