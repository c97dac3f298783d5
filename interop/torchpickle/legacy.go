package torchpickle

import (
	"encoding/binary"
	"fmt"
	"math/big"
)

// The legacy torch.save format (PyTorch 0.4 to 1.5, and later with
// _use_new_zipfile_serialization=False) is a sequence of pickles followed by raw data:
//
//	pickle  the magic number 0x1950a86a20f9469cfc6c
//	pickle  the format version, 1001
//	pickle  system info: {"protocol_version", "little_endian", "type_sizes"}
//	pickle  the saved object; storages are persistent ids
//	        ('storage', torch.<T>Storage, root key, location, numel, view metadata)
//	pickle  the sorted list of storage keys
//	then, per key in that order: numel as an int64, then numel elements, little-endian.

// legacyMagic is the first pickle of a legacy checkpoint.
var legacyMagic, _ = new(big.Int).SetString("1950a86a20f9469cfc6c", 16)

// legacyVersion is the only legacy format version.
const legacyVersion = 1001

// parseLegacy reads a checkpoint in the legacy format.
func parseLegacy(data []byte) (*Checkpoint, error) {
	magic, pos, err := unpickleAt(data, 0, nil)
	if m, ok := magic.(*big.Int); err != nil || !ok || m.Cmp(legacyMagic) != 0 {
		return nil, fmt.Errorf("a pickle, but not a torch.save checkpoint (no legacy magic number)")
	}
	version, pos, err := unpickleAt(data, pos, nil)
	if err != nil || version != int64(legacyVersion) {
		return nil, fmt.Errorf("legacy torch.save format version %v, want %d", version, legacyVersion)
	}
	info, pos, err := unpickleAt(data, pos, nil)
	if err != nil {
		return nil, fmt.Errorf("legacy system info: %w", err)
	}
	if d, ok := info.(*Dict); ok {
		if le, ok := d.Get("little_endian"); ok && le != true {
			return nil, fmt.Errorf("legacy checkpoint written on a big-endian machine: not supported")
		}
	}
	storages := map[string]*Storage{}
	c := &Checkpoint{size: int64(len(data))}
	root, pos, err := unpickleAt(data, pos, func(pid any) (any, error) { return legacyStorage(pid, storages) })
	if err != nil {
		return nil, fmt.Errorf("legacy checkpoint: %w", err)
	}
	keysV, pos, err := unpickleAt(data, pos, nil)
	if err != nil {
		return nil, fmt.Errorf("legacy checkpoint storage keys: %w", err)
	}
	keys, ok := keysV.(*List)
	if !ok {
		return nil, fmt.Errorf("legacy checkpoint: storage keys are a %s, want a list", typeName(keysV))
	}
	seen := map[string]bool{}
	for _, kv := range keys.Items {
		key, ok := kv.(string)
		if !ok || seen[key] {
			return nil, fmt.Errorf("legacy checkpoint: storage key %v is not a new string", kv)
		}
		seen[key] = true
		s := storages[key]
		if s == nil {
			return nil, fmt.Errorf("legacy checkpoint: data for storage %s, which no tensor uses", key)
		}
		if len(data)-pos < 8 {
			return nil, fmt.Errorf("legacy checkpoint: storage %s: truncated", key)
		}
		numel := int64(binary.LittleEndian.Uint64(data[pos : pos+8]))
		pos += 8
		es := int64(s.DType.Size())
		if numel != s.NumEl || numel < 0 || numel > int64(len(data)-pos)/es {
			return nil, fmt.Errorf("legacy checkpoint: storage %s holds %d elements, its tensors say %d, %d bytes remain",
				key, numel, s.NumEl, len(data)-pos)
		}
		b := data[pos : pos+int(numel*es)]
		pos += int(numel * es)
		s.load = func() ([]byte, error) { return b, nil }
	}
	for key := range storages {
		if !seen[key] {
			return nil, fmt.Errorf("legacy checkpoint: storage %s has no data", key)
		}
	}
	if pos != len(data) {
		return nil, fmt.Errorf("legacy checkpoint: %d bytes after the last storage", len(data)-pos)
	}
	c.Root = root
	return c, nil
}

// legacyStorage resolves a legacy persistent id ('storage', class, root key, location,
// numel, view metadata); views of storages (view metadata (key, offset, size), from
// PyTorch < 0.4) are refused.
func legacyStorage(pid any, storages map[string]*Storage) (any, error) {
	t, ok := pid.(Tuple)
	if !ok || len(t) != 6 {
		return nil, rejectf("legacy persistent id %s of length %d, want ('storage', class, key, location, numel, view)", typeName(pid), tupleLen(pid))
	}
	if tag, _ := t[0].(string); tag != "storage" {
		return nil, rejectf("legacy persistent id of kind %v, want 'storage' (a pickled module is not a state dict)", t[0])
	}
	if t[5] != nil {
		return nil, rejectf("legacy storage views (PyTorch < 0.4) are not supported")
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
		return nil, fmt.Errorf("legacy persistent id %v: want (str key, str location, int numel ≥ 0)", t[2:5])
	}
	if s, ok := storages[key]; ok {
		if s.DType != dtype || s.NumEl != numel {
			return nil, fmt.Errorf("storage %s is referenced as %s[%d] and as %s[%d]", key, s.DType, s.NumEl, dtype, numel)
		}
		return s, nil
	}
	s := &Storage{DType: dtype, Key: key, Location: location, NumEl: numel,
		load: func() ([]byte, error) { return nil, fmt.Errorf("storage %s: its data was never read", key) }}
	storages[key] = s
	return s, nil
}
