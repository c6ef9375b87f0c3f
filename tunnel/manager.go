package tunnel

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"

	"github.com/google/uuid"

	"github.com/meshkit/meshkit/rt2rt"
	"github.com/meshkit/meshkit/rt2rt/wire"
)

// Manager keeps the tunnels of one node: one per (peer, type). It answers
// TUNNEL_NEW, TUNNEL_DESTROY and TUNNEL_DATA for the node and hands tunnel
// events and data to the TypeHandler registered for each type.
//
// Ownership: mu guards the handler table, the tunnel tables and every
// tunnel's mutable fields.
type Manager struct {
	node   Node
	cfg    config
	log    *slog.Logger
	obs    Observer
	ctx    context.Context // cancelled by Close; bounds set-ups and flushes
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	handlers map[string]TypeHandler
	byType   map[peerKey]*Tunnel // (peer, type) -> tunnel
	byID     map[peerKey]*Tunnel // (peer, tunnel id) -> tunnel
	perPeer  map[string]int      // peer -> its tunnels in byType
	draining bool
	closed   bool
	unsub    func()
}

type peerKey struct{ peer, name string }

// NewManager creates a manager over node and registers its command handlers
// (TUNNEL_NEW, TUNNEL_DESTROY, TUNNEL_DATA) and a link-event subscription.
func NewManager(node Node, opts ...Option) (*Manager, error) {
	if node == nil {
		return nil, fmt.Errorf("%w: nil node", ErrInvalidOption)
	}
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil option", ErrInvalidOption)
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	if cfg.observer == nil {
		cfg.observer = nopObserver{}
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		node:     node,
		cfg:      cfg,
		log:      cfg.logger.With("node", node.ID()),
		obs:      cfg.observer,
		ctx:      ctx,
		cancel:   cancel,
		handlers: map[string]TypeHandler{},
		byType:   map[peerKey]*Tunnel{},
		byID:     map[peerKey]*Tunnel{},
		perPeer:  map[string]int{},
	}
	node.Handle(wire.CmdTunnelNew, wrap(m.onTunnelNew))
	node.Handle(wire.CmdTunnelDestroy, wrap(m.onTunnelDestroy))
	// The data path skips wrap: no per-frame allocation.
	node.Handle(wire.CmdTunnelData, func(_ context.Context, in *rt2rt.Incoming) { m.tunnelData(in.Peer, in.Msg) })
	m.unsub = node.Subscribe(m.onPeerEvent)
	return m, nil
}

// NodeID returns the id of the manager's node.
func (m *Manager) NodeID() string { return m.node.ID() }

// Node returns the node the manager runs on.
func (m *Manager) Node() Node { return m.node }

