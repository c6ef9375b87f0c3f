package token

import (
	"errors"
	"fmt"
)

// Sentinel errors. Functions wrap them with %w and the failing id or field.
var (
	// ErrMalformedToken: an encoded token is not a {type, data} map.
	ErrMalformedToken = errors.New("token: malformed token")
	// ErrQueueFull: the FIFO has no free slot (the slowest reader is N-1 behind).
	ErrQueueFull = errors.New("token: queue full")
	// ErrQueueEmpty: the reader has no token left to peek.
	ErrQueueEmpty = errors.New("token: queue empty")
	// ErrUnknownReader: the reader id is not a reader of the FIFO.
	ErrUnknownReader = errors.New("token: unknown reader")
	// ErrBadPosition: a commit or rewind position lies outside the reader's range.
	ErrBadPosition = errors.New("token: position out of range")
	// ErrBadQueueState: an imported queue state violates the layout of spec §7.6/§10.3.
	ErrBadQueueState = errors.New("token: bad queue state")
	// ErrBadQueueLength: a queue length below 1.
	ErrBadQueueLength = errors.New("token: queue length must be at least 1")
	// ErrClosed: the Flow has been closed.
	ErrClosed = errors.New("token: flow closed")
	// ErrDuplicateEndpoint: a sender or receiver for the same port pair already exists.
	ErrDuplicateEndpoint = errors.New("token: endpoint already registered")
	// ErrUnknownEndpoint: no sender or receiver is registered for the port pair.
	ErrUnknownEndpoint = errors.New("token: unknown endpoint")
	// ErrBadFrame: a TOKEN or TOKEN_REPLY that cannot be handled (missing ids,
	// negative or oversized sequence number, unknown reply value, wrong type).
	ErrBadFrame = errors.New("token: bad token frame")
)

// StateError reports which field of an imported queue state is wrong.
type StateError struct {
	Field string // e.g. "read_pos", "fifo"
	Err   error  // wraps ErrBadQueueState
}

func (e *StateError) Error() string { return fmt.Sprintf("queue state field %q: %v", e.Field, e.Err) }

func (e *StateError) Unwrap() error { return e.Err }

func stateErr(field, format string, args ...any) error {
	return &StateError{Field: field, Err: fmt.Errorf("%w: "+format, append([]any{ErrBadQueueState}, args...)...)}
}

// FrameError reports a TOKEN / TOKEN_REPLY that could not be handled, with the
// port ids it carried.
type FrameError struct {
	PortID     string
	PeerPortID string
	Err        error
}

func (e *FrameError) Error() string {
	return fmt.Sprintf("token frame port %q peer %q: %v", e.PortID, e.PeerPortID, e.Err)
}

func (e *FrameError) Unwrap() error { return e.Err }

// More sentinels for the flow.
var (
	// ErrInvalidConfig: a bad option or endpoint configuration.
	ErrInvalidConfig = errors.New("token: invalid configuration")
	// ErrAborted: the peer answered ABORT, its port is not on that node.
	ErrAborted = errors.New("token: peer port aborted the connection")
	// ErrLinkGone: the token tunnel to the peer was destroyed or closed.
	ErrLinkGone = errors.New("token: token tunnel gone")
)
