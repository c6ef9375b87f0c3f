package actor

import (
	"context"

	"fmt"
	"io"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"
	"github.com/meshkit/meshkit/token"
)

type lifeState uint8

const (
	alive lifeState = iota
	migrating
	gone
)

type compiledAction struct {
	name   string
	in     []*port
	out    []*port
	guard  func(*Context, []token.Token) bool
	fire   func(*Context, []token.Token, []token.Token) error
	inBuf  []token.Token
	outBuf []token.Token
}

// instance is one actor living on a runtime. Its fields are guarded by mu,
// except sched (atomic) and the immutable identity.
type instance struct {
	rt       *Runtime
	id       string
	name     string
	typeName string
	typ      *Type // nil for a shadow actor
	act      Actor // nil for a shadow actor
	ctx      Context
	sched    atomic.Int32

	mu        sync.Mutex
	life      lifeState
	attaching int  // remote connections being set up; a migration waits for none
	started   bool // _has_started
	connected bool // every port has its nbr_peers connections
	app       string
	actions   []compiledAction
	inports   []*port
	outports  []*port
	sys       map[string]*sysObject
	kept      *keptState // parts of an imported state kept for the next export
	wakeBuf   []*instance
	fireErrs  uint64
}

func (a *instance) ports() []*port {
	return append(append(make([]*port, 0, len(a.inports)+len(a.outports)), a.inports...), a.outports...)
}

func (a *instance) port(dir Direction, name string) *port {
	list := a.outports
	if dir == In {
		list = a.inports
	}
	for _, p := range list {
		if p.name == name {
			return p
		}
	}
	return nil
}

func (a *instance) updateConnected() {
	ok := true
	for _, p := range a.inports {
		ok = ok && p.connected()
	}
	for _, p := range a.outports {
		ok = ok && p.connected()
	}
	a.connected = ok
}

// Runtime hosts actors on one node: it creates and deletes them, connects
// their ports, fires them on a bounded pool of workers, groups them in
// applications, and exports and imports their state for migration.
//
// The network side (token tunnels, PORT_CONNECT, ACTOR_NEW) is plugged in
// through AttachEndpoint, Wake and the state functions, so a Runtime works
// on its own for local dataflow.
type Runtime struct {
	nodeID string
	reg    *Registry
	log    *slog.Logger
	obs    Observer
	caps   map[string]bool
	burst  int
	lim    limits

	stdoutMu sync.Mutex
	stdout   io.Writer

	mu     sync.RWMutex
	actors map[string]*instance
	ports  map[string]*port
	apps   map[string]*App

	sched     scheduler
	closed    atomic.Bool
	closeOnce sync.Once
}

// NewRuntime starts a runtime with its worker pool.
func NewRuntime(opts ...Option) (*Runtime, error) {
	c, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	r := &Runtime{
		nodeID: c.nodeID,
		reg:    c.reg,
		log:    c.log.With("node", c.nodeID),
		obs:    c.obs,
		caps:   map[string]bool{},
		burst:  c.burst,
		lim:    limits{maxActors: c.maxActors, maxPortConns: c.maxPortConns},
		stdout: c.stdout,
		actors: map[string]*instance{},
		ports:  map[string]*port{},
		apps:   map[string]*App{},
	}
	for _, cp := range c.caps {
		r.caps[cp] = true
	}
	r.sched.start(c.workers, r.step)
	return r, nil
}

// NodeID returns the id of the node the runtime belongs to.
func (r *Runtime) NodeID() string { return r.nodeID }

// Registry returns the actor types the runtime can create.
func (r *Runtime) Registry() *Registry { return r.reg }

