package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/rt2rt"
	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/tunnel/storage"
)

// Registry is the part of a registry client the control API and Records
// use; *storage.Client implements it (locally on a registry master, over a
// storage tunnel on a proxy client).
type Registry interface {
	Get(ctx context.Context, key string) (any, error)
	Set(ctx context.Context, key string, value any) error
	Delete(ctx context.Context, key string) error
}

var _ Registry = (*storage.Client)(nil)

var (
	_ actor.Observer = (*Records)(nil)
	_ actor.Recorder = (*Records)(nil)
	_ actor.Locator  = Locator{}
)

// ActorSource describes the local actors; *actor.Runtime implements it.
type ActorSource interface {
	NodeID() string
	Actor(id string) (actor.Info, bool)
	Port(portID string) (actor.PortInfo, bool)
}

// Records keeps the registry records of one node's actors and ports
// current (spec §6.2 "Registry records", §12.4): actor-<id> and port-<id>
// are written when an actor is created or arrives by migration, port-<id>
// again when a connection changes, and both are deleted when the actor is
// destroyed (not when it leaves by migration: the destination overwrites
// them). It implements actor.Observer: pass it to actor.NewRuntime with
// actor.WithObserver, then call Attach with the runtime. It also implements
// actor.Recorder: pass it to actor.NewNetwork with actor.WithRecorder, so
// that an arriving actor's records are written before ACTOR_NEW is
// answered, once on arrival and again when its connections are back.
//
// Every write goes through one goroutine of Records, in order, and reads
// the actor's live state when it is made, so a later write never carries an
// older state. Sync, Publish, Unpublish and Flush wait for their writes.
type Records struct {
	reg     Registry
	log     *slog.Logger
	timeout time.Duration

	mu      sync.Mutex
	src     ActorSource
	ports   map[string][]string // actor id → port ids last written
	hints   map[string]string   // remote port id → node id, learnt from connects
	queue   []recordEvent
	wake    chan struct{}
	closed  bool
	done    chan struct{}
	started bool

	pushed, written uint64        // events queued and written so far
	progress        chan struct{} // closed and replaced after each batch
}

type recordEvent struct {
	actorID string
	deleted bool
	// A connection this node has just asked for (PORT_CONNECT answered
	// 200): the caller attaches it right after the reply, so the write
	// waits until port waitPort lists waitPeer (checked again a few times).
	waitPort, waitPeer string
	tries              int
}

// Re-checks of a connection that is not attached yet.
const (
	connectRecheck    = 2 * time.Millisecond
	connectRecheckMax = 500
)

// NewRecords returns a Records writing to reg.
func NewRecords(reg Registry, log *slog.Logger) (*Records, error) {
	if reg == nil {
		return nil, fmt.Errorf("%w: nil registry", ErrInvalidOption)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Records{reg: reg, log: log, timeout: storage.DefaultTimeout,
		ports: map[string][]string{}, hints: map[string]string{},
		wake: make(chan struct{}, 1), done: make(chan struct{}), progress: make(chan struct{})}
	return r, nil
}

// Attach sets the runtime whose actors are described and starts writing
// queued events. Call it once, right after actor.NewRuntime.
func (r *Records) Attach(src ActorSource) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.closed {
		return
	}
	r.src, r.started = src, true
	go r.loop()
}

// Close stops the writer after the queued events are written. Safe twice.
func (r *Records) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	started := r.started
	r.mu.Unlock()
	r.signal()
	if started {
		<-r.done
	}
	return nil
}

func (r *Records) signal() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *Records) push(e recordEvent) {
	r.mu.Lock()
	if !r.closed {
		r.queue = append(r.queue, e)
		r.pushed++
	}
	r.mu.Unlock()
	r.signal()
}

