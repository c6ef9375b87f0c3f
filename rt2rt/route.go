package rt2rt

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/transport"
)

const (
	minBackoff = 20 * time.Millisecond
	maxBackoff = 2 * time.Second
	// maxForwardQueue bounds the messages held for one unreachable target,
	// maxForwarders the targets being joined for forwarding at once, so a
	// peer cannot make this node hold unbounded state.
	maxForwardQueue = 1024
	maxForwarders   = 256
	// maxForwardHeld bounds the messages held by all forwarders together.
	maxForwardHeld = 4096
)

// noWait is a done context: a Send with it fails at once (context.Canceled)
// instead of waiting when the connection's queue is full.
var noWait = func() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}()

// dialCall is one re-join in progress; later callers wait on it instead of
// dialling again.
type dialCall struct {
	done chan struct{}
	err  error
}

// backoffState spaces out re-joins to a peer whose joins fail or whose
// links die right after the join (§2.8: the lower-id side retries later).
type backoffState struct {
	next      time.Duration
	notBefore time.Time
}

func (n *Node) bumpBackoffLocked(peer string) {
	// A re-join gets one request timeout; a backoff longer than half of it
	// could make a re-join end without a single attempt.
	limit := max(min(maxBackoff, n.cfg.requestTimeout/2), minBackoff)
	b := n.backoff[peer]
	if b == nil {
		b = &backoffState{next: minBackoff}
		n.backoff[peer] = b
	} else if b.next < limit {
		b.next = min(2*b.next, limit)
	}
	b.notBefore = time.Now().Add(b.next)
}

// linkFor returns the link to send a message for target on: the direct
// link, the link to target's route, or a link obtained by re-joining
// (resolver + backoff) before deadline (zero: one request timeout from now).
func (n *Node) linkFor(ctx context.Context, target string, deadline time.Time) (*link, error) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil, ErrClosed
	}
	if l := n.links[target]; l != nil {
		n.mu.Unlock()
		return l, nil
	}
	peer := target
	if via, ok := n.routes[target]; ok {
		if l := n.links[via]; l != nil {
			n.mu.Unlock()
			return l, nil
		}
		peer = via
	}
	n.mu.Unlock()
	if deadline.IsZero() {
		deadline = time.Now().Add(n.cfg.requestTimeout)
	}
	return n.rejoin(ctx, peer, deadline)
}

func (n *Node) rejoin(ctx context.Context, peer string, deadline time.Time) (*link, error) {
	for {
		n.mu.Lock()
		if n.closed {
			n.mu.Unlock()
			return nil, ErrClosed
		}
		if l := n.links[peer]; l != nil {
			n.mu.Unlock()
			return l, nil
		}
		if !time.Now().Before(deadline) {
			n.mu.Unlock()
			return nil, fmt.Errorf("%w: %s: re-join window over", ErrNoRoute, peer)
		}
		dc := n.dialing[peer]
		if dc == nil {
			dc = &dialCall{done: make(chan struct{})}
			n.dialing[peer] = dc
			n.wg.Add(1)
			go n.dialPeer(peer, dc, deadline)
		}
		n.mu.Unlock()
		select {
		case <-dc.done:
			if dc.err != nil {
				return nil, dc.err
			}
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-n.ctx.Done():
			return nil, ErrClosed
		}
	}
}

// dialPeer joins peer at the URIs the node knows or the resolver gives,
// with backoff, until it has a link or deadline passes.
func (n *Node) dialPeer(peer string, dc *dialCall, deadline time.Time) {
	defer n.wg.Done()
	ctx, cancel := context.WithDeadline(n.ctx, deadline)
	defer cancel()
	var lastErr error
	linked := false
	for !linked {
		up, err := n.waitBackoff(ctx, peer)
		if err != nil {
			if lastErr == nil {
				lastErr = err
			}
			break
		}
		if up {
			// The peer joined this node meanwhile: use that link.
			linked = true
			break
		}
		uris, err := n.urisFor(ctx, peer)
		if err != nil || len(uris) == 0 {
			if err == nil {
				err = errors.New("no known URI")
			}
			lastErr = err
			break
		}
		for _, u := range uris {
			id, err := n.join(ctx, u)
			if err != nil {
				lastErr = err
				continue
			}
			if id != peer {
				lastErr = fmt.Errorf("%s answers as node %s", u, id)
				continue
			}
			linked = true
			break
		}
		if !linked {
			n.mu.Lock()
			n.bumpBackoffLocked(peer)
			n.mu.Unlock()
			if ctx.Err() != nil {
				break
			}
		}
	}
	n.mu.Lock()
	delete(n.dialing, peer)
	if !linked {
		dc.err = fmt.Errorf("%w: %s: %w", ErrNoRoute, peer, lastErr)
	}
	close(dc.done)
	n.mu.Unlock()
	if !linked {
		n.log.Info("re-join failed", "peer", peer, "err", lastErr)
	}
}

// waitBackoff waits until peer may be dialled again. It returns early with
// up set when a link to peer comes up meanwhile (the peer dialled this
// node), so a re-join never sits out a backoff it no longer needs.
func (n *Node) waitBackoff(ctx context.Context, peer string) (up bool, err error) {
	var t *time.Timer
	for {
		n.mu.Lock()
		if n.links[peer] != nil {
			n.mu.Unlock()
			return true, nil
		}
		var wait time.Duration
		if b := n.backoff[peer]; b != nil {
			wait = time.Until(b.notBefore)
		}
		changed := n.linkUp
		n.mu.Unlock()
		if wait <= 0 {
			return false, ctx.Err()
		}
		if t == nil {
			t = time.NewTimer(wait)
			defer t.Stop()
		} else {
			t.Reset(wait)
		}
		select {
		case <-t.C:
			return false, nil
		case <-changed:
			// Some link came up; see whether it is peer's. (Reset above
			// discards a pending expiry: Go 1.23 timer semantics.)
		case <-ctx.Done():
			return false, ctx.Err()
		}
	}
}

