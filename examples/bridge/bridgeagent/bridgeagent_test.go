package bridgeagent_test

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/actor/std"
	"github.com/meshkit/meshkit/examples/bridge/bridgeagent"
	"github.com/meshkit/meshkit/examples/bridge/mesh"
	"github.com/meshkit/meshkit/internal/leakcheck"
	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
	"github.com/meshkit/meshkit/opaca/container"
	"github.com/meshkit/meshkit/opaca/platform"
)

// fixture: Calvin nodes A and B (linked over loopback calvinip), the bridge
// agent "calvin" fronting A, hosted by a platform, and a client of the
// platform API.
type fixture struct {
	a, b *mesh.Node
	br   *bridgeagent.Bridge
	api  *client.Client
	ctx  context.Context
}

func setup(t *testing.T) *fixture {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	log := slog.New(slog.DiscardHandler)
	a, err := mesh.Start(ctx, "calvinip://127.0.0.1:0", nil, log)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, a.Close()) })
	b, err := mesh.Start(ctx, "calvinip://127.0.0.1:0", []string{a.URI()}, log)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, b.Close()) })
	require.NoError(t, a.WaitLinked(ctx, b.ID()))

	br, err := bridgeagent.New(a.Node, a.Runtime, a.Network, container.WithID("calvin"))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, br.Close()) })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p, err := platform.New(platform.WithPublicURL("http://"+ln.Addr().String()), platform.WithLogger(log),
		platform.WithInProcessImage(bridgeagent.ImageName, br.Factory(log)))
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- p.Serve(ln) }()
	t.Cleanup(func() {
		assert.NoError(t, p.Shutdown(context.Background()))
		assert.NoError(t, <-served)
	})
	require.NoError(t, p.Start(ctx))
	api, err := client.New(p.BaseURL())
	require.NoError(t, err)
	t.Cleanup(func() { _ = api.Close() })
	_, err = api.PostContainer(ctx, opaca.PostAgentContainer{Image: bridgeagent.Image()}, 0)
	require.NoError(t, err)
	return &fixture{a: a, b: b, br: br, api: api, ctx: ctx}
}

// invoke calls an action of the bridge agent through the platform and
// decodes the result into out (when not nil).
func (f *fixture) invoke(t *testing.T, action string, args, out any) error {
	t.Helper()
	raw, err := f.api.Invoke(f.ctx, action, "calvin", args)
	if err == nil && out != nil {
		require.NoError(t, json.Unmarshal(raw, out), "%s", raw)
	}
	return err
}

// create creates an actor on A through the bridge.
func (f *fixture) create(t *testing.T, typ string, args map[string]any) string {
	t.Helper()
	var c bridgeagent.Created
	require.NoError(t, f.invoke(t, "CreateActor", map[string]any{"type": typ, "args": args}, &c))
	require.NotEmpty(t, c.ID)
	return c.ID
}

// assertStatus checks the status of the action's own error: the platform
// answers a failed invocation with 502 and the container's error as the
// cause (OPACA §3.8), and arguments that do not match the declared
// parameters with 400 itself.
func assertStatus(t *testing.T, want int, err error, msgAndArgs ...any) {
	t.Helper()
	require.Error(t, err, msgAndArgs...)
	var se *client.StatusError
	require.ErrorAs(t, err, &se)
	require.NotNil(t, se.Response, "%s", se.Body)
	root := client.RootCause(se.Response)
	assert.Equal(t, want, root.StatusCode, append([]any{"%v"}, err)...)
	if root != se.Response {
		assert.Equal(t, http.StatusBadGateway, se.StatusCode, "the platform's own status")
	}
}

func TestNodesAndActors(t *testing.T) {
	leakcheck.NoNewGoroutines(t)
	f := setup(t)
	var n bridgeagent.NodeInfo
	require.NoError(t, f.invoke(t, "Nodes", nil, &n))
	assert.Equal(t, f.a.ID(), n.ID)
	assert.Equal(t, []string{f.a.URI()}, n.URIs)
	require.Len(t, n.Peers, 1)
	assert.Equal(t, f.b.ID(), n.Peers[0].ID)

	var actors []bridgeagent.ActorInfo
	require.NoError(t, f.invoke(t, "Actors", nil, &actors))
	assert.Empty(t, actors)

	id := f.create(t, std.SinkType, map[string]any{"name": "t:snk", "store_tokens": true})
	require.NoError(t, f.invoke(t, "Actors", nil, &actors))
	require.Len(t, actors, 1)
	assert.Equal(t, id, actors[0].ID)
	assert.Equal(t, "t:snk", actors[0].Name)
	assert.Equal(t, std.SinkType, actors[0].Type)
	require.Len(t, actors[0].Inports, 1)
	assert.Equal(t, "token", actors[0].Inports[0].Name)
	assert.Empty(t, actors[0].Outports)
}

