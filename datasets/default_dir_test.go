package datasets

import (
	"os"
	"path/filepath"
	"testing"
)

// The default folder is the environment variable's, else a non-empty
// ../shared/datasets/<folder> next to the given folder, else the user's cache.
func TestDefaultDir(t *testing.T) {
	root := t.TempDir()
	repo := filepath.Join(root, "repo")
	cache := filepath.Join(root, "cache")
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_CACHE_HOME", cache)
	t.Setenv("HOME", root)
	t.Setenv(DirEnv(CIFAR10), "")
	if got := DirEnv(CIFAR10); got != "ACL_CIFAR10_DIR" {
		t.Errorf("DirEnv(cifar10) = %s", got)
	}
	dir, src := DefaultDir(CIFAR10, repo)
	wantCache, _ := os.UserCacheDir()
	if src != FromCache || dir != filepath.Join(wantCache, "goacl", "datasets", "cifar-10") {
		t.Errorf("no shared folder: %s (%s), want the user cache %s/goacl/datasets/cifar-10", dir, src, wantCache)
	}
	// An empty shared folder does not count; one holding files does.
	shared := filepath.Join(root, "shared", "datasets", "cifar-10")
	if err := os.MkdirAll(shared, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, src := DefaultDir(CIFAR10, repo); src != FromCache {
		t.Errorf("empty shared folder used (%s)", src)
	}
	if err := os.WriteFile(filepath.Join(shared, "data_batch_1.bin"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if dir, src := DefaultDir(CIFAR10, repo); src != FromShared || dir != shared {
		t.Errorf("shared folder with files: %s (%s), want %s", dir, src, shared)
	}
	if _, src := DefaultDir(CIFAR100, repo); src != FromCache {
		t.Errorf("cifar100 without a shared cifar-100 folder: %s, want the cache", src)
	}
	t.Setenv(DirEnv(CIFAR10), "somewhere/else")
	if dir, src := DefaultDir(CIFAR10, repo); src != FromEnv || !filepath.IsAbs(dir) || filepath.Base(dir) != "else" {
		t.Errorf("with ACL_CIFAR10_DIR: %s (%s), want its absolute path", dir, src)
	}
}
