package actor_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/actor/std"
	"github.com/meshkit/meshkit/rt2rt"
	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/token"
	"github.com/meshkit/meshkit/transport"
	"github.com/meshkit/meshkit/tunnel"
)

func TestLimitOptionsRejectNonPositive(t *testing.T) {
	for _, tc := range []struct {
		name string
		opt  actor.Option
	}{
		{"max actors 0", actor.WithMaxActors(0)},
		{"max actors -1", actor.WithMaxActors(-1)},
		{"max port connections 0", actor.WithMaxPortConnections(0)},
		{"max port connections -5", actor.WithMaxPortConnections(-5)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt, err := actor.NewRuntime(tc.opt)
			assert.ErrorIs(t, err, actor.ErrBadOption)
			assert.Nil(t, rt)
		})
	}
	rt, err := actor.NewRuntime(actor.WithMaxActors(1), actor.WithMaxPortConnections(1))
	require.NoError(t, err)
	require.NoError(t, rt.Close())
}

// shadowState is a minimal actor state of a type no runtime knows: it
// arrives as a shadow actor, which costs no type registration.
func shadowState(id string) map[string]any {
	return map[string]any{
		"private": map[string]any{"_id": id, "_name": id, "inports": map[string]any{}, "outports": map[string]any{}},
		"managed": map[string]any{}, "security": map[string]any{}, "custom": map[string]any{},
	}
}

func TestMaxActorsBoundsCreateAndImport(t *testing.T) {
	rt, _ := testRuntime(t, actor.WithMaxActors(2))
	ctx := context.Background()
	first, err := rt.CreateActor(ctx, "test.Source", nil)
	require.NoError(t, err)
	_, err = rt.ImportActor(ctx, "flood.Unknown", shadowState("shadow-1"))
	require.NoError(t, err)

	_, err = rt.CreateActor(ctx, "test.Source", nil, actor.WithActorID("one-too-many"))
	require.ErrorIs(t, err, actor.ErrTooManyActors)
	var ae *actor.ActorError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "one-too-many", ae.ActorID)
	assert.Contains(t, err.Error(), "limit 2")

	_, err = rt.ImportActor(ctx, "flood.Unknown", shadowState("shadow-2"))
	require.ErrorIs(t, err, actor.ErrTooManyActors)
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "shadow-2", ae.ActorID)
	assert.Len(t, rt.ActorIDs(), 2)

	// Deleting frees the slot.
	require.NoError(t, rt.DeleteActor(ctx, first))
	_, err = rt.ImportActor(ctx, "flood.Unknown", shadowState("shadow-2"))
	require.NoError(t, err)
	assert.Len(t, rt.ActorIDs(), 2)
}

// gate is an actor whose Setup blocks until released, so a creation can be
// held half-way.
type gate struct {
	entered chan<- struct{}
	release <-chan struct{}
}

func (g *gate) Setup(*actor.Context) error {
	g.entered <- struct{}{}
	<-g.release
	return nil
}

func (g *gate) Actions() []actor.Action { return nil }

// failing is an actor whose Init always fails.
type failing struct{}

func (failing) Init(*actor.Context, map[string]any) error { return errors.New("no") }
func (failing) Actions() []actor.Action                   { return nil }

