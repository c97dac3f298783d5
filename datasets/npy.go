package datasets

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"strconv"
	"strings"
)

// npyMagic starts every .npy file.
const npyMagic = "\x93NUMPY"

// npyMaxHeader bounds the header length accepted from version 2/3 files.
const npyMaxHeader = 1 << 20

// NPYHeader is the parsed header of a .npy file.
type NPYHeader struct {
	// Major and Minor are the format version (1.0, 2.0 or 3.0).
	Major, Minor int
	// Descr is the NumPy dtype string, e.g. "<i4".
	Descr string
	// FortranOrder tells whether the data is stored column-major.
	FortranOrder bool
	// Shape is the array shape.
	Shape []int
	// DataOffset is the byte offset of the array data in the file.
	DataOffset int
}

// ParseNPYHeader parses the magic string, version and header dictionary of a .npy file
// held in data. It accepts format versions 1.x, 2.x and 3.x and a header dictionary
// with exactly the keys 'descr', 'fortran_order' and 'shape'.
func ParseNPYHeader(data []byte) (NPYHeader, error) {
	var h NPYHeader
	if len(data) < len(npyMagic)+2 {
		return h, fmt.Errorf("npy: file of %d bytes is too short for the magic string and version", len(data))
	}
	if string(data[:len(npyMagic)]) != npyMagic {
		return h, fmt.Errorf("npy: bad magic %q, want \"\\x93NUMPY\"", data[:len(npyMagic)])
	}
	h.Major, h.Minor = int(data[6]), int(data[7])
	var hlen, start int
	switch h.Major {
	case 1:
		if len(data) < 10 {
			return h, fmt.Errorf("npy: version 1 header length truncated (file of %d bytes)", len(data))
		}
		hlen, start = int(binary.LittleEndian.Uint16(data[8:10])), 10
	case 2, 3:
		if len(data) < 12 {
			return h, fmt.Errorf("npy: version %d header length truncated (file of %d bytes)", h.Major, len(data))
		}
		n := binary.LittleEndian.Uint32(data[8:12])
		if n > npyMaxHeader {
			return h, fmt.Errorf("npy: header length %d exceeds the %d-byte limit", n, npyMaxHeader)
		}
		hlen, start = int(n), 12
	default:
		return h, fmt.Errorf("npy: unsupported format version %d.%d (want 1, 2 or 3)", h.Major, h.Minor)
	}
	if len(data) < start+hlen {
		return h, fmt.Errorf("npy: header truncated: expected %d header bytes, got %d", hlen, len(data)-start)
	}
	h.DataOffset = start + hlen
	text := string(data[start : start+hlen])
	if h.Major < 3 {
		for i := 0; i < len(text); i++ {
			if text[i] >= 0x80 {
				return h, fmt.Errorf("npy: header byte %d is not ASCII", start+i)
			}
		}
	}
	if !strings.HasSuffix(text, "\n") {
		return h, fmt.Errorf("npy: header does not end with a newline")
	}
	p := &pyParser{s: strings.TrimRight(text, " \n")}
	v, err := p.value()
	if err != nil {
		return h, fmt.Errorf("npy: header %q: %w", text, err)
	}
	p.skipSpace()
	if p.pos != len(p.s) {
		return h, fmt.Errorf("npy: header %q: trailing characters at offset %d", text, p.pos)
	}
	dict, ok := v.(map[string]any)
	if !ok {
		return h, fmt.Errorf("npy: header %q is not a dictionary", text)
	}
	var haveDescr, haveOrder, haveShape bool
	for k, val := range dict {
		switch k {
		case "descr":
			s, ok := val.(string)
			if !ok {
				return h, fmt.Errorf("npy: header 'descr' is %v, want a string", val)
			}
			h.Descr, haveDescr = s, true
		case "fortran_order":
			b, ok := val.(bool)
			if !ok {
				return h, fmt.Errorf("npy: header 'fortran_order' is %v, want True or False", val)
			}
			h.FortranOrder, haveOrder = b, true
		case "shape":
			t, ok := val.([]any)
			if !ok {
				return h, fmt.Errorf("npy: header 'shape' is %v, want a tuple", val)
			}
			for _, d := range t {
				n, ok := d.(int64)
				if !ok || n < 0 || n > math.MaxInt32 {
					return h, fmt.Errorf("npy: header 'shape' has dimension %v, want an integer in [0, 2^31)", d)
				}
				h.Shape = append(h.Shape, int(n))
			}
			haveShape = true
		default:
			return h, fmt.Errorf("npy: header has unexpected key %q", k)
		}
	}
	if !haveDescr || !haveOrder || !haveShape {
		return h, fmt.Errorf("npy: header %q lacks one of 'descr', 'fortran_order', 'shape'", text)
	}
	return h, nil
}

