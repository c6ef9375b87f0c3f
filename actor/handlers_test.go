package actor_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/actor/std"
	"github.com/meshkit/meshkit/rt2rt/wire"
)

func request(t *testing.T, from, to *meshNode, m wire.Message) wire.Response {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := from.node.Request(ctx, to.node.ID(), m)
	require.NoError(t, err)
	return resp
}

func TestPortConnectAnswers(t *testing.T) {
	a, b := twoNodes(t, false)
	ctx := context.Background()
	snk, err := a.rt.CreateActor(ctx, std.SinkType, nil)
	require.NoError(t, err)
	ip, _ := a.rt.PortID(snk, actor.In, "token")
	tun, err := b.mgr.Open(ctx, a.node.ID(), "token")
	require.NoError(t, err)

	// All peer keys null (present, as Calvin checks only presence): not found.
	assert.Equal(t, 404, request(t, b, a, &wire.PortConnect{PortID: "x", TunnelID: tun.ID()}).Status)
	// Unknown port: 404.
	assert.Equal(t, 404, request(t, b, a, &wire.PortConnect{PortID: "x", TunnelID: tun.ID(), PeerPortID: "nope"}).Status)
	// No tunnel id: 400; wrong tunnel id: 410.
	assert.Equal(t, 400, request(t, b, a, &wire.PortConnect{PortID: "x", PeerPortID: ip}).Status)
	assert.Equal(t, 410, request(t, b, a, &wire.PortConnect{PortID: "x", TunnelID: "other", PeerPortID: ip}).Status)
	// By actor id + port name + direction.
	resp := request(t, b, a, &wire.PortConnect{PortID: "x", TunnelID: tun.ID(), PeerActorID: snk, PeerPortName: "token",
		PeerPortProperties: map[string]any{"direction": "in"}, PortProperties: map[string]any{"direction": "out"}})
	require.Equal(t, 200, resp.Status)
	data := resp.Data.(map[string]any)
	assert.Equal(t, ip, data["port_id"])
	assert.Equal(t, "in", data["port_properties"].(map[string]any)["direction"])
	info, _ := a.rt.Port(ip)
	assert.Equal(t, []string{"x"}, info.Peers)

	// PORT_DISCONNECT: 400 without port_id, 404 for an unknown port, 200
	// with empty remaining_tokens otherwise (also when not connected).
	assert.Equal(t, 400, request(t, b, a, &wire.PortDisconnect{PeerPortID: ip}).Status)
	assert.Equal(t, 404, request(t, b, a, &wire.PortDisconnect{PortID: "x", PeerPortID: "nope"}).Status)
	resp = request(t, b, a, &wire.PortDisconnect{PortID: "x", PeerPortID: ip})
	require.Equal(t, 200, resp.Status)
	assert.Equal(t, map[string]any{"remaining_tokens": map[string]any{}}, resp.Data)
	info, _ = a.rt.Port(ip)
	assert.Empty(t, info.Peers)
	assert.Equal(t, 200, request(t, b, a, &wire.PortDisconnect{PortID: "x", PeerPortID: ip}).Status)

	// PORT_REMOTE_CONNECT: 404 for an unknown local port or a peer port
	// nobody can locate.
	assert.Equal(t, 404, request(t, b, a, &wire.PortRemoteConnect{PortID: "nope", PeerPortID: ip}).Status)
	assert.Equal(t, 404, request(t, b, a, &wire.PortRemoteConnect{PortID: ip, PeerPortID: "far-away"}).Status)
	// A peer port on the same node: connected locally.
	c, err := a.rt.CreateActor(ctx, std.CounterType, nil)
	require.NoError(t, err)
	cp, _ := a.rt.PortID(c, actor.Out, "integer")
	assert.Equal(t, 200, request(t, b, a, &wire.PortRemoteConnect{PortID: ip, PeerPortID: cp}).Status)
	info, _ = a.rt.Port(ip)
	assert.Equal(t, []bool{true}, info.Local)
}

func TestAppDestroyAndActorMigrateAnswers(t *testing.T) {
	a, b := twoNodes(t, false)
	ctx := context.Background()
	x, err := a.rt.CreateActor(ctx, std.SinkType, nil)
	require.NoError(t, err)
	y, err := a.rt.CreateActor(ctx, std.SinkType, nil)
	require.NoError(t, err)

	resp := request(t, b, a, &wire.AppDestroy{AppUUID: "app", ActorUUIDs: []string{x}})
	assert.Equal(t, 200, resp.Status)
	assert.Equal(t, []any{}, resp.Data)
	resp = request(t, b, a, &wire.AppDestroy{AppUUID: "app", ActorUUIDs: []string{x}})
	assert.Equal(t, 500, resp.Status)
	assert.Equal(t, []any{x}, resp.Data)
	resp = request(t, b, a, &wire.AppDestroy{AppUUID: "app", ActorUUIDs: []string{}})
	assert.Equal(t, 200, resp.Status)
	one := 1
	resp = request(t, b, a, &wire.AppDestroy{AppUUID: "app", ActorUUIDs: []string{y, "gone"}, Disconnect: &one})
	assert.Equal(t, 500, resp.Status)
	assert.Equal(t, map[string]any{"missing": []any{"gone"}}, resp.Data)
	assert.Empty(t, a.rt.ActorIDs())

	z, err := a.rt.CreateActor(ctx, std.SinkType, nil)
	require.NoError(t, err)
	assert.Equal(t, 500, request(t, b, a, &wire.ActorMigrate{ActorID: "nope", PeerNodeID: b.node.ID()}).Status)
	assert.Equal(t, 400, request(t, b, a, &wire.ActorMigrate{ActorID: z, Requirements: "x"}).Status)
	assert.Equal(t, 501, request(t, b, a, &wire.ActorMigrate{ActorID: z, Requirements: []any{}}).Status)
	// Direct form: A moves z to B and answers once it is done.
	assert.Equal(t, 200, request(t, b, a, &wire.ActorMigrate{ActorID: z, PeerNodeID: b.node.ID()}).Status)
	_, onB := b.rt.Actor(z)
	assert.True(t, onB)
}