// Capabilities returns the capabilities the runtime offers, sorted.
func (r *Runtime) Capabilities() []string {
	out := make([]string, 0, len(r.caps))
	for c := range r.caps {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// Close deletes every actor (running their Teardown) and stops the workers.
// It is safe to call more than once.
func (r *Runtime) Close() error {
	r.closeOnce.Do(func() {
		r.closed.Store(true)
		r.mu.Lock()
		ids := make([]string, 0, len(r.actors))
		for id := range r.actors {
			ids = append(ids, id)
		}
		var dl detachList
		for _, id := range ids {
			r.deleteLocked(id, false, &dl)
		}
		r.mu.Unlock()
		dl.run()
		r.sched.stop()
	})
	return nil
}

// CreateOption configures one CreateActor call.
type CreateOption func(*createConfig)

type createConfig struct {
	id  string
	app string
}

// WithActorID creates the actor under a given id instead of a new UUID.
func WithActorID(id string) CreateOption { return func(c *createConfig) { c.id = id } }

// InApp adds the new actor to an application created with CreateApp.
func InApp(appID string) CreateOption { return func(c *createConfig) { c.app = appID } }

// CreateActor creates an actor of a registered type with keyword arguments
// (spec §11.1: unknown names fail; "name" is the instance name). It returns
// the actor id. The actor fires once all its ports are connected. Beyond
// the runtime's actor limit (WithMaxActors) it fails with ErrTooManyActors.
func (r *Runtime) CreateActor(ctx context.Context, typeName string, args map[string]any, opts ...CreateOption) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	var cc createConfig
	for _, o := range opts {
		o(&cc)
	}
	t, ok := r.reg.Lookup(typeName)
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownType, typeName)
	}
	if err := r.checkCaps(t); err != nil {
		return "", err
	}
	merged, err := t.Args(args)
	if err != nil {
		return "", err
	}
	name, _ := args["name"].(string)
	if cc.id == "" {
		cc.id = uuid.NewString()
	}
	release, err := r.reserveActor(cc.id, "create")
	if err != nil {
		return "", err
	}
	defer release()
	a := r.newInstance(cc.id, name, t)
	for _, pn := range t.Inports {
		a.inports = append(a.inports, r.newPort(a, In, pn, uuid.NewString(), t.PortProperties[pn]))
	}
	for _, pn := range t.Outports {
		a.outports = append(a.outports, r.newPort(a, Out, pn, uuid.NewString(), t.PortProperties[pn]))
	}
	a.act = t.New()
	if a.act == nil {
		return "", fmt.Errorf("%w: %q factory returned nil", ErrInvalidType, typeName)
	}
	a.mu.Lock()
	err = r.initActor(a, merged)
	a.mu.Unlock()
	if err != nil {
		return "", &ActorError{ActorID: cc.id, Op: "create", Err: err}
	}
	if err := r.register(a, cc.app); err != nil {
		a.mu.Lock()
		r.teardown(a)
		a.mu.Unlock()
		return "", err
	}
	r.obs.ActorCreated(a.id, a.typeName, false)
	r.log.Debug("actor created", "actor", a.id, "type", a.typeName, "name", a.name)
	return a.id, nil
}

func (r *Runtime) checkCaps(t *Type) error {
	for _, c := range t.Requires {
		if !r.caps[c] {
			return fmt.Errorf("%w: %q needs %q", ErrMissingCapability, t.Name, c)
		}
	}
	return nil
}

func (r *Runtime) newInstance(id, name string, t *Type) *instance {
	a := &instance{rt: r, id: id, name: name}
	if t != nil {
		a.typ, a.typeName = t, t.Name
	}
	a.ctx = Context{inst: a}
	return a
}

func (r *Runtime) newPort(a *instance, dir Direction, name, id string, props map[string]any) *port {
	p := &port{inst: a, id: id, name: name, dir: dir, props: defaultProps(dir)}
	for k, v := range props {
		p.props[k] = v
	}
	p.props["direction"] = string(dir)
	return p
}

// initActor runs Init and Setup of a new actor and compiles its actions.
func (r *Runtime) initActor(a *instance, args map[string]any) (err error) {
	defer recoverInto(&err, "init")
	if in, ok := a.act.(Initializer); ok {
		if err := in.Init(&a.ctx, args); err != nil {
			r.closeSys(a)
			return err
		}
	}
	return r.setupActor(a)
}

func (r *Runtime) setupActor(a *instance) (err error) {
	defer recoverInto(&err, "setup")
	if s, ok := a.act.(Setupper); ok {
		if err := s.Setup(&a.ctx); err != nil {
			r.closeSys(a)
			return err
		}
	}
	a.started = true
	return r.compile(a)
}

func recoverInto(err *error, what string) {
	if v := recover(); v != nil {
		*err = fmt.Errorf("actor %s panicked: %v", what, v)
	}
}

