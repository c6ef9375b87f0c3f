// Package bridgeagent is an OPACA agent that fronts a Calvin node, so that
// any OPACA client can drive a Calvin mesh through a Runtime Platform.
//
// Its actions (all invoked with a JSON object, spec OPACA §4):
//
//	Nodes                                 this node and its linked peers
//	Actors                                the actors on this node with their ports
//	CreateActor {type, name?, args?}      create an actor here; returns its id
//	DeleteActor {actor}                   delete a local actor
//	Connect {actor, port, peer_actor?, peer_port?, peer_node?, peer_port_id?}
//	                                      connect a local port to a local one
//	                                      (peer_actor, peer_port) or to a port on
//	                                      another node (peer_node, peer_port_id)
//	Migrate {actor, node}                 migrate a local actor to a linked node
//	Report {actor, args?}                 the actor's report (e.g. test.Sink's tokens)
//	Inject {actor, port, token}           put a token into a free inport
//	Watch {actor, port}                   send the tokens arriving at a port to the
//	                                      GET stream "Tokens"
//
// The GET stream "Tokens" writes one JSON line per token arriving at a
// watched port after the stream was opened, {"actor", "port", "token"},
// preceded by a first line {"watching": [...]} naming the watched ports.
// That first line also makes the response start at once: the container and
// the platform send the response headers only with the first bytes.
//
// Errors carry their HTTP status: an unknown actor, port, type or node
// answers 404, bad arguments 400, a port that cannot take what is asked
// (an inport that already has a writer) 409. Through a platform the
// invocation answers 502 with the action's error, status included, as its
// cause (OPACA ErrorResponse); arguments that do not match the declared
// parameters get the platform's own 400.
//
// Inject and Watch use two helper actor types the agent registers in the
// runtime's type registry: bridge.Inject, an actor whose outport feeds the
// inport and emits what Inject hands it, and bridge.Tap, an actor connected
// as one more reader of the watched outport (for an inport: of the outport
// that writes to it) that hands every token to the stream. They are
// ordinary actors, so the watched actor can migrate while it is watched.
// A stream reader that falls more than StreamBuffer tokens behind loses
// tokens rather than slowing the dataflow down.
package bridgeagent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/container"
	"github.com/meshkit/meshkit/opaca/platform"
	"github.com/meshkit/meshkit/rt2rt"
	"github.com/meshkit/meshkit/token"
)

// Names of the image, the stream and the helper actor types.
const (
	ImageName  = "meshkit-bridge"
	StreamName = "Tokens"
	InjectType = "bridge.Inject"
	TapType    = "bridge.Tap"
	// StreamBuffer is how many tokens a stream reader may lag behind.
	StreamBuffer = 1024
)

// Node is the part of the rt2rt node the agent uses; *rt2rt.Node
// implements it.
type Node interface {
	ID() string
	URIs() []string
	Peers() []rt2rt.PeerInfo
}

// Bridge is the agent with its access to the Calvin node.
type Bridge struct {
	agent *container.Agent
	node  Node
	rt    *actor.Runtime
	net   *actor.Network

	// mu guards the helpers; it is held while the runtime creates and
	// connects them.
	mu        sync.Mutex
	injectors map[string]injection // by inport id
	watches   []watch
	closed    bool

	// smu guards the open streams; taps take it while they fire, so it is
	// never held across a call into the runtime.
	smu  sync.Mutex
	subs map[chan Arrival]struct{} // nil once closed
}

// injection is a bridge.Inject actor feeding an inport of actor.
type injection struct{ actor, helper string }

// watch is a bridge.Tap actor reading the outport (of outActor) whose
// tokens arrive at the watched port.
type watch struct {
	ref               PortRef
	outport, outActor string
	tap               string
}

// PortRef names a port by actor id and port name.
type PortRef struct {
	Actor string `json:"actor"`
	Port  string `json:"port"`
}

// Arrival is one line of the stream: a token arriving at a watched port.
type Arrival struct {
	PortRef
	Token any `json:"token"`
}

