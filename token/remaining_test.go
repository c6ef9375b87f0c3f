package token

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRemainingRoundTrip(t *testing.T) {
	out, _ := NewFIFO(4)
	out.AddReader("in")
	for i := range 4 {
		require.NoError(t, out.Write(New(int64(i))))
	}
	_, _ = out.Read("in")
	_, _ = out.Peek("in") // sent, not acknowledged: still remaining
	rem, err := out.Remaining("in")
	require.NoError(t, err)
	assert.Equal(t, []any{
		[]any{int64(1), map[string]any{"type": "Token", "data": int64(1)}},
		[]any{int64(2), map[string]any{"type": "Token", "data": int64(2)}},
		[]any{int64(3), map[string]any{"type": "Token", "data": int64(3)}},
	}, rem)
	_, err = out.Remaining("x")
	assert.ErrorIs(t, err, ErrUnknownReader)

	in, _ := NewFIFO(4)
	in.AddReader("in")
	require.NoError(t, in.Write(New(int64(0))))
	require.NoError(t, in.Write(New(int64(1)))) // already had position 1
	n, err := in.AbsorbRemaining(rem)
	require.NoError(t, err)
	assert.Equal(t, 2, n)
	for want := range 4 {
		tok, err := in.Read("in")
		require.NoError(t, err)
		assert.Equal(t, New(int64(want)), tok)
	}
	n, err = in.AbsorbRemaining(nil)
	assert.NoError(t, err)
	assert.Zero(t, n)
}

func TestAbsorbRemainingRejects(t *testing.T) {
	in, _ := NewFIFO(1)
	in.AddReader("in")
	for _, tc := range []struct {
		list any
		err  error
	}{
		{"x", ErrBadQueueState},
		{[]any{"x"}, ErrBadQueueState},
		{[]any{[]any{int64(-1), map[string]any{}}}, ErrBadQueueState},
		{[]any{[]any{int64(0), "tok"}}, ErrBadQueueState},
		{[]any{[]any{int64(3), map[string]any{"type": "Token", "data": 1}}}, ErrBadPosition},
		{[]any{[]any{int64(0), map[string]any{"type": "Token", "data": 1}}, []any{int64(1), map[string]any{"type": "Token", "data": 2}}}, ErrQueueFull},
	} {
		_, err := in.AbsorbRemaining(tc.list)
		assert.ErrorIs(t, err, tc.err, "%v", tc.list)
	}
}
