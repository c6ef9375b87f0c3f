package transport

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
)

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// pair listens on uri with tr, dials it and returns both ends.
func pair(t *testing.T, tr Transport, uri string) (dialed, accepted Conn, l Listener) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := tr.Listen(ctx, uri)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, l.Close()) })
	dialed, err = tr.Dial(ctx, l.URI())
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, dialed.Close()) })
	accepted, err = l.Accept(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, accepted.Close()) })
	return dialed, accepted, l
}

// testFrame makes frame i of a stream: its index, then filler of varying size.
func testFrame(i int) []byte {
	f := make([]byte, 8+(i*37)%3000)
	binary.BigEndian.PutUint64(f, uint64(i))
	for j := 8; j < len(f); j++ {
		f[j] = byte(i + j)
	}
	return f
}

// exchange sends n frames each way at once and checks both streams.
func exchange(t *testing.T, a, b Conn, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	g, ctx := errgroup.WithContext(ctx)
	for _, c := range []Conn{a, b} {
		g.Go(func() error {
			for i := range n {
				if err := c.Send(ctx, testFrame(i)); err != nil {
					return fmt.Errorf("send %d: %w", i, err)
				}
			}
			return nil
		})
		g.Go(func() error {
			for i := range n {
				got, err := c.Recv(ctx)
				if err != nil {
					return fmt.Errorf("recv %d: %w", i, err)
				}
				if !bytes.Equal(got, testFrame(i)) {
					return fmt.Errorf("frame %d differs (len %d)", i, len(got))
				}
			}
			return nil
		})
	}
	require.NoError(t, g.Wait())
}

func newCalvinIP(t *testing.T, opts ...Option) *CalvinIPTransport {
	t.Helper()
	tr, err := NewCalvinIPTransport(opts...)
	require.NoError(t, err)
	return tr
}

func TestCalvinIPExchange(t *testing.T) {
	checkNoLeaks(t)
	a, b, l := pair(t, newCalvinIP(t), "calvinip://127.0.0.1:0")
	assert.Regexp(t, `^calvinip://127\.0\.0\.1:[1-9][0-9]*$`, l.URI())
	assert.Equal(t, l.URI(), a.RemoteURI())
	assert.Equal(t, a.LocalURI(), b.RemoteURI())
	assert.Equal(t, a.RemoteURI(), b.LocalURI())
	exchange(t, a, b, 20000)
}

func TestCalvinIPConcurrentSenders(t *testing.T) {
	checkNoLeaks(t)
	a, b, _ := pair(t, newCalvinIP(t, WithSendQueue(8)), "calvinip://127.0.0.1:0")
	ctx := context.Background()
	const senders, per = 8, 2000
	var g errgroup.Group
	for s := range senders {
		g.Go(func() error {
			for i := range per {
				if err := a.Send(ctx, []byte(fmt.Sprintf("%d:%d", s, i))); err != nil {
					return err
				}
			}
			return nil
		})
	}
	next := make([]int, senders)
	for range senders * per {
		f, err := b.Recv(ctx)
		require.NoError(t, err)
		var s, i int
		_, err = fmt.Sscanf(string(f), "%d:%d", &s, &i)
		require.NoError(t, err)
		require.Equal(t, next[s], i, "frames of one sender stay in order")
		next[s]++
	}
	require.NoError(t, g.Wait())
}

func TestCalvinIPDefaultURI(t *testing.T) {
	checkNoLeaks(t)
	tr := newCalvinIP(t)
	for _, uri := range []string{"calvinip://default", "calvinip://127.0.0.1", "calvinip://127.0.0.1:0"} {
		t.Run(uri, func(t *testing.T) {
			l, err := tr.Listen(context.Background(), uri)
			require.NoError(t, err)
			defer l.Close()
			assert.Regexp(t, `^calvinip://127\.0\.0\.1:[1-9][0-9]*$`, l.URI())
		})
	}
}

func TestCalvinIPBadURIs(t *testing.T) {
	tr := newCalvinIP(t)
	ctx := context.Background()
	for _, uri := range []string{"calvinip://", "calvinip://127.0.0.1", "calvinip://127.0.0.1:0", "calvinip://h:99999", "calvinip://h:1/path", "ws://h:1", "calvinip://default", "calvinip:h:1"} {
		_, err := tr.Dial(ctx, uri)
		assert.ErrorIs(t, err, ErrInvalidURI, uri)
	}
	for _, uri := range []string{"calvinip://", "calvinip://h:x", "calvinip://127.0.0.1:1/x"} {
		_, err := tr.Listen(ctx, uri)
		assert.ErrorIs(t, err, ErrInvalidURI, uri)
	}
}

// rawDial opens a plain TCP connection to a calvinip listener.
func rawDial(t *testing.T, l Listener) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", strings.TrimPrefix(l.URI(), "calvinip://"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = nc.Close() })
	return nc
}

