package tunnel

import (
	"context"
	"errors"
	"fmt"

	"github.com/meshkit/meshkit/rt2rt"
	"github.com/meshkit/meshkit/rt2rt/wire"
)

// State is the life-cycle state of a tunnel.
type State int32

const (
	// StatePending: this node sent TUNNEL_NEW and waits for the reply.
	StatePending State = iota + 1
	// StateWorking: the tunnel is up; TUNNEL_DATA flows.
	StateWorking
	// StateDown: the link to the peer was lost. The tunnel keeps its id and
	// returns to StateWorking when the peer is linked again (§5.5).
	StateDown
	// StateTerminated: destroyed, failed to set up, or its manager closed.
	// A terminated tunnel is no longer in the manager's table.
	StateTerminated
)

func (s State) String() string {
	switch s {
	case StatePending:
		return "PENDING"
	case StateWorking:
		return "WORKING"
	case StateDown:
		return "DOWN"
	case StateTerminated:
		return "TERMINATED"
	}
	return fmt.Sprintf("State(%d)", int32(s))
}

// Node is the part of *rt2rt.Node the manager uses.
type Node interface {
	ID() string
	Request(ctx context.Context, peerID string, m wire.Message) (wire.Response, error)
	Send(ctx context.Context, peerID string, m wire.Message) error
	Handle(cmd string, h rt2rt.Handler)
	Subscribe(f func(rt2rt.PeerEvent)) (cancel func())
}

var _ Node = (*rt2rt.Node)(nil)

// TypeHandler serves one tunnel type ("token", "storage", "proxy",
// "control"). The manager calls it for each tunnel of that type, one call
// at a time per tunnel and in the order the events happened; calls must not
// block (move slow work to a goroutine).
type TypeHandler interface {
	// Accept decides on a TUNNEL_NEW from peer; an error refuses it (the
	// peer gets 500). It is not asked for tunnels this node opens.
	Accept(peer, tunnelID string) error
	// Up: the tunnel is WORKING (after set-up, or again after a re-join).
	Up(t *Tunnel)
	// Down: the tunnel stopped working. reason is ErrLinkLost (the tunnel
	// stays in the table and comes up again), ErrDestroyed or ErrClosed.
	// Down only follows an Up.
	Down(t *Tunnel, reason error)
	// Data receives the value of each TUNNEL_DATA, in arrival order.
	Data(t *Tunnel, value any)
}

// HandlerFuncs adapts functions to TypeHandler; nil functions accept every
// tunnel and ignore events.
type HandlerFuncs struct {
	AcceptFunc func(peer, tunnelID string) error
	UpFunc     func(t *Tunnel)
	DownFunc   func(t *Tunnel, reason error)
	DataFunc   func(t *Tunnel, value any)
}

// Accept implements TypeHandler.
func (h HandlerFuncs) Accept(peer, tunnelID string) error {
	if h.AcceptFunc == nil {
		return nil
	}
	return h.AcceptFunc(peer, tunnelID)
}

// Up implements TypeHandler.
func (h HandlerFuncs) Up(t *Tunnel) {
	if h.UpFunc != nil {
		h.UpFunc(t)
	}
}

// Down implements TypeHandler.
func (h HandlerFuncs) Down(t *Tunnel, reason error) {
	if h.DownFunc != nil {
		h.DownFunc(t, reason)
	}
}

// Data implements TypeHandler.
func (h HandlerFuncs) Data(t *Tunnel, value any) {
	if h.DataFunc != nil {
		h.DataFunc(t, value)
	}
}

// Tunnel is one typed channel to a peer. There is at most one per (peer,
// type) in a manager. Its id may change once, while it is being set up, when
// the peer's id wins (§5.2).
type Tunnel struct {
	m    *Manager
	peer string
	typ  string
	h    TypeHandler
	sem  chan struct{} // held while handing a value to the node: keeps send order

	// Guarded by m.mu.
	id          string
	state       State
	notifiedUp  bool          // Up delivered and not yet followed by Down
	ready       chan struct{} // closed once set-up ended (either way)
	setupErr    error
	queue       []any
	flushing    bool
	events      []event
	dispatching bool
}

type eventKind uint8

const (
	evUp eventKind = iota + 1
	evDown
	evData
)

type event struct {
	kind  eventKind
	value any
	err   error
}

// ID returns the tunnel id (the surviving one once set-up has finished).
func (t *Tunnel) ID() string {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	return t.id
}

// Peer returns the peer node id.
func (t *Tunnel) Peer() string { return t.peer }

// Type returns the tunnel type.
func (t *Tunnel) Type() string { return t.typ }

// State returns the current state.
func (t *Tunnel) State() State {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	return t.state
}

