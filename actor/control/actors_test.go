package control

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/actor/std"
	"github.com/meshkit/meshkit/rt2rt"
	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/tunnel/storage"
)

const unknownID = "2b6e8f4a-1f7c-4c7e-9a43-5d2e1f0c9b11"

func TestCapabilitiesAndNode(t *testing.T) {
	s := newStack(t, nil)
	var caps []string
	r := s.do(t, "GET", "/capabilities", nil, &caps)
	assert.Equal(t, 200, r.status)
	for _, c := range []string{actor.CapSchedule, actor.CapTimerOnce, actor.CapTimerRepeating, actor.CapStdout} {
		assert.Contains(t, caps, c)
	}

	ctx := context.Background()
	rec := &storage.NodeRecord{ID: s.node.ID(), URIs: s.node.URIs(), ControlURIs: []string{s.url},
		Attributes: storage.NodeAttributes{Public: map[string]any{}, IndexedPublic: []string{storage.NodeNameIndex("", "", "", "", "a")}}}
	require.NoError(t, s.reg.RegisterNode(ctx, rec))
	var got map[string]any
	r = s.do(t, "GET", "/node/"+s.node.ID(), nil, &got)
	assert.Equal(t, 200, r.status)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	assert.Equal(t, []any{s.node.URIs()[0]}, got["uris"])
	assert.Equal(t, []any{s.url}, got["control_uris"])
	assert.Equal(t, map[string]any{"public": map[string]any{}, "indexed_public": []any{"/node/attribute/node_name/////a"}}, got["attributes"])

	r = s.do(t, "GET", "/node/"+unknownID, nil, nil)
	assert.Equal(t, 404, r.status)
	assert.Empty(t, r.body)
}

func TestCreateGetDeleteActor(t *testing.T) {
	s := newStack(t, nil)
	var ids []string
	s.do(t, "GET", "/actors", nil, &ids)
	assert.Equal(t, []string{}, ids)

	id := s.createActor(t, "test.Sink", map[string]any{"name": "snk", "store_tokens": true})
	s.do(t, "GET", "/actors", nil, &ids)
	assert.Equal(t, []string{id}, ids)

	var rec map[string]any
	r := s.do(t, "GET", "/actor/"+id, nil, &rec)
	assert.Equal(t, 200, r.status)
	assert.Equal(t, "snk", rec["name"])
	assert.Equal(t, "test.Sink", rec["type"])
	assert.Equal(t, s.node.ID(), rec["node_id"])
	assert.Equal(t, false, rec["is_shadow"])
	inports := rec["inports"].([]any)
	require.Len(t, inports, 1)
	assert.Equal(t, "token", inports[0].(map[string]any)["name"])
	portID := inports[0].(map[string]any)["id"].(string)
	assert.Equal(t, []any{}, rec["outports"])

	// The records are in the registry before POST /actor answered.
	v, err := s.registryGet(t, storage.PrefixActor+id)
	require.NoError(t, err)
	ar, err := storage.ParseActorRecord(id, v)
	require.NoError(t, err)
	assert.Equal(t, s.node.ID(), ar.NodeID)
	_, err = s.registryGet(t, storage.PrefixPort+portID)
	require.NoError(t, err)

	// An actor that is not here is read from the registry.
	other := &storage.ActorRecord{ID: unknownID, Name: "x", Type: "std.Identity", NodeID: "elsewhere",
		InPorts: []storage.PortRef{}, OutPorts: []storage.PortRef{}}
	require.NoError(t, s.reg.SetActor(context.Background(), other))
	r = s.do(t, "GET", "/actor/"+unknownID, nil, &rec)
	assert.Equal(t, 200, r.status)
	assert.Equal(t, "elsewhere", rec["node_id"])

	r = s.do(t, "DELETE", "/actor/"+id, nil, nil)
	assert.Equal(t, 204, r.status)
	assert.Empty(t, r.body)
	r = s.do(t, "GET", "/actor/"+id, nil, nil)
	assert.Equal(t, 404, r.status)
	_, err = s.registryGet(t, storage.PrefixActor+id)
	assert.ErrorIs(t, err, storage.ErrNotFound)
	_, err = s.registryGet(t, storage.PrefixPort+portID)
	assert.ErrorIs(t, err, storage.ErrNotFound)
	r = s.do(t, "DELETE", "/actor/"+id, nil, nil)
	assert.Equal(t, 404, r.status, "not on this node")
	r = s.do(t, "DELETE", "/actor/"+unknownID, nil, nil)
	assert.Equal(t, 404, r.status, "in the registry but not here")
}

