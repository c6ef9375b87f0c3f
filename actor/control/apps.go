package control

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/google/uuid"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/tunnel/storage"
)

// GET /applications → ids of the applications deployed on this node.
func (h *Handler) getApplications(context.Context, *Request) Response {
	ids := []string{}
	for _, a := range h.rt.Apps() {
		ids = append(ids, a.ID)
	}
	sort.Strings(ids)
	return OK(ids)
}

// appRecord renders a local application as its application-<id> record.
func appRecord(app actor.App, names map[string]string, origin string) map[string]any {
	actors := make([]any, 0, len(app.Actors))
	nameMap := map[string]any{}
	for _, id := range app.Actors {
		actors = append(actors, id)
		nameMap[id] = names[id]
	}
	return map[string]any{"name": app.Name, "ns": namespace(app.Name), "actors": actors,
		"actors_name_map": nameMap, "origin_node_id": origin}
}

// namespace is an application name without directory and extension.
func namespace(name string) string {
	base := path.Base(name)
	if base == "." || base == "/" {
		return name
	}
	return strings.TrimSuffix(base, path.Ext(base))
}

func (h *Handler) localApp(id string) (actor.App, bool) {
	for _, a := range h.rt.Apps() {
		if a.ID == id {
			return a, true
		}
	}
	return actor.App{}, false
}

func (h *Handler) localAppRecord(app actor.App) map[string]any {
	names := map[string]string{}
	for _, id := range app.Actors {
		if info, ok := h.rt.Actor(id); ok {
			names[id] = info.Name
		}
	}
	return appRecord(app, names, h.rt.NodeID())
}

// addToAppRecord adds an actor to the application-<id> record, if there
// is one.
func (h *Handler) addToAppRecord(ctx context.Context, appID, actorID, name string) {
	v, ok := h.lookup(ctx, storage.PrefixApplication+appID)
	if !ok {
		return
	}
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	rec := make(map[string]any, len(m))
	for k, e := range m {
		rec[k] = e
	}
	actors, _ := m["actors"].([]any)
	rec["actors"] = append(slices.Clone(actors), actorID)
	names := map[string]any{}
	if old, ok := m["actors_name_map"].(map[string]any); ok {
		for k, e := range old {
			names[k] = e
		}
	}
	names[actorID] = name
	rec["actors_name_map"] = names
	if err := h.reg.Set(ctx, storage.PrefixApplication+appID, rec); err != nil {
		h.log.Warn("control: application record not updated", "app", appID, "err", err)
	}
}

// GET /application/{application_id} → the application-<id> record.
func (h *Handler) getApplication(ctx context.Context, req *Request) Response {
	id := req.PathValue("application_id")
	if v, ok := h.lookup(ctx, storage.PrefixApplication+id); ok {
		return OK(v)
	}
	if app, ok := h.localApp(id); ok {
		return OK(h.localAppRecord(app))
	}
	return Status(http.StatusNotFound)
}

