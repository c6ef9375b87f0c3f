package wire_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/meshkit/meshkit/rt2rt/wire"
)

// randomValue builds a value of the wire's generic model (strings, integers
// across every msgpack width, floats, bools, nil, lists and maps) at most
// depth levels deep.
func randomValue(r *rand.Rand, depth int) any {
	k := r.IntN(10)
	if depth == 0 {
		k = r.IntN(7)
	}
	switch k {
	case 0:
		return nil
	case 1:
		return r.IntN(2) == 0
	case 2:
		// Every integer width, signed and unsigned, and their edges.
		edges := []int64{0, 1, -1, 127, 128, -32, -33, 255, 256, -128, -129, 65535, 65536, -32768, -32769,
			math.MaxInt32, math.MaxInt32 + 1, math.MinInt32, math.MinInt32 - 1, math.MaxInt64, math.MinInt64}
		if r.IntN(2) == 0 {
			return edges[r.IntN(len(edges))]
		}
		return r.Int64() >> r.IntN(64)
	case 3:
		if r.IntN(4) == 0 {
			return uint64(math.MaxInt64) + 1 + r.Uint64N(math.MaxInt64)
		}
		return r.NormFloat64() * math.Pow(10, float64(r.IntN(40)-20))
	case 4, 5:
		// Strings across fixstr, str8, str16 lengths, ASCII and not.
		n := []int{0, 1, 31, 32, 255, 256, 1000}[r.IntN(7)]
		var b strings.Builder
		for range n {
			if r.IntN(8) == 0 {
				b.WriteRune(rune(0xa0 + r.IntN(0x3000)))
			} else {
				b.WriteByte(byte('a' + r.IntN(26)))
			}
		}
		return b.String()
	case 6:
		return float64(r.IntN(1000)) / 8
	case 7:
		l := make([]any, []int{0, 1, 15, 16, 40}[r.IntN(5)])
		for i := range l {
			l[i] = randomValue(r, depth-1)
		}
		return l
	default:
		m := map[string]any{}
		for i := range []int{0, 1, 15, 16, 40}[r.IntN(5)] {
			m[fmt.Sprintf("k%d", i)] = randomValue(r, depth-1)
		}
		return m
	}
}

// normalize turns what the reference decoder returns (int8..int64,
// uint8..uint64, map[string]interface{}) into the wire's model.
func normalize(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalize(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalize(e)
		}
		return out
	case float32:
		return float64(x)
	case uint64:
		if x > math.MaxInt64 {
			return x
		}
	}
	if i, ok := wire.ToInt64(v); ok {
		return i
	}
	return v
}

// TestMsgpackAgainstReference checks the hand-written msgpack coder (Calvin's
// u-msgpack dialect) against github.com/vmihailenco/msgpack, a maintained
// general-purpose implementation: what either encodes, the other decodes to
// the same value.
func TestMsgpackAgainstReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		v := randomValue(r, 3)

		ours, err := wire.Msgpack.EncodeValue(nil, v)
		require.NoError(t, err)
		var back any
		require.NoError(t, msgpack.Unmarshal(ours, &back), "value %d: reference cannot decode %x", i, ours)
		require.True(t, wire.Equal(v, normalize(back)), "value %d: ours→reference\n%#v\n%#v", i, v, normalize(back))

		theirs, err := msgpack.Marshal(v)
		require.NoError(t, err)
		got, err := wire.Msgpack.DecodeValue(theirs)
		require.NoError(t, err, "value %d: cannot decode the reference's %x", i, theirs)
		require.True(t, wire.Equal(v, got), "value %d: reference→ours\n%#v\n%#v", i, v, got)
	}
}
