package rt2rt

import (
	"slices"
	"sync"
)

// PeerEvent reports a link to a peer coming up or going down.
type PeerEvent struct {
	Peer string
	Up   bool
	URI  string // the link's peer URI (dialled URI or remote address)
	Err  error  // why a link went down; nil when up or closed locally
}

// eventQueue delivers link events to subscribers and the observer from one
// goroutine, in the order the link table changed, without making the
// goroutine that changed it wait for user code. It owns subs.
type eventQueue struct {
	obs Observer

	mu      sync.Mutex
	cond    *sync.Cond
	queue   []PeerEvent
	subs    map[int]func(PeerEvent)
	nextSub int
	stopped bool
	done    chan struct{}
}

func newEventQueue(obs Observer) *eventQueue {
	q := &eventQueue{obs: obs, subs: map[int]func(PeerEvent){}, done: make(chan struct{})}
	q.cond = sync.NewCond(&q.mu)
	go q.run()
	return q
}

func (q *eventQueue) push(ev PeerEvent) {
	q.mu.Lock()
	if !q.stopped {
		q.queue = append(q.queue, ev)
		q.cond.Signal()
	}
	q.mu.Unlock()
}

func (q *eventQueue) subscribe(f func(PeerEvent)) func() {
	q.mu.Lock()
	id := q.nextSub
	q.nextSub++
	q.subs[id] = f
	q.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			q.mu.Lock()
			delete(q.subs, id)
			q.mu.Unlock()
		})
	}
}

// stop delivers what is queued, then ends the goroutine and waits for it.
func (q *eventQueue) stop() {
	q.mu.Lock()
	q.stopped = true
	q.cond.Signal()
	q.mu.Unlock()
	<-q.done
}

func (q *eventQueue) run() {
	defer close(q.done)
	for {
		q.mu.Lock()
		for len(q.queue) == 0 && !q.stopped {
			q.cond.Wait()
		}
		if len(q.queue) == 0 {
			q.mu.Unlock()
			return
		}
		ev := q.queue[0]
		q.queue[0] = PeerEvent{}
		q.queue = q.queue[1:]
		// Subscribers are called in the order they subscribed.
		ids := make([]int, 0, len(q.subs))
		for id := range q.subs {
			ids = append(ids, id)
		}
		slices.Sort(ids)
		subs := make([]func(PeerEvent), len(ids))
		for i, id := range ids {
			subs[i] = q.subs[id]
		}
		q.mu.Unlock()
		if ev.Up {
			q.obs.LinkUp(ev.Peer, ev.URI)
		} else {
			q.obs.LinkDown(ev.Peer, ev.Err)
		}
		for _, f := range subs {
			f(ev)
		}
	}
}
