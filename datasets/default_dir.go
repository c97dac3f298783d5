package datasets

import (
	"os"
	"path/filepath"
	"strings"
)

// folderNames are the folders DefaultDir looks for and creates, by data set name.
var folderNames = map[string]string{CIFAR10: "cifar-10", CIFAR100: "cifar-100", STL10: "stl10"}

// DirEnv is the environment variable that names the folder of data set name, e.g.
// ACL_CIFAR10_DIR for cifar10 (the variable the tests and notebooks read too).
func DirEnv(name string) string {
	return "ACL_" + strings.ToUpper(name) + "_DIR"
}

// Where DefaultDir found a data set's folder (its second result).
const (
	// FromEnv: the data set's environment variable (DirEnv).
	FromEnv = "environment"
	// FromShared: ../shared/datasets/<folder> next to near, a development checkout's
	// shared data (CI and the team's machines), used only when it holds the data.
	FromShared = "shared"
	// FromCache: the user's cache, <os.UserCacheDir()>/goacl/datasets/<folder>, where a
	// missing data set is downloaded (Ensure).
	FromCache = "cache"
)

// DefaultDir returns the folder data set name is read from when none is given, and where
// it came from: the environment variable DirEnv(name) when set; else
// ../shared/datasets/<folder> next to near (the working directory when near is "") when
// that folder holds files, as in a development checkout; else the user's cache
// <os.UserCacheDir()>/goacl/datasets/<folder> (goacl-data/<folder> under the working
// directory when the system has no cache folder), into which Ensure downloads the official
// release with its checksum where the network allows. The path is absolute.
func DefaultDir(name, near string) (dir, source string) {
	folder, ok := folderNames[name]
	if !ok {
		folder = name
	}
	abs := func(p string) string {
		if a, err := filepath.Abs(p); err == nil {
			return a
		}
		return p
	}
	if v := os.Getenv(DirEnv(name)); v != "" {
		return abs(v), FromEnv
	}
	if near == "" {
		near = "."
	}
	shared := filepath.Join(near, "..", "shared", "datasets", folder)
	if entries, err := os.ReadDir(shared); err == nil && len(entries) > 0 {
		return abs(shared), FromShared
	}
	cache, err := os.UserCacheDir()
	if err != nil || cache == "" {
		return abs(filepath.Join("goacl-data", folder)), FromCache
	}
	return filepath.Join(cache, "goacl", "datasets", folder), FromCache
}