// DELETE /application/{application_id} destroys the application's actors
// here and, with APP_DESTROY, on the other nodes hosting some of them
// (§9.5), then deletes application-<id>. 500 with the ids of the actors
// that could not be destroyed.
func (h *Handler) deleteApplication(ctx context.Context, req *Request) Response {
	id := req.PathValue("application_id")
	var actors []string
	origin := ""
	app, isLocal := h.localApp(id)
	if v, ok := h.lookup(ctx, storage.PrefixApplication+id); ok {
		m, _ := v.(map[string]any)
		list, _ := m["actors"].([]any)
		for _, a := range list {
			if s, ok := a.(string); ok {
				actors = append(actors, s)
			}
		}
		origin, _ = str(m, "origin_node_id")
	} else if isLocal {
		actors = slices.Clone(app.Actors)
	} else {
		return Status(http.StatusNotFound)
	}
	var failed []string
	var local []string
	remote := map[string][]string{} // node → actor ids
	for _, a := range actors {
		if _, ok := h.rt.Actor(a); ok {
			local = append(local, a)
			continue
		}
		if h.reg == nil {
			failed = append(failed, a)
			continue
		}
		node, err := Locator{Registry: h.reg}.ActorNode(ctx, a)
		if err != nil || node == h.rt.NodeID() {
			failed = append(failed, a)
			continue
		}
		remote[node] = append(remote[node], a)
	}
	if len(local) > 0 || isLocal {
		missing, err := h.rt.DestroyApp(ctx, id, local)
		if err != nil && !errors.Is(err, actor.ErrUnknownApp) {
			h.log.Info("control: application not destroyed", "app", id, "err", err)
		}
		failed = append(failed, missing...)
		h.flushRecords(ctx)
	}
	nodes := make([]string, 0, len(remote))
	for n := range remote {
		nodes = append(nodes, n)
	}
	sort.Strings(nodes)
	for _, n := range nodes {
		resp, err := h.node.Request(ctx, n, &wire.AppDestroy{AppUUID: id, ActorUUIDs: remote[n]})
		if err != nil {
			failed = append(failed, remote[n]...)
			continue
		}
		if !resp.OK() {
			list, ok := resp.Data.([]any)
			if !ok {
				failed = append(failed, remote[n]...)
			}
			for _, e := range list {
				if s, ok := e.(string); ok {
					failed = append(failed, s)
				}
			}
		}
	}
	if len(remote) == 0 && len(local) == 0 && origin != "" && origin != h.rt.NodeID() {
		// None of the actors is anywhere any more: tell the origin (§9.5).
		if _, err := h.node.Request(ctx, origin, &wire.AppDestroy{AppUUID: id, ActorUUIDs: []string{}}); err != nil {
			h.log.Info("control: APP_DESTROY to the origin failed", "app", id, "origin", origin, "err", err)
		}
	}
	if h.reg != nil {
		if err := h.reg.Delete(ctx, storage.PrefixApplication+id); err != nil {
			h.log.Warn("control: application record not deleted", "app", id, "err", err)
		}
	}
	if len(failed) > 0 {
		return Response{Status: http.StatusInternalServerError, Body: failed}
	}
	return OK(nil)
}

// deployRequest is a decoded POST /deploy body with an app_info (§12.3).
type deployRequest struct {
	Name        string
	Actors      []deployActor // sorted by name
	Connections []deployConnection
	PortProps   map[string][]deployPortProps
}

type deployActor struct {
	Name, Type string
	Args       map[string]any
}

type deployConnection struct {
	FromActor, FromPort, ToActor, ToPort string
}

type deployPortProps struct {
	Port, Direction string
	Properties      map[string]any
}

// deployError is an answer to a /deploy request that cannot be deployed.
type deployError struct {
	status int
	body   map[string]any
}

func (e *deployError) Error() string { return fmt.Sprintf("deploy: %d %v", e.status, e.body) }

func exception(msg string) *deployError {
	return &deployError{status: http.StatusInternalServerError, body: map[string]any{"exception": msg}}
}

