package opaca

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf8"
)

// A small scanner over raw JSON bytes. Validation walks arguments in place
// instead of decoding them into interface values, which keeps a typical
// call allocation-free and well under the 5 µs budget. Every function
// checks bounds and reports malformed input as an error, never a panic.

const maxScanDepth = 1000

var errSyntax = errors.New("malformed JSON")

func skipWS(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

func trimWS(b []byte) []byte {
	i := skipWS(b, 0)
	j := len(b)
	for j > i && (b[j-1] == ' ' || b[j-1] == '\t' || b[j-1] == '\n' || b[j-1] == '\r') {
		j--
	}
	return b[i:j]
}

// scanValue returns the index just after the value starting at b[i].
func scanValue(b []byte, i, depth int) (int, error) {
	if i >= len(b) {
		return 0, errSyntax
	}
	switch c := b[i]; {
	case c == '"':
		end, _, err := scanString(b, i)
		return end, err
	case c == '{':
		return scanObject(b, i, depth, nil)
	case c == '[':
		return scanArray(b, i, depth, nil)
	case c == 't':
		return scanLiteral(b, i, "true")
	case c == 'f':
		return scanLiteral(b, i, "false")
	case c == 'n':
		return scanLiteral(b, i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		end, _, err := scanNumber(b, i)
		return end, err
	}
	return 0, errSyntax
}

// scanObject scans the object starting at b[i] == '{', nested depth deep,
// and returns the index just after it. fn, unless nil, is called for each
// member with its raw key (without quotes) and its value.
func scanObject(b []byte, i, depth int, fn func(key []byte, escaped bool, val []byte) error) (int, error) {
	if depth >= maxScanDepth {
		return 0, errors.New("JSON nested too deeply")
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(b) || b[i] != '"' {
			return 0, errSyntax
		}
		kend, esc, err := scanString(b, i)
		if err != nil {
			return 0, err
		}
		key := b[i+1 : kend-1]
		i = skipWS(b, kend)
		if i >= len(b) || b[i] != ':' {
			return 0, errSyntax
		}
		i = skipWS(b, i+1)
		end, err := scanValue(b, i, depth+1)
		if err != nil {
			return 0, err
		}
		if fn != nil {
			if err := fn(key, esc, b[i:end]); err != nil {
				return 0, err
			}
		}
		var done bool
		if i, done, err = afterItem(b, end, '}'); err != nil || done {
			return i, err
		}
	}
}

// scanArray scans the array starting at b[i] == '[', nested depth deep, and
// returns the index just after it. fn, unless nil, is called for each
// element with its index and value.
func scanArray(b []byte, i, depth int, fn func(idx int, val []byte) error) (int, error) {
	if depth >= maxScanDepth {
		return 0, errors.New("JSON nested too deeply")
	}
	i = skipWS(b, i+1)
	if i < len(b) && b[i] == ']' {
		return i + 1, nil
	}
	for n := 0; ; n++ {
		end, err := scanValue(b, i, depth+1)
		if err != nil {
			return 0, err
		}
		if fn != nil {
			if err := fn(n, b[i:end]); err != nil {
				return 0, err
			}
		}
		var done bool
		if i, done, err = afterItem(b, end, ']'); err != nil || done {
			return i, err
		}
	}
}

// afterItem skips from b[i], just after a member or element, past the
// comma to the next item (done false) or past close, the end of the object
// or array (done true).
func afterItem(b []byte, i int, close byte) (next int, done bool, err error) {
	i = skipWS(b, i)
	if i >= len(b) {
		return 0, false, errSyntax
	}
	if b[i] == close {
		return i + 1, true, nil
	}
	if b[i] != ',' {
		return 0, false, errSyntax
	}
	return skipWS(b, i+1), false, nil
}

func scanLiteral(b []byte, i int, lit string) (int, error) {
	if len(b)-i < len(lit) || string(b[i:i+len(lit)]) != lit {
		return 0, errSyntax
	}
	return i + len(lit), nil
}

// scanString scans the string starting at b[i] == '"'; escaped reports
// whether it contains backslash escapes.
func scanString(b []byte, i int) (end int, escaped bool, err error) {
	for i++; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1, escaped, nil
		case c == '\\':
			escaped = true
			i++
			if i >= len(b) {
				return 0, false, errSyntax
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-i < 5 {
					return 0, false, errSyntax
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return 0, false, errSyntax
					}
				}
				i += 4
			default:
				return 0, false, errSyntax
			}
		case c < 0x20:
			return 0, false, errSyntax
		}
	}
	return 0, false, errSyntax
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// scanNumber scans a JSON number; plainInt reports a number written
// without fraction or exponent.
func scanNumber(b []byte, i int) (end int, plainInt bool, err error) {
	if i < len(b) && b[i] == '-' {
		i++
	}
	if i >= len(b) {
		return 0, false, errSyntax
	}
	switch {
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
	default:
		return 0, false, errSyntax
	}
	plainInt = true
	if i < len(b) && b[i] == '.' {
		plainInt = false
		i++
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return 0, false, errSyntax
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		plainInt = false
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		start := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		if i == start {
			return 0, false, errSyntax
		}
	}
	return i, plainInt, nil
}

