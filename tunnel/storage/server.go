package storage

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/meshkit/meshkit/tunnel"
)

// Server makes its node a registry master (Calvin's storage_type = "local",
// the Go node's -storage local): it accepts storage tunnels from any peer
// and answers the nine storage commands from its Store (§6.2).
//
// Requests of one tunnel are executed one at a time in arrival order, on a
// goroutine of the server, so a slow Store never blocks the link reader.
type Server struct {
	ep    *endpoint
	store Store
	log   *slog.Logger
	opts  options
	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup

	mu     sync.Mutex
	queues map[*tunnel.Tunnel]*serverQueue
	closed bool
}

type serverQueue struct {
	items   []any
	running bool
}

// NewServer registers a registry server on m's node. Use WithStore to share
// a store with a local Client (NewLocalClient) so the node's own records
// live in the same registry.
func NewServer(m *tunnel.Manager, opts ...Option) (*Server, error) {
	if m == nil {
		return nil, fmt.Errorf("%w: nil manager", ErrInvalidOption)
	}
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	if o.store == nil {
		o.store = NewMemStore()
	}
	ep, err := endpointFor(m, o.logger)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		ep:     ep,
		store:  o.store,
		log:    o.logger.With("node", m.NodeID(), "component", "storage-server"),
		opts:   o,
		ctx:    ctx,
		stop:   cancel,
		queues: map[*tunnel.Tunnel]*serverQueue{},
	}
	if err := ep.attachServer(s); err != nil {
		cancel()
		return nil, err
	}
	return s, nil
}

// Store returns the server's store.
func (s *Server) Store() Store { return s.store }

// Close stops serving: new storage tunnels are refused, queued requests are
// dropped and the server's goroutines are waited for. Safe to call twice.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for t, q := range s.queues {
		clear(q.items)
		q.items = nil
		delete(s.queues, t)
	}
	s.mu.Unlock()
	s.ep.detachServer(s)
	s.stop()
	s.wg.Wait()
	return nil
}

// enqueue is called on the link reader goroutine; it never blocks.
func (s *Server) enqueue(t *tunnel.Tunnel, value any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	q := s.queues[t]
	if q == nil {
		q = &serverQueue{}
		s.queues[t] = q
	}
	if len(q.items) >= s.opts.maxPending {
		s.log.Warn("storage request dropped: too many pending", "peer", t.Peer(), "pending", len(q.items))
		return
	}
	q.items = append(q.items, value)
	if !q.running {
		q.running = true
		s.wg.Add(1)
		go s.run(t, q)
	}
}

// run executes a tunnel's queued requests in order and exits when the queue
// is empty.
func (s *Server) run(t *tunnel.Tunnel, q *serverQueue) {
	defer s.wg.Done()
	for {
		s.mu.Lock()
		if len(q.items) == 0 || s.closed {
			q.running = false
			if s.queues[t] == q {
				delete(s.queues, t)
			}
			s.mu.Unlock()
			return
		}
		v := q.items[0]
		q.items[0] = nil
		q.items = q.items[1:]
		s.mu.Unlock()

		reply := Execute(s.ctx, s.store, v)
		if reply == nil {
			s.log.Debug("storage message needs no reply", "peer", t.Peer(), "value_type", fmt.Sprintf("%T", v))
			continue
		}
		ctx, cancel := context.WithTimeout(s.ctx, s.opts.timeout)
		err := t.Send(ctx, reply)
		cancel()
		if err != nil {
			s.log.Info("storage reply not sent", "peer", t.Peer(), "msg_uuid", reply.MsgUUID, "err", err)
		}
	}
}
