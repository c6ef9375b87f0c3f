package transport

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

const (
	streamBufferSize = 64 << 10
	// Payloads up to slabMaxFrame are carved from a shared slab: one
	// allocation per slabSize bytes instead of one per frame. Each frame is a
	// capacity-limited sub-slice, so the caller owns it alone.
	slabSize     = 32 << 10
	slabMaxFrame = 1 << 10
)

// aLongTimeAgo is a read deadline in the past; setting it makes a blocked
// Read return at once with a timeout error.
var aLongTimeAgo = time.Unix(1, 0)

// closedErr builds the error of a closed connection, keeping its cause
// reachable for errors.Is.
func closedErr(remote string, cause error) error {
	if cause == nil {
		return fmt.Errorf("%w (%s)", ErrClosed, remote)
	}
	return fmt.Errorf("%w (%s): %w", ErrClosed, remote, cause)
}

// streamConn is a Conn over a byte stream (TCP or TLS) with calvinip framing.
type streamConn struct {
	nc            net.Conn
	local, remote string
	maxFrame      int
	log           *slog.Logger

	// reader side, used by the single Recv goroutine
	br   *bufio.Reader
	fr   frameReader
	slab []byte

	// cancellation of blocked reads, armed by Recv, dropped by Close
	rcMu    sync.Mutex
	rcStop  func() bool
	rcDone  <-chan struct{}
	rcFired chan struct{}
	armed   atomic.Bool // rcStop != nil

	// writer side
	out        *boundedQueue[[]byte]
	bw         *bufio.Writer
	whdr       [FrameHeaderSize]byte
	writerDone chan struct{}
	flushed    flushTracker
	flushReq   atomic.Bool   // a Flush waits: flush after the current batch
	writes     atomic.Uint64 // socket writes, for the benchmarks' frames/write

	closeOnce sync.Once
	mu        sync.Mutex
	cause     error // why the connection closed; nil for a local Close
}

func newStreamConn(nc net.Conn, local, remote string, cfg *config) *streamConn {
	c := &streamConn{
		nc:         nc,
		local:      local,
		remote:     remote,
		maxFrame:   cfg.maxFrameSize,
		log:        cfg.logger,
		br:         bufio.NewReaderSize(nc, streamBufferSize),
		out:        newBoundedQueue[[]byte](cfg.sendQueue),
		writerDone: make(chan struct{}),
	}
	c.bw = bufio.NewWriterSize(countingWriter{nc, &c.writes}, streamBufferSize)
	go c.writeLoop()
	return c
}

// countingWriter counts the writes reaching the socket.
type countingWriter struct {
	w io.Writer
	n *atomic.Uint64
}

func (w countingWriter) Write(p []byte) (int, error) {
	w.n.Add(1)
	return w.w.Write(p)
}

func (c *streamConn) LocalURI() string  { return c.local }
func (c *streamConn) RemoteURI() string { return c.remote }

// Send queues frame for the writer goroutine.
func (c *streamConn) Send(ctx context.Context, frame []byte) error {
	return queueFrame(ctx, c.out, frame, c.maxFrame, c.remote)
}

// writeLoop drains the queue into the buffered writer and flushes only when
// the queue is empty, so a burst of frames costs a few large writes.
func (c *streamConn) writeLoop() {
	defer close(c.writerDone)
	var batch [][]byte
	var taken uint64
	for {
		if c.out.len() == 0 || c.flushReq.Swap(false) {
			if err := c.bw.Flush(); err != nil {
				c.writeFailed(err)
				return
			}
			c.flushed.publish(taken)
			if err := c.out.wait(context.Background()); err != nil {
				return
			}
		}
		batch = c.out.take(batch)
		taken += uint64(len(batch))
		for i, f := range batch {
			binary.BigEndian.PutUint32(c.whdr[:], uint32(len(f)))
			if _, err := c.bw.Write(c.whdr[:]); err != nil {
				c.writeFailed(err)
				return
			}
			if _, err := c.bw.Write(f); err != nil {
				c.writeFailed(err)
				return
			}
			batch[i] = nil
		}
		batch = batch[:0]
	}
}

// Flush waits until every frame queued before the call is written to the
// socket (see Flusher).
func (c *streamConn) Flush(ctx context.Context) error {
	target := c.out.pushedCount()
	return c.flushed.wait(ctx, target, c.out.done, c.closedErr, func() {
		c.flushReq.Store(true)
		c.out.wake()
	})
}

func (c *streamConn) writeFailed(err error) {
	if !c.out.isClosed() {
		c.log.Warn("transport: write failed, closing connection", "remote", c.remote, "err", err)
	}
	c.closeWith(err)
}

func (c *streamConn) alloc(n int) []byte {
	if n == 0 {
		return []byte{} // empty, but not nil: a frame was received
	}
	if n > slabMaxFrame {
		return make([]byte, n)
	}
	if len(c.slab)+n > cap(c.slab) {
		c.slab = make([]byte, 0, slabSize)
	}
	off := len(c.slab)
	c.slab = c.slab[:off+n]
	return c.slab[off : off+n : off+n]
}