// Manager returns the manager the tunnel belongs to.
func (t *Tunnel) Manager() *Manager { return t.m }

func (t *Tunnel) String() string {
	return fmt.Sprintf("%s tunnel %s to %s (%s)", t.typ, t.ID(), t.peer, t.State())
}

// Send sends value as the payload of a TUNNEL_DATA. On a WORKING tunnel it
// is handed to the node at once (and may block on link back-pressure until
// ctx is done); otherwise it is queued, up to the manager's queue limit, and
// sent in order once the tunnel is up. On a DOWN tunnel queuing also starts
// a re-join: the node re-joins the peer when the first queued value is sent,
// as Calvin does (§5.5); so does a Send refused with ErrQueueFull when no
// flush is running. value is a typed sub-message (e.g. *wire.Token) or a
// generic value.
func (t *Tunnel) Send(ctx context.Context, value any) error {
	m := t.m
	m.mu.Lock()
	switch {
	case t.state == StateTerminated:
		id := t.id
		m.mu.Unlock()
		return &Error{Op: "send", Peer: t.peer, Type: t.typ, TunnelID: id, Err: ErrTerminated}
	case t.state == StateWorking && len(t.queue) == 0 && !t.flushing:
		id := t.id
		m.mu.Unlock()
		return t.sendNow(ctx, id, value)
	}
	if len(t.queue) >= m.cfg.queueLimit {
		id := t.id
		// The value is refused, but what is queued must still move: a
		// DOWN tunnel whose last flush gave up would otherwise never
		// re-join from this side.
		start := m.startFlushLocked(t)
		m.mu.Unlock()
		if start {
			go m.flush(t)
		}
		return &Error{Op: "send", Peer: t.peer, Type: t.typ, TunnelID: id, Err: ErrQueueFull}
	}
	t.queue = append(t.queue, value)
	start := m.startFlushLocked(t)
	m.mu.Unlock()
	if start {
		go m.flush(t)
	}
	return nil
}

func (t *Tunnel) sendNow(ctx context.Context, id string, value any) error {
	select {
	case t.sem <- struct{}{}:
	case <-ctx.Done():
		return &Error{Op: "send", Peer: t.peer, Type: t.typ, TunnelID: id, Err: ctx.Err()}
	}
	defer func() { <-t.sem }()
	err := t.m.node.Send(ctx, t.peer, &wire.TunnelData{
		Envelope: wire.Envelope{Cmd: wire.CmdTunnelData},
		TunnelID: id,
		Value:    value,
	})
	if err != nil {
		return &Error{Op: "send", Peer: t.peer, Type: t.typ, TunnelID: id, Err: err}
	}
	return nil
}

// Wait blocks until the tunnel's set-up has finished and returns its error.
func (t *Tunnel) Wait(ctx context.Context) error {
	t.m.mu.Lock()
	ready := t.ready
	t.m.mu.Unlock()
	select {
	case <-ready:
	case <-ctx.Done():
		return &Error{Op: "wait", Peer: t.peer, Type: t.typ, TunnelID: t.ID(), Err: ctx.Err()}
	}
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	return t.setupErr
}

// Destroy removes the tunnel locally (its handler gets Down with
// ErrDestroyed) and sends TUNNEL_DESTROY to the peer, waiting for the reply.
// Values still queued are dropped. The error reports a failed or refused
// request; the tunnel is gone locally either way.
func (t *Tunnel) Destroy(ctx context.Context) error {
	m := t.m
	m.mu.Lock()
	if t.state == StateTerminated {
		id := t.id
		m.mu.Unlock()
		return &Error{Op: "destroy", Peer: t.peer, Type: t.typ, TunnelID: id, Err: ErrTerminated}
	}
	id := t.id
	m.terminateLocked(t, ErrDestroyed)
	m.mu.Unlock()
	m.dispatch(t)

	resp, err := m.node.Request(ctx, t.peer, &wire.TunnelDestroy{
		Envelope: wire.Envelope{Cmd: wire.CmdTunnelDestroy},
		TunnelID: id,
	})
	if err != nil {
		return &Error{Op: "destroy", Peer: t.peer, Type: t.typ, TunnelID: id, Err: err}
	}
	if !resp.Success() {
		return &Error{Op: "destroy", Peer: t.peer, Type: t.typ, TunnelID: id,
			Err: fmt.Errorf("peer answered %d", resp.Status)}
	}
	return nil
}

// isPermanent reports a send error that retrying cannot fix (the value itself
// cannot be encoded), so the value is dropped instead of blocking the queue.
func isPermanent(err error) bool {
	return errors.Is(err, rt2rt.ErrInvalidMessage) || errors.Is(err, wire.ErrUnencodable)
}
