package wire

import (
	"encoding/binary"
	"fmt"
	"math"
)

// mpReader decodes msgpack (old and new spec) into generic values. Every
// str, raw and bin family becomes a string; ext types are rejected.
type mpReader struct {
	b       []byte
	i       int
	depth   int
	backing string // string(b) when set: strings are cut from it without copying
}

func (r *mpReader) errf(format string, args ...any) error {
	return &DecodeError{Coder: NameMsgpack, Offset: r.i, Reason: fmt.Sprintf(format, args...)}
}

// decodeMsgpack decodes the first object of b; trailing bytes are ignored
// (constrained's CONFIG frame has some, spec §2.10). It returns the number of
// bytes consumed.
func decodeMsgpack(b []byte) (any, int, error) {
	r := mpReader{b: b}
	v, err := r.value()
	if err != nil {
		return nil, 0, err
	}
	return v, r.i, nil
}

func (r *mpReader) need(n int) error {
	if n < 0 || len(r.b)-r.i < n {
		return r.errf("unexpected end of input")
	}
	return nil
}

func (r *mpReader) u8() (int, error) {
	if err := r.need(1); err != nil {
		return 0, err
	}
	v := r.b[r.i]
	r.i++
	return int(v), nil
}

func (r *mpReader) u16() (int, error) {
	if err := r.need(2); err != nil {
		return 0, err
	}
	v := binary.BigEndian.Uint16(r.b[r.i:])
	r.i += 2
	return int(v), nil
}

func (r *mpReader) u32() (uint32, error) {
	if err := r.need(4); err != nil {
		return 0, err
	}
	v := binary.BigEndian.Uint32(r.b[r.i:])
	r.i += 4
	return v, nil
}

func (r *mpReader) u64() (uint64, error) {
	if err := r.need(8); err != nil {
		return 0, err
	}
	v := binary.BigEndian.Uint64(r.b[r.i:])
	r.i += 8
	return v, nil
}

// length reads a 32-bit count and bounds it by the bytes left, so that a
// forged count cannot make us allocate gigabytes.
func (r *mpReader) length32() (int, error) {
	n, err := r.u32()
	if err != nil {
		return 0, err
	}
	if uint64(n) > uint64(len(r.b)-r.i) {
		return 0, r.errf("count %d exceeds payload", n)
	}
	return int(n), nil
}

func (r *mpReader) strN(n int) (string, error) {
	if err := r.need(n); err != nil {
		return "", err
	}
	var s string
	if r.backing != "" {
		s = r.backing[r.i : r.i+n]
	} else {
		s = string(r.b[r.i : r.i+n])
	}
	r.i += n
	return s, nil
}

func (r *mpReader) value() (any, error) {
	if err := r.need(1); err != nil {
		return nil, err
	}
	c := r.b[r.i]
	r.i++
	switch {
	case c <= 0x7f:
		return int64(c), nil
	case c >= 0xe0:
		return int64(int8(c)), nil
	case c >= 0xa0 && c <= 0xbf:
		return r.strN(int(c & 0x1f))
	case c >= 0x80 && c <= 0x8f:
		return r.mapN(int(c & 0x0f))
	case c >= 0x90 && c <= 0x9f:
		return r.arrayN(int(c & 0x0f))
	}
	switch c {
	case 0xc0:
		return nil, nil
	case 0xc2:
		return false, nil
	case 0xc3:
		return true, nil
	case 0xcc:
		n, err := r.u8()
		return int64(n), err
	case 0xcd:
		n, err := r.u16()
		return int64(n), err
	case 0xce:
		n, err := r.u32()
		return int64(n), err
	case 0xcf:
		n, err := r.u64()
		if err != nil {
			return nil, err
		}
		if n > math.MaxInt64 {
			return n, nil
		}
		return int64(n), nil
	case 0xd0:
		n, err := r.u8()
		return int64(int8(n)), err
	case 0xd1:
		n, err := r.u16()
		return int64(int16(n)), err
	case 0xd2:
		n, err := r.u32()
		return int64(int32(n)), err
	case 0xd3:
		n, err := r.u64()
		return int64(n), err
	case 0xca:
		n, err := r.u32()
		return float64(math.Float32frombits(n)), err
	case 0xcb:
		n, err := r.u64()
		return math.Float64frombits(n), err
	case 0xd9, 0xc4: // str8, bin8
		n, err := r.u8()
		if err != nil {
			return nil, err
		}
		return r.strN(n)
	case 0xda, 0xc5: // raw16/str16, bin16
		n, err := r.u16()
		if err != nil {
			return nil, err
		}
		return r.strN(n)
	case 0xdb, 0xc6: // raw32/str32, bin32
		n, err := r.length32()
		if err != nil {
			return nil, err
		}
		return r.strN(n)
	case 0xdc:
		n, err := r.u16()
		if err != nil {
			return nil, err
		}
		return r.arrayN(n)
	case 0xdd:
		n, err := r.length32()
		if err != nil {
			return nil, err
		}
		return r.arrayN(n)
	case 0xde:
		n, err := r.u16()
		if err != nil {
			return nil, err
		}
		return r.mapN(n)
	case 0xdf:
		n, err := r.length32()
		if err != nil {
			return nil, err
		}
		return r.mapN(n)
	case 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		r.i--
		return nil, r.errf("ext type 0x%02x not supported", c)
	}
	r.i--
	return nil, r.errf("invalid type byte 0x%02x", c)
}

func (r *mpReader) enter() error {
	r.depth++
	if r.depth > MaxDepth {
		return r.errf("nesting deeper than %d", MaxDepth)
	}
	return nil
}

func (r *mpReader) arrayN(n int) (any, error) {
	if err := r.enter(); err != nil {
		return nil, err
	}
	// Every element takes at least one byte: bound the preallocation.
	if n > len(r.b)-r.i {
		return nil, r.errf("array count %d exceeds payload", n)
	}
	l := make([]any, n)
	for j := range l {
		v, err := r.value()
		if err != nil {
			return nil, err
		}
		l[j] = v
	}
	r.depth--
	return l, nil
}

func (r *mpReader) mapN(n int) (any, error) {
	if err := r.enter(); err != nil {
		return nil, err
	}
	if n > (len(r.b)-r.i)/2 {
		return nil, r.errf("map count %d exceeds payload", n)
	}
	m := make(map[string]any, n)
	for j := 0; j < n; j++ {
		if err := r.need(1); err != nil {
			return nil, err
		}
		if !isMpStr(r.b[r.i]) {
			kv, err := r.value()
			if err != nil {
				return nil, err
			}
			return nil, r.errf("map key of type %T", kv)
		}
		a, b, err := r.strBounds()
		if err != nil {
			return nil, err
		}
		k := keyString(r.b, r.backing, a, b)
		v, err := r.value()
		if err != nil {
			return nil, err
		}
		m[k] = v
	}
	r.depth--
	return m, nil
}