func TestCreateActorErrors(t *testing.T) {
	s := newStack(t, nil)
	for _, tc := range []struct {
		body   string
		status int
	}{
		{`{"actor_type": "no.Such", "args": {}, "deploy_args": null}`, 500},
		{`{"actor_type": "test.Sink", "args": {"nope": 1}, "deploy_args": null}`, 500},
		{`{"actor_type": "std.Constant", "args": {}, "deploy_args": null}`, 500}, // mandatory data
		{`{"actor_type": "test.Sink", "args": {}, "deploy_args": {"app_name": "x"}}`, 500},
		{`{"actor_type": "test.Sink", "args": {}, "deploy_args": "x"}`, 500},
		{`{"actor_type": "test.Sink", "args": []}`, 500},
		{`{"args": {}}`, 500},
		{`[1, 2]`, 500},
		{``, 500},
		{`{"actor_type": `, 400},
	} {
		r := s.do(t, "POST", "/actor", tc.body, nil)
		assert.Equal(t, tc.status, r.status, tc.body)
		assert.Empty(t, r.body, tc.body)
	}
	var ids []string
	s.do(t, "GET", "/actors", nil, &ids)
	assert.Empty(t, ids)

	// A missing deploy_args is null; an app_id of an application here adds
	// the actor to it, an unknown one is ignored.
	appID, err := s.rt.CreateApp("app", "")
	require.NoError(t, err)
	r := s.do(t, "POST", "/actor", `{"actor_type": "test.Sink", "args": {"name": "a"}}`, nil)
	assert.Equal(t, 200, r.status)
	var out map[string]string
	r = s.do(t, "POST", "/actor", `{"actor_type": "test.Sink", "args": {"name": "b"}, "deploy_args": {"app_id": "`+appID+`"}}`, &out)
	assert.Equal(t, 200, r.status)
	info, ok := s.rt.Actor(out["actor_id"])
	require.True(t, ok)
	assert.Equal(t, appID, info.App)
	r = s.do(t, "POST", "/actor", `{"actor_type": "test.Sink", "args": {}, "deploy_args": {"app_id": "`+unknownID+`"}}`, nil)
	assert.Equal(t, 200, r.status)

	// An actor added to a deployed application joins its registry record.
	var d deployAnswer
	r = s.do(t, "POST", "/deploy", map[string]any{"name": "xflow", "app_info": xflow(1)}, &d)
	require.Equal(t, 200, r.status)
	r = s.do(t, "POST", "/actor", `{"actor_type": "test.Sink", "args": {"name": "extra"}, "deploy_args": {"app_id": "`+d.ApplicationID+`"}}`, &out)
	require.Equal(t, 200, r.status)
	var rec map[string]any
	s.do(t, "GET", "/application/"+d.ApplicationID, nil, &rec)
	assert.Len(t, rec["actors"], 3)
	assert.Contains(t, rec["actors"], out["actor_id"])
	assert.Equal(t, "extra", rec["actors_name_map"].(map[string]any)[out["actor_id"]])
}

