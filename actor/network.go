package actor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/meshkit/meshkit/rt2rt"
	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/token"
	"github.com/meshkit/meshkit/tunnel"
)

// Node is the part of an rt2rt node the network binding uses;
// *rt2rt.Node implements it.
type Node interface {
	ID() string
	Request(ctx context.Context, peerID string, m wire.Message) (wire.Response, error)
	Handle(cmd string, h rt2rt.Handler)
}

var _ Node = (*rt2rt.Node)(nil)

// Locator finds where an actor or a port lives, typically through the
// registry (`actor-<id>`, `port-<id>` records). It returns the node id.
type Locator interface {
	ActorNode(ctx context.Context, actorID string) (string, error)
	PortNode(ctx context.Context, portID string) (string, error)
}

// NetworkOption configures a Network.
type NetworkOption func(*netConfig) error

type netConfig struct {
	log      *slog.Logger
	locator  Locator
	recorder Recorder
	timeout  time.Duration
}

// WithRecorder makes the binding publish actor and port records when actors
// arrive or are destroyed by APP_DESTROY (control.Records does it through the
// registry).
func WithRecorder(r Recorder) NetworkOption {
	return func(c *netConfig) error {
		if r == nil {
			return fmt.Errorf("%w: nil recorder", ErrBadOption)
		}
		c.recorder = r
		return nil
	}
}

// Publish writes the registry records of a local actor (no-op without a
// Recorder). Call it after creating or connecting actors yourself.
func (n *Network) Publish(ctx context.Context, actorID string) error {
	if n.cfg.recorder == nil {
		return nil
	}
	info, ok := n.rt.Actor(actorID)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownActor, actorID)
	}
	return n.cfg.recorder.Publish(ctx, n.node.ID(), info)
}

// WithNetworkLogger sets the logger of the binding (default: the discard logger).
func WithNetworkLogger(l *slog.Logger) NetworkOption {
	return func(c *netConfig) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrBadOption)
		}
		c.log = l
		return nil
	}
}

// WithLocator lets the binding look actors and ports up (PORT_REMOTE_CONNECT,
// null peer nodes in prev_connections, and the check after an ambiguous
// migration failure, spec §9.6). control.Locator reads the registry.
func WithLocator(l Locator) NetworkOption {
	return func(c *netConfig) error {
		if l == nil {
			return fmt.Errorf("%w: nil locator", ErrBadOption)
		}
		c.locator = l
		return nil
	}
}

// WithOperationTimeout bounds the background work of handlers (reconnecting
// a migrated actor, migrating for ACTOR_MIGRATE); default 30 s.
func WithOperationTimeout(d time.Duration) NetworkOption {
	return func(c *netConfig) error {
		if d <= 0 {
			return fmt.Errorf("%w: timeout %v", ErrBadOption, d)
		}
		c.timeout = d
		return nil
	}
}

// Network binds a Runtime to an rt2rt node: remote connections over token
// tunnels (PORT_CONNECT, PORT_DISCONNECT, PORT_REMOTE_CONNECT), migration
// in both directions (ACTOR_NEW, ACTOR_MIGRATE) and APP_DESTROY.
type Network struct {
	rt      *Runtime
	node    Node
	tunnels *tunnel.Manager
	flow    *token.Flow
	cfg     netConfig

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	arriving map[string]*arrival    // actor id → its ACTOR_NEW in progress
	finished map[string]*arrival    // actor id → its last finished ACTOR_NEW (for repeats)
	retrying map[string][]*retryJob // actor id → background reconnections running
	// suspended: Suspend ran; arrivals are refused.
	suspended bool
	closed    bool
}

