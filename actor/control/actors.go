package control

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sort"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/tunnel/storage"
)

// Runtime is what the actor routes need from the local actor runtime;
// *actor.Runtime implements it.
type Runtime interface {
	ActorSource
	Capabilities() []string
	Registry() *actor.Registry
	ActorIDs() []string
	PortID(actorID string, dir actor.Direction, name string) (string, error)
	PortState(portID string) (map[string]any, error)
	CreateActor(ctx context.Context, typeName string, args map[string]any, opts ...actor.CreateOption) (string, error)
	ImportActor(ctx context.Context, actorType string, actorState map[string]any, opts ...actor.ImportOption) (bool, error)
	DeleteActor(ctx context.Context, id string) error
	Report(ctx context.Context, id string, args map[string]any) (any, error)
	Connect(ctx context.Context, outPortID, inPortID string) error
	Disconnect(ctx context.Context, portID, peerPortID string, mode actor.DisconnectMode) error
	Apps() []actor.App
	CreateApp(name, id string) (string, error)
	DestroyApp(ctx context.Context, appID string, actorIDs []string) ([]string, error)
}

var _ Runtime = (*actor.Runtime)(nil)

// Network is what the routes need to reach actors on other nodes;
// *actor.Network implements it.
type Network interface {
	ConnectRemote(ctx context.Context, portID, peerNode, peerPortID string) error
	DisconnectRemote(ctx context.Context, portID, peerNode, peerPortID string, mode actor.DisconnectMode) error
	Migrate(ctx context.Context, actorID, toNode string) error
}

func (h *Handler) actorRoutes() {
	h.Route(http.MethodGet, "/capabilities", h.getCapabilities)
	h.Route(http.MethodGet, "/actors", h.getActors)
	h.Route(http.MethodPost, "/actor", h.postActor)
	h.Route(http.MethodGet, "/actor/{actor_id}", h.getActor)
	h.Route(http.MethodDelete, "/actor/{actor_id}", h.deleteActor)
	h.Route(http.MethodGet, "/actor/{actor_id}/report", h.report)
	h.Route(http.MethodPost, "/actor/{actor_id}/report", h.report)
	h.Route(http.MethodPost, "/actor/{actor_id}/migrate", h.migrate)
	h.Route(http.MethodGet, "/actor/{actor_id}/port/{port_id}", h.getPort)
	h.Route(http.MethodGet, "/actor/{actor_id}/port/{port_id}/state", h.getPortState)
	h.Route(http.MethodPost, "/connect", h.connect)
	h.Route(http.MethodPost, "/disconnect", h.disconnect)
	h.Route(http.MethodGet, "/applications", h.getApplications)
	h.Route(http.MethodGet, "/application/{application_id}", h.getApplication)
	h.Route(http.MethodDelete, "/application/{application_id}", h.deleteApplication)
	h.Route(http.MethodPost, "/deploy", h.deploy)
}

// lookup reads a registry record; ok is false when there is no registry
// or no record.
func (h *Handler) lookup(ctx context.Context, key string) (any, bool) {
	if h.reg == nil {
		return nil, false
	}
	v, err := h.reg.Get(ctx, key)
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) {
			h.log.Info("control: registry read failed", "key", key, "err", err)
		}
		return nil, false
	}
	return v, true
}

// flushRecords waits until Records has written what the runtime reported
// so far (e.g. the deletion of the records of destroyed actors), so that
// the route answers after the registry reflects it.
func (h *Handler) flushRecords(ctx context.Context) {
	if h.records == nil {
		return
	}
	if err := h.records.Flush(ctx); err != nil {
		h.log.Warn("control: registry records not written", "err", err)
	}
}

// sync writes an actor's records before the route answers.
func (h *Handler) sync(ctx context.Context, actorIDs ...string) {
	if h.records == nil {
		return
	}
	if err := h.records.Sync(ctx, actorIDs...); err != nil {
		h.log.Warn("control: registry records not written", "actors", actorIDs, "err", err)
	}
}