func TestLocalConnectReportAndDisconnect(t *testing.T) {
	s := newStack(t, nil)
	src := s.createActor(t, "std.CountTimer", map[string]any{"name": "src", "sleep": 0.01})
	snk := s.createActor(t, "test.Sink", map[string]any{"name": "snk", "store_tokens": true})

	var out map[string]string
	r := s.do(t, "POST", "/connect", map[string]any{"actor_id": snk, "port_name": "token", "port_dir": "in",
		"peer_node_id": s.node.ID(), "peer_actor_id": src, "peer_port_name": "integer", "peer_port_dir": "out"}, &out)
	require.Equal(t, 200, r.status, r.body)
	outPort, err := s.rt.PortID(src, actor.Out, "integer")
	require.NoError(t, err)
	assert.Equal(t, outPort, out["peer_port_id"])

	require.Eventually(t, func() bool { return len(s.sinkTokens(t, snk)) >= 3 }, 10*time.Second, 10*time.Millisecond)
	toks := s.sinkTokens(t, snk)
	assert.True(t, isSequence(toks), "%v", toks)

	// The port record shows the connection, with this node as the peer's.
	inPort, err := s.rt.PortID(snk, actor.In, "token")
	require.NoError(t, err)
	var prec map[string]any
	r = s.do(t, "GET", "/actor/"+snk+"/port/"+inPort, nil, &prec)
	assert.Equal(t, 200, r.status)
	assert.Equal(t, true, prec["connected"])
	assert.Equal(t, []any{[]any{s.node.ID(), outPort}}, prec["peers"])
	assert.Equal(t, snk, prec["actor_id"])
	v, err := s.registryGet(t, storage.PrefixPort+inPort)
	require.NoError(t, err)
	assert.Equal(t, true, v.(map[string]any)["connected"])

	// Port state: the queue of the inport; another actor's id is 404 {}.
	var st map[string]any
	r = s.do(t, "GET", "/actor/"+snk+"/port/"+inPort+"/state", nil, &st)
	assert.Equal(t, 200, r.status)
	assert.Equal(t, "fanout_fifo", st["queuetype"])
	r = s.do(t, "GET", "/actor/"+src+"/port/"+inPort+"/state", nil, nil)
	assert.Equal(t, 404, r.status)
	assert.JSONEq(t, `{}`, r.body)
	r = s.do(t, "GET", "/actor/"+snk+"/port/"+unknownID+"/state", nil, nil)
	assert.Equal(t, 404, r.status)
	assert.JSONEq(t, `{}`, r.body)
	r = s.do(t, "GET", "/actor/"+snk+"/port/"+unknownID, nil, nil)
	assert.Equal(t, 404, r.status)
	assert.Empty(t, r.body)

	// POST report with keyword arguments: {"active": false} stops the sink.
	r = s.do(t, "POST", "/actor/"+snk+"/report", map[string]any{"active": false}, &toks)
	assert.Equal(t, 200, r.status)
	r = s.do(t, "POST", "/actor/"+snk+"/report", `[1]`, nil)
	assert.Equal(t, 404, r.status, "arguments that are not an object")
	r = s.do(t, "GET", "/actor/"+unknownID+"/report", nil, nil)
	assert.Equal(t, 404, r.status)
	assert.Empty(t, r.body)

	// Disconnect the sink's ports; both sides lose the connection.
	r = s.do(t, "POST", "/disconnect", map[string]any{"actor_id": snk, "terminate": "TERMINATE"}, nil)
	assert.Equal(t, 204, r.status)
	p, _ := s.rt.Port(inPort)
	assert.Empty(t, p.Peers)
	p, _ = s.rt.Port(outPort)
	assert.Empty(t, p.Peers)
	r = s.do(t, "GET", "/actor/"+snk+"/port/"+inPort, nil, &prec)
	assert.Equal(t, false, prec["connected"])

	// Connect again by port ids, disconnect one port by name and direction.
	r = s.do(t, "POST", "/connect", map[string]any{"port_id": outPort, "peer_port_id": inPort}, &out)
	require.Equal(t, 200, r.status)
	assert.Equal(t, inPort, out["peer_port_id"])
	r = s.do(t, "POST", "/disconnect", map[string]any{"actor_id": src, "port_name": "integer", "port_dir": "out"}, nil)
	assert.Equal(t, 204, r.status)
	p, _ = s.rt.Port(inPort)
	assert.Empty(t, p.Peers)
}

func TestConnectDisconnectErrors(t *testing.T) {
	s := newStack(t, nil)
	snk := s.createActor(t, "test.Sink", nil)
	// A port that was never connected has no queue yet.
	info, _ := s.rt.Actor(snk)
	r := s.do(t, "GET", "/actor/"+snk+"/port/"+info.Inports[0].ID+"/state", nil, nil)
	assert.Equal(t, 200, r.status)
	assert.JSONEq(t, `{"queuetype": "none"}`, r.body)
	for _, tc := range []struct {
		name   string
		body   any
		status int
	}{
		{"no body", "", 400},
		{"not an object", `[]`, 400},
		{"no local port", map[string]any{"peer_port_id": unknownID}, 400},
		{"unknown local port", map[string]any{"port_id": unknownID, "peer_port_id": unknownID}, 400},
		{"local port without direction", map[string]any{"actor_id": snk, "port_name": "token", "peer_port_id": unknownID}, 400},
		{"no peer", map[string]any{"actor_id": snk, "port_name": "token", "port_dir": "in"}, 400},
		{"unknown peer port", map[string]any{"actor_id": snk, "port_name": "token", "port_dir": "in", "peer_port_id": unknownID}, 404},
		{"unknown peer actor", map[string]any{"actor_id": snk, "port_name": "token", "port_dir": "in",
			"peer_actor_id": unknownID, "peer_port_name": "integer", "peer_port_dir": "out"}, 404},
		{"peer named on this node but absent", map[string]any{"actor_id": snk, "port_name": "token", "port_dir": "in",
			"peer_node_id": s.node.ID(), "peer_port_id": unknownID}, 404},
		{"two inports", map[string]any{"actor_id": snk, "port_name": "token", "port_dir": "in",
			"peer_actor_id": snk, "peer_port_name": "token", "peer_port_dir": "in"}, 500},
		{"malformed", `{"port_id": `, 400},
	} {
		r := s.do(t, "POST", "/connect", tc.body, nil)
		assert.Equal(t, tc.status, r.status, tc.name)
		assert.Empty(t, r.body, tc.name)
	}
	for _, tc := range []struct {
		name   string
		body   any
		status int
	}{
		{"no body", "", 400},
		{"nothing named", map[string]any{}, 400},
		{"unknown actor", map[string]any{"actor_id": unknownID}, 404},
		{"unknown port", map[string]any{"port_id": unknownID}, 404},
		{"unknown port name", map[string]any{"actor_id": snk, "port_name": "nope", "port_dir": "in"}, 404},
		{"unknown port name, no direction", map[string]any{"actor_id": snk, "port_name": "nope"}, 404},
		{"unconnected port", map[string]any{"actor_id": snk, "port_name": "token"}, 204},
		{"unconnected actor", map[string]any{"actor_id": snk, "terminate": "EXHAUST"}, 204},
	} {
		r := s.do(t, "POST", "/disconnect", tc.body, nil)
		assert.Equal(t, tc.status, r.status, tc.name)
		assert.Empty(t, r.body, tc.name)
	}
}

