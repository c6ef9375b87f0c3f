package actor

import (
	"math"
	"math/big"
)

// Generic values from the wire are nil, bool, string, int64, uint64,
// *big.Int, float64, []any or map[string]any; these helpers read the
// numeric ones (plus plain Go ints given by local callers).

func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int64:
		return x, true
	case int:
		return int64(x), true
	case int32:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		if x <= math.MaxInt64 {
			return int64(x), true
		}
	case *big.Int:
		if x != nil && x.IsInt64() {
			return x.Int64(), true
		}
	}
	return 0, false
}

func toInt(v any) (int, bool) {
	i, ok := toInt64(v)
	if !ok || int64(int(i)) != i {
		return 0, false
	}
	return int(i), true
}

// number returns an integer or float value as float64.
func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case uint64:
		return float64(x), true
	case *big.Int:
		if x == nil {
			return 0, false
		}
		f, _ := new(big.Float).SetInt(x).Float64()
		return f, true
	}
	if i, ok := toInt64(v); ok {
		return float64(i), true
	}
	return 0, false
}
