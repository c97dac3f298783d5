// Package torchpickle reads PyTorch checkpoints written by torch.save without executing
// any of the file's pickled code: the zip format of PyTorch ≥ 1.6 (<archive>/data.pkl,
// the pickled object, and <archive>/data/<key>, one raw record per storage, plus
// <archive>/byteorder since PyTorch 2.1) and the legacy format of PyTorch 0.4–1.5 (a magic
// number, version and system-info pickle, the object's pickle, the list of storage keys,
// then each storage's size and bytes), in which checkpoints such as ACL's released one were
// saved.
//
// Pickle is a program for Python's unpickler, which may call any function it names; a
// checkpoint from elsewhere is untrusted. This package's own unpickler only understands
// the subset state dicts use: the binary opcodes of protocols 2–5 that build dicts, lists,
// tuples, strings, numbers, booleans and None; collections.OrderedDict;
// torch._utils._rebuild_tensor_v2 (and _rebuild_tensor, _rebuild_parameter,
// _rebuild_parameter_with_state); torch.Size; _codecs.encode(str, "latin1") (bytes in
// protocol 2); and the torch.*Storage classes in
// persistent ids ('storage', class, key, location, numel). Each of these is implemented
// in Go. Anything else — another global such as os.system, object construction, BUILD
// on anything but an OrderedDict — is an error that names it (errors.Is(err,
// ErrRejected)); nothing is looked up or called.
//
// Tensors come back as strided views of their storages (Tensor) and are copied into
// contiguous GoMLX tensors on demand (Materialize), after their bounds are checked.
package torchpickle

import (
	"archive/zip"
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Checkpoint is a torch.save file read into memory.
type Checkpoint struct {
	// Path is the file read ("" when parsed from memory).
	Path string
	// Root is the object torch.save was given: usually a *Dict (a state dict, or a dict
	// holding one under "state_dict", "model", …).
	Root any
	// BigEndian is true when the archive's byteorder record says "big"; tensors are
	// converted to little-endian when materialised.
	BigEndian bool
	// size is the archive's size in bytes: StateDict materialises at most twice as much.
	size int64
}

// Load reads the torch.save checkpoint path. Errors name the file.
func Load(path string) (*Checkpoint, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("torch checkpoint %s: %w", path, err)
	}
	c, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("torch checkpoint %s: %w", path, err)
	}
	c.Path = path
	return c, nil
}

// Parse reads a torch.save checkpoint held in data.
func Parse(data []byte) (*Checkpoint, error) {
	if !bytes.HasPrefix(data, []byte("PK\x03\x04")) {
		if len(data) >= 2 && data[0] == 0x80 && data[1] <= 5 {
			return parseLegacy(data)
		}
		return nil, fmt.Errorf("not a torch.save checkpoint (neither a zip archive nor the legacy pickle format)")
	}
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("zip archive: %w", err)
	}
	records := map[string]*zip.File{}
	prefixes := map[string]bool{}
	for _, f := range zr.File {
		if records[f.Name] != nil {
			return nil, fmt.Errorf("zip archive lists %q twice", f.Name)
		}
		records[f.Name] = f
		if dir, base, ok := strings.Cut(f.Name, "/"); ok && base == "data.pkl" {
			prefixes[dir+"/"] = true
		}
	}
	if len(prefixes) != 1 {
		var names []string
		for n := range records {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(names) > 8 {
			names = append(names[:8], "…")
		}
		return nil, fmt.Errorf("want exactly one <archive>/data.pkl record, found %d (records %v)", len(prefixes), names)
	}
	var prefix string
	for p := range prefixes {
		prefix = p
	}
	if records[prefix+"constants.pkl"] != nil {
		return nil, fmt.Errorf("this is a TorchScript archive (torch.jit.save), not a state dict: " +
			"load it in PyTorch and torch.save(model.state_dict(), f) instead")
	}
	c := &Checkpoint{size: int64(len(data))}
	if bo := records[prefix+"byteorder"]; bo != nil {
		b, err := readRecord(bo, 16)
		if err != nil {
			return nil, err
		}
		switch string(b) {
		case "little":
		case "big":
			c.BigEndian = true
		default:
			return nil, fmt.Errorf("byteorder record says %q, want little or big", b)
		}
	}
	pkl, err := readRecord(records[prefix+"data.pkl"], -1)
	if err != nil {
		return nil, err
	}
	storages := map[string]*Storage{}
	persist := func(pid any) (any, error) {
		return c.loadStorage(pid, prefix, records, storages)
	}
	root, err := Unpickle(pkl, persist)
	if err != nil {
		return nil, fmt.Errorf("%sdata.pkl: %w", prefix, err)
	}
	c.Root = root
	return c, nil
}

