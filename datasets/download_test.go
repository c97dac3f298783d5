package datasets

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// failingTransport fails every request, like a machine without network.
type failingTransport struct{}

func (failingTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("network unreachable (test)")
}

// testArchive builds a tar.gz holding root/<file> for every file, plus entries that
// must be ignored.
func testArchive(t *testing.T, root string, files []string) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	add := func(name string, typ byte, body []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Typeflag: typ, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	add(root+"/", tar.TypeDir, nil)
	for _, f := range files {
		add(root+"/"+f, tar.TypeReg, []byte("content of "+f))
	}
	add("../evil.bin", tar.TypeReg, []byte("x"))
	add(root+"/sub/nested.bin", tar.TypeReg, []byte("x"))
	add("other/readme.txt", tar.TypeReg, []byte("x"))
	tw.Close()
	gz.Close()
	return buf.Bytes()
}

func TestEnsureNetworkFailure(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cifar-10")
	d := &Downloader{Client: &http.Client{Transport: failingTransport{}}}
	err := d.Ensure(context.Background(), CIFAR10, dir)
	wantErrContains(t, err, "fill folder "+dir, "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
		"c32a1d4ab5d03f1284b67883e8d87530", "tar xzf cifar-10-binary.tar.gz -C "+dir+" --strip-components=1", "network unreachable")
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("failed download left %s behind: %v", dir, err)
	}
	left, _ := os.ReadDir(filepath.Dir(dir))
	if len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	if err := d.Ensure(context.Background(), "mnist", dir); err == nil {
		t.Error("unknown data set accepted")
	}
}

func TestEnsureDownloadsAndExtracts(t *testing.T) {
	a, _ := OfficialArchive(STL10)
	archive := testArchive(t, a.Root, a.Files)
	sum := md5.Sum(archive)
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/stl10_binary.tar.gz" {
			http.NotFound(w, r)
			return
		}
		w.Write(archive)
	}))
	defer srv.Close()
	a.URL, a.MD5 = srv.URL+"/stl10_binary.tar.gz", hex.EncodeToString(sum[:])
	d := &Downloader{Client: srv.Client(), Archives: map[string]Archive{STL10: a}}

	base := t.TempDir()
	dir := filepath.Join(base, "data", "stl10")
	if err := d.Ensure(context.Background(), STL10, dir); err != nil {
		t.Fatal(err)
	}
	for _, f := range a.Files {
		got, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || string(got) != "content of "+f {
			t.Errorf("%s: %q %v", f, got, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != len(a.Files) {
		t.Errorf("extracted %d entries, want only the %d root files", len(entries), len(a.Files))
	}
	if _, err := os.Stat(filepath.Join(base, "data", "evil.bin")); err == nil {
		t.Error("path traversal entry extracted")
	}
	// Present folder: no network at all.
	srv.Close()
	n := hits.Load()
	if err := d.Ensure(context.Background(), STL10, dir); err != nil || hits.Load() != n {
		t.Errorf("second Ensure: %v (requests %d -> %d)", err, n, hits.Load())
	}
	// Partially filled folder: error naming the missing file, nothing downloaded.
	os.Remove(filepath.Join(dir, "test_y.bin"))
	err := d.Ensure(context.Background(), STL10, dir)
	wantErrContains(t, err, dir, "test_y.bin is missing", "stl10_binary.tar.gz")
}

func TestEnsureChecksumAndStatus(t *testing.T) {
	a, _ := OfficialArchive(CIFAR100)
	archive := testArchive(t, a.Root, a.Files)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/missing.tar.gz" {
			http.NotFound(w, r)
			return
		}
		w.Write(archive)
	}))
	defer srv.Close()
	base := t.TempDir()
	dir := filepath.Join(base, "c100")
	os.Mkdir(dir, 0o755) // an empty folder is filled
	bad := a
	bad.URL = srv.URL + "/cifar-100-binary.tar.gz" // official md5: mismatch
	d := &Downloader{Client: srv.Client(), Archives: map[string]Archive{CIFAR100: bad}}
	err := d.Ensure(context.Background(), CIFAR100, dir)
	wantErrContains(t, err, "md5 mismatch", "expected 03b5dce01913d631647c71ecec9e9cb8", "fill folder "+dir)
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed download wrote %v", entries)
	}
	bad.URL = srv.URL + "/missing.tar.gz"
	d.Archives[CIFAR100] = bad
	wantErrContains(t, d.Ensure(context.Background(), CIFAR100, dir), "404", "tar xzf")

	// Archive without the expected files.
	wrong := testArchive(t, "wrong-root", a.Files)
	srv2 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(wrong) }))
	defer srv2.Close()
	s2 := md5.Sum(wrong)
	bad.URL, bad.MD5 = srv2.URL+"/x.tar.gz", hex.EncodeToString(s2[:])
	d = &Downloader{Client: srv2.Client(), Archives: map[string]Archive{CIFAR100: bad}}
	wantErrContains(t, d.Ensure(context.Background(), CIFAR100, dir), "lacks cifar-100-binary/train.bin")
	left, _ := os.ReadDir(base)
	if len(left) != 1 {
		t.Errorf("staging files left in %s: %v", base, left)
	}
}