func (r *Records) loop() {
	defer close(r.done)
	for {
		r.mu.Lock()
		q := r.queue
		r.queue = nil
		closed := r.closed
		r.mu.Unlock()
		for _, e := range q {
			if e.waitPort != "" && !r.attached(e) {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), r.timeout)
			var err error
			if e.deleted {
				err = r.deleteActor(ctx, e.actorID)
			} else {
				err = r.syncActor(ctx, e.actorID)
			}
			cancel()
			if err != nil {
				r.log.Warn("control: registry record not written", "actor", e.actorID, "err", err)
			}
		}
		if len(q) > 0 {
			r.mu.Lock()
			r.written += uint64(len(q))
			close(r.progress)
			r.progress = make(chan struct{})
			r.mu.Unlock()
		}
		if closed && len(q) == 0 {
			return
		}
		if len(q) == 0 {
			<-r.wake
		}
	}
}

// attached reports whether the connection an event waits for is there;
// if not, the event is queued again shortly (it counts as pushed again).
func (r *Records) attached(e recordEvent) bool {
	r.mu.Lock()
	src := r.src
	r.mu.Unlock()
	p, ok := src.Port(e.waitPort)
	if !ok || slices.Contains(p.Peers, e.waitPeer) || e.tries >= connectRecheckMax {
		return true
	}
	e.tries++
	r.mu.Lock()
	if !r.closed {
		r.pushed++ // counted now, so that Flush waits for it
		time.AfterFunc(connectRecheck, func() { r.requeue(e) })
	}
	r.mu.Unlock()
	return false
}

// requeue queues an event that was counted as pushed already.
func (r *Records) requeue(e recordEvent) {
	r.mu.Lock()
	if r.closed {
		r.written++ // dropped: let Flush return
	} else {
		r.queue = append(r.queue, e)
	}
	r.mu.Unlock()
	r.signal()
}

// ActorCreated implements actor.Observer: the actor's records are written.
func (r *Records) ActorCreated(id, _ string, _ bool) { r.push(recordEvent{actorID: id}) }

// ActorDeleted implements actor.Observer: the records of a destroyed actor
// are deleted; those of an actor that left by migration are kept.
func (r *Records) ActorDeleted(id string, migrated bool) {
	if migrated {
		r.mu.Lock()
		delete(r.ports, id)
		r.mu.Unlock()
		return
	}
	r.push(recordEvent{actorID: id, deleted: true})
}

// ActorMigrated implements actor.Observer. A failed migration that left
// the actor here re-writes its records.
func (r *Records) ActorMigrated(id, _ string, err error) {
	if err != nil {
		r.push(recordEvent{actorID: id})
	}
}

// PortsChanged queues a re-write of the records of the actor owning one
// of portIDs (those that are local).
func (r *Records) PortsChanged(portIDs ...string) {
	r.mu.Lock()
	src := r.src
	r.mu.Unlock()
	if src == nil {
		return
	}
	seen := map[string]bool{}
	for _, p := range portIDs {
		if info, ok := src.Port(p); ok && !seen[info.ActorID] {
			seen[info.ActorID] = true
			r.push(recordEvent{actorID: info.ActorID})
		}
	}
}

// PeerNode remembers that the remote port portID lives on nodeID, so that
// port records name the right peer node.
func (r *Records) PeerNode(portID, nodeID string) {
	if portID == "" || nodeID == "" {
		return
	}
	r.mu.Lock()
	r.hints[portID] = nodeID
	r.mu.Unlock()
}

// Sync writes the records of the given actors from their live state and
// waits until they are written (actors that are not local are skipped).
func (r *Records) Sync(ctx context.Context, actorIDs ...string) error {
	for _, id := range actorIDs {
		r.push(recordEvent{actorID: id})
	}
	return r.Flush(ctx)
}

// Publish implements actor.Recorder: it writes the records of a local
// actor from its live state and waits for them.
func (r *Records) Publish(ctx context.Context, _ string, info actor.Info) error {
	return r.Sync(ctx, info.ID)
}

// Unpublish implements actor.Recorder: it deletes the records of a
// destroyed actor and waits for that.
func (r *Records) Unpublish(ctx context.Context, info actor.Info) error {
	var ports []string
	for _, p := range append(append([]actor.PortInfo{}, info.Inports...), info.Outports...) {
		ports = append(ports, p.ID)
	}
	r.mu.Lock()
	if len(r.ports[info.ID]) == 0 {
		r.ports[info.ID] = ports
	}
	r.mu.Unlock()
	r.push(recordEvent{actorID: info.ID, deleted: true})
	return r.Flush(ctx)
}

