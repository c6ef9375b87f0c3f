package actor

import (
	"context"
	"errors"
	"fmt"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/meshkit/meshkit/rt2rt/wire"
)

// Snapshot is what a node needs to come back with its actors after a
// restart: for every actor its type, its state and the connections it had,
// in the form ACTOR_NEW carries them. Network.Suspend takes it and
// Network.Resume brings the actors back, on a node with the same id.
type Snapshot struct {
	NodeID string
	Actors []SnapshotActor
}

// SnapshotActor is one actor of a Snapshot.
type SnapshotActor struct {
	Type  string
	State map[string]any
	// PrevConnections is ACTOR_NEW's prev_connections (spec §9.1).
	PrevConnections map[string]any
}

// MarshalBinary encodes the snapshot, e.g. to keep it on disk, with the
// msgpack coder of the wire (the one that carries actor states between
// nodes, so every state that can migrate can be saved).
func (s *Snapshot) MarshalBinary() ([]byte, error) {
	actors := make([]any, len(s.Actors))
	for i, a := range s.Actors {
		// nil maps stay nil (the coder writes a typed nil map as {}).
		var state, prev any
		if a.State != nil {
			state = a.State
		}
		if a.PrevConnections != nil {
			prev = a.PrevConnections
		}
		actors[i] = map[string]any{"type": a.Type, "state": state, "prev_connections": prev}
	}
	b, err := wire.Msgpack.EncodeValue(nil, map[string]any{"node_id": s.NodeID, "actors": actors})
	if err != nil {
		return nil, fmt.Errorf("%w: snapshot: %w", ErrBadState, err)
	}
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote. The decoder is the
// wire's, hardened against hostile input; the shape of every actor is
// checked so that Resume does not meet a half-decoded snapshot.
func (s *Snapshot) UnmarshalBinary(b []byte) error {
	v, err := wire.Msgpack.DecodeValue(b)
	if err != nil {
		return fmt.Errorf("%w: snapshot: %w", ErrBadState, err)
	}
	m, _ := v.(map[string]any)
	node, _ := m["node_id"].(string)
	list, ok := m["actors"].([]any)
	if node == "" || (!ok && m["actors"] != nil) {
		return fmt.Errorf("%w: snapshot without node id or actor list", ErrBadState)
	}
	out := Snapshot{NodeID: node, Actors: make([]SnapshotActor, 0, len(list))}
	for i, e := range list {
		am, _ := e.(map[string]any)
		typ, _ := am["type"].(string)
		state, _ := am["state"].(map[string]any)
		prev, isMap := am["prev_connections"].(map[string]any)
		if typ == "" || state == nil || (!isMap && am["prev_connections"] != nil) {
			return fmt.Errorf("%w: snapshot actor %d has no type, no state or bad connections", ErrBadState, i)
		}
		if _, err := parsePrev(prev, nil); err != nil {
			return fmt.Errorf("snapshot actor %d: %w", i, err)
		}
		out.Actors = append(out.Actors, SnapshotActor{Type: typ, State: state, PrevConnections: prev})
	}
	*s = out
	return nil
}

// beginArrival marks id as arriving (from: the sending node) unless it
// already is.
func (n *Network) beginArrival(id, from string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, busy := n.arriving[id]; busy {
		return fmt.Errorf("%w: %q is arriving", ErrDuplicateActor, id)
	}
	n.arriving[id] = &arrival{from: from, done: make(chan struct{})}
	return nil
}

// endArrival ends what beginArrival started.
func (n *Network) endArrival(id string) {
	n.mu.Lock()
	a := n.arriving[id]
	delete(n.arriving, id)
	n.mu.Unlock()
	if a != nil {
		close(a.done)
	}
}

// resumeParallel bounds the actors Resume reconnects at once.
const resumeParallel = 8

// suspendPoll is how often Suspend looks again at an actor that is busy
// (migrating, or connecting a port).
const suspendPoll = 5 * time.Millisecond

// Suspend takes every actor of this node out of the mesh for a restart: no
// actor fires any more, new arrivals (ACTOR_NEW) and new connections are
// refused with 503, background reconnections stop, every connection is
// taken down locally without telling the peers (they keep their halves and
// their unacknowledged tokens, as across a link loss), and each actor's
// state is exported and the actor removed. An actor being migrated or
// connected is waited for. The registry records are kept: the actors are
// still this node's. Close the binding, runtime, flow, tunnel manager and
// node afterwards; a node started with the same id brings the actors back
// with Resume. After Suspend the binding takes no more actors. On an error
// (ctx ended while an actor was busy) the snapshot holds the actors already
// taken out; the others still run here.
func (n *Network) Suspend(ctx context.Context) (*Snapshot, error) {
	n.mu.Lock()
	if n.closed || n.suspended {
		n.mu.Unlock()
		return nil, fmt.Errorf("%w: network binding closed or suspended", ErrClosed)
	}
	n.suspended = true
	n.mu.Unlock()
	if err := n.waitArrivals(ctx); err != nil {
		return nil, err
	}
	snap := &Snapshot{NodeID: n.node.ID()}
	for _, id := range n.rt.ActorIDs() {
		a, err := n.suspendActor(ctx, id)
		if errors.Is(err, ErrUnknownActor) {
			continue // it left while we waited
		}
		if err != nil {
			return snap, fmt.Errorf("suspend actor %q: %w", id, err)
		}
		snap.Actors = append(snap.Actors, a)
	}
	return snap, nil
}

// waitArrivals waits until no ACTOR_NEW is being handled.
func (n *Network) waitArrivals(ctx context.Context) error {
	for {
		n.mu.Lock()
		var pending *arrival
		for _, a := range n.arriving {
			pending = a
			break
		}
		n.mu.Unlock()
		if pending == nil {
			return nil
		}
		select {
		case <-pending.done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// suspendActor freezes, disconnects, exports and removes one actor.
func (n *Network) suspendActor(ctx context.Context, id string) (SnapshotActor, error) {
	var missing []connRec
	var name string
	var conns []connRec
	for {
		// A migration that fails restores the actor and may start
		// reconnecting in the background: stop that first, each time.
		missing = append(missing, n.stopRetries(id)...)
		var err error
		name, conns, err = n.rt.beginMigration(id)
		if err == nil {
			break
		}
		if !errors.Is(err, ErrMigrating) {
			return SnapshotActor{}, err
		}
		t := time.NewTimer(suspendPoll)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return SnapshotActor{}, ctx.Err()
		}
	}
	// On a failure the actor runs on here with every connection, those the
	// stopped retries had not made included (restore makes them or retries).
	all := append(conns, missing...)
	for _, c := range conns {
		// Local only: the peers keep their halves and reconnect when the
		// actor is back (PORT_CONNECT replaces a half that is there).
		if err := n.rt.Disconnect(context.WithoutCancel(ctx), c.port, c.peer, Temporary); err != nil && !errors.Is(err, ErrBadConnection) {
			n.restore(ctx, id, all)
			return SnapshotActor{}, err
		}
	}
	typ, state, err := n.rt.migrationState(id)
	if err != nil {
		n.restore(ctx, id, all)
		return SnapshotActor{}, err
	}
	n.rt.finishMigration(id)
	return SnapshotActor{Type: typ, State: state, PrevConnections: prevConnections(n.node.ID(), id, name, all)}, nil
}

// Resume brings the actors of a snapshot back on this node (which must have
// the snapshot's node id): it imports every actor, then reconnects every
// connection, local ones included, and publishes the actors. Connections
// that cannot be made now are retried in the background, as after a
// migration. It returns an error naming the actors that could not be
// imported; the others run.
func (n *Network) Resume(ctx context.Context, snap *Snapshot) error {
	if snap == nil {
		return fmt.Errorf("%w: nil snapshot", ErrBadArgument)
	}
	if snap.NodeID != n.node.ID() {
		return fmt.Errorf("%w: snapshot of node %q, this is %q", ErrBadArgument, snap.NodeID, n.node.ID())
	}
	type back struct {
		id    string
		conns []connRec
	}
	var imported []back
	var errs []error
	for _, a := range snap.Actors {
		priv, _ := a.State["private"].(map[string]any)
		id, _ := priv["_id"].(string)
		conns, err := parsePrev(a.PrevConnections, nil)
		if err == nil && id == "" {
			err = fmt.Errorf("%w: actor state without _id", ErrBadState)
		}
		if err == nil {
			// Until its connections are made (or handed to a retry) the
			// actor counts as arriving: a migration now would leave the
			// connections not made yet behind.
			err = n.beginArrival(id, n.node.ID())
		}
		if err == nil {
			if _, err = n.rt.ImportActor(ctx, a.Type, a.State); err != nil {
				n.endArrival(id)
			}
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("actor %q: %w", id, err))
			continue
		}
		imported = append(imported, back{id, conns})
	}
	// Every actor is here before any connection is made, so that local
	// connections find both ends.
	// Actors reconnect side by side: one waiting on an unreachable peer
	// does not hold the others back.
	var g errgroup.Group
	g.SetLimit(resumeParallel)
	for _, b := range imported {
		g.Go(func() error {
			for i, c := range b.conns {
				// A local connection is listed by both ends; making it
				// twice is harmless (the second replaces the first).
				if err := n.reconnect(ctx, c, false); err != nil {
					n.cfg.log.Info("reconnect after resume failed, retrying", "actor", b.id, "port", c.port, "peer", c.peer, "err", err)
					n.retryReconnect(b.id, b.conns[i:])
					break
				}
			}
			n.endArrival(b.id)
			n.publish(ctx, b.id)
			return nil
		})
	}
	_ = g.Wait() // the goroutines report nothing: failures went to retries
	return errors.Join(errs...)
}