// RegisterType installs the handler for tunnels of type typ. Each type has
// one handler; TUNNEL_NEW for an unregistered type is answered 500.
func (m *Manager) RegisterType(typ string, h TypeHandler) error {
	if typ == "" || h == nil {
		return fmt.Errorf("%w: empty type or nil handler", ErrInvalidOption)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if _, ok := m.handlers[typ]; ok {
		return fmt.Errorf("%w: %q", ErrTypeRegistered, typ)
	}
	m.handlers[typ] = h
	return nil
}

// Open returns the tunnel of type typ to peer, creating it with TUNNEL_NEW
// if there is none, and waits until it is WORKING. A tunnel that is DOWN
// (link lost) is returned as it is: its sends queue and trigger a re-join.
// If ctx ends first, the set-up still completes in the background for later
// callers; a ctx that is already done fails at once without starting one.
func (m *Manager) Open(ctx context.Context, peer, typ string) (*Tunnel, error) {
	if peer == "" {
		return nil, fmt.Errorf("%w: empty peer id", ErrInvalidOption)
	}
	if err := ctx.Err(); err != nil {
		// Decided before anything starts: with a set-up that fails fast,
		// the select below could otherwise report either outcome.
		return nil, &Error{Op: "open", Peer: peer, Type: typ, Err: err}
	}
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil, ErrClosed
	}
	h, ok := m.handlers[typ]
	if !ok {
		m.mu.Unlock()
		return nil, fmt.Errorf("%w: %q", ErrUnknownType, typ)
	}
	t := m.byType[peerKey{peer, typ}]
	if t == nil {
		if err := m.roomLocked(peer); err != nil {
			m.mu.Unlock()
			return nil, &Error{Op: "open", Peer: peer, Type: typ, Err: err}
		}
		t = m.newTunnelLocked(peer, typ, uuid.NewString(), h, StatePending)
		m.wg.Add(1)
		go m.setup(t)
	}
	ready := t.ready
	m.mu.Unlock()

	select {
	case <-ready:
	case <-ctx.Done():
		return nil, &Error{Op: "open", Peer: peer, Type: typ, TunnelID: t.ID(), Err: ctx.Err()}
	}
	m.mu.Lock()
	err := t.setupErr
	m.mu.Unlock()
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Lookup returns the tunnel of type typ to peer, if there is one (in any
// state but TERMINATED).
func (m *Manager) Lookup(peer, typ string) (*Tunnel, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.byType[peerKey{peer, typ}]
	return t, ok
}

// LookupID returns the tunnel with id to peer, e.g. the one a PORT_CONNECT
// names; false if there is none (the port layer then answers 410, §5.4).
func (m *Manager) LookupID(peer, id string) (*Tunnel, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := m.byID[peerKey{peer, id}]
	return t, ok
}

// Tunnels returns a snapshot of all tunnels.
func (m *Manager) Tunnels() []*Tunnel {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*Tunnel, 0, len(m.byType))
	for _, t := range m.byType {
		out = append(out, t)
	}
	return out
}

// Drain starts a graceful shutdown: from now on every TUNNEL_NEW is answered
// 500 (§4.7) while existing tunnels keep working.
func (m *Manager) Drain() {
	m.mu.Lock()
	m.draining = true
	m.mu.Unlock()
}

// Close terminates every tunnel (handlers get Down with ErrClosed where the
// tunnel was up), fails pending Opens with ErrClosed, answers later
// TUNNEL_NEW with 500 and waits for the manager's goroutines. It sends
// nothing to peers. Safe to call twice.
func (m *Manager) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed, m.draining = true, true
	all := make([]*Tunnel, 0, len(m.byType))
	for _, t := range m.byType {
		all = append(all, t)
	}
	for _, t := range all {
		m.terminateLocked(t, ErrClosed)
	}
	unsub := m.unsub
	m.mu.Unlock()

	unsub()
	m.cancel()
	for _, t := range all {
		m.dispatch(t)
	}
	m.wg.Wait()
	return nil
}

// newTunnelLocked creates a tunnel and enters it in both tables.
func (m *Manager) newTunnelLocked(peer, typ, id string, h TypeHandler, st State) *Tunnel {
	t := &Tunnel{
		m: m, peer: peer, typ: typ, h: h,
		sem:   make(chan struct{}, 1),
		id:    id,
		state: st,
		ready: make(chan struct{}),
	}
	if st != StatePending {
		close(t.ready)
	}
	m.byType[peerKey{peer, typ}] = t
	m.byID[peerKey{peer, id}] = t
	m.perPeer[peer]++
	return t
}

// roomLocked checks the limits of WithMaxTunnels for a new tunnel to peer.
func (m *Manager) roomLocked(peer string) error {
	if c := m.perPeer[peer]; c >= m.cfg.maxPerPeer {
		return fmt.Errorf("%w: %d to %s", ErrTooManyTunnels, c, peer)
	}
	if len(m.byType) >= m.cfg.maxTunnels {
		return fmt.Errorf("%w: %d in all", ErrTooManyTunnels, len(m.byType))
	}
	return nil
}