func TestDisconnectMode(t *testing.T) {
	assert.Equal(t, actor.Temporary, disconnectMode(nil))
	assert.Equal(t, actor.Temporary, disconnectMode("TEMPORARY"))
	assert.Equal(t, actor.Temporary, disconnectMode("bogus"))
	assert.Equal(t, actor.Terminate, disconnectMode("TERMINATE"))
	assert.Equal(t, actor.ExhaustPeer, disconnectMode("EXHAUST"))
}

func xflow(sleep float64) map[string]any {
	return map[string]any{
		"name":  "xflow",
		"valid": true,
		"actors": map[string]any{
			"xflow:src": map[string]any{"actor_type": "std.CountTimer", "args": map[string]any{"sleep": sleep},
				"signature": "3bf2bdf645bf20cb21bd6134d016106923c2697f8694137a471b9121b12cb6aa"},
			"xflow:snk": map[string]any{"actor_type": "test.Sink", "args": map[string]any{"store_tokens": true}},
		},
		"connections": map[string]any{"xflow:src.integer": []any{"xflow:snk.token"}},
		"port_properties": map[string]any{
			"xflow:src": []any{map[string]any{"port": "integer", "direction": "out", "properties": map[string]any{"nbr_peers": 1}}},
		},
	}
}

type deployAnswer struct {
	ApplicationID  string            `json:"application_id"`
	ActorMap       map[string]string `json:"actor_map"`
	ReplicationMap map[string]any    `json:"replication_map"`
	Placement      any               `json:"placement"`
	Fulfilled      bool              `json:"requirements_fulfilled"`
}

func TestDeployAndApplications(t *testing.T) {
	s := newStack(t, nil)
	var apps []string
	s.do(t, "GET", "/applications", nil, &apps)
	assert.Equal(t, []string{}, apps)

	var d deployAnswer
	r := s.do(t, "POST", "/deploy", map[string]any{"name": "xflow", "app_info": xflow(0.01), "deploy_info": nil, "check": true}, &d)
	require.Equal(t, 200, r.status, r.body)
	assert.True(t, IsCalvinID(d.ApplicationID))
	require.Len(t, d.ActorMap, 2)
	assert.Equal(t, map[string]any{}, d.ReplicationMap)
	assert.Nil(t, d.Placement)
	assert.True(t, d.Fulfilled)
	snk := d.ActorMap["xflow:snk"]
	info, ok := s.rt.Actor(snk)
	require.True(t, ok)
	assert.Equal(t, "xflow:snk", info.Name)
	assert.Equal(t, d.ApplicationID, info.App)

	require.Eventually(t, func() bool { return len(s.sinkTokens(t, snk)) >= 3 }, 10*time.Second, 10*time.Millisecond)
	assert.True(t, isSequence(s.sinkTokens(t, snk)))

	s.do(t, "GET", "/applications", nil, &apps)
	assert.Equal(t, []string{d.ApplicationID}, apps)
	var rec map[string]any
	r = s.do(t, "GET", "/application/"+d.ApplicationID, nil, &rec)
	assert.Equal(t, 200, r.status)
	assert.Equal(t, "xflow", rec["name"])
	assert.Equal(t, "xflow", rec["ns"])
	assert.Equal(t, s.node.ID(), rec["origin_node_id"])
	assert.ElementsMatch(t, []any{snk, d.ActorMap["xflow:src"]}, rec["actors"])
	assert.Equal(t, "xflow:snk", rec["actors_name_map"].(map[string]any)[snk])

	r = s.do(t, "DELETE", "/application/"+d.ApplicationID, nil, nil)
	assert.Equal(t, 204, r.status)
	var ids []string
	s.do(t, "GET", "/actors", nil, &ids)
	assert.Empty(t, ids)
	_, err := s.registryGet(t, storage.PrefixApplication+d.ApplicationID)
	assert.ErrorIs(t, err, storage.ErrNotFound)
	_, err = s.registryGet(t, storage.PrefixActor+snk)
	assert.ErrorIs(t, err, storage.ErrNotFound)
	r = s.do(t, "DELETE", "/application/"+d.ApplicationID, nil, nil)
	assert.Equal(t, 404, r.status)
	r = s.do(t, "GET", "/application/"+d.ApplicationID, nil, nil)
	assert.Equal(t, 404, r.status)

	// An empty application deploys; its namespace drops directory and extension.
	d = deployAnswer{}
	r = s.do(t, "POST", "/deploy", map[string]any{"name": "dir/empty.calvin", "app_info": map[string]any{"actors": map[string]any{}}}, &d)
	require.Equal(t, 200, r.status, r.body)
	assert.Empty(t, d.ActorMap)
	s.do(t, "GET", "/application/"+d.ApplicationID, nil, &rec)
	assert.Equal(t, "empty", rec["ns"])
}

