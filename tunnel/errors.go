package tunnel

import (
	"errors"
	"fmt"
)

// Sentinel errors. Returned errors wrap them (errors.Is), usually inside a
// *SetupError or *Error naming the peer, type and tunnel id.
var (
	// ErrClosed: the manager was closed.
	ErrClosed = errors.New("tunnel: manager closed")
	// ErrDraining: the manager is shutting down and takes no new tunnels.
	ErrDraining = errors.New("tunnel: manager shutting down")
	// ErrUnknownType: no handler is registered for the tunnel type.
	ErrUnknownType = errors.New("tunnel: unknown tunnel type")
	// ErrTypeRegistered: RegisterType was called twice for one type.
	ErrTypeRegistered = errors.New("tunnel: tunnel type already registered")
	// ErrSetupFailed: the peer refused the TUNNEL_NEW or never answered it.
	ErrSetupFailed = errors.New("tunnel: set-up failed")
	// ErrTerminated: the tunnel was destroyed, failed or its manager closed.
	ErrTerminated = errors.New("tunnel: tunnel terminated")
	// ErrDestroyed: the tunnel was destroyed by TUNNEL_DESTROY (a Down reason).
	ErrDestroyed = errors.New("tunnel: tunnel destroyed")
	// ErrLinkLost: the link to the peer went down (a Down reason; the tunnel
	// keeps its id and comes up again when the peer is linked again).
	ErrLinkLost = errors.New("tunnel: link to peer lost")
	// ErrQueueFull: too many values are waiting for the tunnel to come up.
	ErrQueueFull = errors.New("tunnel: send queue full")
	// ErrRefused: the type handler refused an incoming tunnel.
	ErrRefused = errors.New("tunnel: tunnel refused")
	// ErrTooManyTunnels: the peer or the manager has as many tunnels as
	// WithMaxTunnels allows.
	ErrTooManyTunnels = errors.New("tunnel: too many tunnels")
	// ErrInvalidOption: an option given to NewManager is invalid.
	ErrInvalidOption = errors.New("tunnel: invalid option")
)

// Error reports a failed operation on one tunnel.
type Error struct {
	Op       string // "send", "open", "destroy"
	Peer     string
	Type     string
	TunnelID string
	Err      error
}

func (e *Error) Error() string {
	return fmt.Sprintf("tunnel: %s %s tunnel %s to %s: %v", e.Op, e.Type, e.TunnelID, e.Peer, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// SetupError reports a TUNNEL_NEW that did not bring the tunnel up: the peer
// answered with a non-success Status, or the request failed (Err, with
// Status 0). It matches ErrSetupFailed as well as Err.
type SetupError struct {
	Peer     string
	Type     string
	TunnelID string
	Status   int   // the peer's status; 0 when there was no reply
	Err      error // the request error (timeout, link down); nil when Status is set
}

func (e *SetupError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("tunnel: set-up of %s tunnel %s to %s: peer answered %d", e.Type, e.TunnelID, e.Peer, e.Status)
	}
	return fmt.Sprintf("tunnel: set-up of %s tunnel %s to %s: %v", e.Type, e.TunnelID, e.Peer, e.Err)
}

// Unwrap lets errors.Is match ErrSetupFailed and the underlying cause.
func (e *SetupError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrSetupFailed, e.Err}
	}
	return []error{ErrSetupFailed}
}
