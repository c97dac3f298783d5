// Package safetensors reads and writes the safetensors format of Hugging Face
// (https://github.com/huggingface/safetensors), the tensor file PyTorch users exchange
// weights in without pickle:
//
//	8 bytes   N, the header length, unsigned little-endian
//	N bytes   a UTF-8 JSON object: name → {"dtype", "shape", "data_offsets": [begin, end]},
//	          plus an optional "__metadata__" object of string → string;
//	          it starts with '{' and may be padded at the end with spaces
//	rest      the tensors' little-endian, row-major bytes; data_offsets are relative to
//	          the start of this buffer
//
// Reading treats the file as hostile: the header length is bounded, the JSON must be
// valid UTF-8 without duplicate keys or unknown fields, every dtype is known, every shape
// is non-negative and matches its byte range exactly, and the ranges tile the data buffer
// (no gaps, no overlaps, nothing after the last one), so no byte is unaccounted for. Any
// violation is an error naming the file and the tensor; nothing is read out of bounds.
// Writing produces files that the reference implementation reads (safetensors.torch.load_file).
package safetensors

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"unicode/utf8"

	"github.com/ainfonce/goacl/interop/internal/tensorbytes"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// MaxHeaderBytes bounds the JSON header a file may declare (the reference implementation's
// limit, 100 MB).
const MaxHeaderBytes = 100 << 20

// MetadataKey is the header key of the optional string → string metadata.
const MetadataKey = "__metadata__"

// dtypeNames maps the format's dtype names to GoMLX dtypes. The 8-bit float types
// (F8_E4M3, F8_E5M2) have no GoMLX counterpart and are rejected by name.
var dtypeNames = map[string]dtypes.DType{
	"BOOL": dtypes.Bool,
	"U8":   dtypes.Uint8, "I8": dtypes.Int8,
	"U16": dtypes.Uint16, "I16": dtypes.Int16, "F16": dtypes.Float16, "BF16": dtypes.BFloat16,
	"U32": dtypes.Uint32, "I32": dtypes.Int32, "F32": dtypes.Float32,
	"U64": dtypes.Uint64, "I64": dtypes.Int64, "F64": dtypes.Float64,
}

// DTypeName returns the format's name of a GoMLX dtype ("F32", "I64", …), or an error for
// dtypes the format cannot hold.
func DTypeName(dtype dtypes.DType) (string, error) {
	for name, d := range dtypeNames {
		if d == dtype {
			return name, nil
		}
	}
	return "", fmt.Errorf("dtype %s has no safetensors name", dtype)
}

// File is the content of a safetensors file.
type File struct {
	// Path is the file read, "" when parsed from memory.
	Path string
	// Tensors holds every tensor by name.
	Tensors map[string]*tensors.Tensor
	// Metadata is the header's "__metadata__" (nil when absent).
	Metadata map[string]string
}

// Names returns the tensor names, sorted.
func (f *File) Names() []string {
	names := make([]string, 0, len(f.Tensors))
	for n := range f.Tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// ReadFile reads and validates the safetensors file path. Errors name the file.
func ReadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors file %s: %w", path, err)
	}
	f, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("safetensors file %s: %w", path, err)
	}
	f.Path = path
	return f, nil
}

// entry is one tensor of a header, before its data is read.
type entry struct {
	name       string
	dtype      dtypes.DType
	shape      []int
	begin, end int64
}

// Parse validates and decodes the content of a safetensors file held in data.
func Parse(data []byte) (*File, error) {
	if err := tensorbytes.CheckHost(); err != nil {
		return nil, err
	}
	if len(data) < 8 {
		return nil, fmt.Errorf("%d bytes is too short for the 8-byte header length", len(data))
	}
	n := binary.LittleEndian.Uint64(data[:8])
	if n > MaxHeaderBytes {
		return nil, fmt.Errorf("header length %d exceeds the %d-byte limit", n, MaxHeaderBytes)
	}
	if n > uint64(len(data)-8) {
		return nil, fmt.Errorf("header length %d runs past the end of the file (%d bytes): truncated?", n, len(data))
	}
	header, buffer := data[8:8+n], data[8+n:]
	entries, metadata, err := parseHeader(header)
	if err != nil {
		return nil, err
	}
	if err := checkLayout(entries, int64(len(buffer))); err != nil {
		return nil, err
	}
	f := &File{Tensors: make(map[string]*tensors.Tensor, len(entries)), Metadata: metadata}
	for _, e := range entries {
		t, err := tensorbytes.FromBytes(e.dtype, e.shape, buffer[e.begin:e.end])
		if err != nil {
			return nil, fmt.Errorf("tensor %q: %w", e.name, err)
		}
		f.Tensors[e.name] = t
	}
	return f, nil
}