func TestDeployErrors(t *testing.T) {
	s := newStack(t, nil)
	badConn := xflow(0.01)
	badConn["connections"] = map[string]any{"xflow:src.integer": []any{"xflow:snk.nope"}}
	invalid := xflow(0.01)
	invalid["valid"] = false
	for _, tc := range []struct {
		name   string
		body   any
		status int
		answer string
	}{
		{"no name", map[string]any{"app_info": xflow(1)}, 500, `{"exception": "'name'"}`},
		{"script only", map[string]any{"name": "x", "script": "src : std.CountTimer()"}, 400,
			`{"errors": [{"reason": "CalvinScript is not supported, send app_info"}], "warnings": []}`},
		{"not valid", map[string]any{"name": "x", "app_info": invalid}, 500,
			`{"errors": [], "warnings": [], "exception": "Deploy information is not valid"}`},
		{"neither app_info nor script", map[string]any{"name": "x"}, 500, ``},
		{"bad connection", map[string]any{"name": "x", "app_info": badConn}, 500, ``},
		{"actors not a map", map[string]any{"name": "x", "app_info": map[string]any{"actors": []any{}}}, 500, ``},
		{"body not an object", `"x"`, 500, ``},
	} {
		r := s.do(t, "POST", "/deploy", tc.body, nil)
		assert.Equal(t, tc.status, r.status, tc.name)
		assert.Equal(t, "application/json", r.header.Get("Content-Type"), tc.name)
		if tc.answer != "" {
			assert.JSONEq(t, tc.answer, r.body, tc.name)
		} else {
			var m map[string]any
			require.NoError(t, json.Unmarshal([]byte(r.body), &m), tc.name)
			assert.NotEmpty(t, m["exception"], tc.name)
		}
	}
	// Nothing was left behind by the failed deployments.
	var ids []string
	s.do(t, "GET", "/actors", nil, &ids)
	assert.Empty(t, ids)
	var apps []string
	s.do(t, "GET", "/applications", nil, &apps)
	assert.Empty(t, apps)
	r := s.do(t, "POST", "/deploy", `{"name": `, nil)
	assert.Equal(t, 400, r.status)
}

func TestDeployShadow(t *testing.T) {
	s := newStack(t, nil)
	app := xflow(0.01)
	app["actors"].(map[string]any)["xflow:mid"] = map[string]any{"actor_type": "no.Such", "args": map[string]any{"k": "v"}}
	app["connections"] = map[string]any{"xflow:src.integer": []any{"xflow:mid.in"}, "xflow:mid.out": []any{"xflow:snk.token"}}
	app["port_properties"] = map[string]any{"xflow:mid": []any{
		map[string]any{"port": "extra", "direction": "in", "properties": map[string]any{"nbr_peers": 1}}}}
	var d deployAnswer
	r := s.do(t, "POST", "/deploy", map[string]any{"name": "xflow", "app_info": app}, &d)
	require.Equal(t, 200, r.status, r.body)
	mid := d.ActorMap["xflow:mid"]
	var rec map[string]any
	r = s.do(t, "GET", "/actor/"+mid, nil, &rec)
	require.Equal(t, 200, r.status)
	assert.Equal(t, true, rec["is_shadow"])
	assert.Equal(t, "no.Such", rec["type"])
	assert.Equal(t, "xflow:mid", rec["name"])
	var names []string
	for _, p := range rec["inports"].([]any) {
		names = append(names, p.(map[string]any)["name"].(string))
	}
	assert.ElementsMatch(t, []string{"in", "extra"}, names)
	require.Len(t, rec["outports"], 1)
	// The shadow holds its connections but never fires: the sink stays empty
	// while the source's tokens queue up in front of the shadow.
	info, ok := s.rt.Actor(mid)
	require.True(t, ok)
	assert.True(t, info.Shadow)
	for _, p := range append(info.Inports, info.Outports...) {
		if p.Name != "extra" {
			assert.Len(t, p.Peers, 1, p.Name)
		}
	}
	assert.Empty(t, s.sinkTokens(t, d.ActorMap["xflow:snk"]))
}

