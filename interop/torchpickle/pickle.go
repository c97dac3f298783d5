package torchpickle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The unpickler of this file is a data decoder, not Python's virtual machine: it knows a
// fixed list of opcodes (the binary ones of protocols 2 to 5 that build containers and
// scalars) and a fixed list of globals, each of which it implements itself in Go (see
// allowedGlobals). Any other global, any object construction (NEWOBJ, INST, OBJ) and any
// BUILD or APPEND on something that is not one of its own containers is an error naming
// what the pickle asked for. Nothing from the file is ever looked up dynamically or
// executed.

// Tuple is a Python tuple.
type Tuple []any

// List is a Python list (a pointer, since pickles fill lists after referencing them).
type List struct {
	// Items are the list's elements in order.
	Items []any
}

// DictEntry is one key/value pair of a Dict.
type DictEntry struct {
	Key, Value any
}

// Dict is a Python dict or collections.OrderedDict, in insertion order.
type Dict struct {
	// Ordered is true for a collections.OrderedDict.
	Ordered bool
	// Attrs holds instance attributes a pickle set with BUILD (state dicts carry their
	// module versions as the OrderedDict attribute _metadata); nil when none.
	Attrs   *Dict
	entries []DictEntry
	index   map[string]int
}

// Len returns the number of entries.
func (d *Dict) Len() int { return len(d.entries) }

// Entries returns the entries in insertion order (the slice must not be modified).
func (d *Dict) Entries() []DictEntry { return d.entries }

// Get returns the value stored under the string key.
func (d *Dict) Get(key string) (any, bool) {
	i, ok := d.index["s"+key]
	if !ok {
		return nil, false
	}
	return d.entries[i].Value, true
}

// set stores value under key with Python's semantics: an existing key keeps its position.
func (d *Dict) set(key, value any) error {
	budget := maxKeyBytes
	k, err := hashKey(key, 0, &budget)
	if err != nil {
		return err
	}
	if d.index == nil {
		d.index = map[string]int{}
	}
	if i, ok := d.index[k]; ok {
		d.entries[i].Value = value
		return nil
	}
	d.index[k] = len(d.entries)
	d.entries = append(d.entries, DictEntry{key, value})
	return nil
}

// maxKeyDepth bounds the nesting of tuple keys (hashKey recurses), maxKeyBytes the size of
// a key's identifying string: memoised tuples can nest a key exponentially in the pickle's
// length ((t, t), ((t, t), (t, t)), …).
const (
	maxKeyDepth = 32
	maxKeyBytes = 1 << 16
)

// hashKey returns a string identifying a hashable Python value as a dict key, with
// Python's equalities between bool, int and integral float keys. budget is the number of
// bytes the key may still take.
func hashKey(v any, depth int, budget *int) (string, error) {
	k, err := hashKey1(v, depth, budget)
	if err != nil {
		return "", err
	}
	if *budget -= len(k); *budget < 0 {
		return "", fmt.Errorf("dict key larger than %d bytes", maxKeyBytes)
	}
	return k, nil
}

func hashKey1(v any, depth int, budget *int) (string, error) {
	switch x := v.(type) {
	case string:
		return "s" + x, nil
	case []byte:
		return "b" + string(x), nil
	case nil:
		return "N", nil
	case bool:
		if x {
			return "i1", nil
		}
		return "i0", nil
	case int64:
		return "i" + strconv.FormatInt(x, 10), nil
	case *big.Int:
		return "i" + x.String(), nil
	case float64:
		if x == math.Trunc(x) && math.Abs(x) < 1<<63 {
			return "i" + strconv.FormatInt(int64(x), 10), nil
		}
		return "f" + strconv.FormatFloat(x, 'g', -1, 64), nil
	case *Tensor:
		return fmt.Sprintf("t%p", x), nil // Python hashes tensors by identity
	case Tuple:
		if depth >= maxKeyDepth {
			return "", fmt.Errorf("dict key nested deeper than %d tuples", maxKeyDepth)
		}
		var b strings.Builder
		b.WriteString("(")
		for _, e := range x {
			k, err := hashKey(e, depth+1, budget)
			if err != nil {
				return "", err
			}
			b.WriteString(strconv.Itoa(len(k)))
			b.WriteString(":")
			b.WriteString(k)
		}
		return b.String(), nil
	}
	return "", fmt.Errorf("unhashable dict key of type %s", typeName(v))
}