func TestMaxActorsCountsCreationsInProgress(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	reg, err := actor.NewRegistry(
		actor.Type{Name: "test.Gate", New: func() actor.Actor { return &gate{entered: entered, release: release} }},
		actor.Type{Name: "test.Failing", New: func() actor.Actor { return failing{} }},
	)
	require.NoError(t, err)
	rt, err := actor.NewRuntime(actor.WithRegistry(reg), actor.WithMaxActors(1))
	require.NoError(t, err)
	t.Cleanup(func() { _ = rt.Close() })
	ctx := context.Background()

	// A failed creation gives its slot back.
	_, err = rt.CreateActor(ctx, "test.Failing", nil)
	require.Error(t, err)
	require.NotErrorIs(t, err, actor.ErrTooManyActors)

	var wg sync.WaitGroup
	var gateErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, gateErr = rt.CreateActor(ctx, "test.Gate", nil)
	}()
	<-entered // the gate is in Setup: not registered, but holding the only slot
	assert.Empty(t, rt.ActorIDs())
	_, err = rt.ImportActor(ctx, "flood.Unknown", shadowState("racer"))
	assert.ErrorIs(t, err, actor.ErrTooManyActors, "an import must not take the slot of a creation in progress")
	_, err = rt.CreateActor(ctx, "test.Failing", nil)
	assert.ErrorIs(t, err, actor.ErrTooManyActors)
	close(release)
	wg.Wait()
	require.NoError(t, gateErr)
	assert.Len(t, rt.ActorIDs(), 1)
}

func TestMaxActorsConcurrentImports(t *testing.T) {
	const limit, tries = 3, 24
	rt, _ := testRuntime(t, actor.WithMaxActors(limit))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ok, full int
	)
	for i := range tries {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := rt.ImportActor(context.Background(), "flood.Unknown", shadowState(fmt.Sprintf("s%d", i)))
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.Is(err, actor.ErrTooManyActors):
				full++
			default:
				t.Errorf("import %d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	assert.Equal(t, limit, ok)
	assert.Equal(t, tries-limit, full)
	assert.Len(t, rt.ActorIDs(), limit)
}

func TestMaxPortConnectionsLocal(t *testing.T) {
	rt, _ := testRuntime(t, actor.WithMaxPortConnections(2))
	ctx := context.Background()
	src, err := rt.CreateActor(ctx, "test.Source", map[string]any{"n": int64(0)})
	require.NoError(t, err)
	op, err := rt.PortID(src, actor.Out, "out")
	require.NoError(t, err)
	in := make([]string, 4)
	for i := range in {
		id, err := rt.CreateActor(ctx, "test.A", nil)
		require.NoError(t, err)
		in[i], err = rt.PortID(id, actor.In, "in")
		require.NoError(t, err)
	}
	require.NoError(t, rt.Connect(ctx, op, in[0]))
	require.NoError(t, rt.Connect(ctx, op, in[1]))
	err = rt.Connect(ctx, op, in[2])
	require.ErrorIs(t, err, actor.ErrTooManyConnections)
	assert.Contains(t, err.Error(), op)
	pi, _ := rt.Port(in[2])
	assert.Empty(t, pi.Peers, "the refused inport must not keep a half connection")

	// Reconnecting a pair adds nothing.
	require.NoError(t, rt.Connect(ctx, op, in[1]))
	// A temporary disconnect keeps the reader (the pair may come back), so
	// it still counts; the pair itself reconnects.
	require.NoError(t, rt.Disconnect(ctx, op, in[1], actor.Temporary))
	require.ErrorIs(t, rt.Connect(ctx, op, in[3]), actor.ErrTooManyConnections)
	require.NoError(t, rt.Connect(ctx, op, in[1]))
	// Terminating removes the reader and frees the place.
	require.NoError(t, rt.Disconnect(ctx, op, in[1], actor.Terminate))
	require.NoError(t, rt.Connect(ctx, op, in[3]))
	pi, _ = rt.Port(op)
	assert.ElementsMatch(t, []string{in[0], in[3]}, pi.Peers)
}

func TestMaxPortConnectionsRemoteQueue(t *testing.T) {
	rt, _ := testRuntime(t, actor.WithMaxPortConnections(2))
	ctx := context.Background()
	src, err := rt.CreateActor(ctx, "test.Source", nil)
	require.NoError(t, err)
	op, _ := rt.PortID(src, actor.Out, "out")
	q, _, err := rt.RemoteQueue(op, "peer-1")
	require.NoError(t, err)
	_, _, err = rt.RemoteQueue(op, "peer-2")
	require.NoError(t, err)
	_, _, err = rt.RemoteQueue(op, "made-up-3")
	require.ErrorIs(t, err, actor.ErrTooManyConnections)
	assert.ElementsMatch(t, []string{"peer-1", "peer-2"}, q.Readers(), "no reader for a refused peer")
	_, _, err = rt.RemoteQueue(op, "peer-1")
	require.NoError(t, err, "a known pair is always admitted")
	_, err = rt.AttachEndpoint(op, "made-up-3", nopEndpoint{})
	require.ErrorIs(t, err, actor.ErrTooManyConnections)
	_, err = rt.AttachEndpoint(op, "peer-2", nopEndpoint{})
	require.NoError(t, err)
}

type nopEndpoint struct{}

func (nopEndpoint) Notify()                     {}
func (nopEndpoint) Detach(actor.DisconnectMode) {}

// limitedNodes returns two joined nodes on the in-memory transport; a's
// runtime gets aOpts.
func limitedNodes(t *testing.T, aOpts ...actor.Option) (*meshNode, *meshNode) {
	t.Helper()
	reg := netRegistry(t)
	tr, err := transport.NewRegistry(transport.WithMemNetwork(transport.NewMemNetwork()))
	require.NoError(t, err)
	build := func(uri string, opts ...actor.Option) *meshNode {
		n, err := rt2rt.NewNode(rt2rt.WithLogger(quiet()), rt2rt.WithTransport(tr), rt2rt.WithListen(uri))
		require.NoError(t, err)
		m, err := tunnel.NewManager(n, tunnel.WithLogger(quiet()))
		require.NoError(t, err)
		rt, err := actor.NewRuntime(append([]actor.Option{actor.WithRegistry(reg), actor.WithNodeID(n.ID())}, opts...)...)
		require.NoError(t, err)
		f, err := token.NewFlow(token.WithLogger(quiet()), token.WithPortLookup(rt.HasPort))
		require.NoError(t, err)
		require.NoError(t, f.Register(m))
		nw, err := actor.NewNetwork(rt, n, m, f, actor.WithNetworkLogger(quiet()))
		require.NoError(t, err)
		mn := &meshNode{node: n, mgr: m, flow: f, rt: rt, net: nw}
		t.Cleanup(mn.close)
		return mn
	}
	a := build("mem://limits-a", aOpts...)
	b := build("mem://limits-b")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = b.node.Join(ctx, a.node.URIs()[0])
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		for _, p := range a.node.Peers() {
			if p.ID == b.node.ID() {
				return true
			}
		}
		return false
	}, 10*time.Second, time.Millisecond)
	return a, b
}