func (r *Runtime) compile(a *instance) error {
	acts := a.act.Actions()
	a.actions = make([]compiledAction, 0, len(acts))
	for _, ac := range acts {
		if ac.Fire == nil {
			return fmt.Errorf("%w: action %q has no Fire", ErrInvalidType, ac.Name)
		}
		c := compiledAction{name: ac.Name, guard: ac.Guard, fire: ac.Fire}
		for _, n := range ac.In {
			p := a.port(In, n)
			if p == nil {
				return fmt.Errorf("%w: action %q reads undeclared inport %q", ErrInvalidType, ac.Name, n)
			}
			c.in = append(c.in, p)
		}
		for _, n := range ac.Out {
			p := a.port(Out, n)
			if p == nil {
				return fmt.Errorf("%w: action %q writes undeclared outport %q", ErrInvalidType, ac.Name, n)
			}
			c.out = append(c.out, p)
		}
		c.inBuf = make([]token.Token, len(c.in))
		c.outBuf = make([]token.Token, len(c.out))
		a.actions = append(a.actions, c)
	}
	return nil
}

func (r *Runtime) register(a *instance, app string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() {
		return ErrClosed
	}
	if _, ok := r.actors[a.id]; ok {
		return fmt.Errorf("%w: %q", ErrDuplicateActor, a.id)
	}
	for _, p := range a.ports() {
		if _, ok := r.ports[p.id]; ok {
			return fmt.Errorf("%w: port id %q already in use", ErrDuplicateActor, p.id)
		}
	}
	if app != "" {
		ap, ok := r.apps[app]
		if !ok {
			return fmt.Errorf("%w: %q", ErrUnknownApp, app)
		}
		ap.Actors = append(ap.Actors, a.id)
		a.app = app
	}
	r.actors[a.id] = a
	for _, p := range a.ports() {
		r.ports[p.id] = p
	}
	return nil
}

// DeleteActor deletes a local actor: its local peers lose the connection,
// remote endpoints are detached (no message is sent to remote peers, as in
// Calvin), system objects are closed and Teardown runs.
func (r *Runtime) DeleteActor(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var dl detachList
	r.mu.Lock()
	ok := r.deleteLocked(id, false, &dl)
	r.mu.Unlock()
	dl.run()
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownActor, id)
	}
	return nil
}

// deleteLocked removes an actor; r.mu must be held. With migrated the
// connections are dropped temporarily (positions kept for the return).
func (r *Runtime) deleteLocked(id string, migrated bool, dl *detachList) bool {
	a, ok := r.actors[id]
	if !ok {
		return false
	}
	delete(r.actors, id)
	mode := Terminate
	if migrated {
		mode = Temporary
	}
	a.mu.Lock()
	var peers []*instance
	for _, p := range a.ports() {
		delete(r.ports, p.id)
		for _, c := range p.conns {
			if c.local != nil {
				peers = append(peers, c.local.inst)
			} else {
				dl.add(c.ep, mode)
			}
		}
	}
	a.life = gone
	r.teardown(a)
	ports := a.ports()
	a.mu.Unlock()
	for _, pa := range peers {
		pa.mu.Lock()
		for _, pp := range pa.ports() {
			for _, p := range ports {
				pp.dropConn(p.id, mode)
			}
		}
		pa.updateConnected()
		pa.mu.Unlock()
	}
	if a.app != "" {
		if ap, ok := r.apps[a.app]; ok {
			ap.Actors = slices.DeleteFunc(ap.Actors, func(s string) bool { return s == id })
		}
	}
	if !migrated {
		r.obs.ActorDeleted(id, false)
	}
	return true
}

// teardown closes system objects and runs Teardown; a.mu must be held.
func (r *Runtime) teardown(a *instance) {
	r.closeSys(a)
	if t, ok := a.act.(Teardowner); ok {
		func() {
			defer func() {
				if v := recover(); v != nil {
					r.log.Error("actor teardown panicked", "actor", a.id, "panic", v)
				}
			}()
			t.Teardown(&a.ctx)
		}()
	}
}

func (r *Runtime) closeSys(a *instance) {
	for _, o := range a.sys {
		o.close()
	}
}

// Info describes an actor.
type Info struct {
	ID        string
	Name      string
	Type      string
	Shadow    bool
	App       string
	Connected bool
	Inports   []PortInfo
	Outports  []PortInfo
}