// parseHeader decodes the JSON header strictly: an object whose keys are unique, with
// "__metadata__" (string → string) and tensor entries of exactly dtype, shape and
// data_offsets.
func parseHeader(header []byte) ([]entry, map[string]string, error) {
	if len(header) == 0 || header[0] != '{' {
		return nil, nil, fmt.Errorf("the header does not start with '{'")
	}
	if !utf8.Valid(header) {
		return nil, nil, fmt.Errorf("the header is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(header))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // '{'
		return nil, nil, fmt.Errorf("header: %w", err)
	}
	var entries []entry
	var metadata map[string]string
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, fmt.Errorf("header: %w", err)
		}
		name, ok := tok.(string)
		if !ok {
			return nil, nil, fmt.Errorf("header: key %v is not a string", tok)
		}
		if seen[name] {
			return nil, nil, fmt.Errorf("header: %q is listed twice", name)
		}
		seen[name] = true
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, nil, fmt.Errorf("header: value of %q: %w", name, err)
		}
		if name == MetadataKey {
			if metadata, err = parseMetadata(raw); err != nil {
				return nil, nil, err
			}
			continue
		}
		if name == "" {
			return nil, nil, fmt.Errorf("header: a tensor has an empty name")
		}
		e, err := parseEntry(name, raw)
		if err != nil {
			return nil, nil, err
		}
		entries = append(entries, e)
	}
	if _, err := dec.Token(); err != nil { // '}'
		return nil, nil, fmt.Errorf("header: %w", err)
	}
	// Only padding may follow the object.
	rest := header[dec.InputOffset():]
	if len(bytes.Trim(rest, " ")) != 0 {
		return nil, nil, fmt.Errorf("header: %d bytes after the JSON object are not space padding", len(rest))
	}
	return entries, metadata, nil
}

// parseMetadata decodes "__metadata__": an object of unique string keys and string values.
func parseMetadata(raw json.RawMessage) (map[string]string, error) {
	keys, values, err := objectFields(raw)
	if err != nil {
		return nil, fmt.Errorf("header: %s: %w", MetadataKey, err)
	}
	m := make(map[string]string, len(keys))
	for i, k := range keys {
		s, ok := jsonString(values[i])
		if !ok {
			return nil, fmt.Errorf("header: %s[%q] is not a string", MetadataKey, k)
		}
		m[k] = s
	}
	return m, nil
}

// objectFields splits a JSON object into its keys and raw values, rejecting duplicates.
func objectFields(raw json.RawMessage) (keys []string, values []json.RawMessage, err error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, nil, fmt.Errorf("not a JSON object")
	}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, nil, err
		}
		k := tok.(string) // object keys are always strings
		if seen[k] {
			return nil, nil, fmt.Errorf("field %q is listed twice", k)
		}
		seen[k] = true
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, nil, err
		}
		keys, values = append(keys, k), append(values, v)
	}
	return keys, values, nil
}

// parseEntry decodes one tensor entry.
func parseEntry(name string, raw json.RawMessage) (entry, error) {
	e := entry{name: name}
	keys, values, err := objectFields(raw)
	if err != nil {
		return e, fmt.Errorf("tensor %q: %w", name, err)
	}
	var haveDType, haveShape, haveOffsets bool
	for i, k := range keys {
		switch k {
		case "dtype":
			s, ok := jsonString(values[i])
			if !ok {
				return e, fmt.Errorf("tensor %q: dtype is not a string", name)
			}
			d, ok := dtypeNames[s]
			if !ok {
				return e, fmt.Errorf("tensor %q: unsupported dtype %q", name, s)
			}
			e.dtype, haveDType = d, true
		case "shape":
			dims, err := naturals(values[i], -1)
			if err != nil {
				return e, fmt.Errorf("tensor %q: shape: %w", name, err)
			}
			e.shape = make([]int, len(dims))
			for j, d := range dims {
				if d > uint64(maxInt) {
					return e, fmt.Errorf("tensor %q: dimension %d is too large", name, d)
				}
				e.shape[j] = int(d)
			}
			haveShape = true
		case "data_offsets":
			offs, err := naturals(values[i], 2)
			if err != nil {
				return e, fmt.Errorf("tensor %q: data_offsets: %w", name, err)
			}
			if offs[0] > offs[1] || offs[1] > maxInt64 {
				return e, fmt.Errorf("tensor %q: data_offsets [%d, %d] are not an ordered byte range", name, offs[0], offs[1])
			}
			e.begin, e.end, haveOffsets = int64(offs[0]), int64(offs[1]), true
		default:
			return e, fmt.Errorf("tensor %q: unknown field %q (want dtype, shape, data_offsets)", name, k)
		}
	}
	if !haveDType || !haveShape || !haveOffsets {
		return e, fmt.Errorf("tensor %q: want the fields dtype, shape and data_offsets", name)
	}
	n, err := tensorbytes.NumElements(e.shape, e.dtype.Size())
	if err != nil {
		return e, fmt.Errorf("tensor %q: %w", name, err)
	}
	if want := n * int64(e.dtype.Size()); want != e.end-e.begin {
		return e, fmt.Errorf("tensor %q: %s%v needs %d bytes, data_offsets [%d, %d] hold %d",
			name, e.dtype, e.shape, want, e.begin, e.end, e.end-e.begin)
	}
	return e, nil
}

