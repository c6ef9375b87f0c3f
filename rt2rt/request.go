package rt2rt

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/transport"
)

type result struct {
	resp wire.Response
	err  error
}

// pending is a request waiting for its REPLY. target is the node addressed,
// via the peer whose link carries it (they differ for routed nodes).
type pending struct {
	target string
	via    string
	start  time.Time
	ch     chan result // buffered 1; written once under Node.mu
}

func (p *pending) finish(r result) { p.ch <- r }

// Request sends m to the node peerID and waits for the REPLY correlated by
// msg_uuid. It fills from_rt_uuid, to_rt_uuid and a fresh msg_uuid in m's
// envelope (so m must not be shared by concurrent calls). A
// non-success status is a normal return; the error is for no answer at all:
// ErrTimeout (with a 504 response, Calvin's local status), ErrLinkDown when
// the link went down first, ctx's error, or the link/join failure.
func (n *Node) Request(ctx context.Context, peerID string, m wire.Message) (wire.Response, error) {
	h := m.Header()
	if !fillCmd(m) {
		return wire.Response{}, &PeerError{Op: "request", Peer: peerID, Err: fmt.Errorf("%w: empty cmd", ErrInvalidMessage)}
	}
	h.From, h.To, h.MsgUUID = n.id, peerID, uuid.NewString()
	timer := time.NewTimer(n.cfg.requestTimeout)
	defer timer.Stop()
	deadline := time.Now().Add(n.cfg.requestTimeout)

	// Fail fast, before any re-join, when the limits are reached already.
	n.mu.Lock()
	err := n.pendingRoomLocked(peerID)
	n.mu.Unlock()
	if err != nil {
		return wire.Response{}, n.requestErr(peerID, h, err)
	}
	var p *pending
	var l *link
	held, err := n.holdIfAsleep(peerID, m, func() error {
		if err := n.pendingRoomLocked(peerID); err != nil {
			return err
		}
		p = &pending{target: peerID, via: peerID, start: time.Now(), ch: make(chan result, 1)}
		n.putPendingLocked(h.MsgUUID, p)
		return nil
	})
	if err != nil {
		return wire.Response{}, n.requestErr(peerID, h, err)
	}
	for attempt := 0; !held; attempt++ {
		var err error
		l, err = n.linkFor(ctx, peerID, deadline)
		if err != nil {
			return wire.Response{}, n.requestErr(peerID, h, err)
		}
		p = &pending{target: peerID, via: l.peer, start: time.Now(), ch: make(chan result, 1)}
		if err = n.addPending(h.MsgUUID, p, l); err == nil {
			if err = l.send(ctx, m); err == nil {
				break
			}
			n.removePending(h.MsgUUID)
			if !errors.Is(err, transport.ErrClosed) {
				return wire.Response{}, n.requestErr(peerID, h, err)
			}
			err = fmt.Errorf("%w: %w", ErrLinkDown, err)
		} else if errors.Is(err, ErrTooManyRequests) {
			return wire.Response{}, n.requestErr(peerID, h, err)
		}
		// The link went down between lookup and sending: nothing was
		// sent, so look again (re-joining if need be).
		if attempt >= 2 || ctx.Err() != nil {
			return wire.Response{}, n.requestErr(peerID, h, err)
		}
	}
	select {
	case r := <-p.ch:
		if r.err != nil {
			return wire.Response{}, n.requestErr(peerID, h, r.err)
		}
		if l != nil {
			l.observeRTT(time.Since(p.start))
		}
		return r.resp, nil
	case <-ctx.Done():
		if n.removePending(h.MsgUUID) {
			return wire.Response{}, n.requestErr(peerID, h, ctx.Err())
		}
	case <-timer.C:
		if n.removePending(h.MsgUUID) {
			n.obs.RequestTimeout(peerID, h.Cmd, h.MsgUUID)
			n.log.Info("request timed out", "peer", peerID, "cmd", h.Cmd, "msg_uuid", h.MsgUUID)
			return timeoutResponse(), n.requestErr(peerID, h, ErrTimeout)
		}
	}
	// The REPLY (or a failure) won the race with the timer or ctx.
	r := <-p.ch
	if r.err != nil {
		return wire.Response{}, n.requestErr(peerID, h, r.err)
	}
	return r.resp, nil
}

func (n *Node) requestErr(peer string, h *wire.Envelope, err error) error {
	var pe *PeerError
	if errors.As(err, &pe) && pe.Peer == peer {
		return err
	}
	return &PeerError{Op: "request " + h.Cmd, Peer: peer, MsgUUID: h.MsgUUID, Err: err}
}