// oneValue checks that b holds exactly one JSON value (surrounding
// whitespace allowed) and returns it trimmed.
func oneValue(b []byte) ([]byte, error) {
	b = trimWS(b)
	end, err := scanValue(b, 0, 0)
	if err != nil {
		return nil, err
	}
	if end != len(b) {
		return nil, errSyntax
	}
	return b, nil
}

// eachMember calls fn for each member of the object b (one valid value,
// trimmed). key is the raw key without quotes.
func eachMember(b []byte, fn func(key []byte, escaped bool, val []byte) error) error {
	if len(b) == 0 || b[0] != '{' {
		return errSyntax
	}
	_, err := scanObject(b, 0, 0, fn)
	return err
}

// eachElem calls fn for each element of the array b (one valid value,
// trimmed).
func eachElem(b []byte, fn func(idx int, val []byte) error) error {
	if len(b) == 0 || b[0] != '[' {
		return errSyntax
	}
	_, err := scanArray(b, 0, 0, fn)
	return err
}

// decodeKey returns the string value of a raw key or string content.
func decodeKey(raw []byte, escaped bool) string {
	if !escaped {
		return string(raw)
	}
	var s string
	q := make([]byte, 0, len(raw)+2)
	q = append(append(append(q, '"'), raw...), '"')
	if json.Unmarshal(q, &s) != nil {
		return string(raw)
	}
	return s
}

// kindName names the JSON kind of a value for error messages.
func kindName(b []byte) string {
	if len(b) == 0 {
		return "nothing"
	}
	switch b[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// isInt32 reports whether b is a plain integer (no fraction or exponent)
// that fits a signed 32-bit integer.
func isInt32(b []byte) bool {
	end, plain, err := scanNumber(b, 0)
	if err != nil || !plain || end != len(b) {
		return false
	}
	neg := b[0] == '-'
	digits := b
	if neg {
		digits = b[1:]
	}
	if len(digits) > 10 {
		return false
	}
	var n int64
	for _, c := range digits {
		n = n*10 + int64(c-'0')
	}
	if neg {
		n = -n
	}
	return n >= math.MinInt32 && n <= math.MaxInt32
}

// numberValue parses a JSON number.
func numberValue(b []byte) (float64, bool) {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		// Out-of-range numbers are still numbers; ParseFloat returns ±Inf.
		var ne *strconv.NumError
		if errors.As(err, &ne) && errors.Is(ne.Err, strconv.ErrRange) {
			return f, true
		}
		return 0, false
	}
	return f, true
}

// ObjectMembers splits a JSON object into its members without decoding
// the values: each value is a subslice of data (not a copy). It accepts
// exactly what encoding/json accepts for a map[string]json.RawMessage, with
// duplicate keys resolved the same way (the last wins), but is several
// times faster. Empty input is an error; null gives a nil map.
func ObjectMembers(data []byte) (map[string]json.RawMessage, error) {
	b, err := oneValue(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnprocessable, err)
	}
	switch b[0] {
	case '{':
	case 'n':
		return nil, nil
	default:
		return nil, fmt.Errorf("%w: expected a JSON object, got %s", ErrUnprocessable, kindName(b))
	}
	out := make(map[string]json.RawMessage, 4)
	err = eachMember(b, func(key []byte, esc bool, val []byte) error {
		if !esc && utf8.Valid(key) {
			out[string(key)] = val
		} else {
			out[decodeKey(key, true)] = val
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnprocessable, err)
	}
	return out, nil
}
