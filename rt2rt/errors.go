package rt2rt

import (
	"errors"
	"fmt"
)

// Sentinel errors. Returned errors wrap them (errors.Is) inside a *PeerError
// or *JoinError that names the failing peer, URI or message id.
var (
	// ErrClosed: the node was closed.
	ErrClosed = errors.New("rt2rt: node closed")
	// ErrShuttingDown: the node is shutting down and takes no new work.
	ErrShuttingDown = errors.New("rt2rt: node shutting down")
	// ErrTimeout: no REPLY within the request timeout (Calvin's 504).
	ErrTimeout = errors.New("rt2rt: request timed out")
	// ErrLinkDown: the link a request was sent on went down before the REPLY.
	ErrLinkDown = errors.New("rt2rt: link down")
	// ErrNoRoute: there is no link to the node and no URI to join it at.
	ErrNoRoute = errors.New("rt2rt: no route to node")
	// ErrJoinRejected: the responder refused the join (null id or serializer).
	ErrJoinRejected = errors.New("rt2rt: join rejected")
	// ErrJoinTimeout: the peer did not complete the handshake in time.
	ErrJoinTimeout = errors.New("rt2rt: join timed out")
	// ErrInvalidOption: an option passed to NewNode is invalid.
	ErrInvalidOption = errors.New("rt2rt: invalid option")
	// ErrInvalidMessage: a message given to Request or Send cannot be sent.
	ErrInvalidMessage = errors.New("rt2rt: invalid message")
	// ErrTooManyRequests: the node or the addressed peer has as many
	// requests waiting for a REPLY as WithMaxPendingRequests allows.
	ErrTooManyRequests = errors.New("rt2rt: too many pending requests")
	// ErrTooManyLinks: a join was refused because the node has as many
	// links as WithMaxLinks allows.
	ErrTooManyLinks = errors.New("rt2rt: too many links")
	// ErrJoinRateLimited: a connection was refused because its host
	// connects faster than WithJoinRateLimit allows.
	ErrJoinRateLimited = errors.New("rt2rt: join rate limit exceeded")
	// ErrPeerCutOff: a link was closed because its peer sent more invalid
	// frames than WithBadFrameLimit allows.
	ErrPeerCutOff = errors.New("rt2rt: peer cut off after too many invalid frames")
)

// PeerError reports a failed operation towards one peer node.
type PeerError struct {
	Op      string // "request", "send", "reply", "join"
	Peer    string // target node id
	MsgUUID string // request id, when there is one
	Err     error
}

func (e *PeerError) Error() string {
	if e.MsgUUID != "" {
		return fmt.Sprintf("rt2rt: %s to %s (msg %s): %v", e.Op, e.Peer, e.MsgUUID, e.Err)
	}
	return fmt.Sprintf("rt2rt: %s to %s: %v", e.Op, e.Peer, e.Err)
}

func (e *PeerError) Unwrap() error { return e.Err }

// JoinError reports a failed handshake with the URI dialled.
type JoinError struct {
	URI  string
	Peer string // peer id when the reply named one
	Err  error
}

func (e *JoinError) Error() string {
	if e.Peer != "" {
		return fmt.Sprintf("rt2rt: join %s (peer %s): %v", e.URI, e.Peer, e.Err)
	}
	return fmt.Sprintf("rt2rt: join %s: %v", e.URI, e.Err)
}

func (e *JoinError) Unwrap() error { return e.Err }
