package wire

import (
	"bytes"
	"math"
	"math/big"
)

// Generic values decoded from the wire are one of: nil, bool, string, int64,
// uint64 (only for values above math.MaxInt64), *big.Int (beyond uint64 or
// below math.MinInt64), float64, []any, map[string]any.
//
// Encoders also accept the other Go integer types, float32, []byte (sent as a
// string), []string, []int, map[string]string and []map[string]any.

// ToInt64 returns v as an int64 when v is an integer of any supported Go type
// whose value fits.
func ToInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	case int32:
		return int64(x), true
	case int16:
		return int64(x), true
	case int8:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint8:
		return int64(x), true
	case uint:
		if uint64(x) <= math.MaxInt64 {
			return int64(x), true
		}
	case *big.Int:
		if x != nil && x.IsInt64() {
			return x.Int64(), true
		}
	}
	return 0, false
}

// ToUint64 returns v as a uint64 when v is a non-negative integer that fits.
func ToUint64(v any) (uint64, bool) {
	switch x := v.(type) {
	case uint64:
		return x, true
	case uint:
		return uint64(x), true
	case *big.Int:
		if x != nil && x.IsUint64() {
			return x.Uint64(), true
		}
		return 0, false
	}
	i, ok := ToInt64(v)
	if !ok || i < 0 {
		return 0, false
	}
	return uint64(i), true
}

// ToInt returns v as an int when v is an integer that fits.
func ToInt(v any) (int, bool) {
	i, ok := ToInt64(v)
	if !ok || int64(int(i)) != i {
		return 0, false
	}
	return int(i), true
}

// ToBigInt returns any integer value as a new *big.Int.
func ToBigInt(v any) (*big.Int, bool) {
	switch x := v.(type) {
	case *big.Int:
		if x == nil {
			return nil, false
		}
		return new(big.Int).Set(x), true
	case uint64:
		return new(big.Int).SetUint64(x), true
	case uint:
		return new(big.Int).SetUint64(uint64(x)), true
	}
	if i, ok := ToInt64(v); ok {
		return big.NewInt(i), true
	}
	return nil, false
}

// ToFloat64 returns v as a float64 when v is a float (float64 or float32).
// Integers are deliberately not converted: the value model keeps them apart.
func ToFloat64(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	}
	return 0, false
}

// IsInteger reports whether v is an integer of any supported type.
func IsInteger(v any) bool {
	switch x := v.(type) {
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return true
	case *big.Int:
		return x != nil
	}
	return false
}

// Equal reports whether two generic values are semantically equal (spec
// §14.4): maps by keys regardless of order, lists in order, integers by exact
// value whatever their Go type, floats by exact float64 value (NaN equals
// NaN), an integer never equals a float, strings and []byte by bytes.
func Equal(a, b any) bool {
	return equalDepth(a, b, 0)
}

func equalDepth(a, b any, depth int) bool {
	if depth > MaxDepth*2 {
		return false
	}
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	if IsInteger(a) || IsInteger(b) {
		if !IsInteger(a) || !IsInteger(b) {
			return false
		}
		if x, ok := ToInt64(a); ok {
			y, ok := ToInt64(b)
			return ok && x == y
		}
		x, _ := ToBigInt(a)
		y, _ := ToBigInt(b)
		return x.Cmp(y) == 0
	}
	if fa, ok := ToFloat64(a); ok {
		fb, ok := ToFloat64(b)
		if !ok {
			return false
		}
		return fa == fb || (math.IsNaN(fa) && math.IsNaN(fb))
	}
	switch x := a.(type) {
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string, []byte:
		sa, _ := asBytes(a)
		sb, ok := asBytes(b)
		return ok && bytes.Equal(sa, sb)
	}
	if la, ok := asList(a); ok {
		lb, ok := asList(b)
		if !ok || len(la) != len(lb) {
			return false
		}
		for i := range la {
			if !equalDepth(la[i], lb[i], depth+1) {
				return false
			}
		}
		return true
	}
	if ma, ok := asMap(a); ok {
		mb, ok := asMap(b)
		if !ok || len(ma) != len(mb) {
			return false
		}
		for k, va := range ma {
			vb, ok := mb[k]
			if !ok || !equalDepth(va, vb, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}

func asBytes(v any) ([]byte, bool) {
	switch x := v.(type) {
	case string:
		return []byte(x), true
	case []byte:
		return x, true
	}
	return nil, false
}

func asList(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case []string:
		l := make([]any, len(x))
		for i, s := range x {
			l[i] = s
		}
		return l, true
	case []int:
		l := make([]any, len(x))
		for i, s := range x {
			l[i] = s
		}
		return l, true
	case []map[string]any:
		l := make([]any, len(x))
		for i, s := range x {
			l[i] = s
		}
		return l, true
	}
	return nil, false
}

func asMap(v any) (map[string]any, bool) {
	switch x := v.(type) {
	case map[string]any:
		return x, true
	case map[string]string:
		m := make(map[string]any, len(x))
		for k, s := range x {
			m[k] = s
		}
		return m, true
	}
	return nil, false
}
