package token

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNewFIFOValidates(t *testing.T) {
	for _, n := range []int{0, -1, maxQueueLength + 1} {
		_, err := NewFIFO(n)
		assert.ErrorIs(t, err, ErrBadQueueLength, "%d", n)
	}
	q, err := NewFIFO(DefaultQueueLength)
	require.NoError(t, err)
	assert.Equal(t, 4, q.Capacity())
	assert.Equal(t, "fanout_fifo", q.QueueType())
}

func TestFIFOWritePeekCommitCancel(t *testing.T) {
	q, err := NewFIFO(4)
	require.NoError(t, err)
	q.AddReader("in")
	for i := range 4 {
		require.NoError(t, q.Write(New(i)))
	}
	assert.ErrorIs(t, q.Write(New(99)), ErrQueueFull, "N-1 tokens fill an N ring")
	assert.Equal(t, 0, q.Free())
	assert.Equal(t, 4, q.Len())

	tok, err := q.Peek("in")
	require.NoError(t, err)
	assert.Equal(t, New(0), tok)
	pos, tok, err := q.PeekPos("in")
	require.NoError(t, err)
	assert.Equal(t, uint64(1), pos)
	assert.Equal(t, New(1), tok)
	assert.ErrorIs(t, q.Write(New(99)), ErrQueueFull, "tentative reads do not free slots")

	require.NoError(t, q.Cancel("in"))
	p, err := q.Positions("in")
	require.NoError(t, err)
	assert.Equal(t, Positions{Read: 0, Tentative: 0, Write: 4}, p)

	_, _ = q.Peek("in")
	require.NoError(t, q.Commit("in"))
	assert.Equal(t, 1, q.Free())
	require.NoError(t, q.Write(New(4)))
	for want := 1; want <= 4; want++ {
		tok, err := q.Read("in")
		require.NoError(t, err)
		assert.Equal(t, New(want), tok)
	}
	_, err = q.Read("in")
	assert.ErrorIs(t, err, ErrQueueEmpty)
	_, err = q.Peek("in")
	assert.ErrorIs(t, err, ErrQueueEmpty)
	assert.Equal(t, uint64(5), q.WritePos())
}

func TestFIFOUnknownReader(t *testing.T) {
	q, err := NewFIFO(2)
	require.NoError(t, err)
	_, err = q.Peek("x")
	assert.ErrorIs(t, err, ErrUnknownReader)
	_, err = q.Read("x")
	assert.ErrorIs(t, err, ErrUnknownReader)
	assert.ErrorIs(t, q.Commit("x"), ErrUnknownReader)
	assert.ErrorIs(t, q.Cancel("x"), ErrUnknownReader)
	assert.ErrorIs(t, q.CommitTo("x", 0), ErrUnknownReader)
	assert.ErrorIs(t, q.Rewind("x", 0), ErrUnknownReader)
	assert.ErrorIs(t, q.RemoveReader("x"), ErrUnknownReader)
	_, err = q.Positions("x")
	assert.ErrorIs(t, err, ErrUnknownReader)
	assert.Equal(t, 0, q.Available("x"))
}

func TestFIFOFanoutSlowestReaderBounds(t *testing.T) {
	q, err := NewFIFO(3)
	require.NoError(t, err)
	q.AddReader("a")
	q.AddReader("b")
	q.AddReader("a") // no-op
	assert.Equal(t, []string{"a", "b"}, q.Readers())
	for i := range 3 {
		require.NoError(t, q.Write(New(i)))
	}
	for range 3 {
		_, err := q.Read("a")
		require.NoError(t, err)
	}
	assert.ErrorIs(t, q.Write(New(3)), ErrQueueFull, "b has not read anything")
	tok, err := q.Read("b")
	require.NoError(t, err)
	assert.Equal(t, New(0), tok, "every reader sees every token")
	require.NoError(t, q.Write(New(3)))
	assert.Equal(t, 1, q.Available("a"))
	assert.Equal(t, 3, q.Available("b"))
}

