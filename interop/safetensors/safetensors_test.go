package safetensors

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ainfonce/goacl/internal/testdirs"
	"github.com/ainfonce/goacl/internal/torchenv"
	"github.com/ainfonce/goacl/interop/internal/tensorbytes"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/dtypes/bfloat16"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/x448/float16"
)

// sample returns tensors of every dtype torch 1.13 can read, a scalar and an empty one.
func sample() map[string]*tensors.Tensor {
	return map[string]*tensors.Tensor{
		"f32":     tensors.FromFlatDataAndDimensions([]float32{1, -2.5, 3, 4, 5, 6}, 2, 3),
		"f64":     tensors.FromFlatDataAndDimensions([]float64{0.1, 0.2}, 2),
		"f16":     tensors.FromFlatDataAndDimensions([]float16.Float16{float16.Fromfloat32(0.5), float16.Fromfloat32(-3)}, 2),
		"bf16":    tensors.FromFlatDataAndDimensions([]bfloat16.BFloat16{bfloat16.FromFloat32(1.25)}, 1, 1),
		"i64":     tensors.FromScalar(int64(-123456789012)),
		"i32":     tensors.FromFlatDataAndDimensions([]int32{-1, 2}, 2),
		"i16":     tensors.FromFlatDataAndDimensions([]int16{-300}, 1),
		"i8":      tensors.FromFlatDataAndDimensions([]int8{-7, 7, 0}, 3),
		"u8":      tensors.FromFlatDataAndDimensions([]uint8{0, 255}, 2),
		"bool":    tensors.FromFlatDataAndDimensions([]bool{true, false, true}, 3),
		"empty":   tensors.FromShape(tensors.FromFlatDataAndDimensions([]float32{}, 0).Shape()),
		"a.b.c":   tensors.FromFlatDataAndDimensions([]float32{7}, 1, 1, 1),
		"ünicode": tensors.FromFlatDataAndDimensions([]float32{8}, 1),
	}
}

// sameTensors fails unless a and b hold the same names, dtypes, shapes and bytes.
func sameTensors(t *testing.T, a, b map[string]*tensors.Tensor) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d tensors vs %d", len(a), len(b))
	}
	for name, x := range a {
		y, ok := b[name]
		if !ok {
			t.Fatalf("tensor %q missing", name)
		}
		if !x.Shape().Equal(y.Shape()) {
			t.Fatalf("tensor %q: shape %s vs %s", name, x.Shape(), y.Shape())
		}
		bx, err1 := tensorbytes.Bytes(x)
		by, err2 := tensorbytes.Bytes(y)
		if err1 != nil || err2 != nil || !bytes.Equal(bx, by) {
			t.Fatalf("tensor %q: values differ (%v, %v)", name, err1, err2)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	ts := sample()
	meta := map[string]string{"format": "pt", "source": "goacl"}
	data, err := Marshal(ts, meta)
	if err != nil {
		t.Fatal(err)
	}
	n := binary.LittleEndian.Uint64(data)
	if n%8 != 0 || data[8] != '{' {
		t.Errorf("header length %d (want a multiple of 8) starting with %q", n, data[8])
	}
	f, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	sameTensors(t, ts, f.Tensors)
	if len(f.Metadata) != 2 || f.Metadata["source"] != "goacl" {
		t.Errorf("metadata %v", f.Metadata)
	}
	if got := f.Names(); !slices.IsSorted(got) || len(got) != len(ts) {
		t.Errorf("Names() = %v", got)
	}
	// Without metadata the key is absent, and Metadata nil.
	data, err = Marshal(map[string]*tensors.Tensor{"x": tensors.FromScalar(float32(1))}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte(MetadataKey)) {
		t.Error("metadata written without any")
	}
	if f, err := Parse(data); err != nil || f.Metadata != nil {
		t.Errorf("Parse: %v, metadata %v", err, f.Metadata)
	}
}

func TestWriteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "w.safetensors")
	if err := WriteFile(path, sample(), nil); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	sameTensors(t, sample(), f.Tensors)
	if f.Path != path {
		t.Errorf("Path = %q", f.Path)
	}
	if err := WriteFile(path, map[string]*tensors.Tensor{MetadataKey: tensors.FromScalar(int8(1))}, nil); err == nil {
		t.Error("a tensor named __metadata__ was written")
	}
	if err := WriteFile(filepath.Join(t.TempDir(), "no", "dir", "x.safetensors"), sample(), nil); err == nil {
		t.Error("writing into a missing folder succeeded")
	}
}