// DecodeNPYInt32 decodes a .npy file holding a 1-D little-endian int32 ('<i4') or int64
// ('<i8') array and returns its values as int32; int64 values outside the int32 range
// are an error. The data must be exactly shape[0] elements long.
func DecodeNPYInt32(data []byte) ([]int32, error) {
	h, err := ParseNPYHeader(data)
	if err != nil {
		return nil, err
	}
	var size int
	switch h.Descr {
	case "<i4":
		size = 4
	case "<i8":
		size = 8
	default:
		return nil, fmt.Errorf("npy: dtype %q not supported: want little-endian int32 '<i4' or int64 '<i8'", h.Descr)
	}
	if len(h.Shape) != 1 {
		return nil, fmt.Errorf("npy: shape %v: want a 1-D array", h.Shape)
	}
	n := h.Shape[0]
	body := data[h.DataOffset:]
	if want := int64(n) * int64(size); int64(len(body)) != want {
		if int64(len(body)) < want {
			return nil, fmt.Errorf("npy: data truncated: shape (%d,) of %s needs %d bytes, got %d", n, h.Descr, want, len(body))
		}
		return nil, fmt.Errorf("npy: %d bytes after the data: shape (%d,) of %s needs %d bytes, got %d", int64(len(body))-want, n, h.Descr, want, len(body))
	}
	out := make([]int32, n)
	for i := range out {
		if size == 4 {
			out[i] = int32(binary.LittleEndian.Uint32(body[4*i:]))
			continue
		}
		v := int64(binary.LittleEndian.Uint64(body[8*i:]))
		if v < math.MinInt32 || v > math.MaxInt32 {
			return nil, fmt.Errorf("npy: element %d = %d does not fit in int32", i, v)
		}
		out[i] = int32(v)
	}
	return out, nil
}

// ReadNPYInt32 reads a whole .npy stream from r and decodes it with DecodeNPYInt32.
func ReadNPYInt32(r io.Reader) ([]int32, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("npy: reading: %w", err)
	}
	return DecodeNPYInt32(data)
}

// LoadNPYInt32 reads the .npy file at path with DecodeNPYInt32; errors name the file.
func LoadNPYInt32(path string) ([]int32, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err // *PathError names the file
	}
	v, err := DecodeNPYInt32(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}

// WriteNPYInt32 writes values as a version 1.0 .npy file holding a 1-D little-endian
// int32 array, header padded to a multiple of 64 bytes as NumPy does.
func WriteNPYInt32(w io.Writer, values []int32) error {
	dict := fmt.Sprintf("{'descr': '<i4', 'fortran_order': False, 'shape': (%d,), }", len(values))
	total := len(npyMagic) + 4 + len(dict) + 1
	pad := (64 - total%64) % 64
	var buf bytes.Buffer
	buf.WriteString(npyMagic)
	buf.Write([]byte{1, 0})
	hlen := len(dict) + pad + 1
	if hlen > math.MaxUint16 {
		return errors.New("npy: header too long")
	}
	buf.Write([]byte{byte(hlen), byte(hlen >> 8)})
	buf.WriteString(dict)
	buf.WriteString(strings.Repeat(" ", pad))
	buf.WriteByte('\n')
	body := make([]byte, 4*len(values))
	for i, v := range values {
		binary.LittleEndian.PutUint32(body[4*i:], uint32(v))
	}
	buf.Write(body)
	_, err := w.Write(buf.Bytes())
	return err
}

// pyParser parses the subset of Python literals found in .npy headers: dicts, tuples,
// lists, strings, integers, True, False and None.
type pyParser struct {
	s     string
	pos   int
	depth int
}

