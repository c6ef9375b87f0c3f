package actor

import (
	"fmt"
)

// Default limits. A peer drives actor creation (ACTOR_NEW) and port
// connections (PORT_CONNECT), so both are bounded by default; raise them with
// WithMaxActors and WithMaxPortConnections.
const (
	// DefaultMaxActors bounds the actors one runtime hosts, shadows included:
	// the 100,000 idle actors of the figures fit (about 200 MB).
	DefaultMaxActors = 100000
	// DefaultMaxPortConnections bounds the connections of one port (for an
	// outport: the peer ports its queue keeps a reader for).
	DefaultMaxPortConnections = 256
)

// limits are the runtime's resource bounds. pending is guarded by
// Runtime.mu; the rest is immutable.
type limits struct {
	maxActors    int
	maxPortConns int
	// pending counts creations and imports that passed the actor limit but
	// are not registered yet: Init, Setup and state decoding run without
	// the runtime lock, and two racing ACTOR_NEWs must not both take the
	// last slot.
	pending int
}

// reserveActor takes one actor slot for a creation or import of id. The
// caller calls release exactly once, after the actor is registered or has
// failed (not holding r.mu); until then the slot counts against the limit.
func (r *Runtime) reserveActor(id, op string) (release func(), err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n := len(r.actors) + r.lim.pending; n >= r.lim.maxActors {
		return nil, &ActorError{ActorID: id, Op: op,
			Err: fmt.Errorf("%w: %d hosted or arriving, limit %d", ErrTooManyActors, n, r.lim.maxActors)}
	}
	r.lim.pending++
	return func() {
		r.mu.Lock()
		r.lim.pending--
		r.mu.Unlock()
	}, nil
}

// admitConn checks that connecting p to peerID keeps p within the
// per-port connection limit; the caller holds p's actor lock. A pair that
// is connected already, or whose outport reader was kept by a temporary
// disconnect or an imported queue, adds nothing and is always admitted, so
// reconnects after a migration never hit the limit.
func (r *Runtime) admitConn(p *port, peerID string) error {
	if p.findConn(peerID) >= 0 {
		return nil
	}
	n := len(p.conns)
	if p.dir == Out && p.q != nil {
		if p.q.HasReader(peerID) {
			return nil
		}
		// Readers outlive temporary disconnects and each one holds back
		// the queue, so they are what a flood of made-up peers grows.
		n = max(n, len(p.q.Readers()))
	}
	if n >= r.lim.maxPortConns {
		return fmt.Errorf("%w: port %q has %d, limit %d (peer port %q)", ErrTooManyConnections, p.id, n, r.lim.maxPortConns, peerID)
	}
	return nil
}
