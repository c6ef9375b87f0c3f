package transport

import (
	"context"
	"sync"
)

// Flusher is implemented by the connections of this package. Flush blocks
// until every frame queued by Send before the call has left the connection:
// written to the socket (calvinip, ws) or delivered to the peer's inbox
// (mem). It returns ErrClosed (wrapped) on a closed connection.
//
// Use it before Close when the last frames matter, e.g. a reply that
// rejects a join: Close itself discards what is still queued. (On TCP, data
// the closing side has received but not read makes the kernel reset the
// connection, which can still lose the tail; read until the peer is done
// if that matters.)
type Flusher interface {
	Flush(ctx context.Context) error
}

// Flush flushes c if it implements Flusher and does nothing otherwise.
func Flush(ctx context.Context, c Conn) error {
	if f, ok := c.(Flusher); ok {
		return f.Flush(ctx)
	}
	return nil
}

// flushTracker publishes how many frames a writer has handed on, and lets
// Flush callers wait for a count.
type flushTracker struct {
	mu      sync.Mutex
	done    uint64
	changed chan struct{} // made by a waiter, closed by publish
}

// publish records that the first n frames are out.
func (f *flushTracker) publish(n uint64) {
	f.mu.Lock()
	if n > f.done {
		f.done = n
		if f.changed != nil {
			close(f.changed)
			f.changed = nil
		}
	}
	f.mu.Unlock()
}

// wait blocks until target frames are out, closed is closed (then it
// returns closedErr()), or ctx ends. request, if not nil, is called while
// waiting to ask the writer for an early flush.
func (f *flushTracker) wait(ctx context.Context, target uint64, closed <-chan struct{}, closedErr func() error, request func()) error {
	select {
	case <-closed:
		return closedErr()
	default:
	}
	for {
		f.mu.Lock()
		if f.done >= target {
			f.mu.Unlock()
			return nil
		}
		if f.changed == nil {
			f.changed = make(chan struct{})
		}
		changed := f.changed
		f.mu.Unlock()
		if request != nil {
			request()
		}
		select {
		case <-changed:
		case <-closed:
			return closedErr()
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