// NewNetwork registers the port, migration and application handlers on node.
// flow must be registered with tunnels as the "token" tunnel handler.
func NewNetwork(rt *Runtime, node Node, tunnels *tunnel.Manager, flow *token.Flow, opts ...NetworkOption) (*Network, error) {
	if rt == nil || node == nil || tunnels == nil || flow == nil {
		return nil, fmt.Errorf("%w: runtime, node, tunnel manager and token flow are required", ErrBadOption)
	}
	cfg := netConfig{log: slog.New(slog.DiscardHandler), timeout: 30 * time.Second}
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil option", ErrBadOption)
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &Network{rt: rt, node: node, tunnels: tunnels, flow: flow, cfg: cfg, ctx: ctx, cancel: cancel,
		arriving: map[string]*arrival{}, finished: map[string]*arrival{}, retrying: map[string][]*retryJob{}}
	node.Handle(wire.CmdPortConnect, n.onPortConnect)
	node.Handle(wire.CmdPortDisconnect, n.onPortDisconnect)
	node.Handle(wire.CmdPortRemoteConnect, n.onPortRemoteConnect)
	node.Handle(wire.CmdActorNew, n.onActorNew)
	node.Handle(wire.CmdActorMigrate, n.onActorMigrate)
	node.Handle(wire.CmdAppDestroy, n.onAppDestroy)
	return n, nil
}

// Close removes the handlers and waits for background work. Safe twice.
func (n *Network) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	n.mu.Unlock()
	for _, c := range []string{wire.CmdPortConnect, wire.CmdPortDisconnect, wire.CmdPortRemoteConnect,
		wire.CmdActorNew, wire.CmdActorMigrate, wire.CmdAppDestroy} {
		n.node.Handle(c, nil)
	}
	n.cancel()
	n.wg.Wait()
	return nil
}

// goBackground runs f on its own goroutine unless the binding is closed.
func (n *Network) goBackground(f func(ctx context.Context)) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		ctx, cancel := context.WithTimeout(n.ctx, n.cfg.timeout)
		defer cancel()
		f(ctx)
	}()
	return true
}

// remoteEndpoint adapts a token sender or receiver to Endpoint.
type remoteEndpoint struct {
	peerNode string
	snd      *token.Sender
	rcv      *token.Receiver
}

func (e *remoteEndpoint) Notify() {
	if e.snd != nil {
		e.snd.Notify()
	} else {
		e.rcv.Notify()
	}
}

func (e *remoteEndpoint) Detach(DisconnectMode) {
	if e.snd != nil {
		_ = e.snd.Close()
	} else {
		_ = e.rcv.Close()
	}
}

func (e *remoteEndpoint) PeerNodeID() string { return e.peerNode }

// attach connects a local port to a remote peer port through the token flow.
// The caller holds the actor in place (beginAttach).
func (n *Network) attach(portID, peerNode, peerPortID string, beforeSend func()) error {
	q, dir, err := n.rt.RemoteQueue(portID, peerPortID)
	if err != nil {
		return err
	}
	wake := func() { _ = n.rt.Wake(portID) }
	ep := &remoteEndpoint{peerNode: peerNode}
	if dir == In {
		ep.rcv, err = n.flow.AddReceiver(token.ReceiverConfig{Peer: peerNode, PortID: portID, PeerPortID: peerPortID, Queue: q, OnData: wake})
		if err != nil {
			return err
		}
		if _, err := n.rt.AttachEndpoint(portID, peerPortID, ep); err != nil {
			ep.Detach(Temporary)
			return err
		}
		if beforeSend != nil {
			beforeSend()
		}
		return nil
	} else {
		// The PORT_CONNECT reply must leave before the first TOKEN.
		if beforeSend != nil {
			beforeSend()
		}
		ep.snd, err = n.flow.AddSender(token.SenderConfig{Peer: peerNode, PortID: portID, PeerPortID: peerPortID, Queue: q,
			OnCredit: wake, OnPeerLost: func(err error) { n.peerLost(portID, peerNode, peerPortID, err) }})
		if err != nil {
			return err
		}
		// AddSender may mark the link down just after a concurrent LinkUp
		// marked it up; Resume makes the sender start from its first
		// unacknowledged token either way.
		ep.snd.Resume()
	}
	if _, err := n.rt.AttachEndpoint(portID, peerPortID, ep); err != nil {
		ep.Detach(Temporary)
		return err
	}
	return nil
}