func TestMigrateErrors(t *testing.T) {
	s := newStack(t, nil)
	snk := s.createActor(t, "test.Sink", nil)
	for _, tc := range []struct {
		name   string
		id     string
		body   any
		status int
	}{
		{"no key", snk, map[string]any{}, 400},
		{"no body", snk, "", 400},
		{"requirements not a list", snk, map[string]any{"requirements": "x"}, 400},
		{"placement by requirements", snk, map[string]any{"requirements": []any{}}, 501},
		{"to this node", snk, map[string]any{"peer_node_id": s.node.ID()}, 204},
		{"unknown actor", unknownID, map[string]any{"peer_node_id": s.node.ID()}, 404},
		{"unreachable peer", snk, map[string]any{"peer_node_id": unknownID}, 500},
	} {
		r := s.do(t, "POST", "/actor/"+tc.id+"/migrate", tc.body, nil)
		assert.Equal(t, tc.status, r.status, tc.name)
		assert.Empty(t, r.body, tc.name)
	}
	// After the failed migration the actor is still here.
	_, ok := s.rt.Actor(snk)
	assert.True(t, ok)
	assert.Equal(t, 409, migrationStatus(&actor.MigrationError{Status: 409}))
	assert.Equal(t, 400, migrationStatus(actor.ErrMigrating))
	assert.Equal(t, 500, migrationStatus(actor.ErrUnknownActor))
}

func TestDeleteNode(t *testing.T) {
	s := newStack(t, nil)
	for path, mode := range map[string]ShutdownMode{"/node": ShutdownClean, "/node/clean": ShutdownClean,
		"/node/migrate": ShutdownMigrate, "/node/now": ShutdownNow} {
		r := s.do(t, "DELETE", path, nil, nil)
		assert.Equal(t, 204, r.status, path)
		assert.Empty(t, r.body)
		assert.Equal(t, mode, <-s.stopped, path)
	}
	r := s.do(t, "DELETE", "/node/other", nil, nil)
	assert.Equal(t, 404, r.status)
}

func TestRoutesNeedTheirParts(t *testing.T) {
	// Without runtime, registry or shutdown function their routes are not
	// served.
	h, err := NewHandler(newNode(t), WithLogger(quiet()))
	require.NoError(t, err)
	url := serve(t, h)
	for _, p := range []string{"GET /capabilities", "GET /actors", "GET /node/" + unknownID, "DELETE /node",
		"POST /deploy", "GET /applications"} {
		method, path, _ := cut(p)
		r := call(t, method, url+path, "")
		assert.Equal(t, 404, r.status, p)
	}
	for _, o := range []Option{WithRuntime(nil), WithNetwork(nil), WithRegistry(nil), WithRecords(nil), WithShutdown(nil)} {
		_, err := NewHandler(newNode(t), o)
		assert.ErrorIs(t, err, ErrInvalidOption)
	}
}

func cut(s string) (string, string, bool) {
	i := slices.Index([]byte(s), ' ')
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+1:], true
}