func TestCreateAndDeleteActor(t *testing.T) {
	leakcheck.NoNewGoroutines(t)
	f := setup(t)
	// JSON numbers become the integers std.CountTimer wants
	id := f.create(t, std.CountTimerType, map[string]any{"steps": 3, "sleep": 0.5})
	info, ok := f.a.Runtime.Actor(id)
	require.True(t, ok, "created on A")
	assert.Equal(t, std.CountTimerType, info.Type)

	var c bridgeagent.Created
	assertStatus(t, http.StatusNotFound, f.invoke(t, "CreateActor", map[string]any{"type": "no.Such"}, &c), "unknown type")
	assertStatus(t, http.StatusBadRequest, f.invoke(t, "CreateActor", map[string]any{"type": std.SinkType, "args": map[string]any{"nope": 1}}, &c), "unknown argument")
	assertStatus(t, http.StatusBadRequest, f.invoke(t, "CreateActor", map[string]any{"type": std.CountTimerType, "args": map[string]any{"steps": "x"}}, &c), "bad argument")
	assertStatus(t, http.StatusBadRequest, f.invoke(t, "CreateActor", map[string]any{"name": "x"}, &c), "no type")
	assertStatus(t, http.StatusBadRequest, f.invoke(t, "CreateActor", map[string]any{"type": bridgeagent.TapType}, &c), "helper type")

	require.NoError(t, f.invoke(t, "DeleteActor", map[string]any{"actor": id}, nil))
	_, ok = f.a.Runtime.Actor(id)
	assert.False(t, ok, "deleted")
	assertStatus(t, http.StatusNotFound, f.invoke(t, "DeleteActor", map[string]any{"actor": id}, nil), "unknown actor")
	assertStatus(t, http.StatusBadRequest, f.invoke(t, "DeleteActor", map[string]any{}, nil), "no actor")
}

// waitReport polls an actor's report on A through the bridge until it holds
// want tokens, decoded as Ts.
func waitReport[T any](t *testing.T, f *fixture, id string, want int) []T {
	t.Helper()
	var tokens []T
	require.Eventually(t, func() bool {
		tokens = nil
		require.NoError(t, f.invoke(t, "Report", map[string]any{"actor": id}, &tokens))
		return len(tokens) >= want
	}, 10*time.Second, 5*time.Millisecond)
	return tokens
}

func TestConnectReportAndMigrate(t *testing.T) {
	leakcheck.NoNewGoroutines(t)
	f := setup(t)
	src := f.create(t, std.CountTimerType, map[string]any{"sleep": 0.005})
	snk := f.create(t, std.SinkType, map[string]any{"store_tokens": true, "quiet": true})

	// errors first: nothing is connected by them
	for _, c := range []struct {
		args   map[string]any
		status int
	}{
		{map[string]any{"actor": "nobody", "port": "token", "peer_actor": src, "peer_port": "integer"}, http.StatusNotFound},
		{map[string]any{"actor": snk, "port": "nope", "peer_actor": src, "peer_port": "integer"}, http.StatusNotFound},
		{map[string]any{"actor": snk, "port": "token", "peer_actor": "nobody", "peer_port": "integer"}, http.StatusNotFound},
		{map[string]any{"actor": snk, "port": "token"}, http.StatusBadRequest},
		{map[string]any{"actor": snk, "port": "token", "peer_node": f.b.ID()}, http.StatusBadRequest},
		{map[string]any{"port": "token", "peer_actor": src, "peer_port": "integer"}, http.StatusBadRequest},
	} {
		assertStatus(t, c.status, f.invoke(t, "Connect", c.args, nil), "%v", c.args)
	}
	info, _ := f.a.Runtime.Actor(snk)
	assert.Empty(t, info.Inports[0].Peers)

	// inport first or outport first: both work
	require.NoError(t, f.invoke(t, "Connect", map[string]any{"actor": snk, "port": "token", "peer_actor": src, "peer_port": "integer"}, nil))
	info, _ = f.a.Runtime.Actor(snk)
	op, _ := f.a.Runtime.PortID(src, actor.Out, "integer")
	assert.Equal(t, []string{op}, info.Inports[0].Peers)
	k := len(waitReport[int64](t, f, snk, 5))

	var moved bridgeagent.Migrated
	require.NoError(t, f.invoke(t, "Migrate", map[string]any{"actor": snk, "node": f.b.ID()}, &moved))
	assert.Equal(t, bridgeagent.Migrated{Actor: snk, From: f.a.ID(), To: f.b.ID()}, moved)
	_, onA := f.a.Runtime.Actor(snk)
	assert.False(t, onA)
	require.Eventually(t, func() bool {
		v, err := f.b.Runtime.Report(f.ctx, snk, nil)
		return err == nil && len(v.([]any)) > k+5
	}, 10*time.Second, 5*time.Millisecond, "tokens flow A -> B after the migration")

	var tokens []int64
	assertStatus(t, http.StatusNotFound, f.invoke(t, "Report", map[string]any{"actor": snk}, &tokens), "the sink has left A")
	assertStatus(t, http.StatusNotFound, f.invoke(t, "Migrate", map[string]any{"actor": snk, "node": f.a.ID()}, &moved), "not on A")
	assertStatus(t, http.StatusNotFound, f.invoke(t, "Migrate", map[string]any{"actor": src, "node": "no-such-node"}, &moved), "unknown node")
	assertStatus(t, http.StatusBadRequest, f.invoke(t, "Migrate", map[string]any{"actor": src, "node": f.a.ID()}, &moved), "to itself")
	assertStatus(t, http.StatusBadRequest, f.invoke(t, "Migrate", map[string]any{"actor": src}, &moved), "no node")
	assertStatus(t, http.StatusBadRequest, f.invoke(t, "Report", map[string]any{}, &tokens), "no actor")

	// a sink on A connected to the timer, which now migrates to B: a remote
	// connection (peer_node, peer_port_id)
	snk2 := f.create(t, std.SinkType, map[string]any{"store_tokens": true, "quiet": true})
	require.NoError(t, f.invoke(t, "Migrate", map[string]any{"actor": src, "node": f.b.ID()}, &moved))
	require.NoError(t, f.invoke(t, "Connect", map[string]any{"actor": snk2, "port": "token", "peer_node": f.b.ID(), "peer_port_id": op}, nil))
	tokens = waitReport[int64](t, f, snk2, 3)
	assert.Positive(t, tokens[0])

	// the first sink, now on B, still got an unbroken sequence
	v, err := f.b.Runtime.Report(f.ctx, snk, nil)
	require.NoError(t, err)
	for i, tok := range v.([]any) {
		require.EqualValues(t, i+1, tok, "position %d", i)
	}
}

