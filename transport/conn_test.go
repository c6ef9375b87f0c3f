package transport

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

// transportCases are the transports every Conn test runs on.
func transportCases(t *testing.T, opts ...Option) []struct {
	name string
	tr   Transport
	uri  string
} {
	pki := newTestPKI(t)
	tlsOpts := append([]Option{WithTLS(pki.serverConfig())}, opts...)
	mem, err := NewMemTransport(append([]Option{WithMemNetwork(NewMemNetwork())}, opts...)...)
	require.NoError(t, err)
	return []struct {
		name string
		tr   Transport
		uri  string
	}{
		{"calvinip", newCalvinIP(t, opts...), "calvinip://127.0.0.1:0"},
		{"calvinip+tls", tlsDialListen{newCalvinIP(t, tlsOpts...), newCalvinIP(t, append([]Option{WithTLS(pki.clientConfig(true))}, opts...)...)}, "calvinip://127.0.0.1:0"},
		{"ws", newWS(t, opts...), "ws://127.0.0.1:0/rt2rt"},
		{"mem", mem, "mem://conformance"},
	}
}

// tlsDialListen listens with the server's config and dials with the client's.
type tlsDialListen struct{ server, client Transport }

func (t tlsDialListen) Schemes() []string { return t.server.Schemes() }
func (t tlsDialListen) Dial(ctx context.Context, uri string) (Conn, error) {
	return t.client.Dial(ctx, uri)
}
func (t tlsDialListen) Listen(ctx context.Context, uri string) (Listener, error) {
	return t.server.Listen(ctx, uri)
}

func TestConnFrameSizes(t *testing.T) {
	sizes := []int{0, 1, 3, 4, 1023, 1024, 1025, 64 << 10, 1<<20 + 3, DefaultMaxFrameSize}
	for _, tc := range transportCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			checkNoLeaks(t)
			a, b, _ := pair(t, tc.tr, tc.uri)
			ctx := context.Background()
			go func() {
				for _, n := range sizes {
					f := make([]byte, n)
					for i := range f {
						f[i] = byte(i * 7)
					}
					if err := a.Send(ctx, f); err != nil {
						return
					}
				}
			}()
			for _, n := range sizes {
				got, err := b.Recv(ctx)
				require.NoError(t, err, "size %d", n)
				require.Len(t, got, n)
				require.NotNil(t, got, "an empty frame is not nil")
				for i := range got {
					if got[i] != byte(i*7) {
						require.Failf(t, "payload differs", "size %d at %d", n, i)
					}
				}
			}
			require.ErrorIs(t, a.Send(ctx, make([]byte, DefaultMaxFrameSize+1)), ErrFrameTooLarge)
		})
	}
}

// Frames handed to the caller are its own: later frames never overwrite them.
func TestConnFramesOwnedByCaller(t *testing.T) {
	for _, tc := range transportCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			checkNoLeaks(t)
			a, b, _ := pair(t, tc.tr, tc.uri)
			ctx := context.Background()
			const n = 2000
			go func() {
				for i := range n {
					if a.Send(ctx, testFrame(i%50)) != nil {
						return
					}
				}
			}()
			kept := make([][]byte, 0, n)
			for range n {
				f, err := b.Recv(ctx)
				require.NoError(t, err)
				kept = append(kept, f)
			}
			for i, f := range kept {
				require.Equal(t, testFrame(i%50), f, "frame %d", i)
				// Appending must not scribble over the next frame.
				_ = append(f, 0xEE)
			}
			for i, f := range kept {
				require.Equal(t, testFrame(i%50), f, "frame %d after appends", i)
			}
			assert.Equal(t, tc.uri[:3], a.LocalURI()[:3])
		})
	}
}

// Closing while senders and a receiver are busy ends them all with
// ErrClosed, without races or leaks.
func TestConnCloseWhileBusy(t *testing.T) {
	for _, tc := range transportCases(t, WithSendQueue(16)) {
		t.Run(tc.name, func(t *testing.T) {
			checkNoLeaks(t)
			a, b, _ := pair(t, tc.tr, tc.uri)
			ctx := context.Background()
			var g errgroup.Group
			received := make(chan struct{}, 1)
			for range 4 {
				g.Go(func() error {
					for {
						if err := a.Send(ctx, testFrame(3)); err != nil {
							if errors.Is(err, ErrClosed) {
								return nil
							}
							return err
						}
					}
				})
			}
			g.Go(func() error {
				for {
					if _, err := b.Recv(ctx); err != nil {
						if errors.Is(err, ErrClosed) {
							return nil
						}
						return err
					}
					select {
					case received <- struct{}{}:
					default:
					}
				}
			})
			<-received
			require.NoError(t, a.Close())
			require.NoError(t, b.Close())
			require.NoError(t, g.Wait())
		})
	}
}
