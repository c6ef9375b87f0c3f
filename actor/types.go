package actor

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync"

	"github.com/meshkit/meshkit/token"
)

// Actor is what a user writes: a set of guarded actions over declared ports.
// Everything else is optional and discovered through the interfaces below
// (Initializer, Stateful, Setupper, Teardowner, Reporter).
//
// The runtime never calls an actor from two goroutines at once, so an actor
// needs no locking of its own.
type Actor interface {
	// Actions lists the actions in priority order. It is called once per
	// instance, after Init or Restore; the list must not change afterwards.
	Actions() []Action
}

// Action is one guarded firing rule. It fires when Guard holds, every port in
// In has a token and every port in Out has room. A firing consumes exactly one
// token per input and produces exactly one per output.
type Action struct {
	Name string
	In   []string // inport names read, in the order of the in slice
	Out  []string // outport names written, in the order of the out slice
	// Guard looks at the next token of every input (not consumed yet) and at
	// the actor's own state. Nil means always.
	Guard func(c *Context, in []token.Token) bool
	// Fire consumes in and sets out[i] for each outport. An error counts as a
	// failed firing, as in Calvin: the inputs are consumed, nothing is
	// produced, the error is logged. Exception tokens reach Fire like any
	// other token; the action decides what to do with them.
	Fire func(c *Context, in []token.Token, out []token.Token) error
}

// Initializer is implemented by actors that take creation arguments. Init
// runs once, when the actor is created (never after a migration); args hold
// the optional defaults merged with the given arguments.
type Initializer interface {
	Init(c *Context, args map[string]any) error
}

// Stateful is implemented by actors with managed attributes: the state that
// survives migration, exported under Calvin's attribute names (spec chapter
// 11). Restore runs instead of Init when an actor arrives; it receives the
// managed map of the state (missing attributes are absent, nulls are nil).
type Stateful interface {
	Managed() map[string]any
	Restore(c *Context, managed map[string]any) error
}

// Setupper is implemented by actors with resources that cannot migrate (open
// files, clients, derived loggers). Setup runs after Init on creation and
// after Restore on arrival, so a migrated actor gets its resources back.
// System objects opened through the Context (timers, stdout) are restored by
// the runtime itself and need no Setup.
type Setupper interface {
	Setup(c *Context) error
}

// Teardowner is implemented by actors that must release resources. Teardown
// runs when the actor is deleted and when it leaves this node by migration.
type Teardowner interface {
	Teardown(c *Context)
}

// Reporter is implemented by actors with a report function (GET/POST
// /actor/{id}/report). Return an error wrapping ErrNoReport for arguments
// the report does not accept.
type Reporter interface {
	Report(c *Context, args map[string]any) (any, error)
}

// Type describes an actor type: its Calvin type name, ports, arguments,
// required capabilities and a factory for fresh instances.
type Type struct {
	Name      string         // e.g. "std.Identity"
	Inports   []string       // declared inport names
	Outports  []string       // declared outport names
	Mandatory []string       // mandatory argument names
	Optional  map[string]any // optional arguments with their defaults
	Requires  []string       // capabilities, e.g. "sys.timer.once"
	// PortProperties gives non-default properties per port name (e.g.
	// {"routing": "collect-unordered"}); merged over the direction defaults.
	PortProperties map[string]map[string]any
	New            func() Actor
}

func (t *Type) validate() error {
	if t.Name == "" {
		return fmt.Errorf("%w: empty name", ErrInvalidType)
	}
	if t.New == nil {
		return fmt.Errorf("%w: %q has no factory", ErrInvalidType, t.Name)
	}
	seen := map[string]bool{}
	for _, p := range t.Inports {
		if p == "" || seen["in:"+p] {
			return fmt.Errorf("%w: %q: empty or duplicate inport %q", ErrInvalidType, t.Name, p)
		}
		seen["in:"+p] = true
	}
	for _, p := range t.Outports {
		if p == "" || seen["out:"+p] {
			return fmt.Errorf("%w: %q: empty or duplicate outport %q", ErrInvalidType, t.Name, p)
		}
		seen["out:"+p] = true
	}
	for _, a := range t.Mandatory {
		if a == "name" {
			return fmt.Errorf("%w: %q: argument \"name\" is reserved", ErrInvalidType, t.Name)
		}
	}
	if _, ok := t.Optional["name"]; ok {
		return fmt.Errorf("%w: %q: argument \"name\" is reserved", ErrInvalidType, t.Name)
	}
	return nil
}

// Signature is the lowercase hex SHA-256 of the compact, key-sorted JSON
// {"actor_type", "inports", "outports"} with sorted port names (spec §11.2).
func (t *Type) Signature() string {
	in := slices.Clone(t.Inports)
	out := slices.Clone(t.Outports)
	sort.Strings(in)
	sort.Strings(out)
	if in == nil {
		in = []string{}
	}
	if out == nil {
		out = []string{}
	}
	// encoding/json sorts map keys and writes no spaces: exactly Calvin's form.
	b, _ := json.Marshal(map[string]any{"actor_type": t.Name, "inports": in, "outports": out})
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Descriptor returns the type descriptor Calvin publishes in the registry
// (`actor_type-…`): args.mandatory, args.optional, requires, signature.
func (t *Type) Descriptor() map[string]any {
	mand := make([]any, len(t.Mandatory))
	for i, m := range t.Mandatory {
		mand[i] = m
	}
	opt := make(map[string]any, len(t.Optional))
	for k, v := range t.Optional {
		opt[k] = v
	}
	req := make([]any, len(t.Requires))
	for i, r := range t.Requires {
		req[i] = r
	}
	return map[string]any{
		"args":      map[string]any{"mandatory": mand, "optional": opt},
		"requires":  req,
		"signature": t.Signature(),
	}
}

// Args validates creation arguments against the type and returns them merged
// over the optional defaults. "name" is reserved and removed.
func (t *Type) Args(given map[string]any) (map[string]any, error) {
	out := make(map[string]any, len(t.Optional)+len(given))
	for k, v := range t.Optional {
		out[k] = v
	}
	for k, v := range given {
		if k == "name" {
			continue
		}
		if _, ok := t.Optional[k]; !ok && !slices.Contains(t.Mandatory, k) {
			return nil, fmt.Errorf("%w: %q does not take argument %q", ErrBadArgument, t.Name, k)
		}
		out[k] = v
	}
	for _, m := range t.Mandatory {
		if _, ok := given[m]; !ok {
			return nil, fmt.Errorf("%w: %q needs argument %q", ErrBadArgument, t.Name, m)
		}
	}
	return out, nil
}

// Registry maps type names to actor types. It is safe for concurrent use.
type Registry struct {
	mu    sync.RWMutex
	types map[string]*Type
}

// NewRegistry returns a registry holding the given types.
func NewRegistry(types ...Type) (*Registry, error) {
	r := &Registry{types: map[string]*Type{}}
	for _, t := range types {
		if err := r.Register(t); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Register adds a type; a name can be registered once.
func (r *Registry) Register(t Type) error {
	if err := t.validate(); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.types == nil {
		r.types = map[string]*Type{}
	}
	if _, ok := r.types[t.Name]; ok {
		return fmt.Errorf("%w: %q", ErrDuplicateType, t.Name)
	}
	tc := t
	r.types[t.Name] = &tc
	return nil
}

// Lookup returns the type registered under name.
func (r *Registry) Lookup(name string) (*Type, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	t, ok := r.types[name]
	return t, ok
}

// Names returns the registered type names, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.types))
	for n := range r.types {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