// typeName describes a decoded value's Python type for error messages.
func typeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int64, *big.Int:
		return "int"
	case float64:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case Tuple:
		return "tuple"
	case *List:
		return "list"
	case *Dict:
		if x.Ordered {
			return "OrderedDict"
		}
		return "dict"
	case *Tensor:
		return "tensor"
	case *Storage:
		return "storage"
	case global:
		return x.String()
	}
	return fmt.Sprintf("%T", v)
}

// global is a module-level name a pickle referred to with GLOBAL or STACK_GLOBAL, once
// checked against allowedGlobals.
type global struct{ module, name string }

func (g global) String() string { return g.module + "." + g.name }

// Globals the unpickler implements. Each is a pure Go function of its decoded arguments.
const (
	globalOrderedDict     = "collections.OrderedDict"
	globalRebuildTensor   = "torch._utils._rebuild_tensor"
	globalRebuildTensorV2 = "torch._utils._rebuild_tensor_v2"
	globalRebuildParam    = "torch._utils._rebuild_parameter"
	globalRebuildParamSt  = "torch._utils._rebuild_parameter_with_state"
	globalTorchSize       = "torch.Size"
	globalCodecsEncode    = "_codecs.encode"
)

// allowedGlobal reports whether the unpickler implements module.name: the functions above
// (called by REDUCE) and the torch storage classes (only named in persistent ids).
func allowedGlobal(g global) bool {
	switch g.String() {
	case globalOrderedDict, globalRebuildTensor, globalRebuildTensorV2, globalRebuildParam,
		globalRebuildParamSt, globalTorchSize, globalCodecsEncode:
		return true
	}
	_, ok := storageDTypes[g.String()]
	return ok
}

// ErrRejected marks an error caused by a pickle asking for something outside the subset of
// pickle that state dicts use (a foreign global, object construction, an unsupported
// opcode). errors.Is(err, ErrRejected) tells it from a truncated or corrupt file.
var ErrRejected = errors.New("refused")

// rejectf returns an ErrRejected error.
func rejectf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrRejected}, args...)...)
}

// persistentLoader resolves a persistent id (BINPERSID) to a value: the checkpoint's
// storages.
type persistentLoader func(pid any) (any, error)

// unpickler decodes one pickle held in data.
type unpickler struct {
	data    []byte
	pos     int
	stack   []any
	marks   []int
	memo    map[uint64]any
	persist persistentLoader
}

// Unpickle decodes the pickle in data with the restricted unpickler. persist resolves
// persistent ids; nil rejects them. The result is built only from nil, bool, int64,
// *big.Int, float64, string, []byte, Tuple, *List, *Dict, *Tensor and what persist returns.
func Unpickle(data []byte, persist func(pid any) (any, error)) (any, error) {
	u := &unpickler{data: data, memo: map[uint64]any{}, persist: persist}
	v, err := u.run()
	if err != nil {
		return nil, fmt.Errorf("pickle byte %d: %w", u.pos, err)
	}
	return v, nil
}

var errTruncated = errors.New("truncated pickle")

func (u *unpickler) read(n int) ([]byte, error) {
	if n < 0 || n > len(u.data)-u.pos {
		return nil, errTruncated
	}
	b := u.data[u.pos : u.pos+n]
	u.pos += n
	return b, nil
}

func (u *unpickler) readByte() (byte, error) {
	b, err := u.read(1)
	if err != nil {
		return 0, err
	}
	return b[0], nil
}