// decodeDeploy reads a /deploy body (decoded JSON, wire values). Every
// problem is a *deployError with Calvin's status and body.
func decodeDeploy(body any) (*deployRequest, error) {
	m, ok := body.(map[string]any)
	if !ok {
		return nil, exception("request body is not a JSON object")
	}
	name, ok := str(m, "name")
	if !ok {
		return nil, exception("'name'")
	}
	info, hasInfo := m["app_info"]
	if !hasInfo || info == nil {
		if _, hasScript := m["script"]; hasScript {
			return nil, &deployError{status: http.StatusBadRequest, body: map[string]any{
				"errors":   []any{map[string]any{"reason": "CalvinScript is not supported, send app_info"}},
				"warnings": []any{}}}
		}
		return nil, exception("'app_info' or 'script' is required")
	}
	app, ok := info.(map[string]any)
	if !ok {
		return nil, exception("app_info is not an object")
	}
	if v, present := app["valid"]; present && v != true {
		return nil, &deployError{status: http.StatusInternalServerError, body: map[string]any{
			"errors": []any{}, "warnings": []any{}, "exception": "Deploy information is not valid"}}
	}
	req := &deployRequest{Name: name, PortProps: map[string][]deployPortProps{}}
	actors, ok := app["actors"].(map[string]any)
	if !ok && app["actors"] != nil {
		return nil, exception("app_info.actors is not an object")
	}
	for an, av := range actors {
		a, ok := av.(map[string]any)
		if !ok {
			return nil, exception(fmt.Sprintf("actor %q is not an object", an))
		}
		typ, ok := str(a, "actor_type")
		if !ok || typ == "" {
			return nil, exception(fmt.Sprintf("actor %q has no actor_type", an))
		}
		args := map[string]any{}
		if raw, present := a["args"]; present && raw != nil {
			if args, ok = raw.(map[string]any); !ok {
				return nil, exception(fmt.Sprintf("args of actor %q is not an object", an))
			}
		}
		req.Actors = append(req.Actors, deployActor{Name: an, Type: typ, Args: args})
	}
	sort.Slice(req.Actors, func(i, j int) bool { return req.Actors[i].Name < req.Actors[j].Name })
	conns, ok := app["connections"].(map[string]any)
	if !ok && app["connections"] != nil {
		return nil, exception("app_info.connections is not an object")
	}
	srcs := make([]string, 0, len(conns))
	for s := range conns {
		srcs = append(srcs, s)
	}
	sort.Strings(srcs)
	for _, src := range srcs {
		fa, fp, ok := splitPort(src)
		if !ok {
			return nil, exception(fmt.Sprintf("bad connection source %q", src))
		}
		dsts, ok := conns[src].([]any)
		if !ok {
			return nil, exception(fmt.Sprintf("destinations of %q are not a list", src))
		}
		for _, d := range dsts {
			ds, _ := d.(string)
			ta, tp, ok := splitPort(ds)
			if !ok {
				return nil, exception(fmt.Sprintf("bad connection destination %v", d))
			}
			req.Connections = append(req.Connections, deployConnection{FromActor: fa, FromPort: fp, ToActor: ta, ToPort: tp})
		}
	}
	if pp, present := app["port_properties"]; present && pp != nil {
		ppm, ok := pp.(map[string]any)
		if !ok {
			return nil, exception("app_info.port_properties is not an object")
		}
		for an, list := range ppm {
			l, ok := list.([]any)
			if !ok {
				return nil, exception(fmt.Sprintf("port_properties of %q is not a list", an))
			}
			for _, e := range l {
				em, ok := e.(map[string]any)
				if !ok {
					return nil, exception(fmt.Sprintf("port_properties entry of %q is not an object", an))
				}
				p := deployPortProps{}
				p.Port, _ = str(em, "port")
				p.Direction, _ = str(em, "direction")
				p.Properties, _ = em["properties"].(map[string]any)
				req.PortProps[an] = append(req.PortProps[an], p)
			}
		}
	}
	return req, nil
}

// splitPort splits "<actor name>.<port>" at the last dot.
func splitPort(s string) (string, string, bool) {
	i := strings.LastIndexByte(s, '.')
	if i <= 0 || i == len(s)-1 {
		return "", "", false
	}
	return s[:i], s[i+1:], true
}