// peerLost handles ABORT from the peer (its port is not there any more):
// look the port up again and reconnect once, as spec §7.5 asks of senders.
// A tunnel that went away is left to the next PORT_CONNECT.
func (n *Network) peerLost(portID, peerNode, peerPortID string, err error) {
	n.cfg.log.Info("token peer lost", "port", portID, "peer_port", peerPortID, "err", err)
	if !errors.Is(err, token.ErrAborted) {
		return
	}
	n.goBackground(func(ctx context.Context) {
		node := peerNode
		if n.cfg.locator != nil {
			if found, lerr := n.cfg.locator.PortNode(ctx, peerPortID); lerr == nil {
				node = found
			}
		}
		if node == peerNode && n.cfg.locator == nil {
			return // nowhere else to look
		}
		if cerr := n.ConnectRemote(ctx, portID, node, peerPortID); cerr != nil {
			n.cfg.log.Warn("reconnect after ABORT failed", "port", portID, "peer_port", peerPortID, "err", cerr)
		}
	})
}

// ConnectRemote connects a local port to a port on peerNode: it opens the
// token tunnel, sends PORT_CONNECT and attaches the token flow (spec §8.1).
func (n *Network) ConnectRemote(ctx context.Context, portID, peerNode, peerPortID string) error {
	return n.connectRemote(ctx, portID, peerNode, peerPortID, false)
}

// connectRemote is ConnectRemote; own lets a migrating actor's restore
// reconnect its ports.
func (n *Network) connectRemote(ctx context.Context, portID, peerNode, peerPortID string, own bool) (err error) {
	defer func() {
		n.cfg.log.Debug("connect remote", "port", portID, "peer_node", peerNode, "peer_port", peerPortID, "err", err)
	}()
	info, ok := n.rt.Port(portID)
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownPort, portID)
	}
	if peerNode == n.node.ID() {
		ownID := ""
		if own {
			ownID = info.ActorID
		}
		if info.Direction == Out {
			return n.rt.connect(ctx, portID, peerPortID, ownID)
		}
		return n.rt.connect(ctx, peerPortID, portID, ownID)
	}
	// Hold the actor in place until both halves exist: a migration
	// starting in between would leave the peer's half dangling.
	release, err := n.rt.beginAttach(portID, own)
	if err != nil {
		return err
	}
	defer release()
	if info.Direction == In {
		// Our receiver must exist before the peer's first TOKEN, which may
		// overtake the REPLY handling here; otherwise it would get ABORT.
		if err := n.attach(portID, peerNode, peerPortID, nil); err != nil {
			return err
		}
		defer func() {
			if err != nil {
				_ = n.rt.Disconnect(context.WithoutCancel(ctx), portID, peerPortID, Temporary)
			}
		}()
	}
	var last error
	gone := ""
	for attempt := 0; attempt < 3; attempt++ {
		t, err := n.tunnels.Open(ctx, peerNode, wire.TunnelTypeToken)
		if err != nil {
			return fmt.Errorf("connect %s to %s on %s: %w", portID, peerPortID, peerNode, err)
		}
		if t.ID() == gone {
			// 410 twice for the same id: the peer does not know the tunnel
			// at all (it restarted with the same id, §5.5). Drop it so the
			// next Open sets up one the peer knows.
			n.cfg.log.Info("token tunnel unknown to the peer; setting up a new one", "peer", peerNode, "tunnel", gone)
			_ = t.Destroy(ctx)
			if t, err = n.tunnels.Open(ctx, peerNode, wire.TunnelTypeToken); err != nil {
				return fmt.Errorf("connect %s to %s on %s: %w", portID, peerPortID, peerNode, err)
			}
		}
		resp, err := n.node.Request(ctx, peerNode, &wire.PortConnect{TunnelID: t.ID(), PortID: portID,
			PortProperties: info.Properties, PeerPortID: peerPortID})
		if err != nil {
			return fmt.Errorf("connect %s to %s on %s: %w", portID, peerPortID, peerNode, err)
		}
		switch resp.Status {
		case wire.StatusOK:
			if info.Direction == In {
				return nil
			}
			return n.attach(portID, peerNode, peerPortID, nil)
		case wire.StatusGone:
			// The tunnel id was renamed or replaced (§5.2): try again.
			gone = t.ID()
			last = fmt.Errorf("%w: PORT_CONNECT %s→%s answered 410", ErrBadConnection, portID, peerPortID)
			continue
		default:
			return fmt.Errorf("%w: PORT_CONNECT %s→%s on %s answered %d", ErrBadConnection, portID, peerPortID, peerNode, resp.Status)
		}
	}
	return last
}