func (p *pyParser) skipSpace() {
	for p.pos < len(p.s) && (p.s[p.pos] == ' ' || p.s[p.pos] == '\t' || p.s[p.pos] == '\n' || p.s[p.pos] == '\r') {
		p.pos++
	}
}

func (p *pyParser) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *pyParser) value() (any, error) {
	p.skipSpace()
	if p.pos >= len(p.s) {
		return nil, p.errorf("unexpected end of header")
	}
	if p.depth > 16 {
		return nil, p.errorf("nesting too deep")
	}
	switch c := p.s[p.pos]; {
	case c == '{':
		return p.dict()
	case c == '(' || c == '[':
		return p.sequence()
	case c == '\'' || c == '"':
		return p.str()
	case c == '-' || c == '+' || (c >= '0' && c <= '9'):
		return p.integer()
	default:
		for _, kw := range []struct {
			s string
			v any
		}{{"True", true}, {"False", false}, {"None", nil}} {
			if strings.HasPrefix(p.s[p.pos:], kw.s) {
				p.pos += len(kw.s)
				return kw.v, nil
			}
		}
		return nil, p.errorf("unexpected character %q", c)
	}
}

func (p *pyParser) dict() (any, error) {
	p.pos++ // '{'
	p.depth++
	defer func() { p.depth-- }()
	out := map[string]any{}
	for {
		p.skipSpace()
		if p.pos < len(p.s) && p.s[p.pos] == '}' {
			p.pos++
			return out, nil
		}
		k, err := p.value()
		if err != nil {
			return nil, err
		}
		key, ok := k.(string)
		if !ok {
			return nil, p.errorf("dictionary key %v is not a string", k)
		}
		if _, dup := out[key]; dup {
			return nil, p.errorf("duplicate key %q", key)
		}
		p.skipSpace()
		if p.pos >= len(p.s) || p.s[p.pos] != ':' {
			return nil, p.errorf("expected ':' after key %q", key)
		}
		p.pos++
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		out[key] = v
		p.skipSpace()
		if p.pos >= len(p.s) {
			return nil, p.errorf("unterminated dictionary")
		}
		switch p.s[p.pos] {
		case ',':
			p.pos++
		case '}':
		default:
			return nil, p.errorf("expected ',' or '}' in dictionary, got %q", p.s[p.pos])
		}
	}
}

func (p *pyParser) sequence() (any, error) {
	closer := byte(')')
	if p.s[p.pos] == '[' {
		closer = ']'
	}
	p.pos++
	p.depth++
	defer func() { p.depth-- }()
	out := []any{}
	for {
		p.skipSpace()
		if p.pos < len(p.s) && p.s[p.pos] == closer {
			p.pos++
			return out, nil
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		p.skipSpace()
		if p.pos >= len(p.s) {
			return nil, p.errorf("unterminated tuple")
		}
		switch p.s[p.pos] {
		case ',':
			p.pos++
		case closer:
		default:
			return nil, p.errorf("expected ',' or %q in tuple, got %q", closer, p.s[p.pos])
		}
	}
}

func (p *pyParser) str() (any, error) {
	q := p.s[p.pos]
	p.pos++
	var b strings.Builder
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == q:
			p.pos++
			return b.String(), nil
		case c == '\\':
			if p.pos+1 >= len(p.s) {
				return nil, p.errorf("unterminated escape")
			}
			b.WriteByte(p.s[p.pos+1])
			p.pos += 2
		default:
			b.WriteByte(c)
			p.pos++
		}
	}
	return nil, p.errorf("unterminated string")
}

func (p *pyParser) integer() (any, error) {
	start := p.pos
	if p.s[p.pos] == '-' || p.s[p.pos] == '+' {
		p.pos++
	}
	for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
		p.pos++
	}
	// NumPy may write Python 2 long literals such as 3L.
	lit := p.s[start:p.pos]
	if p.pos < len(p.s) && (p.s[p.pos] == 'L' || p.s[p.pos] == 'l') {
		p.pos++
	}
	n, err := strconv.ParseInt(lit, 10, 64)
	if err != nil {
		return nil, p.errorf("bad integer %q", lit)
	}
	return n, nil
}
