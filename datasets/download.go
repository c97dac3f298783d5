package datasets

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// Downloader fetches official data set archives. The zero value downloads the official
// archives with http.DefaultClient.
type Downloader struct {
	// Client performs the requests; nil means http.DefaultClient.
	Client *http.Client
	// Archives overrides the official archive of a data set name (tests, mirrors).
	Archives map[string]Archive
	// Log receives progress messages; nil means silent.
	Log io.Writer
}

// Ensure makes sure dir holds the named data set (one of Names()). If dir is missing or
// empty it downloads the official archive, verifies its md5, extracts the files of the
// archive's data folder directly into dir (no intermediate folder) and renames the
// result into place only once everything succeeded. If dir already holds files it is
// left alone: Ensure returns nil when all the expected files are present and an error
// naming the first missing one otherwise. When the download fails the error says which
// folder to fill and how.
func Ensure(name, dir string) error {
	return (&Downloader{}).Ensure(context.Background(), name, dir)
}

// EnsureCIFAR10 is Ensure(CIFAR10, dir).
func EnsureCIFAR10(dir string) error { return Ensure(CIFAR10, dir) }

// EnsureCIFAR100 is Ensure(CIFAR100, dir).
func EnsureCIFAR100(dir string) error { return Ensure(CIFAR100, dir) }

// EnsureSTL10 is Ensure(STL10, dir). The STL-10 archive is about 2.6 GB.
func EnsureSTL10(dir string) error { return Ensure(STL10, dir) }

// archive returns the archive used for name, honouring the overrides.
func (d *Downloader) archive(name string) (Archive, error) {
	if a, ok := d.Archives[name]; ok {
		return a, nil
	}
	return OfficialArchive(name)
}

func (d *Downloader) logf(format string, args ...any) {
	if d.Log != nil {
		fmt.Fprintf(d.Log, format+"\n", args...)
	}
}

// Ensure is the package-level Ensure with this downloader's client and archives.
func (d *Downloader) Ensure(ctx context.Context, name, dir string) error {
	a, err := d.archive(name)
	if err != nil {
		return err
	}
	st, err := os.Stat(dir)
	switch {
	case err == nil && !st.IsDir():
		return fmt.Errorf("%s: not a folder; %s", dir, fillHint(name, dir))
	case err == nil:
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("%s: %w", dir, err)
		}
		if len(entries) > 0 {
			for _, f := range a.Files {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					return fmt.Errorf("%s: folder exists but %s is missing (%w); it is only downloaded into a missing or empty folder: %s",
						dir, f, err, fillHint(name, dir))
				}
			}
			return nil
		}
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("%s: %w", dir, err)
	}
	return d.download(ctx, name, a, dir)
}

func (d *Downloader) download(ctx context.Context, name string, a Archive, dir string) (err error) {
	dir = filepath.Clean(dir)
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", parent, err)
	}
	tmp, err := os.CreateTemp(parent, "."+filepath.Base(dir)+".download-*")
	if err != nil {
		return fmt.Errorf("creating a temporary file in %s: %w", parent, err)
	}
	defer func() {
		tmp.Close()
		os.Remove(tmp.Name())
	}()
	d.logf("downloading %s into %s", a.URL, dir)
	if err := d.fetch(ctx, a, tmp); err != nil {
		return fmt.Errorf("%s: %w; %s", dir, err, fillHint(name, dir))
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("%s: %w", tmp.Name(), err)
	}
	staging, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".partial-")
	if err != nil {
		return fmt.Errorf("creating a staging folder in %s: %w", parent, err)
	}
	defer func() {
		if err != nil {
			os.RemoveAll(staging)
		}
	}()
	d.logf("extracting %s/ into %s", a.Root, dir)
	if err := extractRoot(tmp, a, staging); err != nil {
		return fmt.Errorf("extracting %s: %w", a.URL, err)
	}
	for _, f := range a.Files {
		if _, err := os.Stat(filepath.Join(staging, f)); err != nil {
			return fmt.Errorf("archive %s lacks %s/%s", a.URL, a.Root, f)
		}
	}
	if err := os.Chmod(staging, 0o755); err != nil {
		return fmt.Errorf("%s: %w", staging, err)
	}
	os.Remove(dir) // an empty folder in the way; fails harmlessly if absent
	if err := os.Rename(staging, dir); err != nil {
		return fmt.Errorf("moving %s to %s: %w", staging, dir, err)
	}
	return nil
}

// fetch downloads a.URL into w and checks its md5.
func (d *Downloader) fetch(ctx context.Context, a Archive, w io.Writer) error {
	client := d.Client
	if client == nil {
		client = http.DefaultClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.URL, nil)
	if err != nil {
		return fmt.Errorf("downloading %s: %w", a.URL, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("downloading %s: %w", a.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("downloading %s: HTTP status %s", a.URL, resp.Status)
	}
	h := md5.New()
	n, err := io.Copy(io.MultiWriter(w, h), resp.Body)
	if err != nil {
		return fmt.Errorf("downloading %s: after %d bytes: %w", a.URL, n, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != strings.ToLower(a.MD5) {
		return fmt.Errorf("downloading %s: md5 mismatch: expected %s, got %s (%d bytes)", a.URL, a.MD5, got, n)
	}
	return nil
}

// extractRoot extracts the regular files directly inside a.Root/ of the gzipped tar r
// into dst, ignoring every other entry.
func extractRoot(r io.Reader, a Archive, dst string) error {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return err
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		name := strings.TrimPrefix(path.Clean(hdr.Name), "./")
		dirPart, base := path.Split(name)
		if strings.TrimSuffix(dirPart, "/") != a.Root || base == "" || base == "." || base == ".." {
			continue
		}
		if err := writeFile(filepath.Join(dst, base), tr, hdr.Size); err != nil {
			return err
		}
	}
}

func writeFile(p string, r io.Reader, size int64) error {
	f, err := os.OpenFile(p, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, io.LimitReader(r, size))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n != size {
		err = fmt.Errorf("%s: truncated archive member: expected %d bytes, got %d", filepath.Base(p), size, n)
	}
	return err
}
