package datasets

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// npyFile builds a .npy file with the given version, header dictionary and body; the
// header is padded with spaces to a multiple of 64 bytes and ends with a newline.
func npyFile(major byte, dict string, body []byte) []byte {
	lenBytes := 2
	if major >= 2 {
		lenBytes = 4
	}
	total := 6 + 2 + lenBytes + len(dict) + 1
	pad := (64 - total%64) % 64
	hdr := dict + strings.Repeat(" ", pad) + "\n"
	var b bytes.Buffer
	b.WriteString("\x93NUMPY")
	b.Write([]byte{major, 0})
	if lenBytes == 2 {
		binary.Write(&b, binary.LittleEndian, uint16(len(hdr)))
	} else {
		binary.Write(&b, binary.LittleEndian, uint32(len(hdr)))
	}
	b.WriteString(hdr)
	b.Write(body)
	return b.Bytes()
}

func int64Body(vals ...int64) []byte {
	b := make([]byte, 8*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint64(b[8*i:], uint64(v))
	}
	return b
}

func TestNPYRoundTrip(t *testing.T) {
	vals := []int32{0, 1, -1, 499, 1 << 30, -7}
	var buf bytes.Buffer
	if err := WriteNPYInt32(&buf, vals); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	h, err := ParseNPYHeader(data)
	if err != nil {
		t.Fatal(err)
	}
	if h.DataOffset%64 != 0 || h.Descr != "<i4" || h.FortranOrder || !slices.Equal(h.Shape, []int{6}) || h.Major != 1 {
		t.Errorf("header %+v", h)
	}
	got, err := ReadNPYInt32(bytes.NewReader(data))
	if err != nil || !slices.Equal(got, vals) {
		t.Fatalf("round trip %v %v", got, err)
	}
	empty := &bytes.Buffer{}
	WriteNPYInt32(empty, nil)
	if got, err := DecodeNPYInt32(empty.Bytes()); err != nil || len(got) != 0 {
		t.Errorf("empty: %v %v", got, err)
	}
}

func TestNPYVariants(t *testing.T) {
	// int64, version 2, double quotes, no trailing comma, Python 2 long.
	data := npyFile(2, `{"descr": "<i8", "fortran_order": True, "shape": (3L,)}`, int64Body(5, -1, 2))
	got, err := DecodeNPYInt32(data)
	if err != nil || !slices.Equal(got, []int32{5, -1, 2}) {
		t.Fatalf("v2 int64: %v %v", got, err)
	}
	data = npyFile(3, `{'shape': [2], 'fortran_order': False, 'descr': '<i4'}`, []byte{1, 0, 0, 0, 2, 0, 0, 0})
	if got, err := DecodeNPYInt32(data); err != nil || !slices.Equal(got, []int32{1, 2}) {
		t.Fatalf("v3 list shape: %v %v", got, err)
	}
}