// New returns the bridge agent of the node whose actors live in rt and
// move through nw. It registers the helper actor types in rt's registry,
// so one runtime hosts at most one bridge.
func New(node Node, rt *actor.Runtime, nw *actor.Network, opts ...container.AgentOption) (*Bridge, error) {
	b := &Bridge{node: node, rt: rt, net: nw, injectors: map[string]injection{},
		subs: map[chan Arrival]struct{}{}}
	if err := rt.Registry().Register(actor.Type{Name: InjectType, Outports: []string{"token"},
		Optional: map[string]any{}, New: func() actor.Actor { return &injector{} }}); err != nil {
		return nil, err
	}
	if err := rt.Registry().Register(actor.Type{Name: TapType, Inports: []string{"token"},
		Optional: map[string]any{"actor": "", "port": ""}, New: func() actor.Actor { return &tap{b: b} }}); err != nil {
		return nil, err
	}
	a, err := container.NewAgent(append([]container.AgentOption{container.WithType("meshkit.CalvinBridge"),
		container.WithDescription("drives the Calvin node " + node.ID())}, opts...)...)
	if err != nil {
		return nil, err
	}
	b.agent = a
	err = errors.Join(
		container.AddFunc(a, "Nodes", b.nodes, container.Description("this Calvin node and its linked peers")),
		container.AddFunc(a, "Actors", b.actors, container.Description("the actors on this node with their ports")),
		container.AddFunc(a, "CreateActor", b.createActor, container.Description("create an actor on this node; returns its id")),
		container.AddFunc(a, "DeleteActor", b.deleteActor, container.Description("delete an actor of this node")),
		container.AddFunc(a, "Connect", b.connect, container.Description("connect a port of a local actor to a local or remote port")),
		container.AddFunc(a, "Migrate", b.migrate, container.Description("migrate a local actor to a linked node")),
		container.AddFunc(a, "Report", b.report, container.Description("an actor's report")),
		container.AddFunc(a, "Inject", b.inject, container.Description("put a token into a free inport")),
		container.AddFunc(a, "Watch", b.watch, container.Description("send the tokens arriving at a port to the stream "+StreamName)),
		a.AddGetStream(StreamName, "tokens arriving at the watched ports, one JSON line each", b.stream),
	)
	if err != nil {
		return nil, err
	}
	return b, nil
}

// Agent returns the OPACA agent.
func (b *Bridge) Agent() *container.Agent { return b.agent }

// Image describes the bridge's container image. The custom type Token
// accepts any JSON value.
func Image() opaca.AgentContainerImage {
	return opaca.AgentContainerImage{ImageName: ImageName, Name: "Calvin bridge",
		Description: "an agent driving a Calvin node", Provider: "meshkit",
		Definitions: map[string]json.RawMessage{"Token": json.RawMessage(`{}`)}}
}

// Factory hosts the bridge in a platform's in-process container of Image
// (platform.WithInProcessImage(ImageName, b.Factory(log))). An agent
// belongs to one container: the factory serves one container start.
func (b *Bridge) Factory(log *slog.Logger) platform.InProcessFactory {
	return func(env map[string]string) (platform.InProcessContainer, error) {
		c, err := container.New(Image(), container.WithEnv(env), container.WithLogger(log))
		if err != nil {
			return nil, err
		}
		// the platform reads the agents from /info once the container serves
		if err := c.AddAgent(b.agent, container.WithoutNotify()); err != nil {
			return nil, errors.Join(err, c.Close())
		}
		return c, nil
	}
}

