package actor

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strings"

	"github.com/meshkit/meshkit/token"
)

// Keys of `private` the runtime derives itself on export (spec §10.2).
var ownedPrivate = []string{"_id", "_name", "_has_started", "_calvinsys", "inports", "outports"}

// keptState holds the parts of an imported state the runtime does not
// interpret, so that they migrate on unchanged (spec §10.5: unknown keys
// anywhere are kept).
type keptState struct {
	top      map[string]any // top-level keys other than the four parts
	private  map[string]any // private keys other than ownedPrivate
	managed  map[string]any // the whole imported managed map
	security any
	custom   any
}

// ExportState returns the actor's state in calvin-base's `actor_state`
// layout (spec chapter 10), ready for ACTOR_NEW: tentative reads are
// cancelled in every exported queue (§7.8) and timers are exported armed
// (§10.4). The actor keeps running.
func (r *Runtime) ExportState(ctx context.Context, id string) (map[string]any, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a, err := r.lockActor(id)
	if err != nil {
		return nil, err
	}
	defer a.mu.Unlock()
	return r.exportLocked(a)
}

// PortState returns the live queue state of a local port (report `port`,
// GET /actor/{id}/port/{port_id}/state).
func (r *Runtime) PortState(portID string) (map[string]any, error) {
	r.mu.RLock()
	p, ok := r.ports[portID]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownPort, portID)
	}
	p.inst.mu.Lock()
	defer p.inst.mu.Unlock()
	return p.queueState(false), nil
}

func (r *Runtime) exportLocked(a *instance) (st map[string]any, err error) {
	k := a.kept
	if k == nil {
		k = &keptState{}
	}
	private := map[string]any{
		"_deployment_requirements":    []any{},
		"_migration_info":             nil,
		"_port_property_capabilities": portCapabilities(a),
		"_replication_id":             map[string]any{},
		"_component_members":          []any{a.id},
		"_requires":                   []any{},
		"_signature":                  nil,
	}
	maps.Copy(private, k.private)
	if a.typ != nil {
		private["_signature"] = a.typ.Signature()
		req := make([]any, len(a.typ.Requires))
		for i, c := range a.typ.Requires {
			req[i] = c
		}
		private["_requires"] = req
	}
	private["_id"] = a.id
	private["_name"] = a.name
	private["_has_started"] = a.started
	sys := make(map[string]any, len(a.sys))
	for ref, o := range a.sys {
		sys[ref] = o.export()
	}
	private["_calvinsys"] = sys
	private["inports"] = exportPorts(a.inports)
	private["outports"] = exportPorts(a.outports)

	managed := maps.Clone(k.managed)
	if managed == nil {
		managed = map[string]any{}
	}
	if s, ok := a.act.(Stateful); ok {
		func() {
			defer recoverInto(&err, "managed")
			maps.Copy(managed, s.Managed())
		}()
		if err != nil {
			return nil, &ActorError{ActorID: a.id, Op: "export", Err: err}
		}
	}
	security := k.security
	if security == nil {
		security = map[string]any{"_subject_attributes": nil}
	}
	custom := k.custom
	if custom == nil {
		custom = map[string]any{}
	}
	st = maps.Clone(k.top)
	if st == nil {
		st = map[string]any{}
	}
	st["private"] = private
	st["managed"] = managed
	st["security"] = security
	st["custom"] = custom
	return st, nil
}

func exportPorts(ports []*port) map[string]any {
	out := make(map[string]any, len(ports))
	for _, p := range ports {
		m := maps.Clone(p.extra)
		if m == nil {
			m = make(map[string]any, 4)
		}
		m["name"] = p.name
		m["id"] = p.id
		m["properties"] = maps.Clone(p.props)
		m["queue"] = p.queueState(true)
		out[p.name] = m
	}
	return out
}

// portCapabilities is `_port_property_capabilities`: constrained runtimes can
// host the actor only when every port uses a routing they support.
func portCapabilities(a *instance) []any {
	for _, p := range a.ports() {
		switch p.props["routing"] {
		case "default", "fanout", nil:
		default:
			return []any{"portproperty.runtime.base.1"}
		}
	}
	return []any{"portproperty.runtime.base.1", "portproperty.runtime.constrained.1"}
}

// ImportOption configures one ImportActor call.
type ImportOption func(*importConfig)

type importConfig struct {
	app        string
	forceShade bool
}

// ImportInApp adds the imported actor to a local application.
func ImportInApp(appID string) ImportOption { return func(c *importConfig) { c.app = appID } }

// ImportShadow creates a shadow actor even when the type is known.
func ImportShadow() ImportOption { return func(c *importConfig) { c.forceShade = true } }