func TestNPYErrors(t *testing.T) {
	ok := "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }"
	body := []byte{1, 0, 0, 0, 2, 0, 0, 0}
	cases := []struct {
		name string
		data []byte
		want string
	}{
		{"empty", nil, "too short"},
		{"magic", append([]byte("\x93NUMPX\x01\x00"), npyFile(1, ok, body)[8:]...), "bad magic"},
		{"version", append([]byte("\x93NUMPY\x04\x00"), npyFile(1, ok, body)[8:]...), "unsupported format version 4.0"},
		{"header truncated", npyFile(1, ok, body)[:40], "header truncated"},
		{"big endian", npyFile(1, "{'descr': '>i4', 'fortran_order': False, 'shape': (2,), }", body), `dtype ">i4" not supported`},
		{"float", npyFile(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", body), `dtype "<f4"`},
		{"2-D", npyFile(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (1, 2), }", body), "want a 1-D array"},
		{"scalar", npyFile(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (), }", body), "want a 1-D array"},
		{"data truncated", npyFile(1, ok, body[:7]), "data truncated: shape (2,) of <i4 needs 8 bytes, got 7"},
		{"trailing", npyFile(1, ok, append(body, 0)), "1 bytes after the data"},
		{"missing key", npyFile(1, "{'descr': '<i4', 'shape': (2,), }", body), "lacks one of"},
		{"extra key", npyFile(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), 'x': 1}", body), `unexpected key "x"`},
		{"duplicate key", npyFile(1, "{'descr': '<i4', 'descr': '<i4', 'fortran_order': False, 'shape': (2,)}", body), "duplicate key"},
		{"not a dict", npyFile(1, "[1, 2]", body), "not a dictionary"},
		{"bad order", npyFile(1, "{'descr': '<i4', 'fortran_order': 0, 'shape': (2,), }", body), "'fortran_order' is 0"},
		{"negative dim", npyFile(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (-2,), }", body), "dimension -2"},
		{"garbage", npyFile(1, "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }}", body), "trailing characters"},
		{"unterminated", npyFile(1, "{'descr': '<i4", body), "unterminated string"},
		{"no newline", func() []byte { d := npyFile(1, ok, body); d[len(d)-len(body)-1] = ' '; return d }(), "does not end with a newline"},
		{"int64 overflow", npyFile(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", int64Body(1<<40)), "element 0 = 1099511627776 does not fit in int32"},
		{"deep", npyFile(1, strings.Repeat("(", 40)+strings.Repeat(")", 40), nil), "nesting too deep"},
		{"non-ascii", npyFile(1, "{'descr': '<i4\xff', 'fortran_order': False, 'shape': (2,), }", body), "not ASCII"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeNPYInt32(c.data)
			wantErrContains(t, err, c.want)
		})
	}
	p := writeTestFile(t, t.TempDir(), "bad.npy", []byte("nonsense"))
	_, err := LoadNPYInt32(p)
	wantErrContains(t, err, p, "bad magic")
}

func TestPseudoLabelsReal(t *testing.T) {
	dir := pseudoDir(t, "cifar-10")
	// The files are the ones listed in SHA256SUMS.
	sums, err := os.ReadFile(filepath.Join(filepath.Dir(dir), "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		f := strings.Fields(line)
		if len(f) != 2 || !strings.HasPrefix(f[1], "cifar-10/pseudo_train_500") {
			continue
		}
		data, err := os.ReadFile(filepath.Join(filepath.Dir(dir), f[1]))
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != f[0] {
			t.Errorf("%s: sha256 mismatch", f[1])
		}
	}
	for _, c := range []struct {
		sub   string
		split Split
		n     int
	}{{"cifar-10", Train, 50000}, {"cifar-10", Test, 10000}, {"cifar-100", Train, 50000}} {
		pl, err := LoadPseudoLabels(pseudoDir(t, c.sub), c.split)
		if err != nil {
			t.Fatal(err)
		}
		if pl.Len() != c.n || len(pl.Labels) != 5 || !slices.Equal(pl.K, []int{2, 10, 50, 100, 500}) {
			t.Fatalf("%s %s: len %d, %d granularities", c.sub, c.split, pl.Len(), len(pl.Labels))
		}
		for g, k := range pl.K {
			seen := make([]bool, k)
			for _, l := range pl.Labels[g] {
				seen[l] = true // in range: checked by the loader
			}
			used := 0
			for _, s := range seen {
				if s {
					used++
				}
			}
			if used < k/2 {
				t.Errorf("%s %s K=%d: only %d clusters used", c.sub, c.split, k, used)
			}
		}
		got, err := pl.Gather([]int{0, c.n - 1})
		if err != nil || len(got) != 5 || got[4][1] != pl.Labels[4][c.n-1] {
			t.Errorf("Gather: %v %v", got, err)
		}
		if _, err := pl.Gather([]int{c.n}); err == nil {
			t.Error("Gather accepted an out-of-range index")
		}
	}
	if _, err := LoadPseudoLabels(pseudoDir(t, "cifar-100"), Test); err == nil {
		t.Error("cifar-100 has no test pseudo labels; want an error")
	}
}

func TestPseudoLabelsErrors(t *testing.T) {
	write := func(dir string, split Split, k int, vals []int32) string {
		var b bytes.Buffer
		WriteNPYInt32(&b, vals)
		return writeTestFile(t, dir, "pseudo_"+string(split)+"_"+strconv.Itoa(k)+".npy", b.Bytes())
	}
	dir := t.TempDir()
	for _, k := range PseudoLabelGranularities {
		write(dir, Train, k, []int32{0, 1, -1})
	}
	pl, err := LoadPseudoLabelsFor(dir, Train, 3)
	if err != nil || pl.Labels[0][2] != IgnoreLabel {
		t.Fatalf("-1 must be allowed: %v", err)
	}
	_, err = LoadPseudoLabels(dir, Train)
	wantErrContains(t, err, filepath.Join(dir, "pseudo_train_2.npy"), "expected 50000 labels", "got 3")

	p := write(dir, Train, 2, []int32{0, 2, 1})
	_, err = LoadPseudoLabelsFor(dir, Train, 3)
	wantErrContains(t, err, p, "record 1", "label 2 out of range [0,2)")

	write(dir, Train, 2, []int32{0, 1, 1})
	p = write(dir, Train, 500, []int32{0, -2, 1})
	_, err = LoadPseudoLabelsFor(dir, Train, 3)
	wantErrContains(t, err, p, "record 1", "label -2")

	os.Remove(p)
	_, err = LoadPseudoLabelsFor(dir, Train, 3)
	wantErrContains(t, err, p)

	if _, err := LoadPseudoLabels(dir, "valid"); err == nil {
		t.Error("unknown split accepted")
	}
}