// Close ends the open streams and deletes the helper actors. It does not
// touch the node. Safe twice.
func (b *Bridge) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	helpers := b.helpersOf(func(string) bool { return true })
	b.mu.Unlock()
	b.smu.Lock()
	for ch := range b.subs {
		close(ch)
	}
	b.subs = nil
	b.smu.Unlock()
	var errs []error
	for _, id := range helpers {
		if err := b.rt.DeleteActor(context.Background(), id); err != nil && !errors.Is(err, actor.ErrUnknownActor) &&
			!errors.Is(err, actor.ErrClosed) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ---- actions

// NodeInfo is the answer of Nodes.
type NodeInfo struct {
	ID    string     `json:"id"`
	URIs  []string   `json:"uris"`
	Peers []PeerInfo `json:"peers"`
}

// PeerInfo is one linked peer.
type PeerInfo struct {
	ID  string `json:"id"`
	URI string `json:"uri"`
	Via string `json:"via,omitempty"`
}

func (b *Bridge) nodes(context.Context, struct{}) (NodeInfo, error) {
	n := NodeInfo{ID: b.node.ID(), URIs: b.node.URIs(), Peers: []PeerInfo{}}
	for _, p := range b.node.Peers() {
		n.Peers = append(n.Peers, PeerInfo{ID: p.ID, URI: p.URI, Via: p.Via})
	}
	return n, nil
}

// ActorInfo describes one actor in the answer of Actors.
type ActorInfo struct {
	ID       string     `json:"id"`
	Name     string     `json:"name"`
	Type     string     `json:"type"`
	Inports  []PortInfo `json:"inports"`
	Outports []PortInfo `json:"outports"`
}

// PortInfo describes one port: its id and the ids of its peer ports.
type PortInfo struct {
	Name  string   `json:"name"`
	ID    string   `json:"id"`
	Peers []string `json:"peers"`
}

func (b *Bridge) actors(context.Context, struct{}) ([]ActorInfo, error) {
	out := []ActorInfo{}
	for _, id := range b.rt.ActorIDs() {
		if info, ok := b.rt.Actor(id); ok {
			out = append(out, actorInfo(info))
		}
	}
	return out, nil
}

func actorInfo(info actor.Info) ActorInfo {
	ports := func(ps []actor.PortInfo) []PortInfo {
		out := []PortInfo{}
		for _, p := range ps {
			out = append(out, PortInfo{Name: p.Name, ID: p.ID, Peers: append([]string{}, p.Peers...)})
		}
		return out
	}
	return ActorInfo{ID: info.ID, Name: info.Name, Type: info.Type, Inports: ports(info.Inports), Outports: ports(info.Outports)}
}

// CreateArgs are the arguments of CreateActor.
type CreateArgs struct {
	Type string         `json:"type"`
	Name string         `json:"name" default:"\"\""`
	Args map[string]any `json:"args" opaca:",optional"`
}

// Created is the answer of CreateActor.
type Created struct {
	ID string `json:"id"`
}

func (b *Bridge) createActor(ctx context.Context, a CreateArgs) (Created, error) {
	if a.Type == InjectType || a.Type == TapType {
		return Created{}, opaca.NewError(http.StatusBadRequest, "%s is the bridge's own helper type", a.Type)
	}
	args := map[string]any{}
	for k, v := range a.Args {
		args[k] = v
	}
	if a.Name != "" {
		args["name"] = a.Name
	}
	id, err := b.rt.CreateActor(ctx, a.Type, numbers(args).(map[string]any))
	if err != nil {
		return Created{}, status(err)
	}
	return Created{ID: id}, nil
}

// numbers turns the float64 of whole JSON numbers into int64, which the
// standard actors expect for integer arguments (std.CountTimer's steps).
func numbers(v any) any {
	switch v := v.(type) {
	case float64:
		if v == float64(int64(v)) {
			return int64(v)
		}
	case map[string]any:
		for k, e := range v {
			v[k] = numbers(e)
		}
	case []any:
		for i, e := range v {
			v[i] = numbers(e)
		}
	}
	return v
}

// ActorArg names a local actor.
type ActorArg struct {
	Actor string `json:"actor"`
}

// deleteActor deletes an actor and the helpers that fed or watched it.
func (b *Bridge) deleteActor(ctx context.Context, a ActorArg) (struct{}, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.isHelper(a.Actor) {
		return struct{}{}, opaca.NewError(http.StatusBadRequest, "actor %s is a helper of the bridge", a.Actor)
	}
	if err := b.rt.DeleteActor(ctx, a.Actor); err != nil {
		return struct{}{}, status(err)
	}
	var errs []error
	for _, h := range b.helpersOf(func(id string) bool { return id == a.Actor }) {
		if err := b.rt.DeleteActor(ctx, h); err != nil && !errors.Is(err, actor.ErrUnknownActor) {
			errs = append(errs, err)
		}
	}
	return struct{}{}, errors.Join(errs...)
}

// isHelper reports whether id is one of the bridge's helper actors. b.mu
// is held.
func (b *Bridge) isHelper(id string) bool {
	for _, inj := range b.injectors {
		if inj.helper == id {
			return true
		}
	}
	return slices.ContainsFunc(b.watches, func(w watch) bool { return w.tap == id })
}

// helpersOf removes the helpers of the actors that match and returns their
// ids. b.mu is held.
func (b *Bridge) helpersOf(match func(actorID string) bool) []string {
	var ids []string
	for port, inj := range b.injectors {
		if match(inj.actor) {
			ids = append(ids, inj.helper)
			delete(b.injectors, port)
		}
	}
	b.watches = slices.DeleteFunc(b.watches, func(w watch) bool {
		if match(w.ref.Actor) || match(w.outActor) {
			ids = append(ids, w.tap)
			return true
		}
		return false
	})
	return ids
}

// ConnectArgs are the arguments of Connect: a port of a local actor and
// either a local peer (peer_actor, peer_port) or a remote one (peer_node,
// peer_port_id).
type ConnectArgs struct {
	Actor      string `json:"actor"`
	Port       string `json:"port"`
	PeerActor  string `json:"peer_actor" default:"\"\""`
	PeerPort   string `json:"peer_port" default:"\"\""`
	PeerNode   string `json:"peer_node" default:"\"\""`
	PeerPortID string `json:"peer_port_id" default:"\"\""`
}

func (b *Bridge) connect(ctx context.Context, a ConnectArgs) (struct{}, error) {
	p, err := b.port(a.Actor, a.Port)
	if err != nil {
		return struct{}{}, err
	}
	switch {
	case a.PeerNode != "" && a.PeerNode != b.node.ID():
		if a.PeerPortID == "" {
			return struct{}{}, opaca.NewError(http.StatusBadRequest, "a remote connection needs peer_port_id")
		}
		return struct{}{}, status(b.net.ConnectRemote(ctx, p.ID, a.PeerNode, a.PeerPortID))
	case a.PeerActor == "" || a.PeerPort == "":
		return struct{}{}, opaca.NewError(http.StatusBadRequest, "give peer_actor and peer_port, or peer_node and peer_port_id")
	}
	q, err := b.port(a.PeerActor, a.PeerPort)
	if err != nil {
		return struct{}{}, err
	}
	if p.Direction == actor.In {
		p, q = q, p
	}
	return struct{}{}, status(b.rt.Connect(ctx, p.ID, q.ID))
}

// port finds a port of a local actor by name, in either direction.
func (b *Bridge) port(actorID, name string) (actor.PortInfo, error) {
	info, ok := b.rt.Actor(actorID)
	if !ok {
		return actor.PortInfo{}, opaca.NewError(http.StatusNotFound, "no actor %s on node %s", actorID, b.node.ID())
	}
	for _, p := range slices.Concat(info.Inports, info.Outports) {
		if p.Name == name {
			return p, nil
		}
	}
	return actor.PortInfo{}, opaca.NewError(http.StatusNotFound, "actor %s has no port %q", actorID, name)
}

// MigrateArgs are the arguments of Migrate.
type MigrateArgs struct {
	Actor string `json:"actor"`
	Node  string `json:"node"`
}

// Migrated is the answer of Migrate.
type Migrated struct {
	Actor string `json:"actor"`
	From  string `json:"from"`
	To    string `json:"to"`
}

func (b *Bridge) migrate(ctx context.Context, a MigrateArgs) (Migrated, error) {
	if _, ok := b.rt.Actor(a.Actor); !ok {
		return Migrated{}, opaca.NewError(http.StatusNotFound, "no actor %s on node %s", a.Actor, b.node.ID())
	}
	if a.Node == b.node.ID() {
		return Migrated{}, opaca.NewError(http.StatusBadRequest, "actor %s is already on node %s", a.Actor, a.Node)
	}
	if !slices.ContainsFunc(b.node.Peers(), func(p rt2rt.PeerInfo) bool { return p.ID == a.Node }) {
		return Migrated{}, opaca.NewError(http.StatusNotFound, "node %s is not a peer of %s", a.Node, b.node.ID())
	}
	if err := b.net.Migrate(ctx, a.Actor, a.Node); err != nil {
		return Migrated{}, status(err)
	}
	return Migrated{Actor: a.Actor, From: b.node.ID(), To: a.Node}, nil
}

// ReportArgs are the arguments of Report.
type ReportArgs struct {
	Actor string         `json:"actor"`
	Args  map[string]any `json:"args" opaca:",optional"`
}

func (b *Bridge) report(ctx context.Context, a ReportArgs) (any, error) {
	v, err := b.rt.Report(ctx, a.Actor, a.Args)
	return v, status(err)
}

// InjectArgs are the arguments of Inject.
type InjectArgs struct {
	Actor string          `json:"actor"`
	Port  string          `json:"port"`
	Token json.RawMessage `json:"token" opaca:"Token"`
}

// Injected is the answer of Inject.
type Injected struct {
	// Pending is how many injected tokens wait to be emitted (this one
	// included) when the answer is sent.
	Pending int `json:"pending"`
}

func (b *Bridge) inject(ctx context.Context, a InjectArgs) (Injected, error) {
	var v any
	if err := json.Unmarshal(a.Token, &v); err != nil {
		return Injected{}, opaca.NewError(http.StatusBadRequest, "token: %v", err)
	}
	p, err := b.port(a.Actor, a.Port)
	if err != nil {
		return Injected{}, err
	}
	if p.Direction != actor.In {
		return Injected{}, opaca.NewError(http.StatusBadRequest, "port %q of %s is not an inport", a.Port, a.Actor)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return Injected{}, opaca.NewError(http.StatusServiceUnavailable, "bridge closed")
	}
	inj, ok := b.injectors[p.ID]
	if !ok {
		if len(p.Peers) > 0 {
			return Injected{}, opaca.NewError(http.StatusConflict, "inport %q of %s already has a writer", a.Port, a.Actor)
		}
		inj.actor = a.Actor
		if inj.helper, err = b.helper(ctx, InjectType, map[string]any{"name": "bridge:inject"}, "token", p.ID); err != nil {
			return Injected{}, err
		}
		b.injectors[p.ID] = inj
	}
	n, err := b.rt.Report(ctx, inj.helper, map[string]any{"token": numbers(v)})
	if err != nil {
		return Injected{}, status(err)
	}
	return Injected{Pending: n.(int)}, nil
}

// helper creates a helper actor and connects its port to portID (the
// outport of a bridge.Inject to an inport, an outport to a bridge.Tap).
func (b *Bridge) helper(ctx context.Context, typ string, args map[string]any, port, portID string) (string, error) {
	id, err := b.rt.CreateActor(ctx, typ, args)
	if err != nil {
		return "", err
	}
	if typ == InjectType {
		out, _ := b.rt.PortID(id, actor.Out, port)
		err = b.rt.Connect(ctx, out, portID)
	} else {
		in, _ := b.rt.PortID(id, actor.In, port)
		err = b.rt.Connect(ctx, portID, in)
	}
	if err != nil {
		return "", errors.Join(status(err), b.rt.DeleteActor(ctx, id))
	}
	return id, nil
}

// Watching is the answer of Watch.
type Watching struct {
	Stream   string    `json:"stream"`
	Watching []PortRef `json:"watching"`
}

func (b *Bridge) watch(ctx context.Context, a PortRef) (Watching, error) {
	p, err := b.port(a.Actor, a.Port)
	if err != nil {
		return Watching{}, err
	}
	out, outActor := p.ID, a.Actor // the outport whose tokens arrive at the port
	if p.Direction == actor.In {
		if len(p.Peers) == 0 {
			return Watching{}, opaca.NewError(http.StatusConflict, "inport %q of %s is not connected", a.Port, a.Actor)
		}
		if !p.Local[0] {
			return Watching{}, opaca.NewError(http.StatusConflict,
				"the writer of inport %q of %s is on another node: watch its outport there", a.Port, a.Actor)
		}
		out = p.Peers[0]
		writer, _ := b.rt.Port(out)
		outActor = writer.ActorID
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return Watching{}, opaca.NewError(http.StatusServiceUnavailable, "bridge closed")
	}
	i := slices.IndexFunc(b.watches, func(w watch) bool { return w.outport == out })
	switch {
	case i >= 0 && b.watches[i].ref != a:
		return Watching{}, opaca.NewError(http.StatusConflict, "the tokens of port %q of %s are watched as those of %s %q",
			a.Port, a.Actor, b.watches[i].ref.Actor, b.watches[i].ref.Port)
	case i < 0:
		tap, err := b.helper(ctx, TapType, map[string]any{"name": "bridge:tap", "actor": a.Actor, "port": a.Port}, "token", out)
		if err != nil {
			return Watching{}, err
		}
		b.watches = append(b.watches, watch{ref: a, outport: out, outActor: outActor, tap: tap})
	}
	return Watching{Stream: StreamName, Watching: b.watching()}, nil
}

// watching lists the watched ports. b.mu is held.
func (b *Bridge) watching() []PortRef {
	refs := []PortRef{}
	for _, w := range b.watches {
		refs = append(refs, w.ref)
	}
	return refs
}

// publish hands an arrival to every open stream; a full stream loses it.
func (b *Bridge) publish(ar Arrival) {
	b.smu.Lock()
	defer b.smu.Unlock()
	for ch := range b.subs {
		select {
		case ch <- ar:
		default:
		}
	}
}

func (b *Bridge) stream(ctx context.Context, _ *container.Invocation) (io.Reader, error) {
	ch := make(chan Arrival, StreamBuffer)
	b.mu.Lock()
	watching := b.watching()
	b.mu.Unlock()
	first, err := json.Marshal(map[string]any{"watching": watching})
	if err != nil {
		return nil, err
	}
	b.smu.Lock()
	defer b.smu.Unlock()
	if b.subs == nil {
		return nil, opaca.NewError(http.StatusServiceUnavailable, "bridge closed")
	}
	b.subs[ch] = struct{}{}
	return &tokenStream{ctx: ctx, b: b, ch: ch, buf: append(first, '\n')}, nil
}

// tokenStream is the body of one GET stream: the first line, then one line
// per arrival until the invocation's context ends or the bridge closes.
type tokenStream struct {
	ctx context.Context
	b   *Bridge
	ch  chan Arrival
	buf []byte
}

func (s *tokenStream) Read(p []byte) (int, error) {
	for len(s.buf) == 0 {
		select {
		case ar, ok := <-s.ch:
			if !ok {
				return 0, io.EOF
			}
			line, err := json.Marshal(ar)
			if err != nil {
				line, _ = json.Marshal(Arrival{PortRef: ar.PortRef, Token: fmt.Sprint(ar.Token)})
			}
			s.buf = append(line, '\n')
		case <-s.ctx.Done():
			return 0, io.EOF
		}
	}
	n := copy(p, s.buf)
	s.buf = s.buf[n:]
	return n, nil
}

func (s *tokenStream) Close() error {
	s.b.smu.Lock()
	defer s.b.smu.Unlock()
	if _, ok := s.b.subs[s.ch]; ok {
		delete(s.b.subs, s.ch)
		close(s.ch)
	}
	return nil
}

// status gives a Calvin runtime error the HTTP status of the API.
func status(err error) error {
	switch {
	case err == nil:
		return nil
	case opaca.HTTPStatus(err) != http.StatusInternalServerError:
		return err
	case errors.Is(err, actor.ErrUnknownActor), errors.Is(err, actor.ErrUnknownPort), errors.Is(err, actor.ErrUnknownType):
		return opaca.WithStatus(http.StatusNotFound, err)
	case errors.Is(err, actor.ErrBadArgument), errors.Is(err, actor.ErrBadConnection), errors.Is(err, actor.ErrNoReport):
		return opaca.WithStatus(http.StatusBadRequest, err)
	case errors.Is(err, actor.ErrMigrating), errors.Is(err, actor.ErrShadow):
		return opaca.WithStatus(http.StatusConflict, err)
	}
	return err
}

// ---- helper actors

// injector is bridge.Inject: it emits the tokens Inject hands it through
// its report, in order.
type injector struct{ pending []any }

func (i *injector) Actions() []actor.Action {
	return []actor.Action{{Name: "emit", Out: []string{"token"},
		Guard: func(*actor.Context, []token.Token) bool { return len(i.pending) > 0 },
		Fire: func(_ *actor.Context, _, out []token.Token) error {
			out[0] = token.New(i.pending[0])
			i.pending = i.pending[1:]
			return nil
		}}}
}

// Report queues args["token"]; the runtime schedules the actor after it.
func (i *injector) Report(_ *actor.Context, args map[string]any) (any, error) {
	if v, ok := args["token"]; ok {
		i.pending = append(i.pending, v)
	}
	return len(i.pending), nil
}

// tap is bridge.Tap: it hands every token to the bridge's streams.
type tap struct {
	b    *Bridge
	port PortRef
}

func (t *tap) Init(_ *actor.Context, args map[string]any) error {
	t.port.Actor, _ = args["actor"].(string)
	t.port.Port, _ = args["port"].(string)
	return nil
}

func (t *tap) Actions() []actor.Action {
	return []actor.Action{{Name: "pass", In: []string{"token"},
		Fire: func(_ *actor.Context, in, _ []token.Token) error {
			t.b.publish(Arrival{PortRef: t.port, Token: in[0].Data})
			return nil
		}}}
}
