package wire

import (
	"bytes"
	"encoding/binary"
	"math"
)

// Span-mode readers: validating skips and typed reads at an offset, for
// both coders (see decode.go).

// internKeys maps known key names to themselves so that decoding a key
// needs no allocation (the map lookup with string(b) does not copy).
var internKeys = func() map[string]string {
	m := make(map[string]string, numKeys)
	for _, k := range keyNames {
		m[k] = k
	}
	return m
}()

// backingLimit bounds the payloads whose strings are cut from one shared
// copy: a long-lived id then pins at most this many bytes.
const backingLimit = 4096

// keyString returns the key b[i:j]: cut from the backing copy when there
// is one, else interned when known, else copied.
func keyString(b []byte, backing string, i, j int) string {
	if backing != "" {
		return backing[i:j]
	}
	if k, ok := internKeys[string(b[i:j])]; ok {
		return k
	}
	return string(b[i:j])
}

func (r *jsonReader) keyString(i, j int) string { return keyString(r.b, r.backing, i, j) }

func backingFor(payload []byte) string {
	if len(payload) <= backingLimit {
		return string(payload)
	}
	return ""
}

// addPair appends an entry. Repeated keys are resolved on reading: the last
// one wins, as in the generic decoders (see dec.lookup and dec.extra).
func addPair(dst []pair, ks, ke, pos int) ([]pair, error) {
	if len(dst) >= maxSpanPairs {
		return dst, errTooWide
	}
	return append(dst, pair{ks: int32(ks), ke: int32(ke), pos: int32(pos)}), nil
}

// maxSpanPayload keeps offsets within int32; larger payloads (beyond the
// 20 MiB frame limit anyway) take the generic path.
const maxSpanPayload = 1<<31 - 1

// ---- JSON ----

// end checks that only whitespace follows the top-level value.
func (r *jsonReader) end() error {
	r.ws()
	if r.i != len(r.b) {
		return r.errf("trailing data")
	}
	return nil
}

func (r *jsonReader) skip() error {
	r.ws()
	if r.i >= len(r.b) {
		return r.errf("unexpected end of input")
	}
	switch c := r.b[r.i]; {
	case c == '{':
		if err := r.enter(); err != nil {
			return err
		}
		r.i++
		r.ws()
		if r.i < len(r.b) && r.b[r.i] == '}' {
			r.i++
			r.depth--
			return nil
		}
		for {
			r.ws()
			if r.i >= len(r.b) || r.b[r.i] != '"' {
				return r.errf("expected object key")
			}
			if err := r.skipStr(); err != nil {
				return err
			}
			r.ws()
			if r.i >= len(r.b) || r.b[r.i] != ':' {
				return r.errf("expected ':'")
			}
			r.i++
			if err := r.skip(); err != nil {
				return err
			}
			r.ws()
			if r.i >= len(r.b) {
				return r.errf("unterminated object")
			}
			switch r.b[r.i] {
			case ',':
				r.i++
			case '}':
				r.i++
				r.depth--
				return nil
			default:
				return r.errf("expected ',' or '}'")
			}
		}
	case c == '[':
		if err := r.enter(); err != nil {
			return err
		}
		r.i++
		r.ws()
		if r.i < len(r.b) && r.b[r.i] == ']' {
			r.i++
			r.depth--
			return nil
		}
		for {
			if err := r.skip(); err != nil {
				return err
			}
			r.ws()
			if r.i >= len(r.b) {
				return r.errf("unterminated array")
			}
			switch r.b[r.i] {
			case ',':
				r.i++
			case ']':
				r.i++
				r.depth--
				return nil
			default:
				return r.errf("expected ',' or ']'")
			}
		}
	case c == '"':
		return r.skipStr()
	case c == '-' || (c >= '0' && c <= '9'):
		if c == '-' && r.lit("-Infinity") {
			return nil
		}
		_, err := r.scanNumber()
		return err
	case c == 't' && r.lit("true"), c == 'f' && r.lit("false"), c == 'n' && r.lit("null"),
		c == 'N' && r.lit("NaN"), c == 'I' && r.lit("Infinity"):
		return nil
	default:
		return r.errf("unexpected character %q", c)
	}
}

// skipStr validates a string exactly as str does, without building it.
func (r *jsonReader) skipStr() error {
	r.i++
	if j, ok := r.plainEnd(); ok {
		r.i = j + 1
		return nil
	}
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case '"':
			r.i++
			return nil
		case '\\':
			if r.i+1 >= len(r.b) {
				return r.errf("unterminated escape")
			}
			e := r.b[r.i+1]
			r.i += 2
			switch e {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if _, ok := r.hex4(); !ok {
					return r.errf("bad \\u escape")
				}
			default:
				return r.errf("bad escape \\%c", e)
			}
		default:
			r.i++
		}
	}
	return r.errf("unterminated string")
}

