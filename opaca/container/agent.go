package container

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"reflect"
	"sync"

	"github.com/google/uuid"

	"github.com/meshkit/meshkit/opaca"
)

// ActionHandler runs an action. The result is marshalled to JSON (nil →
// null, a json.RawMessage is sent unchanged). An error is answered with
// 500 and its text, or with the status it carries (opaca.StatusError,
// opaca sentinels).
type ActionHandler func(ctx context.Context, inv *Invocation) (any, error)

// GetStreamHandler produces the bytes of a GET stream; the reader is
// closed afterwards when it is an io.Closer.
type GetStreamHandler func(ctx context.Context, inv *Invocation) (io.Reader, error)

// PostStreamHandler consumes the body of a POST stream.
type PostStreamHandler func(ctx context.Context, inv *Invocation, body io.Reader) error

// MessageHandler receives a direct message or a broadcast. It runs before
// the 200 is sent, so a following request observes its effect.
type MessageHandler func(ctx context.Context, msg opaca.Message) error

// EventHandler receives a platform event (spec §15.7).
type EventHandler func(ctx context.Context, ev opaca.Event)

// Agent is an agent of a container: an id, a type, actions, streams and
// message handlers. Its methods are safe for concurrent use, also while
// the container serves requests.
type Agent struct {
	id, typ, desc string

	mu        sync.RWMutex
	container *Container
	actions   []*action // registration order
	streams   []*stream
	onMessage MessageHandler
	channels  map[string]MessageHandler
	onEvent   map[string]EventHandler
}

type action struct {
	desc    opaca.Action
	handler ActionHandler
	// defaults of optional parameters, filled in before the handler runs
	defaults map[string][]byte
}

type stream struct {
	desc opaca.Stream
	get  GetStreamHandler
	post PostStreamHandler
}

func (a *action) name() string { return a.desc.Name }
func (s *stream) name() string { return s.desc.Name }

// putNamed replaces the elements of list named name with v, or appends v
// when there is none.
func putNamed[T interface{ name() string }](list []T, name string, v T) []T {
	replaced := false
	for i, old := range list {
		if old.name() == name {
			list[i] = v
			replaced = true
		}
	}
	if !replaced {
		list = append(list, v)
	}
	return list
}

// dropNamed removes the first element of list named name (into a new
// backing array, so slices handed out before stay as they were); it reports
// whether there was one.
func dropNamed[T interface{ name() string }](list []T, name string) ([]T, bool) {
	for i, x := range list {
		if x.name() == name {
			return append(list[:i:i], list[i+1:]...), true
		}
	}
	return list, false
}

// AgentOption configures an Agent.
type AgentOption func(*Agent) error

// WithID sets the agent id (default: a random UUID).
func WithID(id string) AgentOption {
	return func(a *Agent) error {
		if id == "" {
			return errors.New("container: empty agent id")
		}
		a.id = id
		return nil
	}
}

// WithType sets the agent type.
func WithType(t string) AgentOption {
	return func(a *Agent) error { a.typ = t; return nil }
}

// WithTypeOf sets the agent type to the Go type name of v
// ("package.Type"), the SDK's counterpart of the Python class name.
func WithTypeOf(v any) AgentOption {
	return func(a *Agent) error {
		t := reflect.TypeOf(v)
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t == nil || t.Name() == "" {
			return errors.New("container: WithTypeOf needs a named type")
		}
		a.typ = t.String()
		return nil
	}
}

// WithDescription sets the agent description.
func WithDescription(d string) AgentOption {
	return func(a *Agent) error { a.desc = d; return nil }
}

// NewAgent returns an agent; without options it has a random UUID as id
// and the type "container.Agent".
func NewAgent(opts ...AgentOption) (*Agent, error) {
	a := &Agent{typ: "container.Agent", channels: map[string]MessageHandler{}, onEvent: map[string]EventHandler{}}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("container: nil agent option")
		}
		if err := o(a); err != nil {
			return nil, err
		}
	}
	if a.id == "" {
		a.id = uuid.NewString()
	}
	return a, nil
}

// ID returns the agent id.
func (a *Agent) ID() string { return a.id }

// Type returns the agent type.
func (a *Agent) Type() string { return a.typ }

// Container returns the container the agent belongs to, or nil.
func (a *Agent) Container() *Container {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.container
}

// ActionOption declares details of an action.
type ActionOption func(*opaca.Action) error

// Description sets the action description.
func Description(d string) ActionOption {
	return func(a *opaca.Action) error { a.Description = d; return nil }
}

// Param declares a parameter.
func Param(name string, p opaca.Parameter) ActionOption {
	return func(a *opaca.Action) error {
		if name == "" {
			return errors.New("container: empty parameter name")
		}
		if err := p.Check(); err != nil {
			return fmt.Errorf("container: parameter %q: %w", name, err)
		}
		if a.Parameters == nil {
			a.Parameters = map[string]opaca.Parameter{}
		}
		a.Parameters[name] = p
		return nil
	}
}

// Result declares the result; without it the action has no result.
func Result(p opaca.Parameter) ActionOption {
	return func(a *opaca.Action) error {
		if err := p.Check(); err != nil {
			return fmt.Errorf("container: result: %w", err)
		}
		a.Result = &p
		return nil
	}
}

// AddAction adds (or replaces) an action with declared parameters.
func (a *Agent) AddAction(name string, h ActionHandler, opts ...ActionOption) error {
	return a.AddActionWith(name, h, nil, opts...)
}