// syncActor writes actor-<id> and the port-<id> of each of its ports from
// the live state. An actor that is not local is left alone.
func (r *Records) syncActor(ctx context.Context, id string) error {
	r.mu.Lock()
	src := r.src
	r.mu.Unlock()
	if src == nil {
		return nil
	}
	info, ok := src.Actor(id)
	if !ok {
		return nil
	}
	var errs []error
	if err := r.reg.Set(ctx, storage.PrefixActor+id, ActorRecord(src.NodeID(), info).Value()); err != nil {
		errs = append(errs, err)
	}
	var ids []string
	for _, p := range append(append([]actor.PortInfo{}, info.Inports...), info.Outports...) {
		ids = append(ids, p.ID)
		rec := r.portRecord(ctx, src.NodeID(), p)
		if err := r.reg.Set(ctx, storage.PrefixPort+p.ID, rec.Value()); err != nil {
			errs = append(errs, err)
		}
	}
	r.mu.Lock()
	r.ports[id] = ids
	r.mu.Unlock()
	return errors.Join(errs...)
}

// deleteActor deletes actor-<id> and the port records last written for it.
func (r *Records) deleteActor(ctx context.Context, id string) error {
	r.mu.Lock()
	ports := r.ports[id]
	delete(r.ports, id)
	r.mu.Unlock()
	errs := []error{r.reg.Delete(ctx, storage.PrefixActor+id)}
	for _, p := range ports {
		errs = append(errs, r.reg.Delete(ctx, storage.PrefixPort+p))
	}
	return errors.Join(errs...)
}

// Flush waits until the events queued so far are written or ctx ends.
func (r *Records) Flush(ctx context.Context) error {
	r.mu.Lock()
	target := r.pushed
	r.mu.Unlock()
	for {
		r.mu.Lock()
		if r.written >= target || !r.started {
			r.mu.Unlock()
			return nil
		}
		progress := r.progress
		r.mu.Unlock()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-progress:
		}
	}
}

// portRecord renders a local port as its port-<id> record.
func (r *Records) portRecord(ctx context.Context, nodeID string, p actor.PortInfo) *storage.PortRecord {
	rec := PortRecord(nodeID, p)
	for i, peer := range p.Peers {
		if i < len(p.Local) && p.Local[i] {
			continue
		}
		r.mu.Lock()
		n := r.hints[peer]
		r.mu.Unlock()
		if n == "" {
			if v, err := r.reg.Get(ctx, storage.PrefixPort+peer); err == nil {
				if pr, err := storage.ParsePortRecord(peer, v); err == nil {
					n = pr.NodeID
				}
			}
		}
		rec.Peers[i].NodeID = n
	}
	return rec
}

// ActorRecord renders a local actor as its actor-<id> record (spec §6.2).
func ActorRecord(nodeID string, info actor.Info) *storage.ActorRecord {
	rec := &storage.ActorRecord{ID: info.ID, Name: info.Name, Type: info.Type, NodeID: nodeID, IsShadow: info.Shadow,
		InPorts: []storage.PortRef{}, OutPorts: []storage.PortRef{}}
	for _, p := range info.Inports {
		rec.InPorts = append(rec.InPorts, storage.PortRef{ID: p.ID, Name: p.Name})
	}
	for _, p := range info.Outports {
		rec.OutPorts = append(rec.OutPorts, storage.PortRef{ID: p.ID, Name: p.Name})
	}
	return rec
}

// PortRecord renders a local port as its port-<id> record (spec §6.2).
// Local peers are written with nodeID; remote peers with an empty node id,
// which Records fills in.
func PortRecord(nodeID string, p actor.PortInfo) *storage.PortRecord {
	props := map[string]any{}
	for k, v := range p.Properties {
		props[k] = v
	}
	rec := &storage.PortRecord{ID: p.ID, Name: p.Name, Connected: len(p.Peers) > 0, NodeID: nodeID,
		ActorID: p.ActorID, Properties: props}
	for i, peer := range p.Peers {
		n := ""
		if i < len(p.Local) && p.Local[i] {
			n = nodeID
		}
		rec.Peers = append(rec.Peers, storage.PortPeer{NodeID: n, PortID: peer})
	}
	return rec
}