// TestActorNewFloodAnswers503 fills a node with actors over ACTOR_NEW: the
// requests over the limit get 503, a real migration is refused and its
// actor restored on the source, and once a slot is free the node takes
// the actor.
func TestActorNewFloodAnswers503(t *testing.T) {
	const limit = 3
	a, b := limitedNodes(t, actor.WithMaxActors(limit))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resident, err := a.rt.CreateActor(ctx, std.SinkType, map[string]any{"quiet": true})
	require.NoError(t, err)

	// The flood: racing ACTOR_NEWs with made-up shadow actors.
	const flood = 12
	statuses := make([]int, flood)
	var wg sync.WaitGroup
	for i := range flood {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := b.node.Request(ctx, a.node.ID(), &wire.ActorNew{State: wire.ActorNewState{
				ActorType: "flood.Unknown", ActorState: shadowState(fmt.Sprintf("flood-%d", i))}})
			if assert.NoError(t, err) {
				statuses[i] = resp.Status
			}
		}()
	}
	wg.Wait()
	count := map[int]int{}
	for _, s := range statuses {
		count[s]++
	}
	assert.Equal(t, map[int]int{wire.StatusOK: limit - 1, wire.StatusServiceUnavailable: flood - limit + 1}, count)
	assert.Len(t, a.rt.ActorIDs(), limit)

	// A real migration into the full node is refused and restored.
	src, err := b.rt.CreateActor(ctx, "test.Source", map[string]any{"n": int64(0)})
	require.NoError(t, err)
	err = b.net.Migrate(ctx, src, a.node.ID())
	var merr *actor.MigrationError
	require.ErrorAs(t, err, &merr)
	assert.Equal(t, wire.StatusServiceUnavailable, merr.Status)
	assert.True(t, merr.Restored)
	assert.False(t, merr.Moved)
	_, onB := b.rt.Actor(src)
	assert.True(t, onB, "the refused actor must live on at the source")
	_, onA := a.rt.Actor(src)
	assert.False(t, onA)

	// The node keeps serving: a freed slot takes the actor.
	require.NoError(t, a.rt.DeleteActor(ctx, resident))
	require.NoError(t, b.net.Migrate(ctx, src, a.node.ID()))
	_, onA = a.rt.Actor(src)
	assert.True(t, onA)
	_, onB = b.rt.Actor(src)
	assert.False(t, onB)
}