// readRecord reads a zip record whole, refusing more than limit bytes (limit < 0: the
// record's declared size), a compressed record (torch.save stores records uncompressed,
// so every record is bounded by the file's size: no zip bomb) and a record whose content
// differs from its declared size.
func readRecord(f *zip.File, limit int64) ([]byte, error) {
	if f.Method != zip.Store {
		return nil, fmt.Errorf("record %s is compressed (method %d); torch.save stores records uncompressed", f.Name, f.Method)
	}
	size := int64(f.UncompressedSize64)
	if f.UncompressedSize64 > 1<<62 || (limit >= 0 && size > limit) {
		return nil, fmt.Errorf("record %s declares %d bytes, too many", f.Name, f.UncompressedSize64)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", f.Name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, size+1))
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", f.Name, err)
	}
	if int64(len(b)) != size {
		return nil, fmt.Errorf("record %s holds %d bytes, declares %d", f.Name, len(b), size)
	}
	return b, nil
}

// loadStorage resolves a persistent id ('storage', torch.<T>Storage, key, location,
// numel) to the Storage of record data/<key>. Several tensors may share one storage.
func (c *Checkpoint) loadStorage(pid any, prefix string, records map[string]*zip.File, storages map[string]*Storage) (any, error) {
	t, ok := pid.(Tuple)
	if !ok || len(t) != 5 {
		return nil, rejectf("persistent id %s of length %d, want the 5-tuple ('storage', class, key, location, numel)", typeName(pid), tupleLen(pid))
	}
	if tag, _ := t[0].(string); tag != "storage" {
		return nil, rejectf("persistent id of kind %v, want 'storage'", t[0])
	}
	g, ok := t[1].(global)
	if !ok {
		return nil, fmt.Errorf("storage class is a %s, want a torch storage class", typeName(t[1]))
	}
	dtype, ok := storageDTypes[g.String()]
	if !ok {
		return nil, rejectf("storage class %s is not supported", g)
	}
	key, ok1 := t[2].(string)
	location, ok2 := t[3].(string)
	numel, ok3 := t[4].(int64)
	if !ok1 || !ok2 || !ok3 || numel < 0 {
		return nil, fmt.Errorf("persistent id %v: want (str key, str location, int numel ≥ 0)", t[2:])
	}
	if s, ok := storages[key]; ok {
		if s.DType != dtype || s.NumEl != numel {
			return nil, fmt.Errorf("storage %s is referenced as %s[%d] and as %s[%d]", key, s.DType, s.NumEl, dtype, numel)
		}
		return s, nil
	}
	name := prefix + "data/" + key
	rec := records[name]
	if rec == nil {
		return nil, fmt.Errorf("storage %s has no record %s", key, name)
	}
	es := int64(dtype.Size())
	if numel > (1<<62)/es || int64(rec.UncompressedSize64) != numel*es || rec.UncompressedSize64 > 1<<62 {
		return nil, fmt.Errorf("record %s holds %d bytes, storage %s[%d] needs %d", name, rec.UncompressedSize64, dtype, numel, numel*es)
	}
	var cached []byte
	s := &Storage{DType: dtype, Key: key, Location: location, NumEl: numel}
	s.load = func() ([]byte, error) {
		if cached != nil {
			return cached, nil
		}
		b, err := readRecord(rec, numel*es)
		if err != nil {
			return nil, err
		}
		if c.BigEndian && es > 1 {
			for i := int64(0); i < int64(len(b)); i += es {
				for a, z := i, i+es-1; a < z; a, z = a+1, z-1 {
					b[a], b[z] = b[z], b[a]
				}
			}
		}
		cached = b
		return b, nil
	}
	storages[key] = s
	return s, nil
}

func tupleLen(v any) int {
	if t, ok := v.(Tuple); ok {
		return len(t)
	}
	return 0
}
