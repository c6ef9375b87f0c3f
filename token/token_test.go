package token

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDecodeToken(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want Token
	}{
		{"token", map[string]any{"type": "Token", "data": int64(6)}, Token{KindToken, int64(6)}},
		{"exception", map[string]any{"type": "ExceptionToken", "data": "boom"}, Token{KindException, "boom"}},
		{"eos", map[string]any{"type": "EOSToken", "data": "End of stream"}, Token{KindEOS, "End of stream"}},
		{"unknown type keeps data", map[string]any{"type": "WeirdToken", "data": []any{int64(1)}}, Token{KindException, []any{int64(1)}}},
		{"missing type", map[string]any{"data": true}, Token{KindException, true}},
		{"non-string type", map[string]any{"type": int64(3), "data": "x"}, Token{KindException, "x"}},
		{"missing data", map[string]any{"type": "Token"}, Token{KindToken, "Bad Token"}},
		{"null data kept", map[string]any{"type": "Token", "data": nil}, Token{KindToken, nil}},
		{"map any any", map[any]any{"type": "Token", "data": 1.5}, Token{KindToken, 1.5}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestDecodeTokenRejectsNonMap(t *testing.T) {
	for _, in := range []any{nil, "Token", int64(1), []any{}} {
		_, err := Decode(in)
		assert.ErrorIs(t, err, ErrMalformedToken, "%#v", in)
	}
}

func TestEncodeCanonicalNames(t *testing.T) {
	tok, err := Decode(map[string]any{"type": "Mystery", "data": "d"})
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"type": "ExceptionToken", "data": "d"}, tok.Encode())
	assert.Equal(t, map[string]any{"type": "Token", "data": int64(1)}, New(int64(1)).Encode())
	assert.Equal(t, map[string]any{"type": "EOSToken", "data": "End of stream"}, NewEOS().Encode())
	assert.Equal(t, map[string]any{"type": "ExceptionToken", "data": "Exception"}, NewException(nil).Encode())
}

func TestTokenKinds(t *testing.T) {
	assert.False(t, New(1).IsException())
	assert.True(t, NewException("x").IsException())
	assert.True(t, NewEOS().IsException())
	assert.True(t, NewEOS().IsEOS())
	assert.False(t, NewException("x").IsEOS())
	assert.Equal(t, "Token(7)", New(7).String())
}

func TestFromTypeData(t *testing.T) {
	assert.Equal(t, Token{KindToken, "a"}, FromTypeData("Token", "a"))
	assert.Equal(t, Token{KindEOS, "a"}, FromTypeData("EOSToken", "a"))
	assert.Equal(t, Token{KindException, "a"}, FromTypeData("", "a"))
}