// readArrival reads one line of the token stream.
func readArrival(t *testing.T, lines *bufio.Scanner) bridgeagent.Arrival {
	t.Helper()
	require.True(t, lines.Scan(), "stream ended: %v", lines.Err())
	var ar bridgeagent.Arrival
	require.NoError(t, json.Unmarshal(lines.Bytes(), &ar), lines.Text())
	return ar
}

func TestInjectAndStream(t *testing.T) {
	leakcheck.NoNewGoroutines(t)
	f := setup(t)
	snk := f.create(t, std.SinkType, map[string]any{"store_tokens": true, "quiet": true})
	src := f.create(t, std.CountTimerType, map[string]any{"sleep": 10})

	assertStatus(t, http.StatusConflict, f.invoke(t, "Watch", map[string]any{"actor": snk, "port": "token"}, nil), "nothing writes to it yet")
	assertStatus(t, http.StatusNotFound, f.invoke(t, "Watch", map[string]any{"actor": "nobody", "port": "token"}, nil))
	assertStatus(t, http.StatusBadRequest, f.invoke(t, "Watch", map[string]any{"actor": snk}, nil))

	var inj bridgeagent.Injected
	require.NoError(t, f.invoke(t, "Inject", map[string]any{"actor": snk, "port": "token", "token": "first"}, &inj))
	assert.Equal(t, []any{"first"}, waitReport[any](t, f, snk, 1))

	var w bridgeagent.Watching
	require.NoError(t, f.invoke(t, "Watch", map[string]any{"actor": snk, "port": "token"}, &w))
	assert.Equal(t, bridgeagent.StreamName, w.Stream)
	assert.Equal(t, []bridgeagent.PortRef{{Actor: snk, Port: "token"}}, w.Watching)

	body, err := f.api.GetStream(f.ctx, w.Stream, "calvin")
	require.NoError(t, err)
	defer body.Close()
	lines := bufio.NewScanner(body)
	require.True(t, lines.Scan())
	assert.JSONEq(t, `{"watching":[{"actor":"`+snk+`","port":"token"}]}`, lines.Text())

	for _, tok := range []any{2.5, map[string]any{"k": "v"}, true} {
		require.NoError(t, f.invoke(t, "Inject", map[string]any{"actor": snk, "port": "token", "token": tok}, &inj))
		assert.Positive(t, inj.Pending)
		ar := readArrival(t, lines)
		assert.Equal(t, bridgeagent.PortRef{Actor: snk, Port: "token"}, ar.PortRef)
		assert.Equal(t, tok, ar.Token)
	}
	assert.Equal(t, []any{"first", 2.5, map[string]any{"k": "v"}, true}, waitReport[any](t, f, snk, 4))

	assertStatus(t, http.StatusNotFound, f.invoke(t, "Inject", map[string]any{"actor": "nobody", "port": "token", "token": 1}, &inj))
	assertStatus(t, http.StatusNotFound, f.invoke(t, "Inject", map[string]any{"actor": snk, "port": "nope", "token": 1}, &inj))
	assertStatus(t, http.StatusBadRequest, f.invoke(t, "Inject", map[string]any{"actor": snk, "port": "token"}, &inj), "no token")
	assertStatus(t, http.StatusBadRequest, f.invoke(t, "Inject", map[string]any{"actor": src, "port": "integer", "token": 1}, &inj), "an outport")
	snk2 := f.create(t, std.SinkType, nil)
	require.NoError(t, f.invoke(t, "Connect", map[string]any{"actor": src, "port": "integer", "peer_actor": snk2, "peer_port": "token"}, nil))
	assertStatus(t, http.StatusConflict, f.invoke(t, "Inject", map[string]any{"actor": snk2, "port": "token", "token": 1}, &inj), "has a writer")

	assert.ElementsMatch(t, []string{bridgeagent.InjectType, bridgeagent.TapType}, f.helperTypes(t))
	assertStatus(t, http.StatusBadRequest, f.invoke(t, "DeleteActor", map[string]any{"actor": f.helperIDs(t)[0]}, nil), "a helper")

	// deleting the sink deletes its injector and its tap
	require.NoError(t, f.invoke(t, "DeleteActor", map[string]any{"actor": snk}, nil))
	assert.Empty(t, f.helperTypes(t))
	require.NoError(t, f.invoke(t, "Watch", map[string]any{"actor": snk2, "port": "token"}, &w))
	assert.Equal(t, []bridgeagent.PortRef{{Actor: snk2, Port: "token"}}, w.Watching)

	// closing the bridge ends the open stream
	require.NoError(t, f.br.Close())
	for lines.Scan() {
		assert.Contains(t, lines.Text(), snk2, "only the CountTimer's tokens arrive now")
	}
	assert.NoError(t, lines.Err(), "the stream ended cleanly")
	assert.Empty(t, f.helperTypes(t), "Close deletes the helpers")
}