// rawConn listens on a loopback calvinip port, connects to it with a plain
// TCP socket and returns the socket and the accepted Conn; they and the
// listener are closed when the test ends.
func rawConn(t *testing.T) (net.Conn, Conn) {
	t.Helper()
	ctx := context.Background()
	l, err := newCalvinIP(t).Listen(ctx, "calvinip://127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = l.Close() })
	nc := rawDial(t, l)
	c, err := l.Accept(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return nc, c
}

func TestCalvinIPFramesSplitAcrossWrites(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	nc, c := rawConn(t)

	var wire []byte
	for i := range 50 {
		wire = AppendFrame(wire, testFrame(i))
	}
	go func() {
		// Odd chunk sizes: prefixes and payloads split anywhere, several
		// frames in one write.
		for len(wire) > 0 {
			n := min(len(wire), 1+len(wire)%977)
			if _, err := nc.Write(wire[:n]); err != nil {
				return
			}
			wire = wire[n:]
		}
	}()
	for i := range 50 {
		got, err := c.Recv(ctx)
		require.NoError(t, err)
		require.Equal(t, testFrame(i), got)
	}
}

func TestCalvinIPOversizeFromPeerClosesOnlyThatConn(t *testing.T) {
	checkNoLeaks(t)
	logs := &syncBuffer{}
	tr := newCalvinIP(t, WithMaxFrameSize(4096), WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	good, goodAcc, l := pair(t, tr, "calvinip://127.0.0.1:0")
	ctx := context.Background()

	nc := rawDial(t, l)
	bad, err := l.Accept(ctx)
	require.NoError(t, err)
	defer bad.Close()
	_, err = nc.Write([]byte{0, 0, 0x10, 0x01, 'x'}) // 4097 > 4096
	require.NoError(t, err)

	_, err = bad.Recv(ctx)
	require.ErrorIs(t, err, ErrFrameTooLarge)
	assert.Contains(t, err.Error(), bad.RemoteURI())
	// Later calls report the connection closed, keeping the cause.
	_, err = bad.Recv(ctx)
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, err, ErrFrameTooLarge)
	require.ErrorIs(t, bad.Send(ctx, []byte("x")), ErrClosed)
	// The raw peer sees the connection closed.
	_, err = io.ReadAll(nc)
	require.NoError(t, err)
	assert.Contains(t, logs.String(), "peer broke framing")
	assert.Contains(t, logs.String(), "level=ERROR")

	// The other connection of the same listener keeps working.
	exchange(t, good, goodAcc, 100)
}

func TestCalvinIPTruncatedFrame(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	nc, c := rawConn(t)
	_, err := nc.Write([]byte{0, 0, 0, 10, 'a', 'b', 'c'})
	require.NoError(t, err)
	require.NoError(t, nc.(*net.TCPConn).CloseWrite())
	_, err = c.Recv(ctx)
	require.ErrorIs(t, err, ErrTruncatedFrame)
	require.ErrorIs(t, err, ErrClosed, "the peer went away")
	_, err = c.Recv(ctx)
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, err, ErrTruncatedFrame, "the cause stays reachable")
}

func TestCalvinIPPeerCloseGivesErrClosed(t *testing.T) {
	checkNoLeaks(t)
	a, b, _ := pair(t, newCalvinIP(t), "calvinip://127.0.0.1:0")
	ctx := context.Background()
	require.NoError(t, a.Send(ctx, []byte("last")))
	got, err := b.Recv(ctx)
	require.NoError(t, err)
	assert.Equal(t, []byte("last"), got)
	require.NoError(t, a.Close())
	_, err = b.Recv(ctx)
	require.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, b.Send(ctx, []byte("x")), ErrClosed)
}

func TestCalvinIPSendOversizeFailsLocally(t *testing.T) {
	checkNoLeaks(t)
	a, b, _ := pair(t, newCalvinIP(t, WithMaxFrameSize(100)), "calvinip://127.0.0.1:0")
	ctx := context.Background()
	err := a.Send(ctx, make([]byte, 101))
	require.ErrorIs(t, err, ErrFrameTooLarge)
	require.NoError(t, a.Send(ctx, bytes.Repeat([]byte("y"), 100)))
	got, err := b.Recv(ctx)
	require.NoError(t, err)
	assert.Len(t, got, 100)
}

func TestCalvinIPSendBlocksUntilContextDone(t *testing.T) {
	checkNoLeaks(t)
	a, _, _ := pair(t, newCalvinIP(t, WithSendQueue(2)), "calvinip://127.0.0.1:0")
	// Nobody reads the other end: socket buffers fill, then the queue, then
	// Send must block until its deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	frame := make([]byte, 1<<20)
	var err error
	for err == nil {
		err = a.Send(ctx, frame)
	}
	require.ErrorIs(t, err, context.DeadlineExceeded)
	// Close unblocks a Send stuck on a full queue.
	done := make(chan error, 1)
	go func() { done <- a.Send(context.Background(), frame) }()
	require.NoError(t, a.Close())
	require.ErrorIs(t, <-done, ErrClosed)
}