// DisconnectRemote sends PORT_DISCONNECT for one remote connection and
// detaches it locally.
func (n *Network) DisconnectRemote(ctx context.Context, portID, peerNode, peerPortID string, mode DisconnectMode) (err error) {
	defer func() {
		n.cfg.log.Debug("disconnect remote", "port", portID, "peer_node", peerNode, "peer_port", peerPortID, "mode", mode, "err", err)
	}()
	resp, err := n.node.Request(ctx, peerNode, &wire.PortDisconnect{PortID: portID, PeerPortID: peerPortID,
		Terminate: int(mode), RemainingTokens: map[string]any{}})
	if err != nil {
		return fmt.Errorf("disconnect %s from %s: %w", portID, peerPortID, err)
	}
	if resp.Status != wire.StatusOK {
		return fmt.Errorf("%w: PORT_DISCONNECT %s→%s answered %d", ErrBadConnection, portID, peerPortID, resp.Status)
	}
	return n.rt.Disconnect(ctx, portID, peerPortID, mode)
}

func reply(in *rt2rt.Incoming, status int, data any) { _ = in.Reply(wire.NewResponse(status, data)) }

// findPort resolves the receiver's port of PORT_CONNECT / PORT_DISCONNECT:
// by id, or by actor id + name + direction ("unknown" = either).
func (n *Network) findPort(peerPortID, actorID, name, dir string) (string, bool) {
	if peerPortID != "" {
		_, ok := n.rt.Port(peerPortID)
		return peerPortID, ok
	}
	for _, d := range []Direction{In, Out} {
		if dir == string(d) || dir == "" || dir == "unknown" {
			if id, err := n.rt.PortID(actorID, d, name); err == nil {
				return id, true
			}
		}
	}
	return "", false
}

func (n *Network) onPortConnect(_ context.Context, in *rt2rt.Incoming) {
	m, ok := in.Msg.(*wire.PortConnect)
	if !ok {
		reply(in, wire.StatusBadRequest, nil)
		return
	}
	if !m.Has("peer_port_id") && !(m.Has("peer_actor_id") && m.Has("peer_port_name") && m.Has("peer_port_properties")) || m.PortID == "" {
		reply(in, wire.StatusBadRequest, nil)
		return
	}
	dir, _ := m.PeerPortProperties["direction"].(string)
	local, ok := n.findPort(m.PeerPortID, m.PeerActorID, m.PeerPortName, dir)
	if !ok {
		reply(in, wire.StatusNotFound, nil)
		return
	}
	if m.TunnelID == "" {
		reply(in, wire.StatusBadRequest, nil)
		return
	}
	peer := m.Header().From
	t, ok := n.tunnels.Lookup(peer, wire.TunnelTypeToken)
	if !ok || t.ID() != m.TunnelID {
		reply(in, wire.StatusGone, nil)
		return
	}
	info, _ := n.rt.Port(local)
	n.cfg.log.Debug("PORT_CONNECT", "port", local, "peer_node", peer, "peer_port", m.PortID)
	release, err := n.rt.beginAttach(local, false)
	if err == nil {
		err = n.attach(local, peer, m.PortID, func() {
			reply(in, wire.StatusOK, map[string]any{"port_id": local, "port_properties": info.Properties})
		})
		release()
	}
	switch {
	case errors.Is(err, ErrMigrating):
		// The connection would not travel with the actor: the peer tries
		// again once the actor has arrived (where the registry says).
		reply(in, wire.StatusServiceUnavailable, nil)
	case errors.Is(err, ErrTooManyConnections):
		// 503, not 400: the request is well formed and may succeed once
		// connections are removed, and Calvin's requester answers 400 (and
		// 404) with registry look-ups and retries, which would multiply a
		// flood.
		n.cfg.log.Warn("PORT_CONNECT refused", "port", local, "peer_node", peer, "peer_port", m.PortID, "err", err)
		reply(in, wire.StatusServiceUnavailable, nil)
	case err != nil:
		n.cfg.log.Warn("PORT_CONNECT failed", "port", local, "peer_port", m.PortID, "err", err)
		reply(in, wire.StatusNotFound, nil) // no-op when the 200 already left
	}
}

