package wire

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonReader decodes JSON text into generic values. It keeps integers exact
// (int64, uint64, *big.Int), treats numbers with '.', 'e' or 'E' as floats
// and accepts Python's NaN, Infinity and -Infinity literals.
type jsonReader struct {
	b       []byte
	i       int
	depth   int
	backing string // string(b) when set: strings are cut from it without copying
	keyed   bool   // span mode stored decoded key strings in the arena
}

func (r *jsonReader) errf(format string, args ...any) error {
	return &DecodeError{Coder: NameJSON, Offset: r.i, Reason: fmt.Sprintf(format, args...)}
}

func (r *jsonReader) ws() {
	for r.i < len(r.b) {
		switch r.b[r.i] {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return
		}
	}
}

// decodeJSON decodes exactly one JSON value (surrounding whitespace allowed).
func decodeJSON(b []byte) (any, error) {
	r := jsonReader{b: b}
	v, err := r.value()
	if err != nil {
		return nil, err
	}
	r.ws()
	if r.i != len(r.b) {
		return nil, r.errf("trailing data")
	}
	return v, nil
}

func (r *jsonReader) value() (any, error) {
	r.ws()
	if r.i >= len(r.b) {
		return nil, r.errf("unexpected end of input")
	}
	switch c := r.b[r.i]; {
	case c == '{':
		return r.object()
	case c == '[':
		return r.array()
	case c == '"':
		return r.str()
	case c == '-' || (c >= '0' && c <= '9'):
		if c == '-' && r.lit("-Infinity") {
			return math.Inf(-1), nil
		}
		return r.number()
	case c == 't' && r.lit("true"):
		return true, nil
	case c == 'f' && r.lit("false"):
		return false, nil
	case c == 'n' && r.lit("null"):
		return nil, nil
	case c == 'N' && r.lit("NaN"):
		return math.NaN(), nil
	case c == 'I' && r.lit("Infinity"):
		return math.Inf(1), nil
	default:
		return nil, r.errf("unexpected character %q", c)
	}
}

func (r *jsonReader) lit(s string) bool {
	if len(r.b)-r.i >= len(s) && string(r.b[r.i:r.i+len(s)]) == s {
		r.i += len(s)
		return true
	}
	return false
}

func (r *jsonReader) enter() error {
	r.depth++
	if r.depth > MaxDepth {
		return r.errf("nesting deeper than %d", MaxDepth)
	}
	return nil
}

func (r *jsonReader) object() (any, error) {
	if err := r.enter(); err != nil {
		return nil, err
	}
	r.i++ // '{'
	m := make(map[string]any, 8)
	r.ws()
	if r.i < len(r.b) && r.b[r.i] == '}' {
		r.i++
		r.depth--
		return m, nil
	}
	for {
		r.ws()
		if r.i >= len(r.b) || r.b[r.i] != '"' {
			return nil, r.errf("expected object key")
		}
		k, err := r.key()
		if err != nil {
			return nil, err
		}
		r.ws()
		if r.i >= len(r.b) || r.b[r.i] != ':' {
			return nil, r.errf("expected ':'")
		}
		r.i++
		v, err := r.value()
		if err != nil {
			return nil, err
		}
		m[k] = v
		r.ws()
		if r.i >= len(r.b) {
			return nil, r.errf("unterminated object")
		}
		switch r.b[r.i] {
		case ',':
			r.i++
		case '}':
			r.i++
			r.depth--
			return m, nil
		default:
			return nil, r.errf("expected ',' or '}'")
		}
	}
}

func (r *jsonReader) array() (any, error) {
	if err := r.enter(); err != nil {
		return nil, err
	}
	r.i++ // '['
	l := make([]any, 0, 4)
	r.ws()
	if r.i < len(r.b) && r.b[r.i] == ']' {
		r.i++
		r.depth--
		return l, nil
	}
	for {
		v, err := r.value()
		if err != nil {
			return nil, err
		}
		l = append(l, v)
		r.ws()
		if r.i >= len(r.b) {
			return nil, r.errf("unterminated array")
		}
		switch r.b[r.i] {
		case ',':
			r.i++
		case ']':
			r.i++
			r.depth--
			return l, nil
		default:
			return nil, r.errf("expected ',' or ']'")
		}
	}
}

func (r *jsonReader) str() (string, error) {
	r.i++ // opening quote
	start := r.i
	if j, ok := r.plainEnd(); ok {
		r.i = j + 1
		return r.cut(start, j), nil
	}
	for r.i < len(r.b) {
		c := r.b[r.i]
		if c == '"' {
			s := r.cut(start, r.i)
			r.i++
			return s, nil
		}
		if c == '\\' {
			return r.strSlow(start)
		}
		r.i++
	}
	return "", r.errf("unterminated string")
}