// ImportActor creates an actor from a state in calvin-base's layout (the
// `actor_state` of ACTOR_NEW, spec §9.3 and chapter 10) with the same actor
// and port ids. A type this runtime cannot host (unknown, or missing a
// capability) becomes a shadow actor that holds ports and state, never fires
// and exports the state back unchanged. The ports are not connected; the
// caller reconnects them (prev_connections). It returns whether a shadow
// was created. Beyond the runtime's actor limit (WithMaxActors) it fails
// with ErrTooManyActors before decoding anything.
func (r *Runtime) ImportActor(ctx context.Context, actorType string, actorState map[string]any, opts ...ImportOption) (shadow bool, err error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	var ic importConfig
	for _, o := range opts {
		o(&ic)
	}
	priv, _ := actorState["private"].(map[string]any)
	id, _ := priv["_id"].(string) // for the error only; decodeState checks it
	release, err := r.reserveActor(id, "import")
	if err != nil {
		return false, err
	}
	defer release()
	a, err := r.decodeState(actorType, actorState, ic.forceShade)
	if err != nil {
		return false, err
	}
	if err := r.register(a, ic.app); err != nil {
		a.mu.Lock()
		r.teardown(a)
		a.mu.Unlock()
		return false, err
	}
	a.mu.Lock()
	for _, o := range a.sys {
		if o.timer != nil {
			o.timer.startImported()
		}
	}
	a.mu.Unlock()
	r.obs.ActorCreated(a.id, a.typeName, true)
	r.log.Debug("actor imported", "actor", a.id, "type", a.typeName, "shadow", a.act == nil)
	return a.act == nil, nil
}

func asMap(v any, path string) (map[string]any, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, stateErr(path, "want a map, got %T", v)
	}
	return m, nil
}

