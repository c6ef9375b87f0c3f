package transport

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestFlushBeforeClose(t *testing.T) {
	memNet := NewMemNetwork()
	memTr, err := NewMemTransport(WithMemNetwork(memNet))
	require.NoError(t, err)
	tests := []struct {
		name string
		tr   Transport
		uri  string
		prep func(t *testing.T)
	}{
		{"calvinip", newCalvinIP(t), "calvinip://127.0.0.1:0", nil},
		{"ws", newWS(t), "ws://127.0.0.1:0/", nil},
		{"mem with delay", memTr, "mem://flush", func(t *testing.T) {
			require.NoError(t, memNet.SetFaults(Faults{Delay: 10 * time.Millisecond}))
			t.Cleanup(memNet.ClearFaults)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkNoLeaks(t)
			a, b, _ := pair(t, tt.tr, tt.uri)
			if tt.prep != nil {
				tt.prep(t)
			}
			ctx := context.Background()
			require.NoError(t, Flush(ctx, a), "nothing queued")
			const n = 3000
			// The reader checks everything sent before Flush arrives, even
			// though Close follows at once.
			received := make(chan error, 1)
			go func() {
				for i := range n {
					got, err := b.Recv(ctx)
					if err != nil {
						received <- fmt.Errorf("frame %d: %w", i, err)
						return
					}
					if !bytes.Equal(testFrame(i), got) {
						received <- fmt.Errorf("frame %d differs", i)
						return
					}
				}
				_, err := b.Recv(ctx)
				received <- err
			}()
			for i := range n {
				require.NoError(t, a.Send(ctx, testFrame(i)))
			}
			require.NoError(t, Flush(ctx, a))
			require.NoError(t, a.Close())
			require.ErrorIs(t, Flush(ctx, a), ErrClosed)
			require.ErrorIs(t, <-received, ErrClosed)
		})
	}
}

func TestFlushHonoursContext(t *testing.T) {
	checkNoLeaks(t)
	a, _, _ := pair(t, newCalvinIP(t, WithSendQueue(4)), "calvinip://127.0.0.1:0")
	// The peer never reads: once the socket buffers are full, Flush waits
	// until its deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	frame := make([]byte, 1<<20)
	for a.Send(ctx, frame) == nil {
	}
	fctx, fcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer fcancel()
	require.ErrorIs(t, Flush(fctx, a), context.DeadlineExceeded)
}