// renameLocked gives t the id the peer uses (§5.2).
func (m *Manager) renameLocked(t *Tunnel, id string) {
	if t.id == id {
		return
	}
	m.log.Debug("tunnel renamed", "peer", t.peer, "type", t.typ, "from", t.id, "to", id)
	if m.byID[peerKey{t.peer, t.id}] == t {
		delete(m.byID, peerKey{t.peer, t.id})
	}
	t.id = id
	m.byID[peerKey{t.peer, id}] = t
}

// workingLocked moves t to WORKING, queues its Up event and reports whether
// a flush must be started.
func (m *Manager) workingLocked(t *Tunnel) bool {
	if t.state == StatePending {
		close(t.ready)
	}
	t.state = StateWorking
	if !t.notifiedUp {
		t.notifiedUp = true
		t.events = append(t.events, event{kind: evUp})
	}
	return m.startFlushLocked(t)
}

// terminateLocked removes t from the tables for good. Queued values are
// dropped (the sub-protocols recover: tokens are retransmitted, storage
// requests time out).
func (m *Manager) terminateLocked(t *Tunnel, reason error) {
	if t.state == StateTerminated {
		return
	}
	if t.state == StatePending {
		t.setupErr = &SetupError{Peer: t.peer, Type: t.typ, TunnelID: t.id, Err: reason}
		close(t.ready)
	}
	t.state = StateTerminated
	if m.byType[peerKey{t.peer, t.typ}] == t {
		delete(m.byType, peerKey{t.peer, t.typ})
		if c := m.perPeer[t.peer] - 1; c > 0 {
			m.perPeer[t.peer] = c
		} else {
			delete(m.perPeer, t.peer)
		}
	}
	if m.byID[peerKey{t.peer, t.id}] == t {
		delete(m.byID, peerKey{t.peer, t.id})
	}
	if n := len(t.queue); n > 0 {
		m.log.Info("tunnel terminated with queued values dropped", "peer", t.peer, "type", t.typ, "tunnel_id", t.id, "dropped", n)
		clear(t.queue)
		t.queue = nil
	}
	if t.notifiedUp {
		t.notifiedUp = false
		t.events = append(t.events, event{kind: evDown, err: reason})
	}
}

// setup runs the requester side of TUNNEL_NEW (§5.1).
func (m *Manager) setup(t *Tunnel) {
	defer m.wg.Done()
	m.mu.Lock()
	id := t.id
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(m.ctx, m.cfg.setupTimeout)
	defer cancel()
	resp, err := m.node.Request(ctx, t.peer, &wire.TunnelNew{
		Envelope: wire.Envelope{Cmd: wire.CmdTunnelNew},
		TunnelID: id,
		Type:     t.typ,
		Policy:   map[string]any{},
	})

	m.mu.Lock()
	var start bool
	switch {
	case t.state == StateTerminated:
		// Destroyed or closed meanwhile; nothing to do.
	case err != nil || !resp.Success():
		if t.state != StatePending {
			// The peer's own TUNNEL_NEW already brought the tunnel up
			// (simultaneous creation); our request failing changes nothing.
			m.log.Debug("TUNNEL_NEW failed after the tunnel came up", "peer", t.peer, "type", t.typ, "err", err, "status", resp.Status)
			break
		}
		serr := &SetupError{Peer: t.peer, Type: t.typ, TunnelID: t.id, Err: err}
		if err == nil {
			serr.Status = resp.Status
		}
		m.log.Info("tunnel set-up failed", "peer", t.peer, "type", t.typ, "tunnel_id", t.id, "err", serr)
		m.terminateLocked(t, serr)
		t.setupErr = serr
	default:
		if newID, ok := tunnelIDFrom(resp.Data); ok && newID != t.id {
			if other := m.byID[peerKey{t.peer, newID}]; other != nil && other != t {
				serr := &SetupError{Peer: t.peer, Type: t.typ, TunnelID: t.id,
					Err: fmt.Errorf("peer chose id %s, already used by the %s tunnel", newID, other.typ)}
				m.log.Warn("tunnel set-up failed", "err", serr)
				m.terminateLocked(t, serr)
				t.setupErr = serr
				break
			}
			m.renameLocked(t, newID)
		}
		if t.state == StatePending || t.state == StateDown {
			start = m.workingLocked(t)
		}
	}
	m.mu.Unlock()
	m.dispatch(t)
	if start {
		m.flush(t)
	}
}

