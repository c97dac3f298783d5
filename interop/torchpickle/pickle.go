package torchpickle

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"
	"unicode/utf8"
)

// The unpickler of this file is a data decoder, not Python's virtual machine: it knows a
// fixed list of opcodes (the binary ones of protocols 2 to 5 that build containers and
// scalars) and a fixed list of globals, each of which it implements itself in Go (see
// allowedGlobal). Any other global, any object construction (NEWOBJ, INST, OBJ) and any
// BUILD or APPEND on something that is not one of its own containers is an error naming
// what the pickle asked for. Nothing from the file is ever looked up dynamically or
// executed. The globals it implements are in globals.go, the values it builds in values.go.

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
	v, _, err := unpickleAt(data, 0, persist)
	return v, err
}

// unpickleAt decodes the pickle starting at data[pos] and returns it with the position
// after its STOP: the legacy format is several pickles in a row.
func unpickleAt(data []byte, pos int, persist func(pid any) (any, error)) (any, int, error) {
	u := &unpickler{data: data, pos: pos, memo: map[uint64]any{}, persist: persist}
	v, err := u.run()
	if err != nil {
		return nil, u.pos, fmt.Errorf("pickle byte %d: %w", u.pos, err)
	}
	return v, u.pos, nil
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