// Actor returns a description of a local actor.
func (r *Runtime) Actor(id string) (Info, bool) {
	r.mu.RLock()
	a, ok := r.actors[id]
	r.mu.RUnlock()
	if !ok {
		return Info{}, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	in := Info{ID: a.id, Name: a.name, Type: a.typeName, Shadow: a.act == nil, App: a.app, Connected: a.connected}
	for _, p := range a.inports {
		in.Inports = append(in.Inports, p.info())
	}
	for _, p := range a.outports {
		in.Outports = append(in.Outports, p.info())
	}
	return in, true
}

// ActorIDs returns the ids of the local actors, sorted.
func (r *Runtime) ActorIDs() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ids := make([]string, 0, len(r.actors))
	for id := range r.actors {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// PortID returns the id of an actor's port by direction and name.
func (r *Runtime) PortID(actorID string, dir Direction, name string) (string, error) {
	r.mu.RLock()
	a, ok := r.actors[actorID]
	r.mu.RUnlock()
	if !ok {
		return "", fmt.Errorf("%w: %q", ErrUnknownActor, actorID)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	p := a.port(dir, name)
	if p == nil {
		return "", fmt.Errorf("%w: %s port %q of %q", ErrUnknownPort, dir, name, actorID)
	}
	return p.id, nil
}

// HasPort reports whether a port lives here. It takes no actor lock, so
// the token flow can use it as its port lookup (token.WithPortLookup).
func (r *Runtime) HasPort(portID string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.ports[portID]
	return ok
}

// Port describes a local port.
func (r *Runtime) Port(portID string) (PortInfo, bool) {
	r.mu.RLock()
	p, ok := r.ports[portID]
	r.mu.RUnlock()
	if !ok {
		return PortInfo{}, false
	}
	p.inst.mu.Lock()
	defer p.inst.mu.Unlock()
	return p.info(), true
}

// Report calls the actor's report function (GET/POST /actor/{id}/report).
func (r *Runtime) Report(ctx context.Context, id string, args map[string]any) (_ any, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a, err := r.lockActor(id)
	if err != nil {
		return nil, err
	}
	defer a.mu.Unlock()
	rep, ok := a.act.(Reporter)
	if !ok {
		return nil, &ActorError{ActorID: id, Op: "report", Err: ErrNoReport}
	}
	defer recoverInto(&err, "report")
	v, err := rep.Report(&a.ctx, args)
	if err != nil {
		return nil, &ActorError{ActorID: id, Op: "report", Err: err}
	}
	a.wake() // a report may change what can fire (e.g. test.Sink active)
	return v, nil
}

// lockActor returns the live actor id with its lock held.
func (r *Runtime) lockActor(id string) (*instance, error) {
	r.mu.RLock()
	a, ok := r.actors[id]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownActor, id)
	}
	a.mu.Lock()
	if a.life == gone {
		a.mu.Unlock()
		return nil, fmt.Errorf("%w: %q", ErrUnknownActor, id)
	}
	return a, nil
}

// Connect connects an outport to an inport, both on this runtime. No token
// is serialised: tokens move between the two queues directly. Reconnecting
// the same pair keeps the queue positions. A new connection beyond a port's
// limit (WithMaxPortConnections) fails with ErrTooManyConnections.
func (r *Runtime) Connect(ctx context.Context, outPortID, inPortID string) error {
	return r.connect(ctx, outPortID, inPortID, "")
}

// connect is Connect; a migrating actor is refused (the connection would not
// travel with it) unless it is own, the actor whose failed migration is
// being undone.
func (r *Runtime) connect(ctx context.Context, outPortID, inPortID, own string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	var dl detachList
	defer func() { dl.run() }() // after the unlock below
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed.Load() {
		return ErrClosed
	}
	op, ok := r.ports[outPortID]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownPort, outPortID)
	}
	ip, ok := r.ports[inPortID]
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownPort, inPortID)
	}
	if op.dir != Out || ip.dir != In {
		return fmt.Errorf("%w: %q must be an outport and %q an inport", ErrBadConnection, outPortID, inPortID)
	}
	first, second := op.inst, ip.inst
	if first != second && first.id > second.id {
		first, second = second, first
	}
	first.mu.Lock()
	defer first.mu.Unlock()
	if second != first {
		second.mu.Lock()
		defer second.mu.Unlock()
	}
	for _, a := range []*instance{first, second} {
		if a.life == migrating && a.id != own {
			return fmt.Errorf("%w: %q", ErrMigrating, a.id)
		}
	}
	if len(ip.conns) > 0 && ip.findConn(op.id) < 0 {
		return fmt.Errorf("%w: inport %q already has a writer (fan-in needs a collect routing)", ErrBadConnection, ip.id)
	}
	if err := r.admitConn(op, ip.id); err != nil {
		return err
	}
	if err := r.admitConn(ip, op.id); err != nil {
		return err
	}
	if err := op.ensureQueue(); err != nil {
		return err
	}
	if err := ip.ensureQueue(); err != nil {
		return err
	}
	op.q.AddReader(ip.id)
	r.alignLocal(op, ip)
	dl.add(op.setConn(conn{peerID: ip.id, local: ip}), Temporary)
	dl.add(ip.setConn(conn{peerID: op.id, local: op}), Temporary)
	op.inst.updateConnected()
	ip.inst.updateConnected()
	op.inst.wake()
	ip.inst.wake()
	return nil
}

