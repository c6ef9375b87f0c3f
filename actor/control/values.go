package control

import (
	"encoding/json"
	"math/big"
	"strconv"
)

// wireValue converts a request body decoded with json.Number into the
// generic wire values the actor runtime and the registry take (int64,
// uint64, *big.Int or float64 for numbers; maps and lists converted in
// place).
func wireValue(v any) any {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i
		}
		if u, err := strconv.ParseUint(s, 10, 64); err == nil {
			return u
		}
		if b, ok := new(big.Int).SetString(s, 10); ok {
			return b
		}
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
		return s
	case map[string]any:
		for k, e := range x {
			x[k] = wireValue(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = wireValue(e)
		}
		return x
	}
	return v
}

// str returns m[key] when it is a string.
func str(m map[string]any, key string) (string, bool) {
	s, ok := m[key].(string)
	return s, ok
}