// plainEnd returns the offset of the closing quote of the string starting
// at r.i when the string has no escapes (the common case), found with the
// vectorised bytes.IndexByte.
func (r *jsonReader) plainEnd() (int, bool) {
	rest := r.b[r.i:]
	// Keys are short: a plain loop beats the call overhead there.
	for j := 0; j < len(rest) && j < 16; j++ {
		switch rest[j] {
		case '"':
			return r.i + j, true
		case '\\':
			return 0, false
		}
	}
	q := bytes.IndexByte(rest, '"')
	if q < 0 || bytes.IndexByte(rest[:q], '\\') >= 0 {
		return 0, false
	}
	return r.i + q, true
}

// key reads an object key, interned when known.
func (r *jsonReader) key() (string, error) {
	r.i++
	if j, ok := r.plainEnd(); ok {
		start := r.i
		r.i = j + 1
		return r.keyString(start, j), nil
	}
	r.i--
	start := r.i + 1
	for j := start; j < len(r.b); j++ {
		switch r.b[j] {
		case '"':
			r.i = j + 1
			return r.keyString(start, j), nil
		case '\\':
			return r.str()
		}
	}
	r.i = len(r.b)
	return "", r.errf("unterminated string")
}

// plainEnd1 is plainEnd for the string whose opening quote is at r.i.
func (r *jsonReader) plainEnd1() (int, bool) {
	r.i++
	j, ok := r.plainEnd()
	r.i--
	return j, ok
}

func (r *jsonReader) payload() ([]byte, string) { return r.b, r.backing }

func (r *jsonReader) objectAt(pos, depth int, dst []pair) ([]pair, bool, error) {
	if len(r.b) > maxSpanPayload {
		return dst, false, errTooWide
	}
	r.i = pos
	r.ws()
	if r.i >= len(r.b) || r.b[r.i] != '{' {
		return dst, false, nil
	}
	if depth > MaxDepth {
		return dst, false, r.errf("nesting deeper than %d", MaxDepth)
	}
	r.i++
	r.ws()
	if r.i < len(r.b) && r.b[r.i] == '}' {
		r.i++
		return dst, true, nil
	}
	for {
		r.ws()
		if r.i >= len(r.b) || r.b[r.i] != '"' {
			return dst, false, r.errf("expected object key")
		}
		// A plain key is kept as offsets; one with escapes is decoded.
		ks, ke := r.i+1, -1
		var k string
		if j, ok := r.plainEnd1(); ok {
			ke, r.i = j, j+1
		} else {
			var err error
			if k, err = r.str(); err != nil {
				return dst, false, err
			}
		}
		r.ws()
		if r.i >= len(r.b) || r.b[r.i] != ':' {
			return dst, false, r.errf("expected ':'")
		}
		r.i++
		r.ws()
		vpos := r.i
		r.depth = depth
		if err := r.skip(); err != nil {
			return dst, false, err
		}
		var err error
		if ke >= 0 && ke > ks {
			dst, err = addPair(dst, ks, ke, vpos)
		} else {
			// Empty or escaped key: keep the decoded string.
			dst, err = addPair(dst, 0, 0, vpos)
			if err == nil {
				dst[len(dst)-1].key = k
				r.keyed = true
			}
		}
		if err != nil {
			return dst, false, err
		}
		r.ws()
		if r.i >= len(r.b) {
			return dst, false, r.errf("unterminated object")
		}
		switch r.b[r.i] {
		case ',':
			r.i++
		case '}':
			r.i++
			return dst, true, nil
		default:
			return dst, false, r.errf("expected ',' or '}'")
		}
	}
}

func (r *jsonReader) strAt(pos int) (string, bool) {
	if r.b[pos] != '"' {
		return "", false
	}
	r.i = pos
	s, err := r.str()
	return s, err == nil
}

func (r *jsonReader) intAt(pos int) (int64, uint64, intKind) {
	c := r.b[pos]
	if c != '-' && (c < '0' || c > '9') {
		return 0, 0, notInt
	}
	r.i = pos
	if r.lit("-Infinity") {
		return 0, 0, notInt
	}
	n, err := r.scanNumber()
	if err != nil || n.isFloat {
		return 0, 0, notInt
	}
	return r.integer(n)
}

func (r *jsonReader) boolAt(pos int) (bool, bool) {
	r.i = pos
	switch {
	case r.lit("true"):
		return true, true
	case r.lit("false"):
		return false, true
	}
	return false, false
}