func (r *jsonReader) strSlow(start int) (string, error) {
	out := make([]byte, 0, r.i-start+16)
	out = append(out, r.b[start:r.i]...)
	for r.i < len(r.b) {
		c := r.b[r.i]
		switch c {
		case '"':
			r.i++
			return string(out), nil
		case '\\':
			if r.i+1 >= len(r.b) {
				return "", r.errf("unterminated escape")
			}
			e := r.b[r.i+1]
			r.i += 2
			switch e {
			case '"', '\\', '/':
				out = append(out, e)
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'u':
				c1, ok := r.hex4()
				if !ok {
					return "", r.errf("bad \\u escape")
				}
				if utf16.IsSurrogate(c1) && r.i+1 < len(r.b) && r.b[r.i] == '\\' && r.b[r.i+1] == 'u' {
					save := r.i
					r.i += 2
					c2, ok := r.hex4()
					if ok {
						if d := utf16.DecodeRune(c1, c2); d != utf8.RuneError {
							out = utf8.AppendRune(out, d)
							continue
						}
					}
					r.i = save
				}
				out = utf8.AppendRune(out, c1)
			default:
				return "", r.errf("bad escape \\%c", e)
			}
		default:
			out = append(out, c)
			r.i++
		}
	}
	return "", r.errf("unterminated string")
}

func (r *jsonReader) hex4() (rune, bool) {
	if len(r.b)-r.i < 4 {
		return 0, false
	}
	var v rune
	for _, c := range r.b[r.i : r.i+4] {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	r.i += 4
	return v, true
}

// numScan describes a number token scanned by scanNumber.
type numScan struct {
	start   int
	neg     bool
	isFloat bool
	small   bool // at most 18 digits: u holds the exact magnitude
	u       uint64
}

func (r *jsonReader) scanNumber() (numScan, error) {
	n := numScan{start: r.i, small: true}
	n.neg = r.b[r.i] == '-'
	if n.neg {
		r.i++
	}
	digits := r.i
	for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
		if r.i-digits >= 18 {
			n.small = false
		}
		n.u = n.u*10 + uint64(r.b[r.i]-'0')
		r.i++
	}
	if r.i == digits {
		return n, r.errf("bad number")
	}
	if r.i < len(r.b) && r.b[r.i] == '.' {
		n.isFloat = true
		r.i++
		d := r.i
		for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
			r.i++
		}
		if r.i == d {
			return n, r.errf("bad number")
		}
	}
	if r.i < len(r.b) && (r.b[r.i] == 'e' || r.b[r.i] == 'E') {
		n.isFloat = true
		r.i++
		if r.i < len(r.b) && (r.b[r.i] == '+' || r.b[r.i] == '-') {
			r.i++
		}
		d := r.i
		for r.i < len(r.b) && r.b[r.i] >= '0' && r.b[r.i] <= '9' {
			r.i++
		}
		if r.i == d {
			return n, r.errf("bad number")
		}
	}
	return n, nil
}

func (r *jsonReader) number() (any, error) {
	n, err := r.scanNumber()
	if err != nil {
		return nil, err
	}
	if n.isFloat {
		// A range error still gives the right value (±Inf or 0).
		f, _ := strconv.ParseFloat(string(r.b[n.start:r.i]), 64)
		return f, nil
	}
	i, u, kind := r.integer(n)
	switch kind {
	case isInt64:
		return i, nil
	case isUint64:
		return u, nil
	}
	bi, ok := new(big.Int).SetString(string(r.b[n.start:r.i]), 10)
	if !ok {
		return nil, r.errf("bad integer")
	}
	return bi, nil
}

// integer classifies a scanned integer token.
func (r *jsonReader) integer(n numScan) (int64, uint64, intKind) {
	if n.small {
		if n.neg {
			return -int64(n.u), 0, isInt64
		}
		return int64(n.u), 0, isInt64
	}
	text := r.b[n.start:r.i]
	if !n.neg {
		if v, err := strconv.ParseUint(string(text), 10, 64); err == nil {
			if v <= math.MaxInt64 {
				return int64(v), 0, isInt64
			}
			return 0, v, isUint64
		}
	} else if v, err := strconv.ParseInt(string(text), 10, 64); err == nil {
		return v, 0, isInt64
	}
	return 0, 0, isBig
}

func (r *jsonReader) cut(i, j int) string {
	if r.backing != "" {
		return r.backing[i:j]
	}
	return string(r.b[i:j])
}