// TestTwoNodes drives two nodes sharing one registry (b is a proxy-storage
// client of a) through their control APIs: remote connect, reports,
// migration both ways, application destroy across nodes.
func TestTwoNodes(t *testing.T) {
	a := newStack(t, nil)
	b := newStack(t, a)

	src := a.createActor(t, "std.CountTimer", map[string]any{"name": "src", "sleep": 0.02})
	snk := b.createActor(t, "test.Sink", map[string]any{"name": "snk", "store_tokens": true})

	// b's records are in a's registry: a finds b's sink through it.
	var rec map[string]any
	r := a.do(t, "GET", "/actor/"+snk, nil, &rec)
	require.Equal(t, 200, r.status)
	assert.Equal(t, b.node.ID(), rec["node_id"])

	// Connect from a by names only: the peer node comes from the registry.
	var out map[string]string
	r = a.do(t, "POST", "/connect", map[string]any{"actor_id": src, "port_name": "integer", "port_dir": "out",
		"peer_actor_id": snk, "peer_port_name": "token", "peer_port_dir": "in"}, &out)
	require.Equal(t, 200, r.status, r.body)
	inPort, err := b.rt.PortID(snk, actor.In, "token")
	require.NoError(t, err)
	assert.Equal(t, inPort, out["peer_port_id"])
	require.Eventually(t, func() bool { return len(b.sinkTokens(t, snk)) >= 3 }, 10*time.Second, 10*time.Millisecond)

	// a's outport record names b as the peer's node.
	outPort, err := a.rt.PortID(src, actor.Out, "integer")
	require.NoError(t, err)
	r = a.do(t, "GET", "/actor/"+src+"/port/"+outPort, nil, &rec)
	assert.Equal(t, []any{[]any{b.node.ID(), inPort}}, rec["peers"])
	// b's port, read on a from the registry, is connected.
	require.Eventually(t, func() bool {
		a.do(t, "GET", "/actor/"+snk+"/port/"+inPort, nil, &rec)
		return rec["connected"] == true
	}, 5*time.Second, 10*time.Millisecond)

	// Migrate the sink b → a through b's API; the sequence continues on a.
	r = b.do(t, "POST", "/actor/"+snk+"/migrate", map[string]any{"peer_node_id": a.node.ID()}, nil)
	require.Equal(t, 204, r.status)
	_, ok := a.rt.Actor(snk)
	require.True(t, ok)
	_, ok = b.rt.Actor(snk)
	require.False(t, ok)
	before := len(a.sinkTokens(t, snk))
	require.Eventually(t, func() bool { return len(a.sinkTokens(t, snk)) >= before+3 }, 10*time.Second, 10*time.Millisecond)
	toks := a.sinkTokens(t, snk)
	assert.True(t, isSequence(toks), "%v", toks)
	// a wrote the arrived actor's record.
	require.Eventually(t, func() bool {
		v, err := a.registryGet(t, storage.PrefixActor+snk)
		return err == nil && v.(map[string]any)["node_id"] == a.node.ID()
	}, 5*time.Second, 10*time.Millisecond)

	// Migrate it back through b's API while it lives on a: b sends
	// ACTOR_MIGRATE to a (looked up in the registry).
	r = b.do(t, "POST", "/actor/"+snk+"/migrate", map[string]any{"peer_node_id": b.node.ID()}, nil)
	require.Equal(t, 204, r.status)
	require.Eventually(t, func() bool { _, ok := b.rt.Actor(snk); return ok }, 10*time.Second, 10*time.Millisecond)
	before = len(b.sinkTokens(t, snk))
	require.Eventually(t, func() bool { return len(b.sinkTokens(t, snk)) >= before+3 }, 10*time.Second, 10*time.Millisecond)
	toks = b.sinkTokens(t, snk)
	assert.True(t, isSequence(toks), "%v", toks)
	// b wrote the reconnected port's record: on b, connected to a's outport.
	require.Eventually(t, func() bool {
		v, err := a.registryGet(t, storage.PrefixPort+inPort)
		if err != nil {
			return false
		}
		m := v.(map[string]any)
		return m["node_id"] == b.node.ID() && m["connected"] == true &&
			assert.ObjectsAreEqual([]any{[]any{a.node.ID(), outPort}}, m["peers"])
	}, 5*time.Second, 10*time.Millisecond)

	// Disconnect from a: PORT_DISCONNECT reaches b.
	r = a.do(t, "POST", "/disconnect", map[string]any{"port_id": outPort, "terminate": "TERMINATE"}, nil)
	assert.Equal(t, 204, r.status)
	require.Eventually(t, func() bool { p, _ := b.rt.Port(inPort); return len(p.Peers) == 0 }, 5*time.Second, 10*time.Millisecond)
}

func TestDeleteApplicationAcrossNodes(t *testing.T) {
	a := newStack(t, nil)
	b := newStack(t, a)
	var d deployAnswer
	r := a.do(t, "POST", "/deploy", map[string]any{"name": "xflow", "app_info": xflow(0.02)}, &d)
	require.Equal(t, 200, r.status, r.body)
	snk := d.ActorMap["xflow:snk"]
	r = a.do(t, "POST", "/actor/"+snk+"/migrate", map[string]any{"peer_node_id": b.node.ID()}, nil)
	require.Equal(t, 204, r.status)
	require.Eventually(t, func() bool { return len(b.sinkTokens(t, snk)) > 0 }, 10*time.Second, 10*time.Millisecond)

	// The application is readable from b, through the registry.
	var rec map[string]any
	r = b.do(t, "GET", "/application/"+d.ApplicationID, nil, &rec)
	require.Equal(t, 200, r.status)
	assert.Equal(t, a.node.ID(), rec["origin_node_id"])

	// Destroying it on a destroys the sink on b with APP_DESTROY.
	r = a.do(t, "DELETE", "/application/"+d.ApplicationID, nil, nil)
	assert.Equal(t, 204, r.status, r.body)
	_, ok := b.rt.Actor(snk)
	assert.False(t, ok)
	var ids []string
	a.do(t, "GET", "/actors", nil, &ids)
	assert.Empty(t, ids)
	r = b.do(t, "GET", "/application/"+d.ApplicationID, nil, nil)
	assert.Equal(t, 404, r.status)
}

