package datasets

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Fingerprint returns "sha256:<hex>", a digest of the data files of the named data set in
// dir (every split's image and label files, the list Verify checks, optional files left
// out): each file's name, size and SHA-256. Two folders with the same fingerprint hold the
// same images and labels, wherever they are; a run records its training data's so that
// later stages read the same files. Digests are cached per file (path, size, modification
// time) for the process's lifetime: ≈ 0.2 s per 180 MB the first time.
func Fingerprint(name, dir string) (string, error) {
	counts, ok := officialCounts[name]
	if !ok {
		return "", unknownDatasetError(name)
	}
	h := sha256.New()
	for _, f := range verifyFiles(name, counts) {
		p := filepath.Join(dir, f.name)
		st, err := os.Stat(p)
		if err != nil {
			if f.optional {
				continue
			}
			return "", missingFileError(name, dir, p, err)
		}
		sum, err := fileSHA256(p, st)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s %d %s\n", f.name, st.Size(), sum)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// fileSums caches fileSHA256 by path, size and modification time.
var fileSums sync.Map

type fileSumKey struct {
	path  string
	size  int64
	mtime time.Time
}

// fileSHA256 returns the hex SHA-256 of the file p whose Stat is st.
func fileSHA256(p string, st os.FileInfo) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	key := fileSumKey{abs, st.Size(), st.ModTime()}
	if s, ok := fileSums.Load(key); ok {
		return s.(string), nil
	}
	s, err := hashFile(p, sha256.New())
	if err == nil {
		fileSums.Store(key, s)
	}
	return s, err
}

// hashFile returns the hex digest h makes of the file p.
func hashFile(p string, h hash.Hash) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	defer f.Close()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("reading %s: %w", p, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