// urisFor lists where peer may be joined: remembered URIs first, then the
// resolver's.
func (n *Node) urisFor(ctx context.Context, peer string) ([]string, error) {
	n.mu.Lock()
	uris := append([]string(nil), n.known[peer]...)
	n.mu.Unlock()
	box := n.resolver.Load()
	if box == nil {
		return uris, nil
	}
	more, err := box.r.Resolve(ctx, peer)
	if err != nil {
		if len(uris) > 0 {
			n.log.Debug("resolver failed; using remembered URIs", "peer", peer, "err", err)
			return uris, nil
		}
		return nil, fmt.Errorf("resolve %s: %w", peer, err)
	}
	for _, u := range more {
		dup := false
		for _, k := range uris {
			dup = dup || k == u
		}
		if !dup && u != "" {
			uris = append(uris, u)
		}
	}
	return uris, nil
}

// forwarder holds messages for a target that has no link yet, in arrival
// order, while a goroutine joins it.
type forwarder struct {
	queue []fwdItem
}

type fwdItem struct {
	in      *link
	msg     wire.Message
	payload []byte
}

// forward relays a message addressed to another node, unchanged (§3.8).
func (n *Node) forward(in *link, m wire.Message, payload []byte) {
	h := m.Header()
	if !n.cfg.forwarding {
		n.bad(in, h.Cmd, fmt.Errorf("message for %s and forwarding is off", h.To))
		return
	}
	if h.From == n.id {
		// Our own message came back: a routing loop longer than one hop.
		n.bad(in, h.Cmd, fmt.Errorf("own message for %s came back (routing loop)", h.To))
		return
	}
	target := h.To
	if held, err := n.holdIfAsleep(target, m, nil); held {
		if err != nil {
			n.drop(in, h.Cmd, fmt.Errorf("cannot hold for sleeping %s: %w", target, err))
		}
		return
	}
	n.mu.Lock()
	if f := n.forwarders[target]; f != nil {
		queued := n.enqueueForwardLocked(f, in, m, payload)
		n.mu.Unlock()
		if !queued {
			n.drop(in, h.Cmd, fmt.Errorf("forward queue for %s full", target))
		}
		return
	}
	out := n.links[target]
	if out == nil {
		if via := n.routes[target]; via != "" {
			out = n.links[via]
		}
	}
	if out == nil {
		if n.closed {
			n.mu.Unlock()
			return
		}
		if len(n.forwarders) >= maxForwarders {
			n.mu.Unlock()
			n.drop(in, h.Cmd, fmt.Errorf("too many unreachable targets; cannot forward to %s", target))
			return
		}
		f := &forwarder{}
		n.forwarders[target] = f
		n.enqueueForwardLocked(f, in, m, payload)
		n.wg.Add(1)
		go n.runForwarder(target, f)
		n.mu.Unlock()
		return
	}
	n.mu.Unlock()
	n.forwardOn(in, out, m, payload)
}

// enqueueForwardLocked reports false when the queue is full.
func (n *Node) enqueueForwardLocked(f *forwarder, in *link, m wire.Message, payload []byte) bool {
	if len(f.queue) >= maxForwardQueue || n.fwdHeld >= maxForwardHeld {
		return false
	}
	f.queue = append(f.queue, fwdItem{in: in, msg: m, payload: payload})
	n.fwdHeld++
	return true
}

func (n *Node) runForwarder(target string, f *forwarder) {
	defer n.wg.Done()
	out, err := n.linkFor(n.ctx, target, time.Time{})
	for {
		n.mu.Lock()
		batch := f.queue
		f.queue = nil
		n.fwdHeld -= len(batch)
		if len(batch) == 0 {
			delete(n.forwarders, target)
			n.mu.Unlock()
			return
		}
		n.mu.Unlock()
		for _, it := range batch {
			if err != nil {
				n.drop(it.in, it.msg.Header().Cmd, fmt.Errorf("cannot forward to %s: %w", target, err))
				continue
			}
			n.forwardOn(it.in, out, it.msg, it.payload)
		}
	}
}

// forwardOn sends a relayed message on out. The original bytes go out when
// both links use the same coder; otherwise the decoded message, which keeps
// unknown keys, is re-encoded.
func (n *Node) forwardOn(in, out *link, m wire.Message, payload []byte) {
	h := m.Header()
	if out.peer == in.peer {
		n.drop(in, h.Cmd, fmt.Errorf("route to %s leads back over the link it came in on", h.To))
		return
	}
	frame := payload
	if out.ser.Name() != in.ser.Name() || frame == nil {
		var err error
		frame, err = out.encode(m)
		if err != nil {
			n.drop(in, h.Cmd, fmt.Errorf("re-encode for %s: %w", h.To, err))
			return
		}
	}
	// Never wait for room: a slow next hop must not stall the link the
	// message came in on (and with it everything else its peer sends).
	if err := out.sendFrame(noWait, frame); err != nil {
		if errors.Is(err, context.Canceled) {
			err = fmt.Errorf("%w (next hop %s)", transport.ErrQueueFull, out.peer)
		}
		n.drop(in, h.Cmd, fmt.Errorf("forward to %s: %w", h.To, err))
		return
	}
	n.obs.Forwarded(h.From, h.To, h.Cmd)
}