// fixture returns the path of a committed fixture (interop/testdata, made by
// interop/pytorch/make_fixtures.py with PyTorch and the reference safetensors library).
func fixture(name string) string { return filepath.Join("..", "testdata", name) }

// checkExpected checks the tensors make_fixtures.py writes to expected.safetensors.
func checkExpected(t *testing.T, f *File) {
	t.Helper()
	if f.Metadata["source"] != "make_fixtures.py" {
		t.Errorf("metadata %v", f.Metadata)
	}
	if len(f.Tensors) != 15 {
		t.Errorf("%d tensors, want 15: %v", len(f.Tensors), f.Names())
	}
	c := f.Tensors["contiguous"]
	if c == nil || c.DType() != dtypes.Float32 || !slices.Equal(c.Shape().Dimensions, []int{2, 3, 4}) {
		t.Fatalf("contiguous = %v", c)
	}
	vals := tensors.MustCopyFlatData[float32](c)
	for i, v := range vals {
		if v != float32(i)*0.5 {
			t.Fatalf("contiguous[%d] = %g, want %g", i, v, float32(i)*0.5)
		}
	}
	tr := tensors.MustCopyFlatData[float32](f.Tensors["transposed"]) // base.transpose(0, 2): [4,3,2]
	for k := range 4 {
		for j := range 3 {
			for i := range 2 {
				if got, want := tr[(k*3+j)*2+i], float32(i*12+j*4+k)*0.5; got != want {
					t.Fatalf("transposed[%d,%d,%d] = %g, want %g", k, j, i, got, want)
				}
			}
		}
	}
	if got := tensors.ToScalar[int64](f.Tensors["int64_scalar"]); got != 123456789012 {
		t.Errorf("int64_scalar = %d", got)
	}
	if got := tensors.MustCopyFlatData[bool](f.Tensors["bool"]); !slices.Equal(got, []bool{true, false, true}) {
		t.Errorf("bool = %v", got)
	}
	if got := tensors.MustCopyFlatData[bfloat16.BFloat16](f.Tensors["bfloat16"]); got[1].Float32() != -3.5 {
		t.Errorf("bfloat16 = %v", got)
	}
	if got := tensors.MustCopyFlatData[float16.Float16](f.Tensors["float16"]); got[2].Float32() != 65504 {
		t.Errorf("float16 = %v", got)
	}
	if e := f.Tensors["empty"]; !slices.Equal(e.Shape().Dimensions, []int{0, 3}) {
		t.Errorf("empty has shape %s", e.Shape())
	}
}

