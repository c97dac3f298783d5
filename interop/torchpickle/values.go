package torchpickle

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// The Go values the unpickler builds: Python's containers and scalars, and hashing of dict
// keys with Python's equalities.

// Tuple is a Python tuple.
type Tuple []any

// List is a Python list (a pointer, since pickles fill lists after referencing them).
type List struct {
	// Items are the list's elements in order.
	Items []any
}

// DictEntry is one key/value pair of a Dict.
type DictEntry struct {
	// Key is the entry's key (a string for state dicts), Value its value.
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
