package actor

import (
	"fmt"
	"maps"

	"github.com/meshkit/meshkit/token"
)

// Direction of a port.
type Direction string

// Port directions as written in port properties.
const (
	In  Direction = "in"
	Out Direction = "out"
)

// DisconnectMode is Calvin's DISCONNECT value (spec §8.3).
type DisconnectMode int

// Disconnect modes that travel on the wire.
const (
	// Temporary keeps the queue positions and returns unacknowledged tokens
	// to the outport queue (used by migration).
	Temporary DisconnectMode = 0
	// Terminate also removes the peer as a reader of an outport.
	Terminate DisconnectMode = 1
	// ExhaustPeer hands remaining tokens over; treated as Terminate here.
	ExhaustPeer DisconnectMode = 3
)

// Endpoint is the far side of a remote connection of a port: the token
// sender of an outport or the token receiver of an inport over a token
// tunnel. The token layer implements it; the runtime calls it.
type Endpoint interface {
	// Notify says the queue changed on the actor side: new tokens in an
	// outport, free room in an inport. It must not block.
	Notify()
	// Detach says the connection has been removed locally.
	Detach(mode DisconnectMode)
}

type conn struct {
	peerID string
	local  *port    // peer port when it lives on this runtime
	ep     Endpoint // otherwise
}

type port struct {
	inst   *instance
	id     string
	name   string
	dir    Direction
	props  map[string]any
	q      *token.FIFO        // nil until first connect or import
	opaque *token.OpaqueQueue // queue state of a type we do not run, kept verbatim
	extra  map[string]any     // unknown keys of an imported port state
	conns  []conn
}

// defaultProps returns the default properties of a direction (spec §8.2).
func defaultProps(d Direction) map[string]any {
	if d == In {
		return map[string]any{"routing": "default", "nbr_peers": int64(1), "direction": "in"}
	}
	return map[string]any{"routing": "fanout", "nbr_peers": int64(1), "direction": "out"}
}

func (p *port) nbrPeers() int {
	if n, ok := toInt(p.props["nbr_peers"]); ok && n > 0 {
		return n
	}
	return 1
}

func (p *port) queueLength() int {
	if n, ok := toInt(p.props["queue_length"]); ok && n > 0 {
		return n
	}
	return token.DefaultQueueLength
}

// queueState exports the port's queue; migration exports cancel tentative
// reads (spec §7.8).
func (p *port) queueState(migration bool) map[string]any {
	switch {
	case p.q != nil && migration:
		return p.q.MigrationState()
	case p.q != nil:
		return p.q.State()
	case p.opaque != nil:
		return p.opaque.State()
	}
	return token.NoneState()
}

func (p *port) connected() bool { return len(p.conns) >= p.nbrPeers() }

// ensureQueue creates the port's FIFO on first connect.
func (p *port) ensureQueue() error {
	if p.q != nil {
		return nil
	}
	q, err := token.NewFIFO(p.queueLength())
	if err != nil {
		return fmt.Errorf("port %s: %w", p.id, err)
	}
	p.q = q
	p.opaque = nil // Calvin discards a queue state of another type on connect
	if p.dir == In {
		q.AddReader(p.id)
	}
	return nil
}

func (p *port) findConn(peerID string) int {
	for i := range p.conns {
		if p.conns[i].peerID == peerID {
			return i
		}
	}
	return -1
}

// setConn adds or replaces the connection to peerID. A replaced endpoint
// is returned: the caller detaches it once it holds no runtime lock (the
// token flow calls back into the runtime under its own locks).
func (p *port) setConn(c conn) Endpoint {
	if i := p.findConn(c.peerID); i >= 0 {
		old := p.conns[i]
		p.conns[i] = c
		if old.ep != nil && old.ep != c.ep {
			return old.ep
		}
		return nil
	}
	p.conns = append(p.conns, c)
	return nil
}

// detachList collects endpoints to detach after the runtime locks are released.
type detachList []struct {
	ep   Endpoint
	mode DisconnectMode
}

func (d *detachList) add(ep Endpoint, mode DisconnectMode) {
	if ep != nil {
		*d = append(*d, struct {
			ep   Endpoint
			mode DisconnectMode
		}{ep, mode})
	}
}

func (d detachList) run() {
	for _, e := range d {
		e.ep.Detach(e.mode)
	}
}

// dropConn removes the connection to peerID with the effects of mode on the
// queue (spec §8.3). It reports whether there was one.
func (p *port) dropConn(peerID string, mode DisconnectMode) bool {
	i := p.findConn(peerID)
	if i < 0 {
		return false
	}
	p.conns = append(p.conns[:i], p.conns[i+1:]...)
	if p.dir == Out && p.q != nil {
		if mode == Temporary {
			_ = p.q.Cancel(peerID)
		} else {
			_ = p.q.RemoveReader(peerID)
		}
	}
	return true
}

// PortInfo describes a port.
type PortInfo struct {
	ID         string
	Name       string
	ActorID    string
	Direction  Direction
	Properties map[string]any
	Peers      []string // peer port ids of the current connections
	Local      []bool   // whether each peer lives on this runtime
}

func (p *port) info() PortInfo {
	pi := PortInfo{ID: p.id, Name: p.name, ActorID: p.inst.id, Direction: p.dir, Properties: maps.Clone(p.props)}
	for _, c := range p.conns {
		pi.Peers = append(pi.Peers, c.peerID)
		pi.Local = append(pi.Local, c.local != nil)
	}
	return pi
}
