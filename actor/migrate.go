package actor

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/meshkit/meshkit/rt2rt"
	"github.com/meshkit/meshkit/rt2rt/wire"
)

// MigrationError reports a migration that did not complete.
type MigrationError struct {
	ActorID string
	ToNode  string
	Status  int  // status answered by the destination, 0 if none
	Moved   bool // the actor lives at the destination anyway (e.g. created, but a reconnect failed)
	// Restored: the actor runs here again with its connections.
	Restored bool
	Err      error
}

func (e *MigrationError) Error() string {
	return fmt.Sprintf("migrate actor %q to %q (status %d, moved %v, restored %v): %v",
		e.ActorID, e.ToNode, e.Status, e.Moved, e.Restored, e.Err)
}

func (e *MigrationError) Unwrap() error { return e.Err }

// connRec is one connection of a migrating actor.
type connRec struct {
	port, peer string
	dir        Direction
	peerNode   string // "" for a co-located peer
}

// beginMigration stops the actor from firing and lists its connections.
func (r *Runtime) beginMigration(id string) (string, []connRec, error) {
	a, err := r.lockActor(id)
	if err != nil {
		return "", nil, err
	}
	defer a.mu.Unlock()
	if a.life != alive {
		return "", nil, fmt.Errorf("%w: %q", ErrMigrating, id)
	}
	if a.attaching > 0 {
		// A connection being set up now would be in neither the exported
		// state nor prev_connections: its peer would keep a dead half.
		return "", nil, fmt.Errorf("%w: %q is connecting a port", ErrMigrating, id)
	}
	a.life = migrating
	var out []connRec
	for _, p := range a.ports() {
		for _, c := range p.conns {
			rec := connRec{port: p.id, peer: c.peerID, dir: p.dir}
			if c.ep != nil {
				if pn, ok := c.ep.(interface{ PeerNodeID() string }); ok {
					rec.peerNode = pn.PeerNodeID()
				}
			}
			out = append(out, rec)
		}
	}
	return a.name, out, nil
}

// beginAttach marks a remote connection of portID's actor as being set up,
// so that the actor does not start migrating meanwhile. A migrating actor
// refuses it (ErrMigrating) unless own: the migration itself reconnects a
// port after a failure. Call the returned func when the attach is done.
func (r *Runtime) beginAttach(portID string, own bool) (func(), error) {
	r.mu.RLock()
	p, ok := r.ports[portID]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownPort, portID)
	}
	a := p.inst
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.life == gone:
		return nil, fmt.Errorf("%w: %q", ErrUnknownPort, portID)
	case a.life == migrating && !own:
		return nil, fmt.Errorf("%w: %q", ErrMigrating, a.id)
	}
	a.attaching++
	return func() {
		a.mu.Lock()
		a.attaching--
		a.mu.Unlock()
	}, nil
}

