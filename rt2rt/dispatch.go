package rt2rt

import (
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/meshkit/meshkit/rt2rt/wire"
)

// Incoming is a message delivered to a Handler.
type Incoming struct {
	// Peer is the node at the other end of the link the message came in
	// on; Msg.Header().From is the sender, which differs when forwarded.
	Peer string
	Msg  wire.Message

	n       *Node
	via     *link
	replied atomic.Bool
}

// ErrAlreadyReplied is returned by a second Incoming.Reply.
var ErrAlreadyReplied = errors.New("rt2rt: request already answered")

// Reply answers the message with a REPLY carrying resp (a missing
// success_list gets Calvin's 200-206). It does nothing for a message without
// msg_uuid, which expects no answer. It may be called from any goroutine.
func (in *Incoming) Reply(resp wire.Response) error {
	h := in.Msg.Header()
	if h.MsgUUID == "" || h.Cmd == wire.CmdTunnelData {
		return nil // TUNNEL_DATA is never answered (§4.3)
	}
	if in.replied.Swap(true) {
		return &PeerError{Op: "reply", Peer: h.From, MsgUUID: h.MsgUUID, Err: ErrAlreadyReplied}
	}
	return in.n.reply(in.via, h, resp)
}

// reply sends a REPLY to the sender of h: over the link to the sender if
// there is one, otherwise back over the link the request came in on (whose
// peer forwards it, as a proxy does).
func (n *Node) reply(via *link, h *wire.Envelope, resp wire.Response) error {
	r := newReply(n.id, h.From, h.MsgUUID, resp)
	n.mu.Lock()
	out := n.links[h.From]
	if out == nil {
		if cur := n.links[via.peer]; cur != nil {
			out = cur // the arrival link may have been replaced (§2.8)
		} else if !via.replaced.Load() {
			out = via
		}
	}
	n.mu.Unlock()
	if out == nil {
		return &PeerError{Op: "reply", Peer: h.From, MsgUUID: h.MsgUUID, Err: ErrLinkDown}
	}
	// Send blocks only while the link's queue is full; Close unblocks it.
	if err := out.send(n.ctx, r); err != nil {
		return &PeerError{Op: "reply", Peer: h.From, MsgUUID: h.MsgUUID, Err: err}
	}
	return nil
}

// replyStatus answers with a status and data, logging a failure (used by
// the node's own answers, which have nobody to return an error to).
func (n *Node) replyStatus(in *Incoming, status int, data any) {
	if err := in.Reply(response(status, data)); err != nil {
		n.log.Info("reply failed", "peer", in.Peer, "cmd", in.Msg.Header().Cmd, "err", err)
	}
}

func (n *Node) drop(l *link, cmd string, reason error) {
	peer := ""
	if l != nil {
		peer = l.peer
	}
	n.log.Info("message dropped", "peer", peer, "cmd", cmd, "reason", reason)
	n.obs.Dropped(peer, cmd, reason)
}

// receive is the receive path of §3.3 for one frame of a joined link. A
// borrowed payload is valid only during the call.
func (n *Node) receive(l *link, payload []byte, borrowed bool) {
	m, err := l.ser.Decode(payload)
	if err != nil {
		n.bad(l, "", fmt.Errorf("undecodable frame (%d bytes): %w", len(payload), err))
		return
	}
	h := m.Header()
	switch {
	case h.To == "":
		// Includes JOIN_REQUEST/JOIN_REPLY on a joined link (§2.7).
		n.bad(l, h.Cmd, errors.New("no to_rt_uuid"))
	case h.To != n.id:
		if borrowed {
			payload = append([]byte(nil), payload...) // forwarded later, or queued
		}
		n.forward(l, m, payload)
	case h.Cmd == wire.CmdReply:
		n.deliverReply(l, m)
	default:
		n.dispatch(l, m)
	}
}