// alignLocal lines an outport reader up with the inport it now feeds
// directly. A remote connection may have delivered tokens whose
// acknowledgement never came back (it was cut by a migration); over the
// wire the receiver would ACK them as duplicates (spec §7.8), here the
// reader skips them. Sequence numbers are positions minus reader_offset.
func (r *Runtime) alignLocal(op, ip *port) {
	_ = op.q.Cancel(ip.id)
	pos, err := op.q.Positions(ip.id)
	if err != nil {
		return
	}
	want := ip.q.WritePos()
	seq := pos.Read - pos.Offset
	for seq < want {
		if _, err := op.q.Peek(ip.id); err != nil {
			break
		}
		seq++
	}
	_ = op.q.Commit(ip.id)
	if seq != want {
		r.log.Warn("local connection positions differ", "outport", op.id, "inport", ip.id, "next_seq", seq, "inport_write_pos", want)
	}
}

// Disconnect removes the connection between a local port and a peer port
// (local or remote) with the given mode. A port without that connection is
// not an error (Calvin answers 200 as well).
func (r *Runtime) Disconnect(ctx context.Context, portID, peerPortID string, mode DisconnectMode) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r.mu.Lock()
	p, ok := r.ports[portID]
	if !ok {
		r.mu.Unlock()
		return fmt.Errorf("%w: %q", ErrUnknownPort, portID)
	}
	var dl detachList
	r.disconnectLocked(p, peerPortID, mode, &dl)
	r.mu.Unlock()
	dl.run()
	return nil
}

func (r *Runtime) disconnectLocked(p *port, peerPortID string, mode DisconnectMode, dl *detachList) {
	p.inst.mu.Lock()
	i := p.findConn(peerPortID)
	var c conn
	if i >= 0 {
		c = p.conns[i]
		dl.add(c.ep, mode)
		p.dropConn(peerPortID, mode)
		p.inst.updateConnected()
	}
	p.inst.mu.Unlock()
	if i < 0 {
		return
	}
	if c.local != nil {
		pp := c.local
		pp.inst.mu.Lock()
		pp.dropConn(p.id, mode)
		pp.inst.updateConnected()
		pp.inst.mu.Unlock()
	}
}

// AttachEndpoint connects a local port to a remote peer port through ep (a
// token sender or receiver of the token layer). It returns the port's queue,
// which the endpoint reads (outport, reader peerPortID) or writes (inport).
// An existing connection to the same peer is replaced and the queue
// positions are kept (spec §8.1 step 5).
func (r *Runtime) AttachEndpoint(portID, peerPortID string, ep Endpoint) (*token.FIFO, error) {
	if ep == nil || peerPortID == "" {
		return nil, fmt.Errorf("%w: endpoint and peer port id are required", ErrBadConnection)
	}
	r.mu.RLock()
	p, ok := r.ports[portID]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownPort, portID)
	}
	a := p.inst
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.life == gone {
		return nil, fmt.Errorf("%w: %q", ErrUnknownPort, portID)
	}
	if p.dir == In && len(p.conns) > 0 && p.findConn(peerPortID) < 0 {
		return nil, fmt.Errorf("%w: inport %q already has a writer", ErrBadConnection, portID)
	}
	if err := r.admitConn(p, peerPortID); err != nil {
		return nil, err
	}
	if err := p.ensureQueue(); err != nil {
		return nil, err
	}
	if p.dir == Out {
		p.q.AddReader(peerPortID)
	}
	old := p.setConn(conn{peerID: peerPortID, ep: ep})
	a.updateConnected()
	a.wake()
	if old != nil {
		// Detach outside the actor lock (deferred unlock runs first).
		defer old.Detach(Temporary)
	}
	return p.q, nil
}