// decodeState builds an unregistered instance from an actor state.
func (r *Runtime) decodeState(actorType string, st map[string]any, forceShadow bool) (*instance, error) {
	if actorType == "" {
		return nil, stateErr("actor_type", "empty")
	}
	if st == nil {
		return nil, stateErr("actor_state", "missing")
	}
	private, err := asMap(st["private"], "private")
	if err != nil {
		return nil, err
	}
	managed, err := asMap(st["managed"], "managed")
	if err != nil {
		return nil, err
	}
	if _, err := asMap(st["security"], "security"); err != nil {
		return nil, err
	}
	if _, err := asMap(st["custom"], "custom"); err != nil {
		return nil, err
	}
	id, ok := private["_id"].(string)
	if !ok || id == "" {
		return nil, stateErr("private._id", "want a non-empty string, got %T", private["_id"])
	}
	name := ""
	if v, has := private["_name"]; has && v != nil {
		if name, ok = v.(string); !ok {
			return nil, stateErr("private._name", "want a string, got %T", v)
		}
	}
	started := false
	if v, has := private["_has_started"]; has && v != nil {
		if started, ok = v.(bool); !ok {
			return nil, stateErr("private._has_started", "want a bool, got %T", v)
		}
	}
	var sysState map[string]any
	if v, has := private["_calvinsys"]; has && v != nil {
		if sysState, err = asMap(v, "private._calvinsys"); err != nil {
			return nil, err
		}
	}

	t, known := r.reg.Lookup(actorType)
	if known && (forceShadow || r.checkCaps(t) != nil) {
		known = false
	}
	a := r.newInstance(id, name, nil)
	a.typeName = actorType
	if known {
		a.typ = t
	}
	a.started = started

	for _, side := range []struct {
		key string
		dir Direction
		dst *[]*port
	}{{"inports", In, &a.inports}, {"outports", Out, &a.outports}} {
		pm, err := asMap(private[side.key], "private."+side.key)
		if err != nil {
			return nil, err
		}
		names := make([]string, 0, len(pm))
		for n := range pm {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			p, err := r.decodePort(a, side.dir, n, pm[n], "private."+side.key+"."+n)
			if err != nil {
				return nil, err
			}
			*side.dst = append(*side.dst, p)
		}
	}
	if err := checkPortIDs(a); err != nil {
		return nil, err
	}

	k := &keptState{top: map[string]any{}, private: map[string]any{}, managed: maps.Clone(managed),
		security: st["security"], custom: st["custom"]}
	for key, v := range st {
		switch key {
		case "private", "managed", "security", "custom":
		default:
			k.top[key] = v
		}
	}
	for key, v := range private {
		if !containsStr(ownedPrivate, key) {
			k.private[key] = v
		}
	}
	// The destination removes a security-driven migration target (§9.3).
	k.private["_migration_info"] = nil
	a.kept = k

	var shadowArgs map[string]any
	if v, has := managed["_shadow_args"]; has {
		delete(k.managed, "_shadow_args")
		if v != nil {
			if shadowArgs, err = asMap(v, "managed._shadow_args"); err != nil {
				return nil, err
			}
		}
	}

	if err := r.decodeSys(a, sysState, known); err != nil {
		return nil, err
	}
	if !known {
		return a, nil
	}
	// Declared ports missing from the state get fresh ids.
	for _, pn := range t.Inports {
		if a.port(In, pn) == nil {
			a.inports = append(a.inports, r.newPort(a, In, pn, newID(), t.PortProperties[pn]))
		}
	}
	for _, pn := range t.Outports {
		if a.port(Out, pn) == nil {
			a.outports = append(a.outports, r.newPort(a, Out, pn, newID(), t.PortProperties[pn]))
		}
	}
	a.act = t.New()
	if a.act == nil {
		return nil, fmt.Errorf("%w: %q factory returned nil", ErrInvalidType, actorType)
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := r.restoreActor(a, shadowArgs, k.managed); err != nil {
		r.closeSys(a)
		return nil, &ActorError{ActorID: id, Op: "import", Err: fmt.Errorf("%w: %w", ErrBadState, err)}
	}
	return a, nil
}

func (r *Runtime) restoreActor(a *instance, shadowArgs, managed map[string]any) (err error) {
	defer recoverInto(&err, "restore")
	if shadowArgs != nil {
		// State from a shadow created at deployment: initialise afresh with
		// its creation arguments, then apply the remaining managed values.
		args, err := a.typ.Args(shadowArgs)
		if err != nil {
			return err
		}
		if in, ok := a.act.(Initializer); ok {
			if err := in.Init(&a.ctx, args); err != nil {
				return err
			}
		}
		if s, ok := a.act.(Stateful); ok {
			// Apply the remaining managed values over the fresh ones.
			fresh := s.Managed()
			maps.Copy(fresh, managed)
			managed = fresh
		}
	}
	if s, ok := a.act.(Stateful); ok {
		if err := s.Restore(&a.ctx, managed); err != nil {
			return err
		}
	}
	return r.setupActor(a)
}

func containsStr(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func checkPortIDs(a *instance) error {
	seen := map[string]bool{}
	for _, p := range a.ports() {
		if seen[p.id] {
			return stateErr("private", "port id %q used twice", p.id)
		}
		seen[p.id] = true
	}
	return nil
}

func (r *Runtime) decodePort(a *instance, dir Direction, name string, v any, path string) (*port, error) {
	m, err := asMap(v, path)
	if err != nil {
		return nil, err
	}
	id, ok := m["id"].(string)
	if !ok || id == "" {
		return nil, stateErr(path+".id", "want a non-empty string, got %T", m["id"])
	}
	if pn, has := m["name"]; has && pn != nil {
		if s, ok := pn.(string); !ok || s != name {
			return nil, stateErr(path+".name", "%v does not match the key %q", pn, name)
		}
	}
	var props map[string]any
	if pv, has := m["properties"]; has && pv != nil {
		if props, err = asMap(pv, path+".properties"); err != nil {
			return nil, err
		}
	}
	p := &port{inst: a, id: id, name: name, dir: dir, props: defaultProps(dir)}
	maps.Copy(p.props, props)
	if d, has := props["direction"]; has && d != string(dir) {
		return nil, stateErr(path+".properties.direction", "%v on an %s port", d, dir)
	}
	for key, val := range m {
		switch key {
		case "name", "id", "properties", "queue":
		default:
			if p.extra == nil {
				p.extra = map[string]any{}
			}
			p.extra[key] = val
		}
	}
	if qv, has := m["queue"]; has && qv != nil {
		q, err := token.ImportQueue(qv)
		if err != nil {
			return nil, &StateError{Path: path + ".queue", Err: fmt.Errorf("%w: %w", ErrBadState, err)}
		}
		switch q := q.(type) {
		case *token.FIFO:
			if dir == In {
				rd := q.Readers()
				if len(rd) != 1 || rd[0] != id {
					return nil, stateErr(path+".queue.readers", "an inport queue is read by the port itself, got %v", rd)
				}
			}
			p.q = q
		case *token.OpaqueQueue:
			if q.QueueType() != token.QueueTypeNone {
				p.opaque = q
			}
		}
	}
	return p, nil
}

// decodeSys restores `_calvinsys`: timers and stdout become live objects for
// a hosted type; everything else (and everything of a shadow) is kept as is.
func (r *Runtime) decodeSys(a *instance, sysState map[string]any, live bool) error {
	if len(sysState) == 0 {
		return nil
	}
	a.sys = make(map[string]*sysObject, len(sysState))
	for ref, v := range sysState {
		path := "private._calvinsys." + ref
		if _, ok := refNumber(ref); !ok || !strings.HasPrefix(ref, a.id+"#") {
			return stateErr(path, "ref must be %q#<n>", a.id)
		}
		m, err := asMap(v, path)
		if err != nil {
			return err
		}
		capName, ok := m["name"].(string)
		if !ok {
			return stateErr(path+".name", "want a string, got %T", m["name"])
		}
		var args map[string]any
		if av, has := m["args"]; has && av != nil {
			if args, err = asMap(av, path+".args"); err != nil {
				return err
			}
		}
		o := &sysObject{ref: ref, name: capName, args: args, opaque: m["obj"]}
		if live {
			switch capName {
			case CapTimerOnce, CapTimerRepeating, CapSchedule:
				t, err := importTimer(path, capName, m["obj"], a.wake)
				if err != nil {
					return err
				}
				t.ref = ref
				o.timer, o.opaque = t, nil
			case CapStdout:
				o.stdout = &Stdout{ref: ref, mu: &r.stdoutMu, w: r.stdout}
			}
		}
		a.sys[ref] = o
	}
	return nil
}