// POST /deploy with a precompiled app_info (§12.3): every actor is created
// on this node, the connections are made, application-<id> is written.
// If anything fails, what was created is destroyed and the answer is 500
// {"exception": ...}.
func (h *Handler) deploy(ctx context.Context, req *Request) Response {
	d, err := decodeDeploy(wireValue(req.Body))
	if err != nil {
		var de *deployError
		if errors.As(err, &de) {
			return Response{Status: de.status, Body: de.body}
		}
		return Status(http.StatusInternalServerError)
	}
	appID, err := h.rt.CreateApp(d.Name, "")
	if err != nil {
		return Response{Status: http.StatusInternalServerError, Body: map[string]any{"exception": err.Error()}}
	}
	ids := map[string]string{}
	fail := func(err error) Response {
		h.log.Info("control: deployment failed", "app", d.Name, "err", err)
		var created []string
		for _, id := range ids {
			created = append(created, id)
		}
		_, _ = h.rt.DestroyApp(ctx, appID, created)
		h.flushRecords(ctx)
		return Response{Status: http.StatusInternalServerError, Body: map[string]any{"exception": err.Error()}}
	}
	for _, a := range d.Actors {
		if _, known := h.rt.Registry().Lookup(a.Type); !known {
			// A type this node cannot host becomes a shadow actor (§12.3,
			// §9.3) that holds the ports the application names.
			id, err := h.createShadow(ctx, appID, a, d)
			if err != nil {
				return fail(fmt.Errorf("shadow actor %q: %w", a.Name, err))
			}
			ids[a.Name] = id
			continue
		}
		args := make(map[string]any, len(a.Args)+1)
		for k, v := range a.Args {
			args[k] = v
		}
		args["name"] = a.Name
		id, err := h.rt.CreateActor(ctx, a.Type, args, actor.InApp(appID))
		if err != nil {
			return fail(fmt.Errorf("actor %q: %w", a.Name, err))
		}
		ids[a.Name] = id
	}
	for _, c := range d.Connections {
		from, ok1 := ids[c.FromActor]
		to, ok2 := ids[c.ToActor]
		if !ok1 || !ok2 {
			return fail(fmt.Errorf("connection %s.%s > %s.%s names an unknown actor", c.FromActor, c.FromPort, c.ToActor, c.ToPort))
		}
		out, err := h.rt.PortID(from, actor.Out, c.FromPort)
		if err != nil {
			return fail(err)
		}
		in, err := h.rt.PortID(to, actor.In, c.ToPort)
		if err != nil {
			return fail(err)
		}
		if err := h.rt.Connect(ctx, out, in); err != nil {
			return fail(err)
		}
	}
	actorMap := map[string]any{}
	names := map[string]string{}
	for n, id := range ids {
		actorMap[n] = id
		names[id] = n
	}
	for _, a := range d.Actors {
		h.sync(ctx, ids[a.Name])
	}
	if app, ok := h.localApp(appID); ok && h.reg != nil {
		app.Name = d.Name
		if err := h.reg.Set(ctx, storage.PrefixApplication+appID, appRecord(app, names, h.rt.NodeID())); err != nil {
			h.log.Warn("control: application record not written", "app", appID, "err", err)
		}
	}
	return OK(map[string]any{"application_id": appID, "actor_map": actorMap, "replication_map": map[string]any{},
		"placement": nil, "requirements_fulfilled": true})
}

// createShadow creates a shadow actor of an unknown type for a deployment:
// its ports are those the connections and port_properties name, its
// creation arguments are kept as managed._shadow_args, so that a node that
// hosts the type initialises it with them when the shadow migrates there.
func (h *Handler) createShadow(ctx context.Context, appID string, a deployActor, d *deployRequest) (string, error) {
	ports := map[actor.Direction]map[string]any{actor.In: {}, actor.Out: {}}
	add := func(dir actor.Direction, name string, props map[string]any) {
		p, ok := ports[dir][name].(map[string]any)
		if !ok {
			p = map[string]any{"id": uuid.NewString(), "name": name, "properties": map[string]any{}}
			ports[dir][name] = p
		}
		for k, v := range props {
			if k != "direction" {
				p["properties"].(map[string]any)[k] = v
			}
		}
	}
	for _, c := range d.Connections {
		if c.FromActor == a.Name {
			add(actor.Out, c.FromPort, nil)
		}
		if c.ToActor == a.Name {
			add(actor.In, c.ToPort, nil)
		}
	}
	for _, pp := range d.PortProps[a.Name] {
		if pp.Port != "" && (pp.Direction == string(actor.In) || pp.Direction == string(actor.Out)) {
			add(actor.Direction(pp.Direction), pp.Port, pp.Properties)
		}
	}
	id := uuid.NewString()
	st := map[string]any{
		"private": map[string]any{"_id": id, "_name": a.Name, "_has_started": false,
			"inports": ports[actor.In], "outports": ports[actor.Out]},
		"managed":  map[string]any{"_shadow_args": a.Args},
		"security": map[string]any{},
		"custom":   map[string]any{},
	}
	if _, err := h.rt.ImportActor(ctx, a.Type, st, actor.ImportShadow(), actor.ImportInApp(appID)); err != nil {
		return "", err
	}
	return id, nil
}

// DELETE /node[/clean|/migrate|/now]: 204, then the node stops.
func (h *Handler) deleteNode(_ context.Context, req *Request) Response {
	mode := ShutdownClean
	switch path.Base(strings.TrimSuffix(req.URL.Path, "/")) {
	case "migrate":
		mode = ShutdownMigrate
	case "now":
		mode = ShutdownNow
	}
	go h.stop(mode)
	return OK(nil)
}