func TestWithoutRegistry(t *testing.T) {
	// A runtime without registry or network: local records are rendered
	// from the runtime, applications are destroyed locally.
	n := newNode(t)
	types, err := std.NewRegistry()
	require.NoError(t, err)
	rt, err := actor.NewRuntime(actor.WithRegistry(types), actor.WithNodeID(n.ID()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = rt.Close() })
	h, err := NewHandler(n, WithLogger(quiet()), WithRuntime(rt))
	require.NoError(t, err)
	s := &stack{url: serve(t, h)}
	var d deployAnswer
	r := s.do(t, "POST", "/deploy", map[string]any{"name": "xflow", "app_info": xflow(0.01)}, &d)
	require.Equal(t, 200, r.status, r.body)
	var rec map[string]any
	r = s.do(t, "GET", "/application/"+d.ApplicationID, nil, &rec)
	assert.Equal(t, 200, r.status)
	assert.Equal(t, n.ID(), rec["origin_node_id"])
	r = s.do(t, "GET", "/actor/"+d.ActorMap["xflow:src"], nil, &rec)
	assert.Equal(t, 200, r.status)
	assert.Equal(t, "xflow:src", rec["name"])
	r = s.do(t, "POST", "/actor/"+d.ActorMap["xflow:snk"]+"/migrate", map[string]any{"peer_node_id": unknownID}, nil)
	assert.Equal(t, 500, r.status, "no network")
	r = s.do(t, "POST", "/actor/"+unknownID+"/migrate", map[string]any{"peer_node_id": unknownID}, nil)
	assert.Equal(t, 404, r.status)
	r = s.do(t, "POST", "/connect", map[string]any{"actor_id": d.ActorMap["xflow:snk"], "port_name": "token", "port_dir": "in",
		"peer_node_id": unknownID, "peer_port_id": unknownID}, nil)
	assert.Equal(t, 500, r.status, "remote peer without network")
	r = s.do(t, "DELETE", "/application/"+d.ApplicationID, nil, nil)
	assert.Equal(t, 204, r.status)
	assert.Empty(t, rt.ActorIDs())
	r = s.do(t, "DELETE", "/application/"+d.ApplicationID, nil, nil)
	assert.Equal(t, 404, r.status)
}

func TestDeployFanOut(t *testing.T) {
	s := newStack(t, nil)
	app := xflow(0.01)
	app["actors"].(map[string]any)["xflow:snk2"] = map[string]any{"actor_type": "test.Sink", "args": map[string]any{"store_tokens": true}}
	app["connections"] = map[string]any{"xflow:src.integer": []any{"xflow:snk.token", "xflow:snk2.token"}}
	var d deployAnswer
	r := s.do(t, "POST", "/deploy", map[string]any{"name": "xflow", "app_info": app}, &d)
	require.Equal(t, 200, r.status, r.body)
	// Both sinks get every token.
	for _, n := range []string{"xflow:snk", "xflow:snk2"} {
		id := d.ActorMap[n]
		require.Eventually(t, func() bool { return len(s.sinkTokens(t, id)) >= 3 }, 10*time.Second, 10*time.Millisecond, n)
		assert.True(t, isSequence(s.sinkTokens(t, id)), n)
	}
}

// silentNode is a node whose requests never get a REPLY, as calvin-base
// does with ACTOR_MIGRATE; moved says where the actor went meanwhile.
type silentNode struct {
	Node
	moved func()
}

func (n *silentNode) Request(ctx context.Context, peer string, m wire.Message) (wire.Response, error) {
	if n.moved != nil {
		n.moved()
	}
	return wire.Response{}, rt2rt.ErrTimeout
}

func TestMigrateRemoteWithoutReply(t *testing.T) {
	n0 := newNode(t)
	types, err := std.NewRegistry()
	require.NoError(t, err)
	rt, err := actor.NewRuntime(actor.WithRegistry(types), actor.WithNodeID(n0.ID()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = rt.Close() })
	reg, err := storage.NewLocalClient(storage.NewMemStore())
	require.NoError(t, err)
	ctx := context.Background()
	const host, dest = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	require.NoError(t, reg.SetActor(ctx, &storage.ActorRecord{ID: unknownID, Name: "a", Type: "test.Sink", NodeID: host}))
	node := &silentNode{Node: n0}
	h, err := NewHandler(node, WithLogger(quiet()), WithRuntime(rt), WithRegistry(reg))
	require.NoError(t, err)
	s := &stack{url: serve(t, h)}

	// No reply and the record still names the old host: 504.
	r := s.do(t, "POST", "/actor/"+unknownID+"/migrate", map[string]any{"peer_node_id": dest}, nil)
	assert.Equal(t, 504, r.status)
	// No reply, but the record shows the actor at the destination: done.
	node.moved = func() {
		_ = reg.SetActor(ctx, &storage.ActorRecord{ID: unknownID, Name: "a", Type: "test.Sink", NodeID: dest})
	}
	r = s.do(t, "POST", "/actor/"+unknownID+"/migrate", map[string]any{"peer_node_id": dest}, nil)
	assert.Equal(t, 204, r.status)
	assert.Empty(t, r.body)
}
