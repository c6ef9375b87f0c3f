package rt2rt

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/meshkit/meshkit/transport"
)

// responderInitialRTT is the RTT Calvin's responder starts a link with (§2.6).
const responderInitialRTT = 200 * time.Millisecond

// Join dials uri, runs the JOIN handshake as initiator (§2.2-2.6) and returns
// the peer's node id. Joining an already linked peer succeeds; the duplicate
// connection is resolved by §2.8.
func (n *Node) Join(ctx context.Context, uri string) (string, error) {
	if n.shutting.Load() {
		return "", &JoinError{URI: uri, Err: ErrShuttingDown}
	}
	peer, err := n.join(ctx, uri)
	if err != nil {
		n.obs.JoinFailed(uri, err)
		return "", err
	}
	return peer, nil
}

func (n *Node) join(ctx context.Context, uri string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.joinTimeout)
	defer cancel()
	c, err := n.tr.Dial(ctx, uri)
	if err != nil {
		return "", &JoinError{URI: uri, Err: err}
	}
	if !n.trackConn(c) {
		_ = c.Close()
		return "", &JoinError{URI: uri, Err: ErrClosed}
	}
	peer, ser, rtt, err := n.handshake(ctx, c)
	if err != nil {
		n.dropConn(c)
		if errors.Is(err, context.DeadlineExceeded) && n.ctx.Err() == nil {
			err = fmt.Errorf("%w: %w", ErrJoinTimeout, err)
		}
		return "", &JoinError{URI: uri, Peer: peer, Err: err}
	}
	n.obs.Joined(peer, uri, ser.Name(), true, rtt)
	n.log.Debug("joined", "peer", peer, "uri", uri, "serializer", ser.Name(), "rtt", rtt)
	_, _ = n.install(newLink(n, peer, c, ser, uri, true, rtt), nil)
	return peer, nil
}

// handshake sends JOIN_REQUEST and reads the JOIN_REPLY on a fresh connection.
func (n *Node) handshake(ctx context.Context, c transport.Conn) (string, serializerRef, time.Duration, error) {
	frame, err := n.sers.json.Encode(nil, newJoinRequest(n.id, uuid.NewString(), n.sers.names()))
	if err != nil {
		return "", nil, 0, fmt.Errorf("encode JOIN_REQUEST: %w", err)
	}
	start := time.Now()
	if err := c.Send(ctx, frame); err != nil {
		return "", nil, 0, err
	}
	payload, err := c.Recv(ctx)
	if err != nil {
		return "", nil, 0, err
	}
	rtt := time.Since(start)
	// Calvin ignores the reply's cmd; so do we (§2.6).
	m, err := n.sers.json.Decode(payload)
	if err != nil {
		return "", nil, 0, fmt.Errorf("%w: undecodable JOIN_REPLY: %w", ErrJoinRejected, err)
	}
	peer, serName := joinReplyFields(m)
	if peer == "" {
		return "", nil, 0, fmt.Errorf("%w: null id", ErrJoinRejected)
	}
	ser := n.sers.get(serName)
	if ser == nil {
		return peer, nil, 0, fmt.Errorf("%w: serializer %q not offered", ErrJoinRejected, serName)
	}
	if peer == n.id {
		return peer, nil, 0, fmt.Errorf("%w: peer has this node's own id", ErrJoinRejected)
	}
	return peer, ser, rtt, nil
}