func (r *Runtime) migrationState(id string) (string, map[string]any, error) {
	r.mu.RLock()
	a, ok := r.actors[id]
	r.mu.RUnlock()
	if !ok {
		return "", nil, fmt.Errorf("%w: %q", ErrUnknownActor, id)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	st, err := r.exportLocked(a)
	return a.typeName, st, err
}

// finishMigration removes an actor that now lives elsewhere.
func (r *Runtime) finishMigration(id string) {
	var dl detachList
	r.mu.Lock()
	r.deleteLocked(id, true, &dl)
	r.mu.Unlock()
	dl.run()
}

// abortMigration lets the actor fire again.
func (r *Runtime) abortMigration(id string) {
	r.mu.RLock()
	a, ok := r.actors[id]
	r.mu.RUnlock()
	if !ok {
		return
	}
	a.mu.Lock()
	if a.life == migrating {
		a.life = alive
	}
	a.mu.Unlock()
	a.wake()
}

// Migrate moves a local actor to node toNode (spec §9.1, §9.6): it
// disconnects every connection TEMPORARY (PORT_DISCONNECT for remote ones),
// exports the state with cancelled tentative reads and sends ACTOR_NEW. The
// actor stays here, not firing, until the destination answers 200. On any
// failure before that it is reconnected and runs on here, unless the
// destination may have created it (then the Locator decides; without one a
// 500 or a timeout leaves it at the destination, as spec §9.6 says).
func (n *Network) Migrate(ctx context.Context, actorID, toNode string) (err error) {
	if toNode == "" {
		return fmt.Errorf("%w: empty destination", ErrBadArgument)
	}
	if toNode == n.node.ID() {
		if _, ok := n.rt.Actor(actorID); !ok {
			return fmt.Errorf("%w: %q", ErrUnknownActor, actorID)
		}
		return nil
	}
	n.mu.Lock()
	_, arriving := n.arriving[actorID]
	retrying := len(n.retrying[actorID]) > 0
	n.mu.Unlock()
	if arriving || retrying {
		// A connection still waiting for a retry is in no port, so it
		// would not travel in prev_connections and be lost for good.
		return &MigrationError{ActorID: actorID, ToNode: toNode, Status: wire.StatusServiceUnavailable,
			Err: fmt.Errorf("%w: still reconnecting", ErrMigrating)}
	}
	name, conns, err := n.rt.beginMigration(actorID)
	if err != nil {
		return err
	}
	defer func() { n.rt.obs.ActorMigrated(actorID, toNode, err) }()
	n.cfg.log.Debug("migration begins", "actor", actorID, "to", toNode, "connections", conns)

	var done []connRec
	for _, c := range conns {
		var derr error
		if c.peerNode == "" {
			derr = n.rt.Disconnect(ctx, c.port, c.peer, Temporary)
		} else {
			derr = n.DisconnectRemote(ctx, c.port, c.peerNode, c.peer, Temporary)
		}
		if derr != nil && c.peerNode != "" && errors.Is(derr, ErrBadConnection) {
			// The peer port is not on the node we knew (it moved, and its
			// new node has not reconnected yet): it holds no half of this
			// connection. Take ours down and let the destination find the
			// peer through the Locator.
			n.cfg.log.Info("peer port not where it was; connection travels anyway", "actor", actorID, "port", c.port, "peer", c.peer, "peer_node", c.peerNode, "err", derr)
			derr = n.rt.Disconnect(context.WithoutCancel(ctx), c.port, c.peer, Temporary)
		}
		if derr != nil {
			if c.peerNode != "" && !errors.Is(derr, ErrBadConnection) {
				// No answer (link down, timeout): the peer may have
				// disconnected its side all the same. Take ours down too
				// so that the restore connects the pair afresh;
				// PORT_CONNECT is harmless if the peer kept its side.
				_ = n.rt.Disconnect(context.WithoutCancel(ctx), c.port, c.peer, Temporary)
				done = append(done, c)
			}
			n.restore(ctx, actorID, done)
			return &MigrationError{ActorID: actorID, ToNode: toNode, Restored: true,
				Err: fmt.Errorf("%w: %w", ErrMigrationFailed, derr)}
		}
		done = append(done, c)
	}
	typ, state, err := n.rt.migrationState(actorID)
	if err != nil {
		n.restore(ctx, actorID, done)
		return &MigrationError{ActorID: actorID, ToNode: toNode, Restored: true, Err: fmt.Errorf("%w: %w", ErrMigrationFailed, err)}
	}
	prev := prevConnections(n.node.ID(), actorID, name, conns)
	msg := &wire.ActorNew{State: wire.ActorNewState{ActorType: typ, ActorState: state, PrevConnections: prev}}
	resp, rerr := n.requestActorNew(ctx, toNode, msg)
	if rerr == nil && resp.Status == wire.StatusOK {
		n.rt.finishMigration(actorID)
		n.cfg.log.Debug("actor migrated", "actor", actorID, "to", toNode)
		return nil
	}
	merr := &MigrationError{ActorID: actorID, ToNode: toNode, Status: resp.Status, Err: ErrMigrationFailed}
	if rerr != nil {
		merr.Err = fmt.Errorf("%w: %w", ErrMigrationFailed, rerr)
		if errors.Is(rerr, rt2rt.ErrTimeout) {
			merr.Status = wire.StatusGatewayTimeout
		}
	}
	if n.arrived(ctx, actorID, toNode, merr.Status, rerr) {
		merr.Moved = true
		n.rt.finishMigration(actorID)
		return merr
	}
	n.restore(ctx, actorID, done)
	merr.Restored = true
	return merr
}

// actorNewRetries is how often an ACTOR_NEW whose fate is unknown (link
// lost or no answer) is sent again.
const actorNewRetries = 4

// requestActorNew sends ACTOR_NEW, again while its fate is unknown: a link
// that dies after the frame left may or may not have delivered it, and
// restoring the actor on a guess could leave it running on both nodes. The
// destination answers a repeated ACTOR_NEW from the same source with the
// outcome of the first (onActorNew), so asking again is safe.
func (n *Network) requestActorNew(ctx context.Context, toNode string, msg *wire.ActorNew) (wire.Response, error) {
	wait := 20 * time.Millisecond
	for attempt := 0; ; attempt++ {
		resp, err := n.node.Request(ctx, toNode, msg)
		if err == nil || attempt == actorNewRetries || ctx.Err() != nil ||
			!(errors.Is(err, rt2rt.ErrLinkDown) || errors.Is(err, rt2rt.ErrTimeout)) {
			return resp, err
		}
		n.cfg.log.Info("ACTOR_NEW outcome unknown, asking again", "to", toNode, "attempt", attempt+1, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return resp, err
		}
		wait *= 2
	}
}

// prevConnections builds ACTOR_NEW's prev_connections (spec §9.1): per
// port, the [node, peer port] pairs it was connected to; local peers are
// named with this node's id.
func prevConnections(self, actorID, name string, conns []connRec) map[string]any {
	ins, outs := map[string]any{}, map[string]any{}
	for _, c := range conns {
		node := c.peerNode
		if node == "" {
			node = self
		}
		side := outs
		if c.dir == In {
			side = ins
		}
		list, _ := side[c.port].([]any)
		side[c.port] = append(list, []any{node, c.peer})
	}
	return map[string]any{"actor_id": actorID, "actor_name": name, "inports": ins, "outports": outs}
}

// arrived decides after a failed ACTOR_NEW whether the destination holds
// the actor (spec §9.6).
func (n *Network) arrived(ctx context.Context, actorID, toNode string, status int, rerr error) bool {
	if n.cfg.locator != nil {
		node, err := n.cfg.locator.ActorNode(ctx, actorID)
		return err == nil && node == toNode
	}
	if rerr != nil {
		// Not delivered at all (link down before sending, or the request
		// failed locally) creates nothing; a timeout is ambiguous.
		return errors.Is(rerr, rt2rt.ErrTimeout)
	}
	switch status {
	case wire.StatusBadRequest, wire.StatusNotFound, wire.StatusServiceUnavailable, wire.StatusNotImplemented:
		return false
	}
	return true
}

// restore reconnects the connections already taken down and lets the actor
// run. Connections that cannot be made now are retried in the background.
func (n *Network) restore(ctx context.Context, actorID string, done []connRec) {
	var failed []connRec
	for _, c := range done {
		if err := n.reconnect(ctx, c, true); err != nil {
			n.cfg.log.Warn("reconnect after failed migration", "actor", actorID, "port", c.port, "peer", c.peer, "err", err)
			failed = append(failed, c)
		}
	}
	if len(failed) > 0 {
		// Registered while the actor is still migrating: a migration or a
		// Suspend starting once it runs again sees the retry and takes
		// its connections into account.
		n.retryReconnect(actorID, failed)
	}
	n.rt.abortMigration(actorID)
}

func (n *Network) onActorNew(_ context.Context, in *rt2rt.Incoming) {
	m, ok := in.Msg.(*wire.ActorNew)
	if !ok || m.State.ActorType == "" || m.State.ActorState == nil {
		reply(in, wire.StatusBadRequest, nil)
		return
	}
	var prev map[string]any
	if m.State.PrevConnections != nil {
		if prev, ok = m.State.PrevConnections.(map[string]any); !ok {
			reply(in, wire.StatusBadRequest, nil)
			return
		}
	}
	conns, err := parsePrev(prev, m.State.ConnectionList)
	if err != nil {
		reply(in, wire.StatusBadRequest, nil)
		return
	}
	priv, _ := m.State.ActorState["private"].(map[string]any)
	id, _ := priv["_id"].(string)
	from := m.Header().From
	n.mu.Lock()
	if n.suspended {
		// The node is going down for a restart: the actor stays where it is.
		n.mu.Unlock()
		reply(in, wire.StatusServiceUnavailable, nil)
		return
	}
	if last, ok := n.finished[id]; ok && last.from == from {
		if _, here := n.rt.Actor(id); here {
			// The source asks again after losing the answer: it gets the
			// outcome it missed, not a 400 for a duplicate.
			n.mu.Unlock()
			reply(in, last.status, nil)
			return
		}
	}
	if cur, busy := n.arriving[id]; busy || id == "" {
		n.mu.Unlock()
		if busy && cur.from == from {
			// The same migration asked again (a retried request): answer
			// with its outcome once known.
			if !n.goBackground(func(ctx context.Context) {
				select {
				case <-cur.done:
					reply(in, cur.status, nil)
				case <-ctx.Done():
					reply(in, wire.StatusInternalError, nil)
				}
			}) {
				reply(in, wire.StatusInternalError, nil)
			}
			return
		}
		reply(in, wire.StatusBadRequest, nil)
		return
	}
	cur := &arrival{from: from, done: make(chan struct{})}
	n.arriving[id] = cur
	n.mu.Unlock()
	done := func(status int) {
		cur.status = status // before anyone can read it through n.finished
		_, here := n.rt.Actor(id)
		n.mu.Lock()
		delete(n.arriving, id)
		if here {
			n.rememberArrival(id, cur)
		}
		n.mu.Unlock()
		close(cur.done)
		reply(in, status, nil)
	}
	if !n.goBackground(func(ctx context.Context) {
		if _, err := n.rt.ImportActor(ctx, m.State.ActorType, m.State.ActorState); err != nil {
			n.cfg.log.Warn("ACTOR_NEW refused", "actor", id, "err", err)
			switch {
			case errors.Is(err, ErrTooManyActors):
				// 503 tells the source nothing was created here, so it
				// restores the actor (arrived) instead of dropping it.
				done(wire.StatusServiceUnavailable)
			case errors.Is(err, ErrBadState) || errors.Is(err, ErrDuplicateActor):
				done(wire.StatusBadRequest)
			default:
				done(wire.StatusInternalError)
			}
			return
		}
		n.publish(ctx, id)
		for i, c := range conns {
			if err := n.reconnect(ctx, c, false); err != nil {
				n.cfg.log.Warn("reconnect of arrived actor failed", "actor", id, "port", c.port, "peer", c.peer, "err", err)
				// The actor stays here (the source no longer has it): keep
				// trying the connections still missing. The retry is
				// registered before the arrival ends, so that no migration
				// can start in between and leave those connections behind.
				n.retryReconnect(id, conns[i:])
				done(wire.StatusInternalError)
				return
			}
		}
		n.publish(ctx, id)
		done(wire.StatusOK)
	}) {
		done(wire.StatusInternalError)
	}
}

// parsePrev reads prev_connections (or, when it is empty, connection_list).
func parsePrev(prev map[string]any, list any) ([]connRec, error) {
	var out []connRec
	for _, side := range []struct {
		key string
		dir Direction
	}{{"inports", In}, {"outports", Out}} {
		v, has := prev[side.key]
		if !has || v == nil {
			continue
		}
		ports, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: prev_connections.%s is %T", ErrBadState, side.key, v)
		}
		for port, lv := range ports {
			l, ok := lv.([]any)
			if !ok || port == "" {
				return nil, fmt.Errorf("%w: prev_connections.%s.%s is %T", ErrBadState, side.key, port, lv)
			}
			for _, e := range l {
				pair, ok := e.([]any)
				if !ok || len(pair) != 2 {
					return nil, fmt.Errorf("%w: prev_connections entry %v", ErrBadState, e)
				}
				node, _ := pair[0].(string)
				peer, ok := pair[1].(string)
				if !ok || peer == "" || (pair[0] != nil && node == "") {
					return nil, fmt.Errorf("%w: prev_connections entry %v", ErrBadState, e)
				}
				out = append(out, connRec{port: port, peer: peer, dir: side.dir, peerNode: node})
			}
		}
	}
	if len(out) == 0 && list != nil {
		l, ok := list.([]any)
		if !ok {
			return nil, fmt.Errorf("%w: connection_list is %T", ErrBadState, list)
		}
		for _, e := range l {
			q, ok := e.([]any)
			if !ok || len(q) != 4 {
				return nil, fmt.Errorf("%w: connection_list entry %v", ErrBadState, e)
			}
			port, _ := q[1].(string)
			node, _ := q[2].(string)
			peer, _ := q[3].(string)
			if port == "" || peer == "" {
				return nil, fmt.Errorf("%w: connection_list entry %v", ErrBadState, e)
			}
			out = append(out, connRec{port: port, peer: peer, peerNode: node})
		}
	}
	return out, nil
}

