package container

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/meshkit/meshkit/opaca"
)

// Invocation is one call of an action or stream.
type Invocation struct {
	// Action is the action or stream name.
	Action string
	// Agent is the agent that runs it.
	Agent *Agent
	// Args are the arguments, parameter name → JSON value, with the
	// defaults of absent optional parameters filled in. Nil for streams.
	Args map[string]json.RawMessage
	// LoginToken is the ContainerLoginToken of the request (quotes
	// stripped), "" when absent.
	LoginToken string
	// Login is the value the login handler associated with LoginToken, nil
	// when the token is absent or unknown.
	Login any

	// body is the request body when Args holds exactly its members (no
	// defaults added), so Bind can decode it directly.
	body []byte
}

type invocationKey struct{}

// InvocationFrom returns the invocation an action's context belongs to.
func InvocationFrom(ctx context.Context) (*Invocation, bool) {
	inv, ok := ctx.Value(invocationKey{}).(*Invocation)
	return inv, ok
}

// Has reports whether the argument is present and not null.
func (inv *Invocation) Has(name string) bool {
	raw, ok := inv.Args[name]
	return ok && !bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

// Decode decodes one argument into v. A missing argument leaves v
// unchanged; a value that does not fit v is an *opaca.ArgumentError (400).
func (inv *Invocation) Decode(name string, v any) error {
	raw, ok := inv.Args[name]
	if !ok {
		return nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return &opaca.ArgumentError{Argument: name, Reason: fmt.Sprintf("cannot decode into %T: %v", v, err)}
	}
	return nil
}

// Bind decodes all arguments into the struct pointed to by v, matching
// argument names to the fields' JSON names.
func (inv *Invocation) Bind(v any) error {
	b := inv.body
	if b == nil {
		var err error
		if b, err = json.Marshal(inv.Args); err != nil {
			return err
		}
	}
	if err := json.Unmarshal(b, v); err != nil {
		return argumentError(err)
	}
	return nil
}

// Arg decodes one argument into a T.
func Arg[T any](inv *Invocation, name string) (T, error) {
	var v T
	err := inv.Decode(name, &v)
	return v, err
}

func argumentError(err error) error {
	if te, ok := err.(*json.UnmarshalTypeError); ok {
		return &opaca.ArgumentError{Argument: te.Field, Reason: fmt.Sprintf("cannot decode %s into %s", te.Value, te.Type)}
	}
	return &opaca.ArgumentError{Reason: err.Error()}
}