func TestActorNewFromCalvinState(t *testing.T) {
	a, b := twoNodes(t, false)
	var st map[string]any
	for _, vs := range actorNewStates(t) {
		if vs.file == "json-two-nodes.jsonl" && vs.line == 688 {
			st = deepClone(vs.state).(map[string]any)
		}
	}
	require.NotNil(t, st)
	// Bad payloads are answered 400, not with silence.
	assert.Equal(t, 400, request(t, b, a, &wire.ActorNew{State: wire.ActorNewState{ActorType: "std.CountTimer"}}).Status)
	assert.Equal(t, 400, request(t, b, a, &wire.ActorNew{State: wire.ActorNewState{ActorType: "std.CountTimer",
		ActorState: map[string]any{"private": map[string]any{}}}}).Status)
	assert.Equal(t, 400, request(t, b, a, &wire.ActorNew{State: wire.ActorNewState{ActorType: "std.CountTimer",
		ActorState: st["actor_state"].(map[string]any), PrevConnections: "x"}}).Status)

	// Calvin's CountTimer arrives with a connection to a sink on a node that
	// is not reachable: the actor is created, the reconnect fails: 500.
	msg := &wire.ActorNew{State: wire.ActorNewState{ActorType: st["actor_type"].(string),
		ActorState: st["actor_state"].(map[string]any), PrevConnections: st["prev_connections"]}}
	resp := request(t, b, a, msg)
	assert.Equal(t, 500, resp.Status)
	id := st["actor_state"].(map[string]any)["private"].(map[string]any)["_id"].(string)
	info, ok := a.rt.Actor(id)
	require.True(t, ok, "the actor stays after a failed reconnect")
	assert.Equal(t, "xflow:src", info.Name)
	// The same source asking again (it lost the answer) gets the first
	// outcome, not a 400 for a duplicate; the actor is kept, once.
	assert.Equal(t, 500, request(t, b, a, msg).Status)
	_, ok = a.rt.Actor(id)
	assert.True(t, ok)
	// Without connections it is answered 200 at once; an unknown type
	// becomes a shadow actor.
	sh := deepClone(st["actor_state"]).(map[string]any)
	sh["private"].(map[string]any)["_id"] = "shadow-1"
	sh["private"].(map[string]any)["_calvinsys"] = map[string]any{}
	sh["private"].(map[string]any)["outports"].(map[string]any)["integer"].(map[string]any)["id"] = "shadow-port"
	assert.Equal(t, 200, request(t, b, a, &wire.ActorNew{State: wire.ActorNewState{ActorType: "vendor.Thing", ActorState: sh}}).Status)
	info, ok = a.rt.Actor("shadow-1")
	require.True(t, ok)
	assert.True(t, info.Shadow)
}

func TestArrivedActorKeepsReconnecting(t *testing.T) {
	a, b := twoNodes(t, false)
	ctx := context.Background()
	var st map[string]any
	for _, vs := range actorNewStates(t) {
		if vs.file == "json-two-nodes.jsonl" && vs.line == 688 {
			st = deepClone(vs.state).(map[string]any)
		}
	}
	require.NotNil(t, st)
	as := st["actor_state"].(map[string]any)
	id := as["private"].(map[string]any)["_id"].(string)
	outID := as["private"].(map[string]any)["outports"].(map[string]any)["integer"].(map[string]any)["id"].(string)
	prev := map[string]any{"inports": map[string]any{}, "outports": map[string]any{outID: []any{[]any{b.node.ID(), "late-port"}}}}
	msg := &wire.ActorNew{State: wire.ActorNewState{ActorType: std.CountTimerType, ActorState: as, PrevConnections: prev}}
	assert.Equal(t, 500, request(t, b, a, msg).Status, "the peer port does not exist yet")

	// The peer port appears on B: A's retry connects it.
	snk, err := b.rt.CreateActor(ctx, std.SinkType, map[string]any{"store_tokens": true, "quiet": true})
	require.NoError(t, err)
	sst, err := b.rt.ExportState(ctx, snk)
	require.NoError(t, err)
	require.NoError(t, b.rt.DeleteActor(ctx, snk))
	sst["private"].(map[string]any)["inports"].(map[string]any)["token"].(map[string]any)["id"] = "late-port"
	_, err = b.rt.ImportActor(ctx, std.SinkType, sst)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, ok := a.rt.Actor(id)
		return ok && info.Connected
	}, 20*time.Second, 5*time.Millisecond)
	// CountTimer continues from count 14 (it had sent 13 tokens).
	require.Eventually(t, func() bool { return len(sinkTokens(t, b.rt, snk)) >= 2 }, 20*time.Second, time.Millisecond)
	got := sinkTokens(t, b.rt, snk)
	assert.Equal(t, int64(14), got[0])
	assert.Equal(t, int64(15), got[1])
}