func tunnelIDFrom(data any) (string, bool) {
	d, ok := data.(map[string]any)
	if !ok {
		return "", false
	}
	id, ok := d["tunnel_id"].(string)
	return id, ok && id != ""
}

// startFlushLocked reports whether the caller must run flush(t): values are
// queued, the tunnel may send and no flush is running. It counts the flush
// in wg.
func (m *Manager) startFlushLocked(t *Tunnel) bool {
	if t.flushing || len(t.queue) == 0 || m.closed {
		return false
	}
	if t.state != StateWorking && t.state != StateDown {
		return false
	}
	t.flushing = true
	m.wg.Add(1)
	return true
}

// flush hands queued values to the node in order. On a DOWN tunnel the first
// send makes the node re-join the peer; if that fails the values stay queued
// for the next Send or the peer's return.
func (m *Manager) flush(t *Tunnel) {
	defer m.wg.Done()
	select {
	case t.sem <- struct{}{}:
	case <-m.ctx.Done():
		m.mu.Lock()
		t.flushing = false
		m.mu.Unlock()
		return
	}
	defer func() { <-t.sem }()
	for {
		m.mu.Lock()
		if len(t.queue) == 0 || m.closed || (t.state != StateWorking && t.state != StateDown) {
			t.flushing = false
			m.mu.Unlock()
			return
		}
		v, id, st := t.queue[0], t.id, t.state
		m.mu.Unlock()

		ctx, cancel := context.WithTimeout(m.ctx, m.cfg.sendTimeout)
		err := m.node.Send(ctx, t.peer, &wire.TunnelData{
			Envelope: wire.Envelope{Cmd: wire.CmdTunnelData},
			TunnelID: id,
			Value:    v,
		})
		cancel()

		m.mu.Lock()
		if err != nil && !isPermanent(err) {
			t.flushing = false
			m.mu.Unlock()
			m.log.Debug("queued tunnel data not sent; kept for later", "peer", t.peer, "type", t.typ, "tunnel_id", id, "state", st, "err", err)
			return
		}
		if err != nil {
			m.log.Warn("tunnel data cannot be sent; dropped", "peer", t.peer, "type", t.typ, "tunnel_id", id, "err", err)
		}
		if len(t.queue) > 0 {
			t.queue[0] = nil
			t.queue = t.queue[1:]
		}
		m.mu.Unlock()
	}
}

// dispatch delivers t's queued events in order. Whoever finds no dispatch
// running does it, so events never overtake each other and a handler that
// causes another event (say, Destroy inside Data) does not re-enter itself.
func (m *Manager) dispatch(t *Tunnel) {
	m.mu.Lock()
	if t.dispatching {
		m.mu.Unlock()
		return
	}
	t.dispatching = true
	for len(t.events) > 0 {
		ev := t.events[0]
		t.events[0] = event{}
		t.events = t.events[1:]
		id := t.id
		m.mu.Unlock()
		m.deliver(t, id, ev)
		m.mu.Lock()
	}
	t.events = nil
	t.dispatching = false
	m.mu.Unlock()
}

func (m *Manager) deliver(t *Tunnel, id string, ev event) {
	defer func() {
		// A handler bug triggered by a peer's data must not take the node down.
		if r := recover(); r != nil {
			m.log.Error("tunnel handler panicked", "peer", t.peer, "type", t.typ, "tunnel_id", id,
				"panic", r, "stack", string(debug.Stack()))
		}
	}()
	switch ev.kind {
	case evUp:
		m.obs.TunnelUp(t.peer, t.typ, id)
		t.h.Up(t)
	case evDown:
		m.obs.TunnelDown(t.peer, t.typ, id, ev.err)
		t.h.Down(t, ev.err)
	case evData:
		t.h.Data(t, ev.value)
	}
}