func (n *Network) publish(ctx context.Context, id string) {
	if err := n.Publish(ctx, id); err != nil {
		n.cfg.log.Warn("registry records not written", "actor", id, "err", err)
	}
}

// maxArrived bounds the finished arrivals remembered for repeated ACTOR_NEWs.
const maxArrived = 4096

// rememberArrival keeps the outcome of a finished arrival (n.mu held).
func (n *Network) rememberArrival(id string, a *arrival) {
	if len(n.finished) >= maxArrived {
		for k := range n.finished {
			delete(n.finished, k) // any one: losing it only costs a repeat its first answer
			break
		}
	}
	n.finished[id] = a
}

// arrival is an ACTOR_NEW being handled.
type arrival struct {
	from   string
	done   chan struct{}
	status int // valid once done is closed
}

// reconnect re-establishes one connection of an arrived or restored actor
// (own: restored after a failed migration, so still migrating).
func (n *Network) reconnect(ctx context.Context, c connRec, own bool) error {
	node := c.peerNode
	if node == "" {
		if _, local := n.rt.Port(c.peer); local {
			node = n.node.ID()
		} else if n.cfg.locator != nil {
			var err error
			if node, err = n.cfg.locator.PortNode(ctx, c.peer); err != nil {
				return err
			}
		} else {
			return fmt.Errorf("%w: no node for peer port %q", ErrUnknownPort, c.peer)
		}
	}
	err := n.connectRemote(ctx, c.port, node, c.peer, own)
	if err != nil && n.cfg.locator != nil {
		// The peer port is not (or no longer) there, or is leaving: it may
		// have migrated meanwhile, e.g. while this connection waited for a
		// retry.
		if found, lerr := n.cfg.locator.PortNode(ctx, c.peer); lerr == nil && found != node {
			return n.connectRemote(ctx, c.port, found, c.peer, own)
		}
	}
	return err
}