// HandlerNode is the part of an rt2rt node that actor.NewNetwork uses;
// *rt2rt.Node implements it.
type HandlerNode interface {
	ID() string
	Request(ctx context.Context, peerID string, m wire.Message) (wire.Response, error)
	Handle(cmd string, h rt2rt.Handler)
}

// Watch returns node with its PORT_CONNECT and PORT_DISCONNECT handling
// observed: pass the result to actor.NewNetwork so that connections made or
// removed by peers also update the port records.
func (r *Records) Watch(node HandlerNode) HandlerNode { return &watchedNode{HandlerNode: node, r: r} }

type watchedNode struct {
	HandlerNode
	r *Records
}

func (w *watchedNode) Handle(cmd string, h rt2rt.Handler) {
	if h == nil || (cmd != wire.CmdPortConnect && cmd != wire.CmdPortDisconnect) {
		w.HandlerNode.Handle(cmd, h)
		return
	}
	w.HandlerNode.Handle(cmd, func(ctx context.Context, in *rt2rt.Incoming) {
		h(ctx, in)
		switch m := in.Msg.(type) {
		case *wire.PortConnect:
			w.r.PeerNode(m.PortID, m.Header().From)
			w.r.touch(m.PeerPortID, m.PeerActorID)
		case *wire.PortDisconnect:
			w.r.touch(m.PeerPortID, m.PeerActorID)
		}
	})
}

// Request passes the request on; after a PORT_CONNECT this node sent (a
// migrated actor reconnecting, or one restored after a failed migration),
// the local port's records are re-written. PORT_DISCONNECT is not
// watched: this node sends it for an actor that is leaving (whose records
// the destination writes) or from a control route that writes them itself.
func (w *watchedNode) Request(ctx context.Context, peerID string, m wire.Message) (wire.Response, error) {
	resp, err := w.HandlerNode.Request(ctx, peerID, m)
	switch msg := m.(type) {
	case *wire.PortConnect:
		w.r.PeerNode(msg.PeerPortID, peerID)
		if err == nil && resp.OK() && msg.PeerPortID != "" {
			w.r.connected(msg.PortID, msg.PeerPortID)
		} else {
			w.r.PortsChanged(msg.PortID)
		}
	}
	return resp, err
}

// connected queues a write of a port's records once it lists peerPortID.
func (r *Records) connected(portID, peerPortID string) {
	r.mu.Lock()
	src := r.src
	r.mu.Unlock()
	if src == nil {
		return
	}
	if info, ok := src.Port(portID); ok {
		r.push(recordEvent{actorID: info.ActorID, waitPort: portID, waitPeer: peerPortID})
	}
}

func (r *Records) touch(portID, actorID string) {
	if portID != "" {
		r.PortsChanged(portID)
		return
	}
	if actorID != "" {
		r.push(recordEvent{actorID: actorID})
	}
}

// Locator implements actor.Locator over a registry: the node of an actor
// or a port is read from its actor-<id> or port-<id> record.
type Locator struct{ Registry Registry }

// ActorNode returns the node_id of actor-<id>.
func (l Locator) ActorNode(ctx context.Context, id string) (string, error) {
	v, err := l.Registry.Get(ctx, storage.PrefixActor+id)
	if err != nil {
		return "", err
	}
	rec, err := storage.ParseActorRecord(id, v)
	if err != nil {
		return "", err
	}
	if rec.NodeID == "" {
		return "", fmt.Errorf("%w: actor-%s has no node_id", storage.ErrNotFound, id)
	}
	return rec.NodeID, nil
}

// PortNode returns the node_id of port-<id>.
func (l Locator) PortNode(ctx context.Context, id string) (string, error) {
	v, err := l.Registry.Get(ctx, storage.PrefixPort+id)
	if err != nil {
		return "", err
	}
	rec, err := storage.ParsePortRecord(id, v)
	if err != nil {
		return "", err
	}
	if rec.NodeID == "" {
		return "", fmt.Errorf("%w: port-%s has no node_id", storage.ErrNotFound, id)
	}
	return rec.NodeID, nil
}