// readLine reads up to and excluding the next '\n'.
func (u *unpickler) readLine() (string, error) {
	i := strings.IndexByte(string(u.data[u.pos:min(len(u.data), u.pos+512)]), '\n')
	if i < 0 {
		return "", fmt.Errorf("GLOBAL name without a newline in 512 bytes")
	}
	s := string(u.data[u.pos : u.pos+i])
	u.pos += i + 1
	return s, nil
}

// readLen reads an n-byte little-endian unsigned length and checks it fits in the input.
func (u *unpickler) readLen(n int) (int, error) {
	b, err := u.read(n)
	if err != nil {
		return 0, err
	}
	var l uint64
	switch n {
	case 1:
		l = uint64(b[0])
	case 4:
		l = uint64(binary.LittleEndian.Uint32(b))
	case 8:
		l = binary.LittleEndian.Uint64(b)
	}
	if l > uint64(len(u.data)-u.pos) {
		return 0, errTruncated
	}
	return int(l), nil
}

func (u *unpickler) push(v any) { u.stack = append(u.stack, v) }

func (u *unpickler) pop() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) <= u.marks[len(u.marks)-1]) {
		return nil, fmt.Errorf("stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) == 0 || (len(u.marks) > 0 && len(u.stack) <= u.marks[len(u.marks)-1]) {
		return nil, fmt.Errorf("stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

// popMark pops the items above the newest MARK and the mark itself.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, fmt.Errorf("no MARK on the stack")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := append([]any(nil), u.stack[m:]...)
	u.stack = u.stack[:m]
	return items, nil
}

// Opcodes (pickletools' names).
const (
	opMark           = '('
	opStop           = '.'
	opPop            = '0'
	opPopMark        = '1'
	opDup            = '2'
	opBinInt         = 'J'
	opBinInt1        = 'K'
	opBinInt2        = 'M'
	opNone           = 'N'
	opBinPersID      = 'Q'
	opReduce         = 'R'
	opBinString      = 'T'
	opShortBinString = 'U'
	opBinUnicode     = 'X'
	opAppend         = 'a'
	opBuild          = 'b'
	opGlobal         = 'c'
	opDict           = 'd'
	opEmptyDict      = '}'
	opAppends        = 'e'
	opBinGet         = 'h'
	opLongBinGet     = 'j'
	opList           = 'l'
	opEmptyList      = ']'
	opBinPut         = 'q'
	opLongBinPut     = 'r'
	opSetItem        = 's'
	opTuple          = 't'
	opEmptyTuple     = ')'
	opSetItems       = 'u'
	opBinFloat       = 'G'
	opBinBytes       = 'B'
	opShortBinBytes  = 'C'
	opProto          = 0x80
	opNewObj         = 0x81
	opTuple1         = 0x85
	opTuple2         = 0x86
	opTuple3         = 0x87
	opNewTrue        = 0x88
	opNewFalse       = 0x89
	opLong1          = 0x8a
	opLong4          = 0x8b
	opShortBinUni    = 0x8c
	opBinUnicode8    = 0x8d
	opBinBytes8      = 0x8e
	opStackGlobal    = 0x93
	opMemoize        = 0x94
	opFrame          = 0x95
)

// opNames names the opcodes the unpickler refuses, for its errors.
var opNames = map[byte]string{
	'I': "INT", 'L': "LONG", 'F': "FLOAT", 'S': "STRING", 'V': "UNICODE", 'g': "GET", 'p': "PUT",
	'P': "PERSID", 'i': "INST", 'o': "OBJ", opNewObj: "NEWOBJ", 0x92: "NEWOBJ_EX",
	0x82: "EXT1", 0x83: "EXT2", 0x84: "EXT4", 0x8f: "EMPTY_SET", 0x90: "ADDITEMS", 0x91: "FROZENSET",
	0x96: "BYTEARRAY8", 0x97: "NEXT_BUFFER", 0x98: "READONLY_BUFFER",
}

func (u *unpickler) run() (any, error) {
	for {
		op, err := u.readByte()
		if err != nil {
			return nil, err
		}
		switch op {
		case opProto:
			v, err := u.readByte()
			if err != nil {
				return nil, err
			}
			if v > 5 {
				return nil, fmt.Errorf("unsupported pickle protocol %d", v)
			}
		case opFrame:
			if _, err := u.read(8); err != nil {
				return nil, err
			}
		case opStop:
			return u.pop()
		case opMark:
			u.marks = append(u.marks, len(u.stack))
		case opPop:
			if len(u.stack) > 0 && (len(u.marks) == 0 || len(u.stack) > u.marks[len(u.marks)-1]) {
				u.stack = u.stack[:len(u.stack)-1]
			} else if _, err := u.popMark(); err != nil {
				return nil, err
			}
		case opPopMark:
			if _, err := u.popMark(); err != nil {
				return nil, err
			}
		case opDup:
			v, err := u.top()
			if err != nil {
				return nil, err
			}
			u.push(v)
		case opNone:
			u.push(nil)
		case opNewTrue:
			u.push(true)
		case opNewFalse:
			u.push(false)
		case opBinInt:
			b, err := u.read(4)
			if err != nil {
				return nil, err
			}
			u.push(int64(int32(binary.LittleEndian.Uint32(b))))
		case opBinInt1:
			b, err := u.readByte()
			if err != nil {
				return nil, err
			}
			u.push(int64(b))
		case opBinInt2:
			b, err := u.read(2)
			if err != nil {
				return nil, err
			}
			u.push(int64(binary.LittleEndian.Uint16(b)))
		case opLong1, opLong4:
			lenBytes := 1
			if op == opLong4 {
				lenBytes = 4
			}
			n, err := u.readLen(lenBytes)
			if err != nil {
				return nil, err
			}
			b, _ := u.read(n)
			u.push(decodeLong(b))
		case opBinFloat:
			b, err := u.read(8)
			if err != nil {
				return nil, err
			}
			u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
		case opBinUnicode, opShortBinUni, opBinUnicode8, opBinString, opShortBinString:
			lenBytes := map[byte]int{opBinUnicode: 4, opShortBinUni: 1, opBinUnicode8: 8, opBinString: 4, opShortBinString: 1}[op]
			n, err := u.readLen(lenBytes)
			if err != nil {
				return nil, err
			}
			b, _ := u.read(n)
			if !utf8.Valid(b) {
				return nil, fmt.Errorf("string of %d bytes is not valid UTF-8", n)
			}
			u.push(string(b))
		case opBinBytes, opShortBinBytes, opBinBytes8:
			lenBytes := map[byte]int{opBinBytes: 4, opShortBinBytes: 1, opBinBytes8: 8}[op]
			n, err := u.readLen(lenBytes)
			if err != nil {
				return nil, err
			}
			b, _ := u.read(n)
			u.push(append([]byte(nil), b...))
		case opEmptyDict:
			u.push(&Dict{})
		case opEmptyList:
			u.push(&List{})
		case opEmptyTuple:
			u.push(Tuple{})
		case opTuple1, opTuple2, opTuple3:
			n := int(op-opTuple1) + 1
			t := make(Tuple, n)
			for i := n - 1; i >= 0; i-- {
				if t[i], err = u.pop(); err != nil {
					return nil, err
				}
			}
			u.push(t)
		case opTuple:
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			u.push(Tuple(items))
		case opList:
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			u.push(&List{Items: items})
		case opDict:
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			d := &Dict{}
			if err := setItems(d, items); err != nil {
				return nil, err
			}
			u.push(d)
		case opAppend:
			v, err := u.pop()
			if err != nil {
				return nil, err
			}
			if err := u.appendTo([]any{v}); err != nil {
				return nil, err
			}
		case opAppends:
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			if err := u.appendTo(items); err != nil {
				return nil, err
			}
		case opSetItem:
			v, err := u.pop()
			if err != nil {
				return nil, err
			}
			k, err := u.pop()
			if err != nil {
				return nil, err
			}
			if err := u.setItemsOn([]any{k, v}); err != nil {
				return nil, err
			}
		case opSetItems:
			items, err := u.popMark()
			if err != nil {
				return nil, err
			}
			if err := u.setItemsOn(items); err != nil {
				return nil, err
			}
		case opBinPut, opLongBinPut, opMemoize:
			var idx uint64
			switch op {
			case opBinPut:
				b, err := u.readByte()
				if err != nil {
					return nil, err
				}
				idx = uint64(b)
			case opLongBinPut:
				b, err := u.read(4)
				if err != nil {
					return nil, err
				}
				idx = uint64(binary.LittleEndian.Uint32(b))
			default:
				idx = uint64(len(u.memo))
			}
			v, err := u.top()
			if err != nil {
				return nil, err
			}
			u.memo[idx] = v
		case opBinGet, opLongBinGet:
			var idx uint64
			if op == opBinGet {
				b, err := u.readByte()
				if err != nil {
					return nil, err
				}
				idx = uint64(b)
			} else {
				b, err := u.read(4)
				if err != nil {
					return nil, err
				}
				idx = uint64(binary.LittleEndian.Uint32(b))
			}
			v, ok := u.memo[idx]
			if !ok {
				return nil, fmt.Errorf("memo entry %d was never stored", idx)
			}
			u.push(v)
		case opGlobal:
			module, err := u.readLine()
			if err != nil {
				return nil, err
			}
			name, err := u.readLine()
			if err != nil {
				return nil, err
			}
			g, err := checkGlobal(module, name)
			if err != nil {
				return nil, err
			}
			u.push(g)
		case opStackGlobal:
			nameV, err := u.pop()
			if err != nil {
				return nil, err
			}
			moduleV, err := u.pop()
			if err != nil {
				return nil, err
			}
			module, ok1 := moduleV.(string)
			name, ok2 := nameV.(string)
			if !ok1 || !ok2 {
				return nil, fmt.Errorf("STACK_GLOBAL wants two strings, got %s and %s", typeName(moduleV), typeName(nameV))
			}
			g, err := checkGlobal(module, name)
			if err != nil {
				return nil, err
			}
			u.push(g)
		case opReduce:
			args, err := u.pop()
			if err != nil {
				return nil, err
			}
			fn, err := u.pop()
			if err != nil {
				return nil, err
			}
			v, err := reduce(fn, args)
			if err != nil {
				return nil, err
			}
			u.push(v)
		case opBuild:
			state, err := u.pop()
			if err != nil {
				return nil, err
			}
			target, err := u.top()
			if err != nil {
				return nil, err
			}
			if err := build(target, state); err != nil {
				return nil, err
			}
		case opBinPersID:
			pid, err := u.pop()
			if err != nil {
				return nil, err
			}
			if u.persist == nil {
				return nil, rejectf("persistent id outside a torch checkpoint")
			}
			v, err := u.persist(pid)
			if err != nil {
				return nil, err
			}
			u.push(v)
		default:
			if name, ok := opNames[op]; ok {
				return nil, rejectf("pickle opcode %s (0x%02x) is not part of the state-dict subset", name, op)
			}
			return nil, fmt.Errorf("unknown pickle opcode 0x%02x", op)
		}
	}
}

// decodeLong decodes LONG1/LONG4 bytes: little-endian two's complement, to int64 when it
// fits, else *big.Int.
func decodeLong(b []byte) any {
	if len(b) == 0 {
		return int64(0)
	}
	if len(b) <= 8 {
		var v uint64
		for i := len(b) - 1; i >= 0; i-- {
			v = v<<8 | uint64(b[i])
		}
		if b[len(b)-1]&0x80 != 0 && len(b) < 8 { // sign-extend
			v |= ^uint64(0) << (8 * len(b))
		}
		return int64(v)
	}
	be := make([]byte, len(b))
	for i := range b {
		be[len(b)-1-i] = b[i]
	}
	v := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		v.Sub(v, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return v
}

// checkGlobal accepts only the globals the unpickler implements.
func checkGlobal(module, name string) (global, error) {
	g := global{module, name}
	if !allowedGlobal(g) {
		return g, rejectf("the pickle refers to %s, which is not part of a state dict "+
			"(only tensors, storages, OrderedDict and plain containers are read; nothing in the file is executed)", g)
	}
	return g, nil
}

// appendTo appends items to the list below the mark (APPEND, APPENDS).
func (u *unpickler) appendTo(items []any) error {
	t, err := u.top()
	if err != nil {
		return err
	}
	l, ok := t.(*List)
	if !ok {
		return rejectf("APPEND to a %s (only lists are filled)", typeName(t))
	}
	l.Items = append(l.Items, items...)
	return nil
}

// setItemsOn stores key/value pairs into the dict on top of the stack (SETITEM, SETITEMS).
func (u *unpickler) setItemsOn(items []any) error {
	t, err := u.top()
	if err != nil {
		return err
	}
	d, ok := t.(*Dict)
	if !ok {
		return rejectf("SETITEM on a %s (only dicts are filled)", typeName(t))
	}
	return setItems(d, items)
}

func setItems(d *Dict, items []any) error {
	if len(items)%2 != 0 {
		return fmt.Errorf("odd number of items (%d) for dict entries", len(items))
	}
	for i := 0; i < len(items); i += 2 {
		if err := d.set(items[i], items[i+1]); err != nil {
			return err
		}
	}
	return nil
}

// build applies BUILD: only instance attributes of an OrderedDict (a state dict's
// _metadata) are accepted.
func build(target, state any) error {
	d, ok := target.(*Dict)
	if !ok || !d.Ordered {
		return rejectf("BUILD on a %s (only an OrderedDict's attributes are accepted)", typeName(target))
	}
	attrs, ok := state.(*Dict)
	if !ok {
		return rejectf("BUILD of an OrderedDict with a %s state (want a dict of attributes)", typeName(state))
	}
	if d.Attrs == nil {
		d.Attrs = &Dict{}
	}
	for _, e := range attrs.entries {
		if err := d.Attrs.set(e.Key, e.Value); err != nil {
			return err
		}
	}
	return nil
}

// reduce applies REDUCE: a call of one of the implemented globals with a tuple of args.
func reduce(fn, argsV any) (any, error) {
	g, ok := fn.(global)
	if !ok {
		return nil, rejectf("REDUCE calls a %s (only the implemented torch and collections functions can be called)", typeName(fn))
	}
	args, ok := argsV.(Tuple)
	if !ok {
		return nil, fmt.Errorf("REDUCE of %s with %s arguments, want a tuple", g, typeName(argsV))
	}
	switch g.String() {
	case globalOrderedDict:
		if len(args) != 0 {
			return nil, rejectf("OrderedDict called with %d arguments, want none", len(args))
		}
		return &Dict{Ordered: true}, nil
	case globalTorchSize:
		if len(args) != 1 {
			return nil, fmt.Errorf("torch.Size called with %d arguments, want 1", len(args))
		}
		dims, err := intTuple(args[0], "torch.Size")
		if err != nil {
			return nil, err
		}
		t := make(Tuple, len(dims))
		for i, d := range dims {
			t[i] = d
		}
		return t, nil
	case globalCodecsEncode:
		// Protocol 2 writes Python 3 bytes as _codecs.encode(str, "latin1").
		if len(args) != 2 {
			return nil, fmt.Errorf("_codecs.encode called with %d arguments, want 2", len(args))
		}
		s, ok1 := args[0].(string)
		enc, ok2 := args[1].(string)
		if !ok1 || !ok2 || (enc != "latin1" && enc != "latin-1") {
			return nil, rejectf("_codecs.encode(%s, %v): only the latin1 encoding of a str (pickled bytes) is accepted", typeName(args[0]), args[1])
		}
		b := make([]byte, 0, len(s))
		for _, r := range s {
			if r > 0xff {
				return nil, fmt.Errorf("_codecs.encode: %q is not latin1", r)
			}
			b = append(b, byte(r))
		}
		return b, nil
	case globalRebuildTensor, globalRebuildTensorV2:
		return rebuildTensor(g, args)
	case globalRebuildParam, globalRebuildParamSt:
		// (data, requires_grad, backward_hooks[, state]): the parameter is its tensor.
		want := 3
		if g.String() == globalRebuildParamSt {
			want = 4
		}
		if len(args) != want {
			return nil, fmt.Errorf("%s called with %d arguments, want %d", g, len(args), want)
		}
		t, ok := args[0].(*Tensor)
		if !ok {
			return nil, fmt.Errorf("%s of a %s, want a tensor", g, typeName(args[0]))
		}
		if err := checkNoHooks(g, args[2]); err != nil {
			return nil, err
		}
		if want == 4 && !emptyState(args[3]) {
			return nil, rejectf("%s with a non-empty state (a parameter subclass)", g)
		}
		rg, _ := args[1].(bool)
		t.RequiresGrad = rg
		return t, nil
	}
	return nil, rejectf("%s cannot be called", g)
}

// emptyState reports whether a parameter's extra state is None or an empty dict.
func emptyState(v any) bool {
	if v == nil {
		return true
	}
	d, ok := v.(*Dict)
	return ok && d.Len() == 0
}

// checkNoHooks requires an empty backward-hooks OrderedDict (or None).
func checkNoHooks(g global, v any) error {
	if v == nil {
		return nil
	}
	d, ok := v.(*Dict)
	if !ok || d.Len() != 0 {
		return rejectf("%s with backward hooks (%s), which a state dict never has", g, typeName(v))
	}
	return nil
}

// intTuple decodes a tuple of non-negative ints (sizes, strides).
func intTuple(v any, what string) ([]int64, error) {
	t, ok := v.(Tuple)
	if !ok {
		return nil, fmt.Errorf("%s: want a tuple of ints, got %s", what, typeName(v))
	}
	out := make([]int64, len(t))
	for i, e := range t {
		n, ok := e.(int64)
		if !ok || n < 0 {
			return nil, fmt.Errorf("%s: element %d is %v, want a non-negative int", what, i, e)
		}
		out[i] = n
	}
	return out, nil
}

// rebuildTensor implements torch._utils._rebuild_tensor(storage, offset, size, stride)
// and _rebuild_tensor_v2(…, requires_grad, backward_hooks[, metadata]).
func rebuildTensor(g global, args Tuple) (any, error) {
	v2 := g.String() == globalRebuildTensorV2
	switch {
	case !v2 && len(args) != 4:
		return nil, fmt.Errorf("%s called with %d arguments, want 4", g, len(args))
	case v2 && len(args) != 6 && len(args) != 7:
		return nil, fmt.Errorf("%s called with %d arguments, want 6 or 7", g, len(args))
	}
	st, ok := args[0].(*Storage)
	if !ok {
		return nil, fmt.Errorf("%s of a %s, want a storage", g, typeName(args[0]))
	}
	offset, ok := args[1].(int64)
	if !ok || offset < 0 {
		return nil, fmt.Errorf("%s: storage offset %v, want a non-negative int", g, args[1])
	}
	size, err := intTuple(args[2], "tensor size")
	if err != nil {
		return nil, err
	}
	stride, err := intTuple(args[3], "tensor stride")
	if err != nil {
		return nil, err
	}
	t := &Tensor{Storage: st, Offset: offset, Size: size, Stride: stride}
	if v2 {
		rg, ok := args[4].(bool)
		if !ok {
			return nil, fmt.Errorf("%s: requires_grad is %s, want a bool", g, typeName(args[4]))
		}
		t.RequiresGrad = rg
		if err := checkNoHooks(g, args[5]); err != nil {
			return nil, err
		}
		if len(args) == 7 {
			if m, ok := args[6].(*Dict); args[6] != nil && (!ok || m.Len() != 0) {
				return nil, rejectf("%s with tensor metadata %s (conjugate/negative bits are not supported)", g, typeName(args[6]))
			}
		}
	}
	if err := t.check(); err != nil {
		return nil, err
	}
	return t, nil
}
