package std

import (
	"fmt"
	"math"
	"math/big"
)

// Integers from the wire are int64, uint64 (above MaxInt64) or *big.Int;
// Calvin's Python integers are unbounded, so arithmetic here is exact.

func bigOf(v any) (*big.Int, bool) {
	switch x := v.(type) {
	case int64:
		return big.NewInt(x), true
	case int:
		return big.NewInt(int64(x)), true
	case int32:
		return big.NewInt(int64(x)), true
	case uint32:
		return new(big.Int).SetUint64(uint64(x)), true
	case uint64:
		return new(big.Int).SetUint64(x), true
	case *big.Int:
		if x != nil {
			return new(big.Int).Set(x), true
		}
	}
	return nil, false
}

// intValue returns the smallest wire type holding b: int64, uint64 or *big.Int.
func intValue(b *big.Int) any {
	if b.IsInt64() {
		return b.Int64()
	}
	if b.IsUint64() {
		return b.Uint64()
	}
	return new(big.Int).Set(b)
}

func floatOf(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	}
	if b, ok := bigOf(v); ok {
		f, _ := new(big.Float).SetInt(b).Float64()
		return f, true
	}
	return 0, false
}

func isInt(v any) bool {
	_, ok := bigOf(v)
	return ok
}

// add adds two numbers as Python would: integers exactly, a float operand
// makes the result a float. Anything else is an error.
func add(a, b any) (any, error) {
	if x, ok := a.(int64); ok {
		if y, ok := b.(int64); ok {
			s := x + y
			if (s > x) == (y > 0) {
				return s, nil
			}
		}
	}
	if isInt(a) && isInt(b) {
		x, _ := bigOf(a)
		y, _ := bigOf(b)
		return intValue(x.Add(x, y)), nil
	}
	x, okA := floatOf(a)
	y, okB := floatOf(b)
	if !okA || !okB {
		return nil, fmt.Errorf("cannot add %T and %T", a, b)
	}
	s := x + y
	if math.IsInf(s, 0) && !math.IsInf(x, 0) && !math.IsInf(y, 0) {
		return nil, fmt.Errorf("float overflow adding %v and %v", x, y)
	}
	return s, nil
}
