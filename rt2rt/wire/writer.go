package wire

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"sync"
	"unicode/utf8"
)

// writer appends one encoded value to b, in JSON (Python json.dumps style,
// compact, ASCII only) or in Calvin's old-spec msgpack dialect.
type writer struct {
	b     []byte
	mp    bool
	depth int
	err   error
	objs  [6]obj // scratch for typed objects being written (see object)
	nobj  int
}

var writerPool = sync.Pool{New: func() any { return new(writer) }}

func getWriter(dst []byte, mp bool) *writer {
	w := writerPool.Get().(*writer)
	w.b, w.mp = dst, mp
	return w
}

// release returns w to the pool and gives back its buffer.
func (w *writer) release() ([]byte, error) {
	b, err := w.b, w.err
	*w = writer{}
	writerPool.Put(w)
	return b, err
}

func (w *writer) fail(err error) {
	if w.err == nil {
		w.err = err
	}
}

// sep adds the JSON separator before a key or list element: none right after
// an opening bracket, a comma otherwise. No value ends in '{' or '[', so the
// last byte tells whether this is the first member.
func (w *writer) sep() {
	if n := len(w.b); n > 0 {
		if c := w.b[n-1]; c != '{' && c != '[' {
			w.b = append(w.b, ',')
		}
	}
}

func (w *writer) null() {
	if w.mp {
		w.b = append(w.b, 0xc0)
	} else {
		w.b = append(w.b, "null"...)
	}
}

func (w *writer) bool(v bool) {
	switch {
	case w.mp && v:
		w.b = append(w.b, 0xc3)
	case w.mp:
		w.b = append(w.b, 0xc2)
	case v:
		w.b = append(w.b, "true"...)
	default:
		w.b = append(w.b, "false"...)
	}
}

func (w *writer) int(v int64) {
	if v >= 0 {
		w.uint(uint64(v))
		return
	}
	if !w.mp {
		w.b = strconv.AppendInt(w.b, v, 10)
		return
	}
	switch {
	case v >= -32:
		w.b = append(w.b, byte(v))
	case v >= math.MinInt8:
		w.b = append(w.b, 0xd0, byte(v))
	case v >= math.MinInt16:
		w.b = append(w.b, 0xd1, byte(v>>8), byte(v))
	case v >= math.MinInt32:
		w.b = binary.BigEndian.AppendUint32(append(w.b, 0xd2), uint32(v))
	default:
		w.b = binary.BigEndian.AppendUint64(append(w.b, 0xd3), uint64(v))
	}
}

func (w *writer) uint(v uint64) {
	if !w.mp {
		w.b = strconv.AppendUint(w.b, v, 10)
		return
	}
	switch {
	case v <= 0x7f:
		w.b = append(w.b, byte(v))
	case v <= math.MaxUint8:
		w.b = append(w.b, 0xcc, byte(v))
	case v <= math.MaxUint16:
		w.b = append(w.b, 0xcd, byte(v>>8), byte(v))
	case v <= math.MaxUint32:
		w.b = binary.BigEndian.AppendUint32(append(w.b, 0xce), uint32(v))
	default:
		w.b = binary.BigEndian.AppendUint64(append(w.b, 0xcf), v)
	}
}

func (w *writer) bigInt(v *big.Int) {
	if v == nil {
		w.null()
		return
	}
	if v.IsInt64() {
		w.int(v.Int64())
		return
	}
	if v.IsUint64() {
		w.uint(v.Uint64())
		return
	}
	if w.mp {
		w.fail(fmt.Errorf("%w: integer %s does not fit in msgpack", ErrUnencodable, v))
		return
	}
	w.b = v.Append(w.b, 10)
}

func (w *writer) float(f float64) {
	if w.mp {
		w.b = binary.BigEndian.AppendUint64(append(w.b, 0xcb), math.Float64bits(f))
		return
	}
	switch {
	case math.IsNaN(f):
		w.b = append(w.b, "NaN"...)
		return
	case math.IsInf(f, 1):
		w.b = append(w.b, "Infinity"...)
		return
	case math.IsInf(f, -1):
		w.b = append(w.b, "-Infinity"...)
		return
	}
	// Like Python's repr: plain notation in the usual range, and always a
	// '.' or an exponent so that the peer reads it back as a float.
	abs := math.Abs(f)
	if abs == 0 || (abs >= 1e-4 && abs < 1e16) {
		start := len(w.b)
		w.b = strconv.AppendFloat(w.b, f, 'f', -1, 64)
		for _, c := range w.b[start:] {
			if c == '.' {
				return
			}
		}
		w.b = append(w.b, '.', '0')
		return
	}
	w.b = strconv.AppendFloat(w.b, f, 'e', -1, 64)
}

const hexDigits = "0123456789abcdef"

