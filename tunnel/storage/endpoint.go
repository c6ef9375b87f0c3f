package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"

	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/tunnel"
)

// TunnelType is the tunnel type of the registry sub-protocol.
const TunnelType = wire.TunnelTypeStorage

// errNotRegistry refuses an incoming storage tunnel on a node without a Server.
var errNotRegistry = errors.New("storage: this node serves no registry")

// endpoint is the one "storage" TypeHandler of a manager. A node can be a
// registry (Server) and a registry client (Client) at once; the endpoint
// sends requests to the server and replies to the clients.
type endpoint struct {
	log *slog.Logger

	mu      sync.Mutex
	server  *Server
	clients map[*Client]struct{}
}

// endpointFor returns the manager's storage endpoint, registering it first.
func endpointFor(m *tunnel.Manager, log *slog.Logger) (*endpoint, error) {
	for {
		if h, ok := m.Handler(TunnelType); ok {
			ep, ok := h.(*endpoint)
			if !ok {
				return nil, fmt.Errorf("storage: tunnel type %q is served by a foreign handler %T", TunnelType, h)
			}
			return ep, nil
		}
		ep := &endpoint{log: log, clients: map[*Client]struct{}{}}
		err := m.RegisterType(TunnelType, ep)
		if errors.Is(err, tunnel.ErrTypeRegistered) {
			continue // registered concurrently: use that one
		}
		if err != nil {
			return nil, err
		}
		return ep, nil
	}
}

func (e *endpoint) attachServer(s *Server) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.server != nil {
		return errors.New("storage: the manager already has a registry server")
	}
	e.server = s
	return nil
}

func (e *endpoint) detachServer(s *Server) {
	e.mu.Lock()
	if e.server == s {
		e.server = nil
	}
	e.mu.Unlock()
}

func (e *endpoint) attachClient(c *Client) {
	e.mu.Lock()
	e.clients[c] = struct{}{}
	e.mu.Unlock()
}

func (e *endpoint) detachClient(c *Client) {
	e.mu.Lock()
	delete(e.clients, c)
	e.mu.Unlock()
}

func (e *endpoint) snapshot() (*Server, []*Client) {
	e.mu.Lock()
	defer e.mu.Unlock()
	cs := make([]*Client, 0, len(e.clients))
	for c := range e.clients {
		cs = append(cs, c)
	}
	return e.server, cs
}

// Accept implements tunnel.TypeHandler: only a registry takes storage tunnels.
func (e *endpoint) Accept(peer, tunnelID string) error {
	if s, _ := e.snapshot(); s == nil {
		return errNotRegistry
	}
	return nil
}

// Up implements tunnel.TypeHandler.
func (e *endpoint) Up(t *tunnel.Tunnel) {
	_, cs := e.snapshot()
	for _, c := range cs {
		c.tunnelUp(t)
	}
}

// Down implements tunnel.TypeHandler.
func (e *endpoint) Down(t *tunnel.Tunnel, reason error) {
	_, cs := e.snapshot()
	for _, c := range cs {
		c.tunnelDown(t, reason)
	}
}

// Data implements tunnel.TypeHandler: replies go to the clients, everything
// else to the server.
func (e *endpoint) Data(t *tunnel.Tunnel, value any) {
	s, cs := e.snapshot()
	if r, ok := value.(*wire.TunnelReply); ok {
		for _, c := range cs {
			if c.deliver(t, r) {
				return
			}
		}
		e.log.Debug("storage REPLY for no pending request dropped", "peer", t.Peer(), "msg_uuid", r.MsgUUID)
		return
	}
	if s == nil {
		// Answer rather than let the requester wait for its timeout.
		e.log.Info("storage request on a node without registry refused", "peer", t.Peer())
		if r := refusal(value); r != nil {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), DefaultTimeout)
				defer cancel()
				if err := t.Send(ctx, r); err != nil {
					e.log.Debug("storage refusal not sent", "peer", t.Peer(), "err", err)
				}
			}()
		}
		return
	}
	s.enqueue(t, value)
}