// GET /node/{node_id} → the node-<id> record.
func (h *Handler) getNode(ctx context.Context, req *Request) Response {
	if v, ok := h.lookup(ctx, storage.PrefixNode+req.PathValue("node_id")); ok {
		return OK(v)
	}
	return Status(http.StatusNotFound)
}

// GET /capabilities → the runtime's capabilities.
func (h *Handler) getCapabilities(context.Context, *Request) Response {
	caps := h.rt.Capabilities()
	if caps == nil {
		caps = []string{}
	}
	return OK(caps)
}

// GET /actors → ids of the local actors.
func (h *Handler) getActors(context.Context, *Request) Response {
	ids := h.rt.ActorIDs()
	if ids == nil {
		ids = []string{}
	}
	return OK(ids)
}

// POST /actor {"actor_type", "args", "deploy_args"} → {"actor_id"}; every
// failure is 500 without body, as in Calvin.
func (h *Handler) postActor(ctx context.Context, req *Request) Response {
	body, ok := wireValue(req.Body).(map[string]any)
	if !ok {
		return Status(http.StatusInternalServerError)
	}
	typ, ok := str(body, "actor_type")
	if !ok {
		return Status(http.StatusInternalServerError)
	}
	args := map[string]any{}
	if a, present := body["args"]; present && a != nil {
		if args, ok = a.(map[string]any); !ok {
			return Status(http.StatusInternalServerError)
		}
	}
	var opts []actor.CreateOption
	if da, present := body["deploy_args"]; present && da != nil {
		m, ok := da.(map[string]any)
		if !ok {
			return Status(http.StatusInternalServerError)
		}
		app, ok := str(m, "app_id")
		if !ok || app == "" {
			return Status(http.StatusInternalServerError)
		}
		if slices.ContainsFunc(h.rt.Apps(), func(a actor.App) bool { return a.ID == app }) {
			opts = append(opts, actor.InApp(app))
		}
	}
	id, err := h.rt.CreateActor(ctx, typ, args, opts...)
	if err != nil {
		h.log.Info("control: actor not created", "type", typ, "err", err)
		return Status(http.StatusInternalServerError)
	}
	h.sync(ctx, id)
	if info, ok := h.rt.Actor(id); ok && info.App != "" {
		h.addToAppRecord(ctx, info.App, id, info.Name)
	}
	return OK(map[string]any{"actor_id": id})
}

// GET /actor/{actor_id} → the actor-<id> record: the live one for a local
// actor, else the registry's.
func (h *Handler) getActor(ctx context.Context, req *Request) Response {
	id := req.PathValue("actor_id")
	if info, ok := h.rt.Actor(id); ok {
		return OK(ActorRecord(h.rt.NodeID(), info).Value())
	}
	if v, ok := h.lookup(ctx, storage.PrefixActor+id); ok {
		return OK(v)
	}
	return Status(http.StatusNotFound)
}

// DELETE /actor/{actor_id} destroys a local actor at once (no
// PORT_DISCONNECT to its peers) and deletes its records.
func (h *Handler) deleteActor(ctx context.Context, req *Request) Response {
	id := req.PathValue("actor_id")
	if _, ok := h.rt.Actor(id); !ok {
		return Status(http.StatusNotFound)
	}
	if err := h.rt.DeleteActor(ctx, id); err != nil {
		if errors.Is(err, actor.ErrUnknownActor) {
			return Status(http.StatusNotFound)
		}
		h.log.Info("control: actor not deleted", "actor", id, "err", err)
		return Status(http.StatusInternalServerError)
	}
	h.flushRecords(ctx)
	return OK(nil)
}

// GET and POST /actor/{actor_id}/report: the report value; 404 for any
// failure.
func (h *Handler) report(ctx context.Context, req *Request) Response {
	args := map[string]any{}
	if req.Body != nil {
		m, ok := wireValue(req.Body).(map[string]any)
		if !ok {
			return Status(http.StatusNotFound)
		}
		args = m
	}
	v, err := h.rt.Report(ctx, req.PathValue("actor_id"), args)
	if err != nil {
		return Status(http.StatusNotFound)
	}
	return OK(v)
}