func (n *Node) dispatch(l *link, m wire.Message) {
	h := m.Header()
	in := &Incoming{Peer: l.peer, Msg: m, n: n, via: l}
	if n.shutting.Load() {
		if status, ok := shutdownStatus[h.Cmd]; ok {
			n.replyStatus(in, status, nil)
			return
		}
	}
	if hd := (*n.handlers.Load())[h.Cmd]; hd != nil {
		// TUNNEL_DATA is the hot path and never answered: its handler
		// judges it alone.
		if h.Cmd == wire.CmdTunnelData {
			n.runHandler(hd, in)
			return
		}
		if err := validateRequest(m); err != nil {
			n.badRequest(in, err)
			return
		}
		n.runHandler(hd, in)
		return
	}
	n.defaultAnswer(in)
}

// runHandler shields the link from a panicking handler: the panic is logged
// and answered with 500, and the link keeps serving.
func (n *Node) runHandler(hd Handler, in *Incoming) {
	defer func() {
		if r := recover(); r != nil {
			n.log.Error("handler panicked", "cmd", in.Msg.Header().Cmd, "peer", in.Peer, "panic", r)
			if !in.replied.Load() {
				n.replyStatus(in, wire.StatusInternalError, nil)
			}
		}
	}()
	hd(n.ctx, in)
}

func (n *Node) badRequest(in *Incoming, err error) {
	h := in.Msg.Header()
	n.log.Info("bad request", "peer", in.Peer, "cmd", h.Cmd, "msg_uuid", h.MsgUUID, "err", err)
	n.strike(in.via, fmt.Errorf("bad %s request: %w", h.Cmd, err))
	if h.MsgUUID != "" {
		n.replyStatus(in, wire.StatusBadRequest, nil)
	}
}

// shutdownStatus is §4.7: fixed answers while the node shuts down.
var shutdownStatus = map[string]int{
	wire.CmdActorNew:               wire.StatusInternalError,
	wire.CmdActorMigrate:           wire.StatusNotFound,
	wire.CmdAppDestroy:             wire.StatusNotFound,
	wire.CmdPortConnect:            wire.StatusNotFound,
	wire.CmdPortRemoteConnect:      wire.StatusNotFound,
	wire.CmdTunnelNew:              wire.StatusInternalError,
	wire.CmdAuthenticationDecision: wire.StatusInternalError,
	wire.CmdAuthorizationRegister:  wire.StatusNotFound,
	wire.CmdAuthorizationDecision:  wire.StatusNotFound,
	wire.CmdAuthorizationSearch:    wire.StatusInternalError,
}

// defaultAnswer replies as the spec says a node without the feature
// answers, for commands nobody registered a handler for.
func (n *Node) defaultAnswer(in *Incoming) {
	h := in.Msg.Header()
	switch h.Cmd {
	case wire.CmdAuthenticationDecision, wire.CmdAuthorizationRegister, wire.CmdAuthorizationDecision, wire.CmdAuthorizationSearch:
		n.replyStatus(in, wire.StatusNotFound, nil) // external security requests not served
		return
	case wire.CmdQueuePressure:
		n.replyStatus(in, wire.StatusNotImplemented, nil)
		return
	case wire.CmdLeaderElected:
		typ, cmd := leaderElectedFields(in.Msg)
		switch {
		case typ != "replication":
			n.replyStatus(in, wire.StatusBadRequest, nil)
		case cmd == "create" || cmd == "destroy" || cmd == "lock" || cmd == "release":
			n.replyStatus(in, wire.StatusNotImplemented, nil)
		default:
			n.replyStatus(in, wire.StatusBadRequest, nil)
		}
		return
	}
	if !isKnownCommand(h.Cmd) {
		n.bad(in.via, h.Cmd, errors.New("unknown command"))
		return
	}
	if err := validateRequest(in.Msg); err != nil {
		n.badRequest(in, err)
		return
	}
	status, data, silent := unhandledAnswer(in.Msg)
	if silent {
		n.drop(in.via, h.Cmd, errors.New("no handler registered"))
		return
	}
	n.log.Debug("no handler registered; default answer", "cmd", h.Cmd, "status", status)
	n.replyStatus(in, status, data)
}

// timeoutResponse is what Calvin's requester sees when its timer fires.
func timeoutResponse() wire.Response {
	return response(wire.StatusGatewayTimeout, nil)
}
