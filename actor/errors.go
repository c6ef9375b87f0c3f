package actor

import (
	"errors"
	"fmt"
)

// Sentinel errors. Functions wrap them with %w together with the failing id.
var (
	// ErrUnknownType: no factory is registered under the type name.
	ErrUnknownType = errors.New("actor: unknown actor type")
	// ErrDuplicateType: a type name is registered twice.
	ErrDuplicateType = errors.New("actor: actor type already registered")
	// ErrInvalidType: a type description is incomplete or inconsistent.
	ErrInvalidType = errors.New("actor: invalid actor type")
	// ErrBadArgument: a creation argument is unknown, missing or of the wrong kind.
	ErrBadArgument = errors.New("actor: bad argument")
	// ErrMissingCapability: the runtime lacks a capability the type requires.
	ErrMissingCapability = errors.New("actor: missing capability")
	// ErrUnknownActor: no actor with that id lives on this runtime.
	ErrUnknownActor = errors.New("actor: unknown actor")
	// ErrDuplicateActor: an actor with that id already lives on this runtime.
	ErrDuplicateActor = errors.New("actor: actor already exists")
	// ErrUnknownPort: no port with that id or name.
	ErrUnknownPort = errors.New("actor: unknown port")
	// ErrBadConnection: the two ports cannot be connected (direction, self, routing).
	ErrBadConnection = errors.New("actor: bad connection")
	// ErrNotConnected: the ports are not connected to each other.
	ErrNotConnected = errors.New("actor: ports not connected")
	// ErrNoReport: the actor type has no report function or rejects the arguments.
	ErrNoReport = errors.New("actor: no report")
	// ErrBadState: an imported actor state violates the layout of spec chapter 10.
	ErrBadState = errors.New("actor: bad actor state")
	// ErrUnknownApp: no application with that id.
	ErrUnknownApp = errors.New("actor: unknown application")
	// ErrShadow: the operation needs a real actor but the actor is a shadow.
	ErrShadow = errors.New("actor: shadow actor")
	// ErrMigrating: the actor is being migrated.
	ErrMigrating = errors.New("actor: actor is migrating")
	// ErrMigrationFailed: the destination did not take the actor; it was restored here.
	ErrMigrationFailed = errors.New("actor: migration failed")
	// ErrClosed: the runtime has been closed.
	ErrClosed = errors.New("actor: runtime closed")
	// ErrSysObject: a system object (timer, stdout) cannot be opened or used.
	ErrSysObject = errors.New("actor: system object")
	// ErrTooManyActors: the runtime hosts as many actors as WithMaxActors
	// allows (an ACTOR_NEW over the limit is answered 503).
	ErrTooManyActors = errors.New("actor: too many actors")
	// ErrTooManyConnections: the port has as many connections as
	// WithMaxPortConnections allows (a PORT_CONNECT over it is answered 503).
	ErrTooManyConnections = errors.New("actor: too many connections on port")
	// ErrBadOption: an option given to a constructor is invalid.
	ErrBadOption = errors.New("actor: bad option")
)

// ActorError ties an error to the actor it concerns.
type ActorError struct {
	ActorID string
	Op      string // e.g. "create", "import", "report"
	Err     error
}

func (e *ActorError) Error() string {
	return fmt.Sprintf("actor %s %q: %v", e.Op, e.ActorID, e.Err)
}

func (e *ActorError) Unwrap() error { return e.Err }

// StateError reports which part of an imported actor state is wrong.
type StateError struct {
	Path string // e.g. "private.inports.token.queue"
	Err  error  // wraps ErrBadState (and possibly a token queue error)
}

func (e *StateError) Error() string { return fmt.Sprintf("actor state %s: %v", e.Path, e.Err) }

func (e *StateError) Unwrap() error { return e.Err }

func stateErr(path, format string, args ...any) error {
	return &StateError{Path: path, Err: fmt.Errorf("%w: "+format, append([]any{ErrBadState}, args...)...)}
}