// onPeerEvent moves the peer's tunnels DOWN on link loss and back to WORKING
// when the peer is linked again (§5.5).
func (m *Manager) onPeerEvent(ev rt2rt.PeerEvent) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	var touched, flush []*Tunnel
	for k, t := range m.byType {
		if k.peer != ev.Peer {
			continue
		}
		switch {
		case !ev.Up && t.state == StateWorking:
			t.state = StateDown
			if t.notifiedUp {
				t.notifiedUp = false
				t.events = append(t.events, event{kind: evDown, err: ErrLinkLost})
			}
			touched = append(touched, t)
		case ev.Up && t.state == StateDown:
			if m.workingLocked(t) {
				flush = append(flush, t)
			}
			touched = append(touched, t)
		}
	}
	m.mu.Unlock()
	for _, t := range touched {
		m.dispatch(t)
	}
	for _, t := range flush {
		go m.flush(t)
	}
}

// incoming is what the command handlers need of an rt2rt.Incoming; tests
// build it directly.
type incoming struct {
	Peer  string
	Msg   wire.Message
	Reply func(wire.Response) error
}

func wrap(h func(*incoming)) rt2rt.Handler {
	return func(_ context.Context, in *rt2rt.Incoming) {
		h(&incoming{Peer: in.Peer, Msg: in.Msg, Reply: in.Reply})
	}
}

// reply answers in unless it carried no msg_uuid (nothing to correlate with).
func (m *Manager) reply(in *incoming, status int, data any) {
	if in.Msg.Header().MsgUUID == "" {
		return
	}
	if err := in.Reply(wire.NewResponse(status, data)); err != nil {
		m.log.Debug("reply failed", "peer", in.Peer, "cmd", in.Msg.Header().Cmd, "err", err)
	}
}

// onTunnelNew is the responder side of §5.1-§5.3. It runs on the link's
// reader goroutine.
func (m *Manager) onTunnelNew(in *incoming) {
	msg, ok := in.Msg.(*wire.TunnelNew)
	if !ok {
		m.log.Warn("TUNNEL_NEW of unexpected type", "peer", in.Peer, "type", fmt.Sprintf("%T", in.Msg))
		m.reply(in, wire.StatusBadRequest, nil)
		return
	}
	if err := msg.Validate(); err != nil || msg.TunnelID == "" || msg.Type == "" {
		m.log.Info("malformed TUNNEL_NEW", "peer", in.Peer, "err", err)
		m.reply(in, wire.StatusBadRequest, nil)
		return
	}
	peer, id, typ := in.Peer, msg.TunnelID, msg.Type
	idData := map[string]any{"tunnel_id": id}

	accepted := false
	for {
		m.mu.Lock()
		if m.draining {
			m.mu.Unlock()
			m.reply(in, wire.StatusInternalError, nil)
			return
		}
		h, ok := m.handlers[typ]
		if !ok {
			m.mu.Unlock()
			m.log.Info("TUNNEL_NEW for unknown type refused", "peer", peer, "type", typ, "tunnel_id", id)
			m.reply(in, wire.StatusInternalError, idData)
			return
		}
		t := m.byType[peerKey{peer, typ}]
		if t == nil && !accepted {
			// Ask the handler without holding the lock, then look again:
			// a local Open may have started meanwhile.
			m.mu.Unlock()
			if err := h.Accept(peer, id); err != nil {
				m.log.Info("TUNNEL_NEW refused by handler", "peer", peer, "type", typ, "tunnel_id", id, "err", err)
				m.reply(in, wire.StatusInternalError, idData)
				return
			}
			accepted = true
			continue
		}

		var start bool
		switch {
		case t == nil:
			if err := m.roomLocked(peer); err != nil {
				m.mu.Unlock()
				m.log.Warn("TUNNEL_NEW refused", "peer", peer, "type", typ, "tunnel_id", id, "err", err)
				m.reply(in, wire.StatusInternalError, idData)
				return
			}
			if other := m.byID[peerKey{peer, id}]; other != nil {
				m.mu.Unlock()
				m.log.Warn("TUNNEL_NEW reuses the id of another tunnel", "peer", peer, "type", typ, "tunnel_id", id, "other_type", other.typ)
				m.reply(in, wire.StatusInternalError, idData)
				return
			}
			t = m.newTunnelLocked(peer, typ, id, h, StateWorking)
			t.notifiedUp = true
			t.events = append(t.events, event{kind: evUp})
		case t.state == StatePending:
			// Simultaneous creation: the higher id wins on both ends (§5.2).
			if t.id < id {
				if other := m.byID[peerKey{peer, id}]; other != nil && other != t {
					m.mu.Unlock()
					m.reply(in, wire.StatusInternalError, idData)
					return
				}
				m.renameLocked(t, id)
			}
			start = m.workingLocked(t)
		default:
			// WORKING (or DOWN: the peer is evidently linked again): answer
			// with the existing id, the requester renames (§5.3).
			if t.state == StateDown {
				start = m.workingLocked(t)
			}
		}
		replyID := t.id
		m.mu.Unlock()

		// Reply before the Up handler runs so data it sends cannot overtake
		// the REPLY on the link.
		m.reply(in, wire.StatusOK, map[string]any{"tunnel_id": replyID})
		m.dispatch(t)
		if start {
			go m.flush(t)
		}
		return
	}
}

