package transport

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var _ Borrower = (*streamConn)(nil)

// TestCalvinIPRecvBorrowed: borrowed frames carry the sent bytes, in order,
// mixed with owned Recv calls and with frames larger than the read buffer;
// a borrowed frame's capacity ends with it.
func TestCalvinIPRecvBorrowed(t *testing.T) {
	checkNoLeaks(t)
	a, b, _ := pair(t, newCalvinIP(t), "calvinip://127.0.0.1:0")
	br, ok := b.(Borrower)
	require.True(t, ok)
	ctx := context.Background()
	frame := func(i int) []byte {
		size := i % 300
		if i%97 == 0 {
			size = 3*streamBufferSize + i // spans several buffer refills
		}
		f := bytes.Repeat([]byte{byte(i)}, size)
		return append(f, fmt.Sprintf("#%d", i)...)
	}
	const count = 3000
	go func() {
		for i := range count {
			if err := a.Send(ctx, frame(i)); err != nil {
				return
			}
		}
	}()
	var prev []byte
	var prevCopy []byte
	for i := range count {
		var got []byte
		var err error
		if i%5 == 4 {
			got, err = b.Recv(ctx)
		} else {
			got, err = br.RecvBorrowed(ctx)
		}
		require.NoError(t, err)
		require.True(t, bytes.Equal(frame(i), got), "frame %d", i)
		assert.Equal(t, len(got), cap(got), "frame %d", i)
		if i%5 == 4 && prev != nil {
			// An owned frame stays intact after later reads.
			assert.True(t, bytes.Equal(prevCopy, prev))
		}
		if i%5 == 4 {
			prev, prevCopy = got, append([]byte(nil), got...)
		}
	}
	require.NoError(t, a.Close())
	_, err := br.RecvBorrowed(ctx)
	assert.ErrorIs(t, err, ErrClosed)
}