// POST /actor/{actor_id}/migrate {"peer_node_id"} or {"requirements", ...}.
func (h *Handler) migrate(ctx context.Context, req *Request) Response {
	id := req.PathValue("actor_id")
	body := req.BodyMap()
	peer, hasPeer := str(body, "peer_node_id")
	reqs, hasReqs := body["requirements"]
	if !hasPeer && !hasReqs {
		return Status(http.StatusBadRequest)
	}
	if hasReqs && !hasPeer {
		if _, ok := reqs.([]any); !ok {
			return Status(http.StatusBadRequest)
		}
	}
	if _, local := h.rt.Actor(id); local {
		if !hasPeer {
			// Placement by requirements is not implemented (§9.4 allows 501).
			return Status(http.StatusNotImplemented)
		}
		if peer == h.rt.NodeID() {
			return OK(nil)
		}
		if h.net == nil {
			return Status(http.StatusInternalServerError)
		}
		if err := h.net.Migrate(ctx, id, peer); err != nil {
			h.log.Info("control: migration failed", "actor", id, "to", peer, "err", err)
			return Status(migrationStatus(err))
		}
		return OK(nil)
	}
	// Elsewhere: ask the actor's host (ACTOR_MIGRATE, §9.4).
	v, ok := h.lookup(ctx, storage.PrefixActor+id)
	if !ok {
		return Status(http.StatusNotFound)
	}
	rec, err := storage.ParseActorRecord(id, v)
	if err != nil || rec.NodeID == "" || rec.NodeID == h.node.ID() {
		return Status(http.StatusNotFound)
	}
	msg := &wire.ActorMigrate{ActorID: id, PeerNodeID: peer}
	if !hasPeer {
		msg.Requirements = wireValue(reqs)
		msg.Extend, _ = body["extend"].(bool)
		msg.Move, _ = body["move"].(bool)
	}
	resp, err := h.node.Request(ctx, rec.NodeID, msg)
	if err != nil {
		// calvin-base migrates but never answers the direct form (§9.4):
		// the registry says whether the actor has moved.
		if hasPeer && h.actorIsOn(ctx, id, peer) {
			return OK(nil)
		}
		h.log.Info("control: ACTOR_MIGRATE failed", "actor", id, "host", rec.NodeID, "err", err)
		return Status(http.StatusGatewayTimeout)
	}
	if resp.OK() {
		return OK(nil)
	}
	return Status(resp.Status)
}

// actorIsOn reports whether actor id lives on node, here or by its
// registry record.
func (h *Handler) actorIsOn(ctx context.Context, id, node string) bool {
	if node == h.rt.NodeID() {
		_, ok := h.rt.Actor(id)
		return ok
	}
	if h.reg == nil {
		return false
	}
	n, err := Locator{Registry: h.reg}.ActorNode(ctx, id)
	return err == nil && n == node
}

// migrationStatus maps a migration error to the status Calvin answers.
func migrationStatus(err error) int {
	var me *actor.MigrationError
	switch {
	case errors.Is(err, actor.ErrMigrating):
		return http.StatusBadRequest
	case errors.As(err, &me) && me.Status != 0 && me.Status != http.StatusOK:
		return me.Status
	}
	return http.StatusInternalServerError
}

// GET /actor/{actor_id}/port/{port_id} → the port-<id> record (looked up
// by port id only): the live one for a local port, else the registry's.
func (h *Handler) getPort(ctx context.Context, req *Request) Response {
	pid := req.PathValue("port_id")
	if p, ok := h.rt.Port(pid); ok {
		rec := PortRecord(h.rt.NodeID(), p)
		if h.records != nil {
			rec = h.records.portRecord(ctx, h.rt.NodeID(), p)
		}
		return OK(rec.Value())
	}
	if v, ok := h.lookup(ctx, storage.PrefixPort+pid); ok {
		return OK(v)
	}
	return Status(http.StatusNotFound)
}