// onTunnelDestroy handles TUNNEL_DESTROY (§4.2, §5.4).
func (m *Manager) onTunnelDestroy(in *incoming) {
	msg, ok := in.Msg.(*wire.TunnelDestroy)
	if !ok || msg.TunnelID == "" {
		m.log.Info("malformed TUNNEL_DESTROY", "peer", in.Peer)
		m.reply(in, wire.StatusBadRequest, nil)
		return
	}
	m.mu.Lock()
	t := m.byID[peerKey{in.Peer, msg.TunnelID}]
	if t == nil {
		m.mu.Unlock()
		m.log.Debug("TUNNEL_DESTROY for unknown tunnel", "peer", in.Peer, "tunnel_id", msg.TunnelID)
		m.reply(in, wire.StatusNotFound, nil)
		return
	}
	m.terminateLocked(t, ErrDestroyed)
	m.mu.Unlock()
	// Down runs before the reply, as in Calvin, whose reply reports the
	// down handler's result.
	m.dispatch(t)
	m.reply(in, wire.StatusOK, nil)
}

// onTunnelData hands the payload to the tunnel's handler (§4.3). It never
// replies.
func (m *Manager) onTunnelData(in *incoming) { m.tunnelData(in.Peer, in.Msg) }

func (m *Manager) tunnelData(peer string, wm wire.Message) {
	msg, ok := wm.(*wire.TunnelData)
	if !ok {
		m.log.Info("malformed TUNNEL_DATA dropped", "peer", peer)
		return
	}
	m.mu.Lock()
	t := m.byID[peerKey{peer, msg.TunnelID}]
	if t == nil || m.closed {
		m.mu.Unlock()
		m.log.Debug("TUNNEL_DATA for unknown tunnel dropped", "peer", peer, "tunnel_id", msg.TunnelID)
		return
	}
	t.events = append(t.events, event{kind: evData, value: msg.Value})
	m.mu.Unlock()
	m.dispatch(t)
}

// Handler returns the handler registered for typ.
func (m *Manager) Handler(typ string) (TypeHandler, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	h, ok := m.handlers[typ]
	return h, ok
}