// AddActionWith is AddAction with change options (e.g. WithoutNotify).
func (a *Agent) AddActionWith(name string, h ActionHandler, chg []ChangeOption, opts ...ActionOption) error {
	if name == "" {
		return errors.New("container: empty action name")
	}
	if h == nil {
		return fmt.Errorf("container: action %q: nil handler", name)
	}
	act := &action{desc: opaca.Action{Name: name, Parameters: map[string]opaca.Parameter{}}, handler: h}
	for _, o := range opts {
		if o == nil {
			return fmt.Errorf("container: action %q: nil option", name)
		}
		if err := o(&act.desc); err != nil {
			return fmt.Errorf("container: action %q: %w", name, err)
		}
	}
	for pname, p := range act.desc.Parameters {
		if !p.IsRequired() && p.HasDefault() {
			if act.defaults == nil {
				act.defaults = map[string][]byte{}
			}
			act.defaults[pname] = p.DefaultValue
		}
	}
	a.mu.Lock()
	a.actions = putNamed(a.actions, name, act)
	c := a.container
	a.mu.Unlock()
	c.changed(chg)
	return nil
}

// RemoveAction removes an action; it reports whether it existed.
func (a *Agent) RemoveAction(name string, opts ...ChangeOption) bool {
	a.mu.Lock()
	var found bool
	a.actions, found = dropNamed(a.actions, name)
	c := a.container
	a.mu.Unlock()
	if found {
		c.changed(opts)
	}
	return found
}

// AddGetStream adds (or replaces) a GET stream.
func (a *Agent) AddGetStream(name, description string, h GetStreamHandler, opts ...ChangeOption) error {
	if h == nil {
		return fmt.Errorf("container: stream %q: nil handler", name)
	}
	return a.addStream(&stream{desc: opaca.Stream{Name: name, Mode: opaca.StreamGET, Description: description}, get: h}, opts)
}

// AddPostStream adds (or replaces) a POST stream.
func (a *Agent) AddPostStream(name, description string, h PostStreamHandler, opts ...ChangeOption) error {
	if h == nil {
		return fmt.Errorf("container: stream %q: nil handler", name)
	}
	return a.addStream(&stream{desc: opaca.Stream{Name: name, Mode: opaca.StreamPOST, Description: description}, post: h}, opts)
}

func (a *Agent) addStream(s *stream, opts []ChangeOption) error {
	if s.desc.Name == "" {
		return errors.New("container: empty stream name")
	}
	a.mu.Lock()
	a.streams = putNamed(a.streams, s.desc.Name, s)
	c := a.container
	a.mu.Unlock()
	c.changed(opts)
	return nil
}

// RemoveStream removes a stream; it reports whether it existed.
func (a *Agent) RemoveStream(name string, opts ...ChangeOption) bool {
	a.mu.Lock()
	var found bool
	a.streams, found = dropNamed(a.streams, name)
	c := a.container
	a.mu.Unlock()
	if found {
		c.changed(opts)
	}
	return found
}

// OnMessage sets the handler of direct messages (nil: messages are
// accepted and dropped).
func (a *Agent) OnMessage(h MessageHandler) {
	a.mu.Lock()
	a.onMessage = h
	a.mu.Unlock()
}

// Subscribe makes the agent listen on a broadcast channel.
func (a *Agent) Subscribe(channel string, h MessageHandler) error {
	if h == nil {
		return fmt.Errorf("container: channel %q: nil handler", channel)
	}
	a.mu.Lock()
	a.channels[channel] = h
	a.mu.Unlock()
	return nil
}

// Unsubscribe stops listening on a channel.
func (a *Agent) Unsubscribe(channel string) {
	a.mu.Lock()
	delete(a.channels, channel)
	a.mu.Unlock()
}

// OnEvent registers a handler for platform events of invocations of the
// named action (needs WithEventSubscription on the container).
func (a *Agent) OnEvent(actionName string, h EventHandler) {
	a.mu.Lock()
	if h == nil {
		delete(a.onEvent, actionName)
	} else {
		a.onEvent[actionName] = h
	}
	a.mu.Unlock()
}

// Description returns the agent's self-description (spec §3.5).
func (a *Agent) Description() opaca.AgentDescription {
	a.mu.RLock()
	defer a.mu.RUnlock()
	d := opaca.AgentDescription{
		AgentID: a.id, AgentType: a.typ, Description: a.desc,
		Actions: make([]opaca.Action, len(a.actions)),
		Streams: make([]opaca.Stream, len(a.streams)),
	}
	for i, act := range a.actions {
		d.Actions[i] = act.desc
		// callers own what they get: copy the shared parameter map
		d.Actions[i].Parameters = maps.Clone(act.desc.Parameters)
	}
	for i, s := range a.streams {
		d.Streams[i] = s.desc
	}
	return d
}

func (a *Agent) findAction(name string) *action {
	a.mu.RLock()
	defer a.mu.RUnlock()
	for _, act := range a.actions {
		if act.desc.Name == name {
			return act
		}
	}
	return nil
}

func (a *Agent) findStream(name string) *stream {
	a.mu.RLock()
	defer a.mu.RUnlock()
	for _, s := range a.streams {
		if s.desc.Name == name {
			return s
		}
	}
	return nil
}

func (a *Agent) channelHandler(channel string) MessageHandler {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.channels[channel]
}

func (a *Agent) messageHandler() MessageHandler {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.onMessage
}

func (a *Agent) eventHandler(actionName string) EventHandler {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.onEvent[actionName]
}

// Platform returns the agent's access to the platform; messages it sends
// carry the agent's id as replyTo.
func (a *Agent) Platform() *Outbound {
	return &Outbound{container: a.Container(), from: a.id}
}