// GET /actor/{actor_id}/port/{port_id}/state → the port's queue state;
// 404 with body {} when the port is not a port of that local actor.
func (h *Handler) getPortState(_ context.Context, req *Request) Response {
	notFound := Response{Status: http.StatusNotFound, Body: map[string]any{}}
	p, ok := h.rt.Port(req.PathValue("port_id"))
	if !ok || p.ActorID != req.PathValue("actor_id") {
		return notFound
	}
	st, err := h.rt.PortState(p.ID)
	if err != nil {
		return notFound
	}
	return OK(st)
}

// portRef is one side of a connect / disconnect request.
type portRef struct {
	portID, actorID, name, dir string
}

func (p portRef) byName() bool { return p.actorID != "" && p.name != "" && p.dir != "" }

func readPortRef(m map[string]any, prefix string) portRef {
	var r portRef
	r.portID, _ = str(m, prefix+"port_id")
	r.actorID, _ = str(m, prefix+"actor_id")
	r.name, _ = str(m, prefix+"port_name")
	r.dir, _ = str(m, prefix+"port_dir")
	return r
}

// localPort resolves a port reference on this node.
func (h *Handler) localPort(p portRef) (actor.PortInfo, bool) {
	if p.portID != "" {
		return h.rt.Port(p.portID)
	}
	if !p.byName() {
		return actor.PortInfo{}, false
	}
	id, err := h.rt.PortID(p.actorID, actor.Direction(p.dir), p.name)
	if err != nil {
		return actor.PortInfo{}, false
	}
	return h.rt.Port(id)
}

// remotePort resolves a port reference through the registry: its id and
// node. nodeHint, when set, is the node the caller named.
func (h *Handler) remotePort(ctx context.Context, p portRef, nodeHint string) (id, node string, ok bool) {
	if p.portID != "" {
		if nodeHint != "" {
			return p.portID, nodeHint, true
		}
		v, found := h.lookup(ctx, storage.PrefixPort+p.portID)
		if !found {
			return "", "", false
		}
		rec, err := storage.ParsePortRecord(p.portID, v)
		if err != nil || rec.NodeID == "" {
			return "", "", false
		}
		return p.portID, rec.NodeID, true
	}
	if !p.byName() {
		return "", "", false
	}
	v, found := h.lookup(ctx, storage.PrefixActor+p.actorID)
	if !found {
		return "", "", false
	}
	rec, err := storage.ParseActorRecord(p.actorID, v)
	if err != nil {
		return "", "", false
	}
	ports := rec.InPorts
	if p.dir == string(actor.Out) {
		ports = rec.OutPorts
	}
	node = rec.NodeID
	if nodeHint != "" {
		node = nodeHint
	}
	for _, pr := range ports {
		if pr.Name == p.name && node != "" {
			return pr.ID, node, true
		}
	}
	return "", "", false
}

// POST /connect: connect a local port to a local or remote peer port.
func (h *Handler) connect(ctx context.Context, req *Request) Response {
	body := req.BodyMap()
	if body == nil {
		return Status(http.StatusBadRequest)
	}
	local, ok := h.localPort(readPortRef(body, ""))
	if !ok {
		return Status(http.StatusBadRequest)
	}
	peerRef := readPortRef(body, "peer_")
	if peerRef.portID == "" && !peerRef.byName() {
		return Status(http.StatusBadRequest)
	}
	peerNode, _ := str(body, "peer_node_id")
	var err error
	var peerID string
	if peer, isLocal := h.localPort(peerRef); isLocal && (peerNode == "" || peerNode == h.rt.NodeID()) {
		peerID = peer.ID
		if local.Direction == actor.Out {
			err = h.rt.Connect(ctx, local.ID, peer.ID)
		} else {
			err = h.rt.Connect(ctx, peer.ID, local.ID)
		}
	} else {
		if peerNode == h.rt.NodeID() {
			return Status(http.StatusNotFound)
		}
		var node string
		peerID, node, ok = h.remotePort(ctx, peerRef, peerNode)
		if !ok || node == h.rt.NodeID() {
			return Status(http.StatusNotFound)
		}
		if h.net == nil {
			return Status(http.StatusInternalServerError)
		}
		if h.records != nil {
			h.records.PeerNode(peerID, node)
		}
		err = h.net.ConnectRemote(ctx, local.ID, node, peerID)
	}
	if err != nil {
		h.log.Info("control: connect failed", "port", local.ID, "peer_port", peerID, "err", err)
		return Status(http.StatusInternalServerError)
	}
	h.sync(ctx, local.ActorID)
	if p, ok := h.rt.Port(peerID); ok && p.ActorID != local.ActorID {
		h.sync(ctx, p.ActorID)
	}
	return OK(map[string]any{"peer_port_id": peerID})
}