// RemoteQueue prepares a local port for a remote connection to peerPortID
// and returns its queue and direction: the queue is created if needed and,
// for an outport, peerPortID becomes one of its readers (positions of an
// earlier connection of the same pair are kept). Call AttachEndpoint next.
// A new peer beyond the port's limit (WithMaxPortConnections) fails with
// ErrTooManyConnections.
func (r *Runtime) RemoteQueue(portID, peerPortID string) (*token.FIFO, Direction, error) {
	r.mu.RLock()
	p, ok := r.ports[portID]
	r.mu.RUnlock()
	if !ok {
		return nil, "", fmt.Errorf("%w: %q", ErrUnknownPort, portID)
	}
	a := p.inst
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.life == gone {
		return nil, "", fmt.Errorf("%w: %q", ErrUnknownPort, portID)
	}
	if p.dir == In && len(p.conns) > 0 && p.findConn(peerPortID) < 0 {
		return nil, "", fmt.Errorf("%w: inport %q already has a writer", ErrBadConnection, portID)
	}
	// Checked before AddReader: every reader of an outport holds its queue
	// back, and a peer can name as many made-up ports as it likes.
	if err := r.admitConn(p, peerPortID); err != nil {
		return nil, "", err
	}
	if err := p.ensureQueue(); err != nil {
		return nil, "", err
	}
	if p.dir == Out {
		p.q.AddReader(peerPortID)
	}
	return p.q, p.dir, nil
}

// Wake tells the runtime that the queue of a local port changed from the
// network side (tokens arrived on an inport, acknowledgements freed room
// in an outport), so that its actor is scheduled.
func (r *Runtime) Wake(portID string) error {
	r.mu.RLock()
	p, ok := r.ports[portID]
	r.mu.RUnlock()
	if !ok {
		return fmt.Errorf("%w: %q", ErrUnknownPort, portID)
	}
	p.inst.wake()
	return nil
}

// step fires one actor until nothing can fire or its burst is used up, and
// moves tokens over its local connections. It reports whether the actor
// should run again.
func (r *Runtime) step(a *instance) bool {
	a.mu.Lock()
	if a.life != alive || !a.connected || a.act == nil {
		a.mu.Unlock()
		return false
	}
	a.wakeBuf = a.wakeBuf[:0]
	r.pull(a)
	fired := 0
	for fired < r.burst {
		if r.fireOne(a) {
			fired++
			continue
		}
		if r.push(a)+r.pull(a) == 0 {
			break
		}
	}
	r.push(a)
	r.pull(a)
	if fired > 0 {
		for _, p := range a.outports {
			for _, c := range p.conns {
				if c.ep != nil {
					c.ep.Notify()
				}
			}
		}
		for _, p := range a.inports {
			for _, c := range p.conns {
				if c.ep != nil {
					c.ep.Notify()
				}
			}
		}
	}
	wake := a.wakeBuf
	a.mu.Unlock()
	for _, w := range wake {
		w.wake()
	}
	return fired >= r.burst
}

func (a *instance) addWake(w *instance) {
	if w == a || slices.Contains(a.wakeBuf, w) {
		return
	}
	a.wakeBuf = append(a.wakeBuf, w)
}

// push moves tokens from the actor's outports into local peer inports.
func (r *Runtime) push(a *instance) int {
	total := 0
	for _, p := range a.outports {
		for _, c := range p.conns {
			if c.local == nil {
				continue
			}
			n, err := token.Move(c.local.q, p.q, c.peerID)
			if err != nil {
				r.log.Error("local move failed", "port", p.id, "peer", c.peerID, "err", err)
				continue
			}
			if n > 0 {
				total += n
				a.addWake(c.local.inst)
			}
		}
	}
	return total
}

