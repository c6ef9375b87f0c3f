package transport

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// boundedQueue is a multi-producer, single-consumer queue with a length
// limit. Producers append under a mutex (no channel operation and no
// allocation per item in the steady state); the consumer swaps the whole
// backlog out in one step, handing back its previous batch slice so the two
// buffers are reused. A producer signals the consumer only when the queue goes
// from empty to non-empty, so under load a batch costs one wake-up.
type boundedQueue[T any] struct {
	mu     sync.Mutex
	items  []T
	limit  int
	pushed uint64 // items ever accepted, for Flush
	closed bool
	err    error         // returned to producers (and to the consumer once drained) after close
	ready  chan struct{} // cap 1: items arrived or the queue closed
	space  chan struct{} // made by a producer that found the queue full; closed when the consumer takes
	done   chan struct{} // closed by close
}

func newBoundedQueue[T any](limit int) *boundedQueue[T] {
	return &boundedQueue[T]{
		limit: limit,
		ready: make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
}

// push appends v, blocking while the queue is full until ctx is done or the
// queue is closed.
func (q *boundedQueue[T]) push(ctx context.Context, v T) error {
	q.mu.Lock()
	for {
		if q.closed {
			err := q.err
			q.mu.Unlock()
			return err
		}
		if len(q.items) < q.limit {
			q.items = append(q.items, v)
			q.pushed++
			if len(q.items) == 1 {
				select {
				case q.ready <- struct{}{}:
				default:
				}
			}
			q.mu.Unlock()
			return nil
		}
		if q.space == nil {
			q.space = make(chan struct{})
		}
		space := q.space
		q.mu.Unlock()
		select {
		case <-space:
		case <-q.done:
		case <-ctx.Done():
			return ctx.Err()
		}
		q.mu.Lock()
	}
}

// take swaps out everything queued, without blocking. spare (the caller's
// previous batch, already cleared) becomes the new backing store. If the
// queue was closed with drain, the remaining items are still returned.
func (q *boundedQueue[T]) take(spare []T) []T {
	q.mu.Lock()
	out := q.items
	q.items = spare[:0]
	if q.space != nil {
		close(q.space)
		q.space = nil
	}
	q.mu.Unlock()
	return out
}

// wait blocks until take may return something, the queue is closed, or ctx
// is done. It returns the close error once the queue is closed and empty.
func (q *boundedQueue[T]) wait(ctx context.Context) error {
	for {
		q.mu.Lock()
		n, closed, err := len(q.items), q.closed, q.err
		q.mu.Unlock()
		if n > 0 {
			return nil
		}
		if closed {
			return err
		}
		select {
		case <-q.ready:
		case <-q.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// pushedCount reports how many items were ever accepted.
func (q *boundedQueue[T]) pushedCount() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.pushed
}

// wake nudges a waiting consumer without adding an item.
func (q *boundedQueue[T]) wake() {
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// len reports the number of queued items.
func (q *boundedQueue[T]) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.items)
}

// close makes producers fail with err from now on. With drain the consumer
// still receives what is queued; without it the backlog is dropped. Only
// the first close counts; it reports whether it was the first.
func (q *boundedQueue[T]) close(err error, drain bool) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.closed = true
	q.err = err
	if !drain {
		clear(q.items)
		q.items = nil
	}
	if q.space != nil {
		close(q.space)
		q.space = nil
	}
	close(q.done)
	return true
}

// isClosed reports whether close was called.
func (q *boundedQueue[T]) isClosed() bool {
	select {
	case <-q.done:
		return true
	default:
		return false
	}
}

// queueFrame is Send of a connection with a writer goroutine (calvinip,
// ws): it queues frame on out, blocking while out is full, and refuses a
// frame over maxFrame without queueing it.
func queueFrame(ctx context.Context, out *boundedQueue[[]byte], frame []byte, maxFrame int, remote string) error {
	if len(frame) > maxFrame {
		return fmt.Errorf("transport: send to %s: %w", remote, errFrameTooLarge(uint64(len(frame)), maxFrame))
	}
	return out.push(ctx, frame)
}

// recvBatch is the receiving side of a connection whose frames arrive
// through a queue (mem, ws): Recv takes the whole backlog in one step and
// serves it without locking. Only the one Recv goroutine uses it.
type recvBatch struct {
	frames [][]byte
	next   int
}

// recv returns the next frame of q. closed reports that the connection is
// done: dead is set (closed locally or cut) or q was closed and drained; the
// caller then returns its own closed error. Otherwise, without a frame, err
// is ctx's error.
func (b *recvBatch) recv(ctx context.Context, q *boundedQueue[[]byte], dead *atomic.Bool) (frame []byte, closed bool, err error) {
	for {
		if dead.Load() {
			return nil, true, nil
		}
		if b.next < len(b.frames) {
			f := b.frames[b.next]
			b.frames[b.next] = nil
			b.next++
			return f, false, nil
		}
		b.frames = q.take(b.frames[:0])
		b.next = 0
		if len(b.frames) > 0 {
			continue
		}
		if err := q.wait(ctx); err != nil {
			if ctx.Err() != nil && !q.isClosed() {
				return nil, false, err
			}
			return nil, true, nil
		}
	}
}