// TestPortConnectFloodAnswers503 has a peer connect made-up ports to one
// outport: past the limit PORT_CONNECT answers 503 and no reader is added,
// a known pair still reconnects, and the node keeps serving connections to
// its other ports.
func TestPortConnectFloodAnswers503(t *testing.T) {
	const limit = 3
	a, b := limitedNodes(t, actor.WithMaxPortConnections(limit))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	flooded, err := a.rt.CreateActor(ctx, "test.Source", map[string]any{"n": int64(0)})
	require.NoError(t, err)
	floodedPort, _ := a.rt.PortID(flooded, actor.Out, "out")

	tun, err := b.mgr.Open(ctx, a.node.ID(), wire.TunnelTypeToken)
	require.NoError(t, err)
	connect := func(fake string) int {
		resp, err := b.node.Request(ctx, a.node.ID(), &wire.PortConnect{TunnelID: tun.ID(), PortID: fake,
			PortProperties: map[string]any{"direction": "in", "routing": "default", "nbr_peers": int64(1)},
			PeerPortID:     floodedPort})
		require.NoError(t, err)
		return resp.Status
	}
	for i := range limit + 5 {
		want := wire.StatusOK
		if i >= limit {
			want = wire.StatusServiceUnavailable
		}
		assert.Equal(t, want, connect(fmt.Sprintf("made-up-%d", i)), "PORT_CONNECT %d", i)
	}
	state, err := a.rt.PortState(floodedPort)
	require.NoError(t, err)
	assert.Len(t, state["readers"], limit, "no reader for a refused connection")
	assert.Equal(t, wire.StatusOK, connect("made-up-1"), "a known pair reconnects")

	// Another port of the node still connects and streams.
	src, err := a.rt.CreateActor(ctx, "test.Source", map[string]any{"n": int64(20)})
	require.NoError(t, err)
	snk, err := b.rt.CreateActor(ctx, std.SinkType, map[string]any{"store_tokens": true, "quiet": true})
	require.NoError(t, err)
	op, _ := a.rt.PortID(src, actor.Out, "out")
	ip, _ := b.rt.PortID(snk, actor.In, "token")
	require.NoError(t, b.net.ConnectRemote(ctx, ip, a.node.ID(), op))
	require.Eventually(t, func() bool { return len(sinkTokens(t, b.rt, snk)) == 20 }, 10*time.Second, time.Millisecond)
	assert.Equal(t, ints(20, 1), sinkTokens(t, b.rt, snk))

	// A real inport connecting to the flooded port gets the refusal and
	// keeps no half connection.
	snk2, err := b.rt.CreateActor(ctx, std.SinkType, map[string]any{"quiet": true})
	require.NoError(t, err)
	ip2, _ := b.rt.PortID(snk2, actor.In, "token")
	err = b.net.ConnectRemote(ctx, ip2, a.node.ID(), floodedPort)
	require.ErrorIs(t, err, actor.ErrBadConnection)
	assert.Contains(t, err.Error(), "503")
	pi, _ := b.rt.Port(ip2)
	assert.Empty(t, pi.Peers)
}