func (w *writer) str(s string) {
	if w.mp {
		n := len(s)
		switch {
		case n <= 31:
			w.b = append(w.b, 0xa0|byte(n))
		case n <= math.MaxUint16:
			w.b = append(w.b, 0xda, byte(n>>8), byte(n))
		case uint64(n) <= math.MaxUint32:
			w.b = binary.BigEndian.AppendUint32(append(w.b, 0xdb), uint32(n))
		default:
			w.fail(fmt.Errorf("%w: string of %d bytes", ErrUnencodable, n))
			return
		}
		w.b = append(w.b, s...)
		return
	}
	w.b = append(w.b, '"')
	start := 0
	for i := plainPrefix(s); i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f && c != '"' && c != '\\' {
			i++
			continue
		}
		w.b = append(w.b, s[start:i]...)
		if c < 0x80 {
			switch c {
			case '"', '\\':
				w.b = append(w.b, '\\', c)
			case '\n':
				w.b = append(w.b, '\\', 'n')
			case '\r':
				w.b = append(w.b, '\\', 'r')
			case '\t':
				w.b = append(w.b, '\\', 't')
			case '\b':
				w.b = append(w.b, '\\', 'b')
			case '\f':
				w.b = append(w.b, '\\', 'f')
			default:
				w.b = append(w.b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			// Python 2 cannot JSON-encode such bytes either; failing here
			// makes the send fail visibly instead of sending garbage.
			w.fail(fmt.Errorf("%w: string is not valid UTF-8 (byte %d)", ErrUnencodable, i))
			return
		}
		if r > 0xffff {
			r -= 0x10000
			w.u4(0xd800 + (r>>10)&0x3ff)
			w.u4(0xdc00 + r&0x3ff)
		} else {
			w.u4(r)
		}
		i += size
		start = i
	}
	w.b = append(w.b, s[start:]...)
	w.b = append(w.b, '"')
}

func (w *writer) u4(r rune) {
	w.b = append(w.b, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

func (w *writer) bytesStr(p []byte) {
	// Converting keeps one code path; binary payloads are rare on this link.
	w.str(string(p))
}

func (w *writer) arrayHeader(n int) {
	if !w.mp {
		w.b = append(w.b, '[')
		return
	}
	switch {
	case n <= 15:
		w.b = append(w.b, 0x90|byte(n))
	case n <= math.MaxUint16:
		w.b = append(w.b, 0xdc, byte(n>>8), byte(n))
	default:
		w.b = binary.BigEndian.AppendUint32(append(w.b, 0xdd), uint32(n))
	}
}

func (w *writer) arrayEnd() {
	if !w.mp {
		w.b = append(w.b, ']')
	}
}

func (w *writer) mapHeader(n int) {
	if !w.mp {
		w.b = append(w.b, '{')
		return
	}
	switch {
	case n <= 15:
		w.b = append(w.b, 0x80|byte(n))
	case n <= math.MaxUint16:
		w.b = append(w.b, 0xde, byte(n>>8), byte(n))
	default:
		w.b = binary.BigEndian.AppendUint32(append(w.b, 0xdf), uint32(n))
	}
}

func (w *writer) mapEnd() {
	if !w.mp {
		w.b = append(w.b, '}')
	}
}

// key writes a map key (and, for JSON, the separators around it).
func (w *writer) key(k string) {
	if !w.mp {
		w.sep()
		w.str(k)
		w.b = append(w.b, ':')
		return
	}
	w.str(k)
}

// elem prepares the next list element.
func (w *writer) elem() {
	if !w.mp {
		w.sep()
	}
}

func (w *writer) enter() bool {
	w.depth++
	if w.depth > MaxDepth {
		w.fail(fmt.Errorf("%w: nesting deeper than %d", ErrUnencodable, MaxDepth))
		return false
	}
	return true
}

// value writes any supported generic value.
func (w *writer) value(v any) {
	if w.err != nil {
		return
	}
	switch x := v.(type) {
	case nil:
		w.null()
	case string:
		w.str(x)
	case int64:
		w.int(x)
	case bool:
		w.bool(x)
	case float64:
		w.float(x)
	case map[string]any:
		if !w.enter() {
			return
		}
		w.mapHeader(len(x))
		for k, e := range x {
			w.key(k)
			w.value(e)
		}
		w.mapEnd()
		w.depth--
	case []any:
		if !w.enter() {
			return
		}
		w.arrayHeader(len(x))
		for _, e := range x {
			w.elem()
			w.value(e)
		}
		w.arrayEnd()
		w.depth--
	case uint64:
		w.uint(x)
	case int:
		w.int(int64(x))
	case int32:
		w.int(int64(x))
	case int16:
		w.int(int64(x))
	case int8:
		w.int(int64(x))
	case uint:
		w.uint(uint64(x))
	case uint32:
		w.uint(uint64(x))
	case uint16:
		w.uint(uint64(x))
	case uint8:
		w.uint(uint64(x))
	case float32:
		w.float(float64(x))
	case *big.Int:
		w.bigInt(x)
	case []byte:
		w.bytesStr(x)
	case []string:
		w.strings(x)
	case []int:
		w.arrayHeader(len(x))
		for _, e := range x {
			w.elem()
			w.int(int64(e))
		}
		w.arrayEnd()
	case []map[string]any:
		if !w.enter() {
			return
		}
		w.arrayHeader(len(x))
		for _, e := range x {
			w.elem()
			w.value(e)
		}
		w.arrayEnd()
		w.depth--
	case map[string]string:
		w.mapHeader(len(x))
		for k, e := range x {
			w.key(k)
			w.str(e)
		}
		w.mapEnd()
	case fielder:
		if !w.enter() {
			return
		}
		w.object(x)
		w.depth--
	default:
		w.fail(fmt.Errorf("%w: unsupported type %T", ErrUnencodable, v))
	}
}

func (w *writer) strings(x []string) {
	w.arrayHeader(len(x))
	for _, e := range x {
		w.elem()
		w.str(e)
	}
	w.arrayEnd()
}