func (n *Network) onPortDisconnect(ctx context.Context, in *rt2rt.Incoming) {
	m, ok := in.Msg.(*wire.PortDisconnect)
	if !ok || m.PortID == "" {
		reply(in, wire.StatusBadRequest, nil)
		return
	}
	if m.PeerPortID == "" && (m.PeerActorID == "" || m.PeerPortName == "") {
		reply(in, wire.StatusBadRequest, nil)
		return
	}
	local, ok := n.findPort(m.PeerPortID, m.PeerActorID, m.PeerPortName, m.PeerPortDir)
	if !ok {
		reply(in, wire.StatusNotFound, nil)
		return
	}
	mode := DisconnectMode(m.Terminate)
	if mode != Temporary {
		mode = Terminate // EXHAUST is treated as TERMINATE (§9.5 allows it)
	}
	err := n.rt.Disconnect(ctx, local, m.PortID, mode)
	n.cfg.log.Debug("PORT_DISCONNECT", "port", local, "peer_node", m.Header().From, "peer_port", m.PortID, "mode", mode, "err", err)
	reply(in, wire.StatusOK, map[string]any{"remaining_tokens": map[string]any{}})
}

func (n *Network) onPortRemoteConnect(_ context.Context, in *rt2rt.Incoming) {
	m, ok := in.Msg.(*wire.PortRemoteConnect)
	if !ok || m.PortID == "" || m.PeerPortID == "" {
		reply(in, wire.StatusBadRequest, nil)
		return
	}
	if _, ok := n.rt.Port(m.PortID); !ok {
		reply(in, wire.StatusNotFound, nil)
		return
	}
	if !n.goBackground(func(ctx context.Context) {
		peerNode := n.node.ID()
		if _, local := n.rt.Port(m.PeerPortID); !local {
			if n.cfg.locator == nil {
				reply(in, wire.StatusNotFound, nil)
				return
			}
			var err error
			if peerNode, err = n.cfg.locator.PortNode(ctx, m.PeerPortID); err != nil {
				reply(in, wire.StatusNotFound, nil)
				return
			}
		}
		if err := n.ConnectRemote(ctx, m.PortID, peerNode, m.PeerPortID); err != nil {
			n.cfg.log.Warn("PORT_REMOTE_CONNECT failed", "port", m.PortID, "peer_port", m.PeerPortID, "err", err)
			reply(in, wire.StatusNotFound, nil)
			return
		}
		reply(in, wire.StatusOK, nil)
	}) {
		reply(in, wire.StatusNotFound, nil)
	}
}

func (n *Network) onAppDestroy(ctx context.Context, in *rt2rt.Incoming) {
	m, ok := in.Msg.(*wire.AppDestroy)
	if !ok {
		reply(in, wire.StatusBadRequest, nil)
		return
	}
	ids := m.ActorUUIDs
	if ids == nil {
		ids = []string{}
	}
	if m.Disconnect != nil {
		// Detach every connection first (no messages go out, as in Calvin),
		// then delete.
		for _, id := range ids {
			if info, ok := n.rt.Actor(id); ok {
				for _, p := range append(info.Inports, info.Outports...) {
					for _, peer := range p.Peers {
						_ = n.rt.Disconnect(ctx, p.ID, peer, Terminate)
					}
				}
			}
		}
	}
	var infos []Info
	if n.cfg.recorder != nil {
		for _, id := range ids {
			if info, ok := n.rt.Actor(id); ok {
				infos = append(infos, info)
			}
		}
	}
	missing, _ := n.rt.DestroyApp(ctx, m.AppUUID, ids)
	if len(infos) > 0 {
		n.goBackground(func(ctx context.Context) {
			for _, info := range infos {
				if err := n.cfg.recorder.Unpublish(ctx, info); err != nil {
					n.cfg.log.Warn("registry records not deleted", "actor", info.ID, "err", err)
				}
			}
		})
	}
	switch {
	case m.Disconnect == nil && len(missing) == 0:
		reply(in, wire.StatusOK, []any{})
	case m.Disconnect == nil:
		reply(in, wire.StatusInternalError, toAnyList(missing))
	case len(missing) == 0:
		reply(in, wire.StatusOK, nil)
	default:
		reply(in, wire.StatusInternalError, map[string]any{"missing": toAnyList(missing)})
	}
}