// respond runs the responder side of the handshake on an accepted
// connection (§2.3-2.5) and installs the link.
func (n *Node) respond(c transport.Conn) {
	defer n.wg.Done()
	ctx, cancel := context.WithTimeout(n.ctx, n.cfg.joinTimeout)
	defer cancel()
	remote := c.RemoteURI()
	fail := func(err error) {
		n.dropConn(c)
		if n.ctx.Err() != nil {
			return
		}
		n.log.Info("incoming join failed", "remote", remote, "err", err)
		n.obs.JoinFailed(remote, err)
	}
	for attempt := 1; ; attempt++ {
		payload, err := c.Recv(ctx)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) {
				err = fmt.Errorf("%w: %w", ErrJoinTimeout, err)
			}
			fail(&JoinError{URI: remote, Err: err})
			return
		}
		peer, ser, sid, err := n.evaluateJoin(payload)
		if err != nil {
			// Reject with a null id and keep the connection: the next frame
			// is a new JOIN_REQUEST (§2.3).
			n.log.Info("join request rejected", "remote", remote, "peer", peer, "err", err, "attempt", attempt)
			if serr := n.sendJoinReply(ctx, c, "", "", sid); serr != nil {
				fail(&JoinError{URI: remote, Peer: peer, Err: serr})
				return
			}
			if errors.Is(err, ErrTooManyLinks) {
				// Retrying on this connection cannot help: close it once
				// the reject is out.
				n.log.Warn("join refused: too many links", "remote", remote, "peer", peer, "limit", n.cfg.maxLinks)
				n.obs.JoinFailed(remote, &JoinError{URI: remote, Peer: peer, Err: err})
				n.closeAfterFlush(c)
				return
			}
			if attempt >= maxJoinAttempts {
				err := &JoinError{URI: remote, Peer: peer, Err: fmt.Errorf("%w: %d invalid join frames", ErrJoinRejected, attempt)}
				n.log.Info("giving up on connection", "remote", remote, "err", err)
				n.obs.JoinFailed(remote, err)
				// Let the last reject reach the peer before closing.
				n.closeAfterFlush(c)
				return
			}
			continue
		}
		reply, err := n.sers.json.Encode(nil, newJoinReply(n.id, ser.Name(), sid))
		if err != nil {
			fail(&JoinError{URI: remote, Peer: peer, Err: fmt.Errorf("encode JOIN_REPLY: %w", err)})
			return
		}
		n.obs.Joined(peer, remote, ser.Name(), false, responderInitialRTT)
		n.log.Debug("peer joined", "peer", peer, "remote", remote, "serializer", ser.Name())
		// The link is in the table before the JOIN_REPLY can reach the
		// peer, so the peer's Join returns to a link usable both ways.
		if _, err := n.install(newLink(n, peer, c, ser, remote, false, responderInitialRTT), reply); err != nil {
			fail(&JoinError{URI: remote, Peer: peer, Err: err})
		}
		return
	}
}

// evaluateJoin decides on a first frame. It returns the peer id and sid when
// they could be read, so a rejection can echo the sid.
func (n *Node) evaluateJoin(payload []byte) (peer string, ser serializerRef, sid string, err error) {
	m, derr := n.sers.json.Decode(payload)
	if derr != nil {
		return "", nil, "", fmt.Errorf("%w: first frame is not a JSON JOIN_REQUEST: %w", ErrJoinRejected, derr)
	}
	req, peer, sid, offered, ok := joinRequestFields(m)
	if !ok {
		return peer, nil, sid, fmt.Errorf("%w: first frame is not a valid JOIN_REQUEST (cmd %q)", ErrJoinRejected, m.Header().Cmd)
	}
	if peer == n.id {
		return peer, nil, sid, fmt.Errorf("%w: peer uses this node's own id", ErrJoinRejected)
	}
	if n.shutting.Load() {
		return peer, nil, sid, fmt.Errorf("%w: %w", ErrJoinRejected, ErrShuttingDown)
	}
	if n.linksFullFor(peer) {
		return peer, nil, sid, fmt.Errorf("%w: %w (limit %d)", ErrJoinRejected, ErrTooManyLinks, n.cfg.maxLinks)
	}
	if v := n.cfg.validator; v != nil {
		if verr := v(peer, req); verr != nil {
			return peer, nil, sid, fmt.Errorf("%w: %w", ErrJoinRejected, verr)
		}
	}
	ser = n.sers.choose(offered)
	if ser == nil {
		return peer, nil, sid, fmt.Errorf("%w: no common serializer in %v", ErrJoinRejected, offered)
	}
	return peer, ser, sid, nil
}

func (n *Node) sendJoinReply(ctx context.Context, c transport.Conn, id, ser, sid string) error {
	frame, err := n.sers.json.Encode(nil, newJoinReply(id, ser, sid))
	if err != nil {
		return fmt.Errorf("encode JOIN_REPLY: %w", err)
	}
	return c.Send(ctx, frame)
}