const (
	maxInt   = int(^uint(0) >> 1)
	maxInt64 = uint64(1<<63 - 1)
)

// jsonString decodes a JSON string (not null, which json.Unmarshal would accept).
func jsonString(raw json.RawMessage) (string, bool) {
	var s string
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// naturals decodes a JSON array of non-negative integers, of length n (any when n < 0).
func naturals(raw json.RawMessage, n int) ([]uint64, error) {
	var nums []json.Number
	if raw = bytes.TrimSpace(raw); len(raw) == 0 || raw[0] != '[' {
		return nil, fmt.Errorf("not an array of integers")
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&nums); err != nil {
		return nil, fmt.Errorf("not an array of integers")
	}
	if n >= 0 && len(nums) != n {
		return nil, fmt.Errorf("want %d integers, got %d", n, len(nums))
	}
	out := make([]uint64, len(nums))
	for i, num := range nums {
		v, err := strconv.ParseUint(string(num), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s is not a non-negative integer", num)
		}
		out[i] = v
	}
	return out, nil
}

// checkLayout checks that the entries' byte ranges tile [0, size): sorted by offset, each
// begins where the previous ended, and the last ends at size.
func checkLayout(entries []entry, size int64) error {
	sorted := append([]entry(nil), entries...)
	sort.SliceStable(sorted, func(i, j int) bool {
		if sorted[i].begin != sorted[j].begin {
			return sorted[i].begin < sorted[j].begin
		}
		return sorted[i].end < sorted[j].end
	})
	pos, prev := int64(0), ""
	for _, e := range sorted {
		switch {
		case e.begin > pos:
			return fmt.Errorf("data bytes [%d, %d) before tensor %q belong to no tensor", pos, e.begin, e.name)
		case e.begin < pos:
			return fmt.Errorf("tensor %q (bytes [%d, %d)) overlaps tensor %q", e.name, e.begin, e.end, prev)
		}
		pos, prev = e.end, e.name
	}
	if pos != size {
		if pos > size {
			return fmt.Errorf("tensor %q ends at byte %d, past the %d data bytes: truncated?", prev, pos, size)
		}
		return fmt.Errorf("%d data bytes after the last tensor belong to no tensor", size-pos)
	}
	return nil
}

// Marshal encodes tensors (any name but "" and "__metadata__") and optional metadata as a
// safetensors file: the header lists the metadata first, then the tensors by name, padded
// with spaces to a multiple of 8 bytes; the data follow in the same order.
func Marshal(ts map[string]*tensors.Tensor, metadata map[string]string) ([]byte, error) {
	var buf bytes.Buffer
	if err := Encode(&buf, ts, metadata); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Encode writes what Marshal returns to w.
func Encode(w io.Writer, ts map[string]*tensors.Tensor, metadata map[string]string) error {
	names := make([]string, 0, len(ts))
	for n := range ts {
		if n == "" || n == MetadataKey {
			return fmt.Errorf("safetensors: invalid tensor name %q", n)
		}
		names = append(names, n)
	}
	sort.Strings(names)
	var header bytes.Buffer
	header.WriteByte('{')
	sep := ""
	if metadata != nil {
		m, err := json.Marshal(metadata)
		if err != nil {
			return err
		}
		fmt.Fprintf(&header, "%q:%s", MetadataKey, m)
		sep = ","
	}
	datas := make([][]byte, len(names))
	offset := int64(0)
	for i, n := range names {
		t := ts[n]
		dname, err := DTypeName(t.DType())
		if err != nil {
			return fmt.Errorf("safetensors: tensor %q: %w", n, err)
		}
		if datas[i], err = tensorbytes.Bytes(t); err != nil {
			return fmt.Errorf("safetensors: tensor %q: %w", n, err)
		}
		key, _ := json.Marshal(n)
		dims := t.Shape().Dimensions
		if dims == nil {
			dims = []int{}
		}
		shape, _ := json.Marshal(dims)
		end := offset + int64(len(datas[i]))
		fmt.Fprintf(&header, `%s%s:{"dtype":%q,"shape":%s,"data_offsets":[%d,%d]}`, sep, key, dname, shape, offset, end)
		sep, offset = ",", end
	}
	header.WriteByte('}')
	for header.Len()%8 != 0 {
		header.WriteByte(' ')
	}
	var lenBytes [8]byte
	binary.LittleEndian.PutUint64(lenBytes[:], uint64(header.Len()))
	if _, err := w.Write(lenBytes[:]); err != nil {
		return err
	}
	if _, err := w.Write(header.Bytes()); err != nil {
		return err
	}
	for _, d := range datas {
		if _, err := w.Write(d); err != nil {
			return err
		}
	}
	return nil
}

// WriteFile writes tensors and metadata to path as a safetensors file, atomically: through
// a temporary file in the same folder, synced and renamed over path.
func WriteFile(path string, ts map[string]*tensors.Tensor, metadata map[string]string) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("safetensors file %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	bw := bufio.NewWriterSize(tmp, 1<<20)
	err = Encode(bw, ts, metadata)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("safetensors file %s: %w", path, err)
	}
	return nil
}