func TestCalvinIPRecvCancelKeepsConnection(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	nc, c := rawConn(t)

	// Cancelled while waiting for a frame.
	cctx, cancel := context.WithCancel(ctx)
	errc := make(chan error, 1)
	go func() { _, err := c.Recv(cctx); errc <- err }()
	cancel()
	require.ErrorIs(t, <-errc, context.Canceled)

	// Cancelled in the middle of a frame: the next Recv completes it.
	wire := AppendFrame(nil, []byte("split in two"))
	_, err := nc.Write(wire[:6])
	require.NoError(t, err)
	tctx, tcancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer tcancel()
	_, err = c.Recv(tctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	_, err = nc.Write(wire[6:])
	require.NoError(t, err)
	got, err := c.Recv(ctx)
	require.NoError(t, err)
	assert.Equal(t, []byte("split in two"), got)

	// A cancellable context that is not cancelled reads normally; when it
	// ends later, reads under other contexts are not disturbed.
	live, endLive := context.WithCancel(ctx)
	_, err = nc.Write(AppendFrame(nil, []byte("again")))
	require.NoError(t, err)
	got, err = c.Recv(live)
	require.NoError(t, err)
	assert.Equal(t, []byte("again"), got)
	endLive()
	other, endOther := context.WithCancel(ctx)
	defer endOther()
	for _, rctx := range []context.Context{ctx, other} {
		go func() { _, _ = nc.Write(AppendFrame(nil, []byte("later"))) }()
		got, err = c.Recv(rctx)
		require.NoError(t, err)
		assert.Equal(t, []byte("later"), got)
	}
}

func TestCalvinIPCloseTwiceAndUnblocks(t *testing.T) {
	checkNoLeaks(t)
	a, _, l := pair(t, newCalvinIP(t), "calvinip://127.0.0.1:0")
	errc := make(chan error, 1)
	go func() { _, err := a.Recv(context.Background()); errc <- err }()
	require.NoError(t, a.Close())
	require.NoError(t, a.Close())
	require.ErrorIs(t, <-errc, ErrClosed)
	_, err := a.Recv(context.Background())
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, a.Send(context.Background(), []byte("x")), ErrClosed)

	acc := make(chan error, 1)
	go func() { _, err := l.Accept(context.Background()); acc <- err }()
	require.NoError(t, l.Close())
	require.NoError(t, l.Close())
	require.ErrorIs(t, <-acc, ErrClosed)
}

func TestCalvinIPAcceptContext(t *testing.T) {
	checkNoLeaks(t)
	l, err := newCalvinIP(t).Listen(context.Background(), "calvinip://127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = l.Accept(ctx)
	require.ErrorIs(t, err, context.Canceled)
}

func TestCalvinIPDialRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	_, err = newCalvinIP(t).Dial(context.Background(), "calvinip://"+addr)
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrInvalidURI))
	assert.Contains(t, err.Error(), addr)
}

// The captured Calvin streams, written by a raw TCP peer in random pieces,
// come out of a calvinip connection frame by frame.
func TestCalvinIPGoldenStreams(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	l, err := newCalvinIP(t).Listen(ctx, "calvinip://127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	for _, s := range loadVectorStreams(t) {
		t.Run(s.name, func(t *testing.T) {
			var wire []byte
			for _, p := range s.payloads {
				wire = AppendFrame(wire, p)
			}
			nc := rawDial(t, l)
			c, err := l.Accept(ctx)
			require.NoError(t, err)
			defer c.Close()
			go func() {
				for i := 0; len(wire) > 0; i++ {
					n := min(len(wire), 1+(i*7919)%1500)
					if _, err := nc.Write(wire[:n]); err != nil {
						return
					}
					wire = wire[n:]
				}
			}()
			for i, want := range s.payloads {
				got, err := c.Recv(ctx)
				require.NoError(t, err, "frame %d", i)
				require.Equal(t, want, got, "frame %d", i)
			}
		})
	}
}

// What a calvinip connection writes is byte for byte the captured stream:
// prefix(len) + payload, nothing else.
func TestCalvinIPWritesGoldenBytes(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer raw.Close()
	for _, s := range loadVectorStreams(t) {
		t.Run(s.name, func(t *testing.T) {
			var wire []byte
			for _, p := range s.payloads {
				wire = AppendFrame(wire, p)
			}
			c, err := newCalvinIP(t).Dial(ctx, "calvinip://"+raw.Addr().String())
			require.NoError(t, err)
			defer c.Close()
			peer, err := raw.Accept()
			require.NoError(t, err)
			defer peer.Close()
			for _, p := range s.payloads {
				require.NoError(t, c.Send(ctx, bytes.Clone(p)))
			}
			require.NoError(t, Flush(ctx, c))
			got := make([]byte, len(wire))
			_, err = io.ReadFull(peer, got)
			require.NoError(t, err)
			require.Equal(t, wire, got)
		})
	}
}