func (r *jsonReader) nullAt(pos int) bool {
	r.i = pos
	return r.lit("null")
}

func (r *jsonReader) mapAt(pos int) bool { return r.b[pos] == '{' }

func (r *jsonReader) strsAt(pos int) ([]string, bool) {
	if r.b[pos] != '[' {
		return nil, false
	}
	r.i = pos + 1
	out := make([]string, 0, 4)
	for {
		r.ws()
		if r.i >= len(r.b) {
			return nil, false
		}
		switch r.b[r.i] {
		case ']':
			return out, true
		case ',':
			r.i++
			continue
		case '"':
			s, err := r.str()
			if err != nil {
				return nil, false
			}
			out = append(out, s)
		default:
			return nil, false
		}
	}
}

func (r *jsonReader) valueAt(pos, depth int) (any, error) {
	r.i, r.depth = pos, depth
	return r.value()
}

// ---- msgpack ----

// end accepts trailing bytes: Calvin decodes the first object only.
func (r *mpReader) end() error { return nil }

func isMpStr(c byte) bool {
	return (c >= 0xa0 && c <= 0xbf) || c == 0xd9 || c == 0xda || c == 0xdb || c == 0xc4 || c == 0xc5 || c == 0xc6
}

// strBounds returns the payload span of the string at r.i and moves past it.
func (r *mpReader) strBounds() (int, int, error) {
	c := r.b[r.i]
	r.i++
	var n int
	var err error
	switch {
	case c >= 0xa0 && c <= 0xbf:
		n = int(c & 0x1f)
	case c == 0xd9 || c == 0xc4:
		n, err = r.u8()
	case c == 0xda || c == 0xc5:
		n, err = r.u16()
	default: // 0xdb, 0xc6
		n, err = r.length32()
	}
	if err != nil {
		return 0, 0, err
	}
	if err := r.need(n); err != nil {
		return 0, 0, err
	}
	r.i += n
	return r.i - n, r.i, nil
}

// skip validates and steps over one value, with the checks of value.
func (r *mpReader) skip() error {
	if err := r.need(1); err != nil {
		return err
	}
	c := r.b[r.i]
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		r.i++
		return nil
	case isMpStr(c):
		_, _, err := r.strBounds()
		return err
	case c >= 0x80 && c <= 0x8f:
		r.i++
		return r.skipMap(int(c & 0x0f))
	case c >= 0x90 && c <= 0x9f:
		r.i++
		return r.skipArray(int(c & 0x0f))
	}
	r.i++
	var err error
	switch c {
	case 0xcc, 0xd0:
		err = r.need(1)
		r.i++
	case 0xcd, 0xd1:
		err = r.need(2)
		r.i += 2
	case 0xce, 0xd2, 0xca:
		err = r.need(4)
		r.i += 4
	case 0xcf, 0xd3, 0xcb:
		err = r.need(8)
		r.i += 8
	case 0xdc, 0xde:
		var n int
		if n, err = r.u16(); err == nil {
			if c == 0xdc {
				return r.skipArray(n)
			}
			return r.skipMap(n)
		}
	case 0xdd, 0xdf:
		var n int
		if n, err = r.length32(); err == nil {
			if c == 0xdd {
				return r.skipArray(n)
			}
			return r.skipMap(n)
		}
	case 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		r.i--
		return r.errf("ext type 0x%02x not supported", c)
	default:
		r.i--
		return r.errf("invalid type byte 0x%02x", c)
	}
	if err != nil {
		return r.errf("unexpected end of input")
	}
	return nil
}

func (r *mpReader) skipArray(n int) error {
	if err := r.enter(); err != nil {
		return err
	}
	for j := 0; j < n; j++ {
		if err := r.skip(); err != nil {
			return err
		}
	}
	r.depth--
	return nil
}

func (r *mpReader) skipMap(n int) error {
	if err := r.enter(); err != nil {
		return err
	}
	for j := 0; j < n; j++ {
		if err := r.need(1); err != nil {
			return err
		}
		if !isMpStr(r.b[r.i]) {
			// value() would decode it and then refuse it as a key
			if err := r.skip(); err != nil {
				return err
			}
			return r.errf("map key is not a string")
		}
		if _, _, err := r.strBounds(); err != nil {
			return err
		}
		if err := r.skip(); err != nil {
			return err
		}
	}
	r.depth--
	return nil
}

// mapHeader reads a map header at r.i.
func (r *mpReader) mapHeader() (int, bool, error) {
	c := r.b[r.i]
	switch {
	case c >= 0x80 && c <= 0x8f:
		r.i++
		return int(c & 0x0f), true, nil
	case c == 0xde:
		r.i++
		n, err := r.u16()
		return n, true, err
	case c == 0xdf:
		r.i++
		n, err := r.length32()
		return n, true, err
	}
	return 0, false, nil
}