// disconnectMode reads a DISCONNECT name; null and unknown names are
// TEMPORARY (§12.2).
func disconnectMode(v any) actor.DisconnectMode {
	switch v {
	case "TERMINATE":
		return actor.Terminate
	case "EXHAUST":
		return actor.ExhaustPeer
	}
	return actor.Temporary
}

// POST /disconnect: disconnect one port or every port of an actor.
func (h *Handler) disconnect(ctx context.Context, req *Request) Response {
	body := req.BodyMap()
	if body == nil {
		return Status(http.StatusBadRequest)
	}
	ref := readPortRef(body, "")
	mode := disconnectMode(body["terminate"])
	var ports []actor.PortInfo
	switch {
	case ref.portID != "" || (ref.actorID != "" && ref.name != ""):
		if ref.portID == "" && ref.dir == "" {
			// A name without direction: whichever port has it.
			for _, d := range []actor.Direction{actor.In, actor.Out} {
				if p, ok := h.localPort(portRef{actorID: ref.actorID, name: ref.name, dir: string(d)}); ok {
					ports = append(ports, p)
				}
			}
			if len(ports) == 0 {
				return Status(http.StatusNotFound)
			}
			break
		}
		p, ok := h.localPort(ref)
		if !ok {
			return Status(http.StatusNotFound)
		}
		ports = []actor.PortInfo{p}
	case ref.actorID != "":
		info, ok := h.rt.Actor(ref.actorID)
		if !ok {
			return Status(http.StatusNotFound)
		}
		if ref.dir != string(actor.Out) {
			ports = append(ports, info.Inports...)
		}
		if ref.dir != string(actor.In) {
			ports = append(ports, info.Outports...)
		}
	default:
		return Status(http.StatusBadRequest)
	}
	status := http.StatusOK
	touched := map[string]bool{}
	for _, p := range ports {
		touched[p.ActorID] = true
		for i, peer := range p.Peers {
			if i < len(p.Local) && p.Local[i] {
				if pp, ok := h.rt.Port(peer); ok {
					touched[pp.ActorID] = true
				}
				_ = h.rt.Disconnect(ctx, p.ID, peer, mode)
				continue
			}
			node := ""
			if h.net != nil {
				if _, n, ok := h.remotePort(ctx, portRef{portID: peer}, ""); ok {
					node = n
				}
			}
			if node == "" {
				// The peer's node is unknown: detach here only.
				h.log.Info("control: peer node of a remote connection unknown; disconnecting locally", "port", p.ID, "peer_port", peer)
				_ = h.rt.Disconnect(ctx, p.ID, peer, mode)
				continue
			}
			if err := h.net.DisconnectRemote(ctx, p.ID, node, peer, mode); err != nil {
				h.log.Info("control: disconnect failed", "port", p.ID, "peer_port", peer, "err", err)
				status = max(status, http.StatusInternalServerError)
				_ = h.rt.Disconnect(ctx, p.ID, peer, mode)
			}
		}
	}
	ids := make([]string, 0, len(touched))
	for id := range touched {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	h.sync(ctx, ids...)
	if status != http.StatusOK {
		return Status(status)
	}
	return OK(nil)
}