// TestReadsReferenceFile reads a file written by the reference library (safetensors.torch).
func TestReadsReferenceFile(t *testing.T) {
	f, err := ReadFile(fixture("expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	checkExpected(t, f)
	// Re-encoding what we read gives a file we read back identically.
	data, err := Marshal(f.Tensors, f.Metadata)
	if err != nil {
		t.Fatal(err)
	}
	g, err := Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	sameTensors(t, f.Tensors, g.Tensors)
}

// TestReferenceLibrary checks both directions against the reference implementation: the
// committed fixture equals one PyTorch writes now, and safetensors.torch reads every file
// goacl writes to the same tensors.
func TestReferenceLibrary(t *testing.T) {
	py := torchenv.Require(t)
	root := testdirs.RepoRoot(t)
	dir := t.TempDir()
	py.Run(t, filepath.Join(root, "interop", "pytorch", "make_fixtures.py"), dir)
	fresh, err := ReadFile(filepath.Join(dir, "expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	committed, err := ReadFile(fixture("expected.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	sameTensors(t, committed.Tensors, fresh.Tensors)

	ours := filepath.Join(dir, "ours.safetensors")
	if err := WriteFile(ours, sample(), map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	back := filepath.Join(dir, "back.safetensors")
	listing := py.Run(t, filepath.Join(root, "interop", "pytorch", "resave_safetensors.py"), ours, back)
	for _, want := range []string{"bf16 bfloat16 [1, 1]", "bool bool [3]", "i64 int64 []", "empty float32 [0]", "f16 float16 [2]"} {
		if !strings.Contains(string(listing), want) {
			t.Errorf("safetensors.torch listing lacks %q:\n%s", want, listing)
		}
	}
	f, err := ReadFile(back)
	if err != nil {
		t.Fatal(err)
	}
	sameTensors(t, sample(), f.Tensors)
	if f.Metadata["k"] != "v" {
		t.Errorf("metadata after the reference library: %v", f.Metadata)
	}
}

// file builds a safetensors file from a raw header and data.
func file(header string, data []byte) []byte {
	out := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	return append(append(out, header...), data...)
}

func TestRejectsMalformedFiles(t *testing.T) {
	eight := make([]byte, 8)
	cases := []struct {
		name, want string
		data       []byte
	}{
		{"short", "too short", []byte{1, 2}},
		{"huge header", "exceeds", binary.LittleEndian.AppendUint64(nil, MaxHeaderBytes+1)},
		{"header past end", "past the end", binary.LittleEndian.AppendUint64(nil, 100)},
		{"not an object", "does not start with '{'", file(`["x"]`, nil)},
		{"bad utf8", "UTF-8", file("{\"\xff\":1}", nil)},
		{"bad json", "header", file(`{"x":`, nil)},
		{"trailing junk", "not space padding", file(`{}x`, nil)},
		{"duplicate", "listed twice", file(`{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}`, nil)},
		{"unknown field", "unknown field", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}}`, eight)},
		{"missing field", "want the fields", file(`{"a":{"dtype":"F32","shape":[2]}}`, eight)},
		{"unknown dtype", "unsupported dtype", file(`{"a":{"dtype":"F8_E4M3","shape":[8],"data_offsets":[0,8]}}`, eight)},
		{"null dtype", "dtype is not a string", file(`{"a":{"dtype":null,"shape":[2],"data_offsets":[0,8]}}`, eight)},
		{"negative dim", "non-negative", file(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, eight)},
		{"float dim", "non-negative", file(`{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}`, eight)},
		{"null shape", "not an array", file(`{"a":{"dtype":"F32","shape":null,"data_offsets":[0,8]}}`, eight)},
		{"huge shape", "too large", file(`{"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`, eight)},
		{"size mismatch", "needs 12 bytes", file(`{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`, eight)},
		{"reversed offsets", "ordered byte range", file(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, eight)},
		{"three offsets", "want 2 integers", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8,8]}}`, eight)},
		{"gap", "belong to no tensor", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight)},
		{"trailing data", "after the last tensor", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, eight)},
		{"overlap", "overlaps", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, eight)},
		{"past end", "truncated", file(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, eight)},
		{"empty name", "empty name", file(`{"":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, eight)},
		{"metadata not strings", "is not a string", file(`{"__metadata__":{"a":1}}`, nil)},
		{"metadata not object", "not a JSON object", file(`{"__metadata__":[1]}`, nil)},
		{"metadata duplicate", "listed twice", file(`{"__metadata__":{"a":"x","a":"y"}}`, nil)},
	}
	for _, c := range cases {
		_, err := Parse(c.data)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: err = %v, want it to mention %q", c.name, err, c.want)
		}
	}
	// Accepted edge cases: an empty file of tensors, padding, zero-size tensors anywhere.
	for _, ok := range [][]byte{
		file(`{}`, nil),
		file(`{}      `, nil),
		file(`{"z":{"dtype":"F32","shape":[0],"data_offsets":[8,8]},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, eight),
	} {
		if _, err := Parse(ok); err != nil {
			t.Errorf("Parse(%q): %v", ok[8:], err)
		}
	}
}

func TestReadFileNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.safetensors")
	if err := os.WriteFile(path, []byte("nonsense"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(path); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("err = %v, want the path in it", err)
	}
	if _, err := ReadFile(path + ".missing"); err == nil || !strings.Contains(err.Error(), path) {
		t.Errorf("err = %v, want the path in it", err)
	}
}

// FuzzParse feeds arbitrary bytes to Parse: it must never panic, and whatever it accepts
// must survive a Marshal/Parse round trip unchanged.
func FuzzParse(f *testing.F) {
	good, err := Marshal(sample(), map[string]string{"a": "b"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	if ref, err := os.ReadFile(fixture("expected.safetensors")); err == nil {
		f.Add(ref)
	}
	f.Add(file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse(data)
		if err != nil {
			return
		}
		again, err := Marshal(file.Tensors, file.Metadata)
		if err != nil {
			t.Fatalf("re-encoding an accepted file: %v", err)
		}
		back, err := Parse(again)
		if err != nil {
			t.Fatalf("re-parsing: %v", err)
		}
		sameTensors(t, file.Tensors, back.Tensors)
		if fmt.Sprint(file.Metadata) != fmt.Sprint(back.Metadata) {
			t.Fatalf("metadata %v became %v", file.Metadata, back.Metadata)
		}
	})
}