// pull moves tokens from local peer outports into the actor's inports.
func (r *Runtime) pull(a *instance) int {
	total := 0
	for _, p := range a.inports {
		for _, c := range p.conns {
			if c.local == nil {
				continue
			}
			n, err := token.Move(p.q, c.local.q, p.id)
			if err != nil {
				r.log.Error("local move failed", "port", p.id, "peer", c.peerID, "err", err)
				continue
			}
			if n > 0 {
				total += n
				a.addWake(c.local.inst)
			}
		}
	}
	return total
}

// fireOne fires the first action that can fire; a.mu is held.
func (r *Runtime) fireOne(a *instance) bool {
	for i := range a.actions {
		ac := &a.actions[i]
		if !ready(ac) {
			continue
		}
		if ac.guard != nil {
			for j, p := range ac.in {
				ac.inBuf[j], _ = p.q.Peek(p.id)
			}
			if !r.guard(a, ac) {
				for _, p := range ac.in {
					_ = p.q.Cancel(p.id)
				}
				continue
			}
			for _, p := range ac.in {
				_ = p.q.Commit(p.id)
			}
		} else {
			for j, p := range ac.in {
				ac.inBuf[j], _ = p.q.Read(p.id)
			}
		}
		clear(ac.outBuf)
		if err := r.fire(a, ac); err != nil {
			a.fireErrs++
			r.log.Warn("actor firing failed", "actor", a.id, "action", ac.name, "err", err)
			return true
		}
		for j, p := range ac.out {
			if err := p.q.Write(ac.outBuf[j]); err != nil {
				r.log.Error("outport write failed", "actor", a.id, "port", p.name, "err", err)
			}
		}
		return true
	}
	return false
}

func ready(ac *compiledAction) bool {
	for _, p := range ac.in {
		if p.q.Available(p.id) == 0 {
			return false
		}
	}
	for _, p := range ac.out {
		if p.q.Free() == 0 {
			return false
		}
	}
	return true
}

func (r *Runtime) guard(a *instance, ac *compiledAction) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			r.log.Error("actor guard panicked", "actor", a.id, "action", ac.name, "panic", v)
			ok = false
		}
	}()
	return ac.guard(&a.ctx, ac.inBuf)
}

func (r *Runtime) fire(a *instance, ac *compiledAction) (err error) {
	defer recoverInto(&err, "action "+ac.name)
	return ac.fire(&a.ctx, ac.inBuf, ac.outBuf)
}

// App is an application: a named group of actors deleted together.
type App struct {
	ID     string
	Name   string
	Actors []string // ids of its actors on this runtime
}

// CreateApp registers an application and returns its id (a new UUID unless
// id is given).
func (r *Runtime) CreateApp(name, id string) (string, error) {
	if id == "" {
		id = uuid.NewString()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.apps[id]; ok {
		return "", fmt.Errorf("%w: application %q exists", ErrBadArgument, id)
	}
	r.apps[id] = &App{ID: id, Name: name}
	return id, nil
}

// Apps returns the applications known locally.
func (r *Runtime) Apps() []App {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]App, 0, len(r.apps))
	for _, a := range r.apps {
		out = append(out, App{ID: a.ID, Name: a.Name, Actors: slices.Clone(a.Actors)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// DestroyApp implements APP_DESTROY without `disconnect` (spec §9.5): it
// deletes each listed actor that lives here (nil actorIDs: the
// application's local actors), drops the local application entry and
// returns the ids that were not found. No message goes to remote peers.
func (r *Runtime) DestroyApp(ctx context.Context, appID string, actorIDs []string) (missing []string, err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var dl detachList
	defer func() { dl.run() }() // after the unlock below
	r.mu.Lock()
	defer r.mu.Unlock()
	ap, known := r.apps[appID]
	if actorIDs == nil && known {
		actorIDs = slices.Clone(ap.Actors)
	}
	missing = []string{}
	for _, id := range actorIDs {
		if !r.deleteLocked(id, false, &dl) {
			missing = append(missing, id)
		}
	}
	delete(r.apps, appID)
	if !known && actorIDs == nil {
		return missing, fmt.Errorf("%w: %q", ErrUnknownApp, appID)
	}
	return missing, nil
}

func newID() string { return uuid.NewString() }
