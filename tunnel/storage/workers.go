package storage

import (
	"sync"

	"github.com/meshkit/meshkit/tunnel"
)

// workers runs fn for the values of each tunnel one at a time, in arrival
// order, on a goroutine that exists only while the tunnel has work. enqueue
// never blocks, so it can be called on the link reader goroutine.
type workers struct {
	fn  func(t *tunnel.Tunnel, v any)
	max int // values queued per tunnel before new ones are dropped

	mu     sync.Mutex
	queues map[*tunnel.Tunnel]*workQueue
	closed bool
	wg     sync.WaitGroup
}

type workQueue struct {
	items   []any
	running bool
}

func newWorkers(max int, fn func(t *tunnel.Tunnel, v any)) *workers {
	return &workers{fn: fn, max: max, queues: map[*tunnel.Tunnel]*workQueue{}}
}

// enqueue reports false when the value was dropped (closed, or queue full).
func (w *workers) enqueue(t *tunnel.Tunnel, v any) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return false
	}
	q := w.queues[t]
	if q == nil {
		q = &workQueue{}
		w.queues[t] = q
	}
	if len(q.items) >= w.max {
		return false
	}
	q.items = append(q.items, v)
	if !q.running {
		q.running = true
		w.wg.Add(1)
		go w.run(t, q)
	}
	return true
}

func (w *workers) run(t *tunnel.Tunnel, q *workQueue) {
	defer w.wg.Done()
	for {
		w.mu.Lock()
		if len(q.items) == 0 || w.closed {
			q.running = false
			if w.queues[t] == q {
				delete(w.queues, t)
			}
			w.mu.Unlock()
			return
		}
		v := q.items[0]
		q.items[0] = nil
		q.items = q.items[1:]
		w.mu.Unlock()
		w.fn(t, v)
	}
}

// close drops queued values and waits for running ones; safe to call twice.
func (w *workers) close() {
	w.mu.Lock()
	w.closed = true
	for t, q := range w.queues {
		clear(q.items)
		q.items = nil
		delete(w.queues, t)
	}
	w.mu.Unlock()
	w.wg.Wait()
}