// Recv returns the next frame. Without a cancellable ctx it reads directly.
// Otherwise a context.AfterFunc moves the read deadline into the past when
// ctx ends; the frame reader keeps any partial frame for the next call. The
// registration stays armed across calls with the same ctx, so a read loop
// with one long-lived ctx pays for it once.
func (c *streamConn) Recv(ctx context.Context) ([]byte, error) {
	if c.out.isClosed() {
		return nil, c.closedErr()
	}
	if ctx.Done() == nil {
		if c.armed.Load() {
			// An earlier ctx must not interrupt this read when it ends.
			c.disarmCancel()
		}
		p, err := c.fr.next(c.br, c.maxFrame, nil, c.alloc)
		if err != nil {
			return nil, c.recvFailed(err)
		}
		return p, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// Under load the next frame is usually buffered already: no need to
	// arm the cancellation.
	if c.fr.hdrN == 0 {
		if p, ok, err := readBufferedFrame(c.br, c.maxFrame, nil, c.alloc); ok {
			return p, nil
		} else if err != nil {
			return nil, c.recvFailed(err)
		}
	}
	c.armCancel(ctx)
	p, err := c.fr.next(c.br, c.maxFrame, nil, c.alloc)
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && ctx.Err() != nil {
			c.disarmCancel()
			return nil, ctx.Err()
		}
		return nil, c.recvFailed(err)
	}
	return p, nil
}

// RecvBorrowed is Recv without the copy when the whole frame is already
// buffered: the frame is a view of the read buffer, valid until the next
// read (see Borrower). Otherwise it returns what Recv returns.
func (c *streamConn) RecvBorrowed(ctx context.Context) ([]byte, error) {
	if ctx.Done() != nil || c.fr.hdrN != 0 || c.armed.Load() || c.out.isClosed() {
		return c.Recv(ctx)
	}
	br := c.br
	if br.Buffered() >= FrameHeaderSize {
		p, _ := br.Peek(FrameHeaderSize)
		n := uint64(binary.BigEndian.Uint32(p))
		if n <= uint64(c.maxFrame) && br.Buffered() >= FrameHeaderSize+int(n) {
			p, _ = br.Peek(FrameHeaderSize + int(n))
			// Discard only moves the read offset: the bytes stay in place
			// until the next read refills the buffer.
			_, _ = br.Discard(FrameHeaderSize + int(n))
			return p[FrameHeaderSize:len(p):len(p)], nil
		}
	}
	return c.Recv(ctx)
}

// armCancel makes the end of ctx interrupt reads, unless already so.
func (c *streamConn) armCancel(ctx context.Context) {
	c.rcMu.Lock()
	defer c.rcMu.Unlock()
	done := ctx.Done()
	if c.rcStop != nil && c.rcDone == done {
		return
	}
	c.disarmLocked()
	if c.out.isClosed() {
		return // Close has disarmed for good; the read fails anyway
	}
	fired := make(chan struct{})
	c.rcStop = context.AfterFunc(ctx, func() {
		_ = c.nc.SetReadDeadline(aLongTimeAgo)
		close(fired)
	})
	c.rcDone, c.rcFired = done, fired
	c.armed.Store(true)
}

func (c *streamConn) disarmCancel() {
	c.rcMu.Lock()
	defer c.rcMu.Unlock()
	c.disarmLocked()
}

// disarmLocked drops the registration and, if it fired, clears the deadline.
func (c *streamConn) disarmLocked() {
	if c.rcStop == nil {
		return
	}
	if !c.rcStop() {
		<-c.rcFired
		_ = c.nc.SetReadDeadline(time.Time{})
	}
	c.rcStop, c.rcDone, c.rcFired = nil, nil, nil
	c.armed.Store(false)
}

// recvFailed closes the connection after a read error and returns what Recv reports.
func (c *streamConn) recvFailed(err error) error {
	if errors.Is(err, ErrTruncatedFrame) {
		// The stream ended inside a frame: the peer went away while
		// writing it (its Close cuts the frame being written, as does a
		// crash). The connection is closed, and the frame is truncated:
		// the error wraps both ErrClosed and ErrTruncatedFrame.
		err = fmt.Errorf("transport: recv from %s: %w", c.remote, err)
		c.log.Info("transport: peer closed the connection inside a frame", "remote", c.remote, "err", err)
		c.closeWith(err)
		return c.closedErr()
	}
	if errors.Is(err, ErrFrameTooLarge) {
		err = fmt.Errorf("transport: recv from %s: %w", c.remote, err)
		c.log.Error("transport: peer broke framing, closing connection", "remote", c.remote, "err", err)
		c.closeWith(err)
		return err
	}
	if errors.Is(err, io.EOF) {
		err = errors.New("closed by peer")
	}
	c.closeWith(err)
	return c.closedErr()
}

func (c *streamConn) closedErr() error {
	c.mu.Lock()
	cause := c.cause
	c.mu.Unlock()
	return closedErr(c.remote, cause)
}

// closeWith closes the connection once, recording cause (nil for Close).
// It does not wait for the writer, so the writer itself may call it.
func (c *streamConn) closeWith(cause error) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.cause = cause
		c.mu.Unlock()
		c.out.close(closedErr(c.remote, cause), false)
		_ = c.nc.Close()
	})
}

// Close drops queued frames, closes the socket and waits for the writer.
func (c *streamConn) Close() error {
	c.closeWith(nil)
	// Release the ctx registration so a long-lived ctx does not pin us.
	c.disarmCancel()
	<-c.writerDone
	return nil
}