// Retry limits for connections of an arrived actor that failed to reconnect.
const (
	retryFirst    = 500 * time.Millisecond
	retryMax      = 30 * time.Second
	retryAttempts = 12
)

// retryJob is one background reconnection of an actor's connections.
type retryJob struct {
	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	conns  []connRec // still missing
}

// missing returns the connections the job did not make (valid once done).
func (j *retryJob) missing() []connRec {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]connRec(nil), j.conns...)
}

// retryReconnect keeps trying the given connections in the background with
// exponential backoff while the actor lives here and the binding is open.
// The actor cannot migrate meanwhile (Migrate answers 503); Suspend stops
// the job and takes the connections it did not make.
func (n *Network) retryReconnect(id string, conns []connRec) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	ctx, cancel := context.WithCancel(n.ctx)
	job := &retryJob{cancel: cancel, done: make(chan struct{}), conns: append([]connRec(nil), conns...)}
	n.retrying[id] = append(n.retrying[id], job)
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		defer close(job.done)
		defer cancel()
		defer func() {
			n.mu.Lock()
			n.retrying[id] = slices.DeleteFunc(n.retrying[id], func(j *retryJob) bool { return j == job })
			if len(n.retrying[id]) == 0 {
				delete(n.retrying, id)
			}
			n.mu.Unlock()
		}()
		wait := retryFirst
		t := time.NewTimer(wait)
		defer t.Stop()
		left := len(conns)
		for attempt := 0; attempt < retryAttempts && left > 0; attempt++ {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if _, ok := n.rt.Actor(id); !ok {
				return
			}
			actx, acancel := context.WithTimeout(ctx, n.cfg.timeout)
			for {
				job.mu.Lock()
				if len(job.conns) == 0 {
					job.mu.Unlock()
					break
				}
				c := job.conns[0]
				job.mu.Unlock()
				if err := n.reconnect(actx, c, false); err != nil {
					break
				}
				job.mu.Lock()
				job.conns = job.conns[1:]
				left = len(job.conns)
				job.mu.Unlock()
			}
			acancel()
			wait = min(2*wait, retryMax)
			t.Reset(wait)
		}
		if left > 0 {
			n.cfg.log.Warn("giving up reconnecting arrived actor", "actor", id, "missing", left)
		} else {
			n.publish(ctx, id)
		}
	}()
}

// stopRetries stops the background reconnections of an actor and returns
// the connections they had not made.
func (n *Network) stopRetries(id string) []connRec {
	n.mu.Lock()
	jobs := slices.Clone(n.retrying[id])
	n.mu.Unlock()
	var out []connRec
	for _, j := range jobs {
		j.cancel()
		<-j.done
		out = append(out, j.missing()...)
	}
	return out
}