func TestFIFOCommitToAndRewind(t *testing.T) {
	q, err := NewFIFO(4)
	require.NoError(t, err)
	q.AddReader("peer")
	for i := range 4 {
		require.NoError(t, q.Write(New(i)))
	}
	for range 3 {
		_, err := q.Peek("peer")
		require.NoError(t, err)
	}
	assert.ErrorIs(t, q.CommitTo("peer", 4), ErrBadPosition, "beyond tentative")
	require.NoError(t, q.CommitTo("peer", 2))
	assert.ErrorIs(t, q.Rewind("peer", 1), ErrBadPosition, "below read")
	require.NoError(t, q.Rewind("peer", 2))
	pos, tok, err := q.PeekPos("peer")
	require.NoError(t, err)
	assert.Equal(t, uint64(2), pos)
	assert.Equal(t, New(2), tok)
	assert.ErrorIs(t, q.CommitTo("peer", 1), ErrBadPosition)
}

func TestFIFOReaderAddedLaterStartsAtOldestWithOffset(t *testing.T) {
	q, err := NewFIFO(4)
	require.NoError(t, err)
	q.AddReader("a")
	for i := range 3 {
		require.NoError(t, q.Write(New(i)))
	}
	_, _ = q.Read("a")
	q.AddReader("b")
	p, err := q.Positions("b")
	require.NoError(t, err)
	assert.Equal(t, Positions{Read: 1, Tentative: 1, Offset: 1, Write: 3}, p)

	// Removing every reader keeps the owed tokens; the next reader starts there.
	require.NoError(t, q.RemoveReader("a"))
	require.NoError(t, q.RemoveReader("b"))
	assert.Equal(t, 2, q.Len())
	q.AddReader("c")
	tok, err := q.Read("c")
	require.NoError(t, err)
	assert.Equal(t, New(1), tok)
}

func TestMove(t *testing.T) {
	out, err := NewFIFO(4)
	require.NoError(t, err)
	in, err := NewFIFO(2)
	require.NoError(t, err)
	out.AddReader("in-port")
	in.AddReader("in-port")
	for i := range 4 {
		require.NoError(t, out.Write(New(i)))
	}
	n, err := Move(in, out, "in-port")
	require.NoError(t, err)
	assert.Equal(t, 2, n, "bounded by the destination's free space")
	assert.Equal(t, 2, out.Free())
	_, _ = in.Read("in-port")
	n, err = Move(in, out, "in-port")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	assert.Equal(t, uint64(3), in.WritePos(), "positions continue")
	_, err = Move(in, in, "in-port")
	assert.ErrorIs(t, err, ErrBadPosition)
	_, err = Move(in, out, "nobody")
	assert.ErrorIs(t, err, ErrUnknownReader)
}

// TestFIFOModel checks the FIFO against a trivial slice model under random
// operations, including fan-out.
func TestFIFOModel(t *testing.T) {
	for seed := uint64(1); seed <= 50; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		length := 1 + rng.IntN(6)
		q, err := NewFIFO(length)
		require.NoError(t, err)
		readers := []string{"r0", "r1", "r2"}[:1+rng.IntN(3)]
		for _, r := range readers {
			q.AddReader(r)
		}
		var written []int
		read := map[string]int{}
		tent := map[string]int{}
		for step := range 500 {
			r := readers[rng.IntN(len(readers))]
			minRead := len(written)
			for _, x := range readers {
				minRead = min(minRead, read[x])
			}
			switch rng.IntN(5) {
			case 0, 1:
				err := q.Write(New(len(written)))
				if len(written)-minRead >= length {
					require.ErrorIs(t, err, ErrQueueFull, "seed %d step %d", seed, step)
				} else {
					require.NoError(t, err, "seed %d step %d", seed, step)
					written = append(written, len(written))
				}
			case 2:
				tok, err := q.Peek(r)
				if tent[r] == len(written) {
					require.ErrorIs(t, err, ErrQueueEmpty)
				} else {
					require.NoError(t, err)
					require.Equal(t, New(written[tent[r]]), tok, "seed %d step %d", seed, step)
					tent[r]++
				}
			case 3:
				require.NoError(t, q.Commit(r))
				read[r] = tent[r]
			case 4:
				require.NoError(t, q.Cancel(r))
				tent[r] = read[r]
			}
			minRead = len(written)
			for _, x := range readers {
				minRead = min(minRead, read[x])
			}
			require.Equal(t, length-(len(written)-minRead), q.Free(), "seed %d step %d", seed, step)
		}
	}
}