// helperTypes lists the types of the bridge's helper actors on A.
func (f *fixture) helperTypes(t *testing.T) []string {
	t.Helper()
	var actors []bridgeagent.ActorInfo
	require.NoError(t, f.invoke(t, "Actors", nil, &actors))
	types := []string{}
	for _, a := range actors {
		if a.Type == bridgeagent.InjectType || a.Type == bridgeagent.TapType {
			types = append(types, a.Type)
		}
	}
	return types
}

// helperIDs lists the ids of the bridge's helper actors on A.
func (f *fixture) helperIDs(t *testing.T) []string {
	t.Helper()
	var ids []string
	for _, id := range f.a.Runtime.ActorIDs() {
		if info, _ := f.a.Runtime.Actor(id); info.Type == bridgeagent.InjectType || info.Type == bridgeagent.TapType {
			ids = append(ids, id)
		}
	}
	return ids
}

// TestWatchFollowsMigration watches a timer's outport, migrates the timer
// to B, and reads on: its tokens keep arriving at the tap on A, over the
// network now, with none lost or repeated.
func TestWatchFollowsMigration(t *testing.T) {
	leakcheck.NoNewGoroutines(t)
	f := setup(t)
	src := f.create(t, std.CountTimerType, map[string]any{"sleep": 0.005})
	snk := f.create(t, std.SinkType, map[string]any{"quiet": true})
	require.NoError(t, f.invoke(t, "Connect", map[string]any{"actor": src, "port": "integer", "peer_actor": snk, "peer_port": "token"}, nil))
	require.NoError(t, f.invoke(t, "Watch", map[string]any{"actor": src, "port": "integer"}, nil))
	body, err := f.api.GetStream(f.ctx, bridgeagent.StreamName, "calvin")
	require.NoError(t, err)
	defer body.Close()
	lines := bufio.NewScanner(body)
	require.True(t, lines.Scan())

	next := func() float64 {
		ar := readArrival(t, lines)
		assert.Equal(t, bridgeagent.PortRef{Actor: src, Port: "integer"}, ar.PortRef)
		v, ok := ar.Token.(float64)
		require.True(t, ok, "%v", ar.Token)
		return v
	}
	last := next()
	require.NoError(t, f.invoke(t, "Migrate", map[string]any{"actor": src, "node": f.b.ID()}, nil))
	_, onB := f.b.Runtime.Actor(src)
	require.True(t, onB)
	for range 20 {
		v := next()
		require.Equal(t, last+1, v, "consecutive tokens across the migration")
		last = v
	}
}