func (r *mpReader) payload() ([]byte, string) { return r.b, r.backing }

func (r *mpReader) objectAt(pos, depth int, dst []pair) ([]pair, bool, error) {
	if len(r.b) > maxSpanPayload {
		return dst, false, errTooWide
	}
	r.i = pos
	if err := r.need(1); err != nil {
		return dst, false, err
	}
	n, ok, err := r.mapHeader()
	if !ok || err != nil {
		return dst, false, err
	}
	if depth > MaxDepth {
		return dst, false, r.errf("nesting deeper than %d", MaxDepth)
	}
	for j := 0; j < n; j++ {
		if err := r.need(1); err != nil {
			return dst, false, err
		}
		if !isMpStr(r.b[r.i]) {
			r.depth = depth
			if err := r.skip(); err != nil {
				return dst, false, err
			}
			return dst, false, r.errf("map key is not a string")
		}
		a, b, err := r.strBounds()
		if err != nil {
			return dst, false, err
		}
		vpos := r.i
		r.depth = depth
		if err := r.skip(); err != nil {
			return dst, false, err
		}
		if b > a {
			dst, err = addPair(dst, a, b, vpos)
		} else {
			dst, err = addPair(dst, 0, 0, vpos) // empty key: key ""
		}
		if err != nil {
			return dst, false, err
		}
	}
	return dst, true, nil
}

func (r *mpReader) strAt(pos int) (string, bool) {
	if !isMpStr(r.b[pos]) {
		return "", false
	}
	r.i = pos
	a, b, err := r.strBounds()
	if err != nil {
		return "", false
	}
	if r.backing != "" {
		return r.backing[a:b], true
	}
	return string(r.b[a:b]), true
}

func (r *mpReader) intAt(pos int) (int64, uint64, intKind) {
	c := r.b[pos]
	switch {
	case c <= 0x7f:
		return int64(c), 0, isInt64
	case c >= 0xe0:
		return int64(int8(c)), 0, isInt64
	}
	// Offsets come from a validating scan, so the bytes are there.
	p := r.b[pos+1:]
	switch c {
	case 0xcc:
		return int64(p[0]), 0, isInt64
	case 0xcd:
		return int64(binary.BigEndian.Uint16(p)), 0, isInt64
	case 0xce:
		return int64(binary.BigEndian.Uint32(p)), 0, isInt64
	case 0xcf:
		u := binary.BigEndian.Uint64(p)
		if u > math.MaxInt64 {
			return 0, u, isUint64
		}
		return int64(u), 0, isInt64
	case 0xd0:
		return int64(int8(p[0])), 0, isInt64
	case 0xd1:
		return int64(int16(binary.BigEndian.Uint16(p))), 0, isInt64
	case 0xd2:
		return int64(int32(binary.BigEndian.Uint32(p))), 0, isInt64
	case 0xd3:
		return int64(binary.BigEndian.Uint64(p)), 0, isInt64
	}
	return 0, 0, notInt
}

func (r *mpReader) boolAt(pos int) (bool, bool) {
	switch r.b[pos] {
	case 0xc3:
		return true, true
	case 0xc2:
		return false, true
	}
	return false, false
}

func (r *mpReader) nullAt(pos int) bool { return r.b[pos] == 0xc0 }

func (r *mpReader) mapAt(pos int) bool {
	c := r.b[pos]
	return (c >= 0x80 && c <= 0x8f) || c == 0xde || c == 0xdf
}

func (r *mpReader) strsAt(pos int) ([]string, bool) {
	c := r.b[pos]
	r.i = pos + 1
	var n int
	var err error
	switch {
	case c >= 0x90 && c <= 0x9f:
		n = int(c & 0x0f)
	case c == 0xdc:
		n, err = r.u16()
	case c == 0xdd:
		n, err = r.length32()
	default:
		return nil, false
	}
	if err != nil {
		return nil, false
	}
	out := make([]string, 0, min(n, len(r.b)-r.i))
	for j := 0; j < n; j++ {
		if r.i >= len(r.b) || !isMpStr(r.b[r.i]) {
			return nil, false
		}
		a, b, err := r.strBounds()
		if err != nil {
			return nil, false
		}
		if r.backing != "" {
			out = append(out, r.backing[a:b])
		} else {
			out = append(out, string(r.b[a:b]))
		}
	}
	return out, true
}

func (r *mpReader) valueAt(pos, depth int) (any, error) {
	r.i, r.depth = pos, depth
	return r.value()
}
