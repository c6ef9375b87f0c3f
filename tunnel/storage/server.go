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
	work  *workers

	closeOnce sync.Once
}

// NewServer registers a registry server on m's node. Use WithStore to share
// a store with a local Client (NewLocalClient) so the node's own records
// live in the same registry. Without WithStore the server creates a
// MemStore bounded by WithMaxKeys and WithMaxBytes (or their defaults); a
// write over those limits is answered with response 503 and the link and
// the other keys keep working.
func NewServer(m *tunnel.Manager, opts ...Option) (*Server, error) {
	if m == nil {
		return nil, fmt.Errorf("%w: nil manager", ErrInvalidOption)
	}
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	switch {
	case o.store == nil:
		o.store = newMemStore(o.maxKeys, o.maxBytes)
	case o.maxKeys != 0 || o.maxBytes != 0:
		// Silently ignoring a limit would leave the registry unbounded.
		return nil, fmt.Errorf("%w: WithMaxKeys and WithMaxBytes bound the server's own MemStore; set them on the store given to WithStore", ErrInvalidOption)
	}
	ep, err := endpointFor(m, o.logger)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		ep:    ep,
		store: o.store,
		log:   o.logger.With("node", m.NodeID(), "component", "storage-server"),
		opts:  o,
		ctx:   ctx,
		stop:  cancel,
	}
	s.work = newWorkers(o.maxPending, s.serve)
	if err := ep.attachServer(s); err != nil {
		cancel()
		return nil, err
	}
	return s, nil
}

// Store returns the server's store.
func (s *Server) Store() Store { return s.store }

// Close stops serving: later requests are answered 500 and new storage
// tunnels refused, queued requests are dropped, and the server's goroutines
// are waited for. Safe to call twice.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		s.ep.detachServer(s)
		s.stop()
		s.work.close()
	})
	return nil
}

// enqueue is called on the link reader goroutine; it never blocks.
func (s *Server) enqueue(t *tunnel.Tunnel, value any) {
	if !s.work.enqueue(t, value) {
		s.log.Warn("storage request dropped: server closed or too many pending", "peer", t.Peer())
	}
}

// serve executes one request and sends its REPLY.
func (s *Server) serve(t *tunnel.Tunnel, v any) {
	reply := Execute(s.ctx, s.store, v)
	if reply == nil {
		s.log.Debug("storage message needs no reply", "peer", t.Peer(), "value_type", fmt.Sprintf("%T", v))
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.opts.timeout)
	defer cancel()
	if err := t.Send(ctx, reply); err != nil {
		s.log.Info("storage reply not sent", "peer", t.Peer(), "msg_uuid", reply.MsgUUID, "err", err)
	}
}