func toAnyList(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

func (n *Network) onActorMigrate(_ context.Context, in *rt2rt.Incoming) {
	m, ok := in.Msg.(*wire.ActorMigrate)
	if !ok || m.ActorID == "" {
		reply(in, wire.StatusBadRequest, nil)
		return
	}
	if _, ok := n.rt.Actor(m.ActorID); !ok {
		reply(in, wire.StatusInternalError, nil)
		return
	}
	if m.PeerNodeID == "" {
		if _, isList := m.Requirements.([]any); !isList {
			reply(in, wire.StatusBadRequest, nil)
			return
		}
		reply(in, wire.StatusNotImplemented, nil) // placement matching is not implemented
		return
	}
	if !n.goBackground(func(ctx context.Context) {
		reply(in, migrationStatus(n.Migrate(ctx, m.ActorID, m.PeerNodeID)), nil)
	}) {
		reply(in, wire.StatusNotFound, nil)
	}
}

// migrationStatus maps a Migrate error to the status Calvin would send.
func migrationStatus(err error) int {
	var me *MigrationError
	switch {
	case err == nil:
		return wire.StatusOK
	case errors.Is(err, ErrMigrating):
		return wire.StatusBadRequest
	case errors.Is(err, ErrUnknownActor):
		return wire.StatusInternalError
	case errors.As(err, &me) && me.Status != 0:
		return me.Status
	}
	return wire.StatusInternalError
}

// DestroyApp destroys an application across the mesh (spec §9.5): local
// actors are deleted here, and every other node hosting some of actorIDs
// (found through the Locator) gets an APP_DESTROY for its share. It returns
// the ids nobody could destroy.
func (n *Network) DestroyApp(ctx context.Context, appID string, actorIDs []string) ([]string, error) {
	var local []string
	remote := map[string][]string{}
	var missing []string
	for _, id := range actorIDs {
		if _, ok := n.rt.Actor(id); ok {
			local = append(local, id)
			continue
		}
		if n.cfg.locator == nil {
			missing = append(missing, id)
			continue
		}
		node, err := n.cfg.locator.ActorNode(ctx, id)
		if err != nil || node == n.node.ID() {
			missing = append(missing, id)
			continue
		}
		remote[node] = append(remote[node], id)
	}
	var infos []Info
	for _, id := range local {
		if info, ok := n.rt.Actor(id); ok {
			infos = append(infos, info)
		}
	}
	gone, err := n.rt.DestroyApp(ctx, appID, local)
	if err != nil {
		return nil, err
	}
	missing = append(missing, gone...)
	if n.cfg.recorder != nil {
		for _, info := range infos {
			if err := n.cfg.recorder.Unpublish(ctx, info); err != nil {
				n.cfg.log.Warn("registry records not deleted", "actor", info.ID, "err", err)
			}
		}
	}
	for node, ids := range remote {
		resp, err := n.node.Request(ctx, node, &wire.AppDestroy{AppUUID: appID, ActorUUIDs: ids})
		switch {
		case err != nil:
			missing = append(missing, ids...)
		case resp.Status != wire.StatusOK:
			l, _ := resp.Data.([]any)
			for _, v := range l {
				if s, ok := v.(string); ok {
					missing = append(missing, s)
				}
			}
		}
	}
	return missing, nil
}
