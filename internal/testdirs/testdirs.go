// Package testdirs locates the shared test data (../shared next to the repository) for
// tests, honouring the environment overrides CI and developers use.
package testdirs

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// RepoRoot returns the directory holding go.mod, walking up from the working directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := FindRepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// FindRepoRoot is RepoRoot for callers that handle the error themselves.
func FindRepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("testdirs: no go.mod above the working directory")
		}
		dir = parent
	}
}

// Shared returns a path under the shared folder next to the repository
// (<repo>/../shared/<elem...>).
func Shared(t testing.TB, elem ...string) string {
	t.Helper()
	return filepath.Join(append([]string{RepoRoot(t), "..", "shared"}, elem...)...)
}

// CIFAR10 returns the CIFAR-10 folder: $ACL_CIFAR10_DIR, or ../shared/datasets/cifar-10.
// The test fails if the folder does not exist.
func CIFAR10(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("ACL_CIFAR10_DIR")
	if dir == "" {
		dir = Shared(t, "datasets", "cifar-10")
	}
	if _, err := os.Stat(filepath.Join(dir, "data_batch_1.bin")); err != nil {
		t.Fatalf("CIFAR-10 test data not found in %s (set ACL_CIFAR10_DIR): %v", dir, err)
	}
	return dir
}

// PseudoLabels returns the AdvCL pseudo-label folder for dataset ("cifar-10" or
// "cifar-100"): $ACL_PSEUDO_LABELS_DIR/<dataset>, or ../shared/datasets/advcl-pseudo-labels/<dataset>.
func PseudoLabels(t testing.TB, dataset string) string {
	t.Helper()
	root := os.Getenv("ACL_PSEUDO_LABELS_DIR")
	if root == "" {
		root = Shared(t, "datasets", "advcl-pseudo-labels")
	}
	return filepath.Join(root, dataset)
}