// addPending registers p unless l is no longer the link it should go on
// (ErrLinkDown) or the pending limits are reached (ErrTooManyRequests).
func (n *Node) addPending(id string, p *pending, l *link) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed || n.links[l.peer] != l {
		return ErrLinkDown
	}
	if err := n.pendingRoomLocked(p.target); err != nil {
		return err
	}
	n.putPendingLocked(id, p)
	return nil
}

// pendingRoomLocked checks the limits of WithMaxPendingRequests.
func (n *Node) pendingRoomLocked(target string) error {
	if len(n.pending) >= n.cfg.maxPending {
		return fmt.Errorf("%w: %d requests pending in the node", ErrTooManyRequests, len(n.pending))
	}
	if c := n.pendingPer[target]; c >= n.cfg.maxPendingPerPeer {
		return fmt.Errorf("%w: %d requests pending for %s", ErrTooManyRequests, c, target)
	}
	return nil
}

func (n *Node) putPendingLocked(id string, p *pending) {
	n.pending[id] = p
	n.pendingPer[p.target]++
}

func (n *Node) delPendingLocked(id string, p *pending) {
	delete(n.pending, id)
	if c := n.pendingPer[p.target] - 1; c > 0 {
		n.pendingPer[p.target] = c
	} else {
		delete(n.pendingPer, p.target)
	}
}

// removePending reports whether the entry was still there (nobody else will
// finish it).
func (n *Node) removePending(id string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	p, ok := n.pending[id]
	if !ok {
		return false
	}
	n.delPendingLocked(id, p)
	n.notifyDrainedLocked()
	return true
}

func (n *Node) notifyDrainedLocked() {
	if n.drained != nil && len(n.pending) == 0 {
		close(n.drained)
		n.drained = nil
	}
}

// deliverReply hands a REPLY to the request it answers (§3.5).
func (n *Node) deliverReply(l *link, m wire.Message) {
	h := m.Header()
	resp, ok := replyValue(m)
	n.mu.Lock()
	p := n.pending[h.MsgUUID]
	if p != nil && p.target == h.From {
		n.delPendingLocked(h.MsgUUID, p)
		p.finish(result{resp: resp})
		n.notifyDrainedLocked()
	} else {
		p = nil
	}
	n.mu.Unlock()
	if p == nil {
		n.log.Debug("REPLY for unknown msg_uuid dropped", "peer", l.peer, "from", h.From, "msg_uuid", h.MsgUUID)
		return
	}
	if !ok {
		n.log.Debug("REPLY without a proper value; defaults used", "peer", l.peer, "msg_uuid", h.MsgUUID)
	}
}

// Send sends m to peerID without waiting for an answer (TUNNEL_DATA). It
// fills from_rt_uuid and to_rt_uuid in m's envelope and leaves msg_uuid as
// given (normally empty, §4.3). It re-joins a peer it has no link to. m is
// encoded before Send returns and may be reused afterwards.
func (n *Node) Send(ctx context.Context, peerID string, m wire.Message) error {
	h := m.Header()
	if !fillCmd(m) {
		return &PeerError{Op: "send", Peer: peerID, Err: fmt.Errorf("%w: empty cmd", ErrInvalidMessage)}
	}
	h.From, h.To = n.id, peerID
	if held, err := n.holdIfAsleep(peerID, m, nil); held {
		if err != nil {
			return &PeerError{Op: "send " + h.Cmd, Peer: peerID, MsgUUID: h.MsgUUID, Err: err}
		}
		return nil
	}
	var deadline time.Time
	for attempt := 0; ; attempt++ {
		l, err := n.linkFor(ctx, peerID, deadline)
		if err != nil {
			return &PeerError{Op: "send " + h.Cmd, Peer: peerID, MsgUUID: h.MsgUUID, Err: err}
		}
		frame, err := l.encode(m)
		if err != nil {
			return &PeerError{Op: "send " + h.Cmd, Peer: peerID, Err: fmt.Errorf("%w: %w", ErrInvalidMessage, err)}
		}
		err = l.sendFrame(ctx, frame)
		if err == nil {
			return nil
		}
		// A link that closed under us is re-joined once; the frame was not
		// handed over, so it can be re-encoded for the new link.
		if !errors.Is(err, transport.ErrClosed) || attempt > 0 || ctx.Err() != nil {
			return &PeerError{Op: "send " + h.Cmd, Peer: peerID, MsgUUID: h.MsgUUID, Err: err}
		}
		deadline = time.Now().Add(n.cfg.requestTimeout)
	}
}
