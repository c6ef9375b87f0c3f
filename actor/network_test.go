package actor_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/actor/std"
	"github.com/meshkit/meshkit/rt2rt"
	"github.com/meshkit/meshkit/token"
	"github.com/meshkit/meshkit/transport"
	"github.com/meshkit/meshkit/tunnel"
)

// meshNode is one node with the whole stack: rt2rt node, tunnel manager,
// token flow, actor runtime and its network binding.
type meshNode struct {
	node *rt2rt.Node
	mgr  *tunnel.Manager
	flow *token.Flow
	rt   *actor.Runtime
	net  *actor.Network
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func netRegistry(t testing.TB) *actor.Registry {
	t.Helper()
	reg, err := std.NewRegistry()
	require.NoError(t, err)
	require.NoError(t, reg.Register(actor.Type{Name: "test.Source", Outports: []string{"out"},
		Optional: map[string]any{"n": int64(10)}, New: func() actor.Actor { return &source{} }}))
	return reg
}

func newMeshNode(t testing.TB, reg *actor.Registry, opts ...rt2rt.Option) *meshNode {
	t.Helper()
	n, err := rt2rt.NewNode(append([]rt2rt.Option{rt2rt.WithLogger(quiet())}, opts...)...)
	require.NoError(t, err)
	m, err := tunnel.NewManager(n, tunnel.WithLogger(quiet()))
	require.NoError(t, err)
	rt, err := actor.NewRuntime(actor.WithRegistry(reg), actor.WithNodeID(n.ID()))
	require.NoError(t, err)
	// A TOKEN for a port that exists but is not connected (yet) gets no
	// reply rather than ABORT, as in Calvin (§7.4).
	f, err := token.NewFlow(token.WithLogger(quiet()), token.WithPortLookup(rt.HasPort))
	require.NoError(t, err)
	require.NoError(t, f.Register(m))
	nw, err := actor.NewNetwork(rt, n, m, f, actor.WithNetworkLogger(quiet()))
	require.NoError(t, err)
	mn := &meshNode{node: n, mgr: m, flow: f, rt: rt, net: nw}
	t.Cleanup(mn.close)
	return mn
}

func (m *meshNode) close() {
	_ = m.net.Close()
	_ = m.rt.Close()
	_ = m.flow.Close()
	_ = m.mgr.Close()
	_ = m.node.Close()
}

// twoNodes returns two joined nodes on the in-memory transport (tcp: real
// loopback TCP).
func twoNodes(t testing.TB, tcp bool) (*meshNode, *meshNode) {
	t.Helper()
	reg := netRegistry(t)
	var a, b *meshNode
	if tcp {
		a = newMeshNode(t, reg, rt2rt.WithListen("calvinip://127.0.0.1:0"))
		b = newMeshNode(t, reg, rt2rt.WithListen("calvinip://127.0.0.1:0"))
	} else {
		mn := transport.NewMemNetwork()
		tr, err := transport.NewRegistry(transport.WithMemNetwork(mn))
		require.NoError(t, err)
		name := fmt.Sprintf("%p", t)
		a = newMeshNode(t, reg, rt2rt.WithTransport(tr), rt2rt.WithListen("mem://a"+name))
		b = newMeshNode(t, reg, rt2rt.WithTransport(tr), rt2rt.WithListen("mem://b"+name))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := b.node.Join(ctx, a.node.URIs()[0])
	require.NoError(t, err)
	require.Equal(t, a.node.ID(), id)
	// The responder installs its side of the link on its own goroutine.
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

func sinkTokens(t *testing.T, rt *actor.Runtime, id string) []any {
	t.Helper()
	v, err := rt.Report(context.Background(), id, nil)
	require.NoError(t, err)
	return v.([]any)
}

func TestRemoteConnectStreamsInOrder(t *testing.T) {
	a, b := twoNodes(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	src, err := a.rt.CreateActor(ctx, "test.Source", map[string]any{"n": int64(300)})
	require.NoError(t, err)
	snk, err := b.rt.CreateActor(ctx, std.SinkType, map[string]any{"store_tokens": true, "quiet": true})
	require.NoError(t, err)
	op, _ := a.rt.PortID(src, actor.Out, "out")
	ip, _ := b.rt.PortID(snk, actor.In, "token")
	require.NoError(t, b.net.ConnectRemote(ctx, ip, a.node.ID(), op))
	require.Eventually(t, func() bool { return len(sinkTokens(t, b.rt, snk)) == 300 }, 20*time.Second, time.Millisecond)
	assert.Equal(t, ints(300, 1), sinkTokens(t, b.rt, snk))
	pi, ok := a.rt.Port(op)
	require.True(t, ok)
	assert.Equal(t, []string{ip}, pi.Peers)
	assert.Equal(t, []bool{false}, pi.Local)
}

// TestMigrationKeepsStreamExact replays the json-two-nodes scenario with a
// finite source: the sink moves A→B, the source A→B, the sink B→A, while
// tokens flow; the sink must end with 1..N, nothing lost or duplicated.
func TestMigrationKeepsStreamExact(t *testing.T) {
	for _, tcp := range []bool{false, true} {
		t.Run(fmt.Sprintf("tcp=%v", tcp), func(t *testing.T) {
			a, b := twoNodes(t, tcp)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			// A timer-driven source, so that tokens are in flight during
			// every migration (and its timer migrates too).
			const n = 400
			src, err := a.rt.CreateActor(ctx, std.CountTimerType, map[string]any{"sleep": 0.002, "steps": int64(n), "name": "xflow:src"})
			require.NoError(t, err)
			snk, err := a.rt.CreateActor(ctx, std.SinkType, map[string]any{"store_tokens": true, "quiet": true, "name": "xflow:snk"})
			require.NoError(t, err)
			op, _ := a.rt.PortID(src, actor.Out, "integer")
			ip, _ := a.rt.PortID(snk, actor.In, "token")
			require.NoError(t, a.rt.Connect(ctx, op, ip))
			require.Eventually(t, func() bool { return len(sinkTokens(t, a.rt, snk)) > 5 }, 10*time.Second, time.Millisecond)

			require.NoError(t, a.net.Migrate(ctx, snk, b.node.ID()))
			k := len(sinkTokens(t, b.rt, snk))
			require.Less(t, k, n, "tokens still to come")
			require.Eventually(t, func() bool { return len(sinkTokens(t, b.rt, snk)) > k+5 }, 10*time.Second, time.Millisecond, "tokens flow A→B")
			_, onA := a.rt.Actor(snk)
			assert.False(t, onA)
			info, onB := b.rt.Actor(snk)
			require.True(t, onB)
			assert.Equal(t, "xflow:snk", info.Name)
			assert.Equal(t, ip, info.Inports[0].ID, "port ids survive")

			require.NoError(t, a.net.Migrate(ctx, src, b.node.ID()))
			k = len(sinkTokens(t, b.rt, snk))
			require.Less(t, k, n, "tokens still to come")
			require.Eventually(t, func() bool { return len(sinkTokens(t, b.rt, snk)) > k+5 }, 10*time.Second, time.Millisecond, "tokens flow on B")
			srcInfo, ok := b.rt.Actor(src)
			require.True(t, ok)
			assert.Equal(t, []bool{true}, srcInfo.Outports[0].Local, "co-located again: a local connection")

			require.NoError(t, b.net.Migrate(ctx, snk, a.node.ID()))
			require.Less(t, len(sinkTokens(t, a.rt, snk)), n, "tokens flow B→A after the last move")
			require.Eventually(t, func() bool { return len(sinkTokens(t, a.rt, snk)) == n }, 20*time.Second, time.Millisecond)
			assert.Equal(t, ints(n, 1), sinkTokens(t, a.rt, snk))
		})
	}
}

func TestFailedMigrationRollsBack(t *testing.T) {
	a, b := twoNodes(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 2000
	src, err := a.rt.CreateActor(ctx, "test.Source", map[string]any{"n": int64(n)})
	require.NoError(t, err)
	snk, err := a.rt.CreateActor(ctx, std.SinkType, map[string]any{"store_tokens": true, "quiet": true})
	require.NoError(t, err)
	op, _ := a.rt.PortID(src, actor.Out, "out")
	ip, _ := a.rt.PortID(snk, actor.In, "token")
	require.NoError(t, a.rt.Connect(ctx, op, ip))
	// B already hosts an actor with the sink's id: ACTOR_NEW answers 400.
	_, err = b.rt.CreateActor(ctx, std.TerminatorType, nil, actor.WithActorID(snk))
	require.NoError(t, err)

	err = a.net.Migrate(ctx, snk, b.node.ID())
	var me *actor.MigrationError
	require.ErrorAs(t, err, &me)
	assert.ErrorIs(t, err, actor.ErrMigrationFailed)
	assert.Equal(t, 400, me.Status, "%v", err)
	assert.True(t, me.Restored)
	info, ok := a.rt.Actor(snk)
	require.True(t, ok, "the source keeps the actor")
	assert.True(t, info.Connected)
	require.Eventually(t, func() bool { return len(sinkTokens(t, a.rt, snk)) == n }, 20*time.Second, time.Millisecond)
	assert.Equal(t, ints(n, 1), sinkTokens(t, a.rt, snk))

	// Migrating a remote-connected actor to a node that refuses it restores
	// the remote connection too.
	require.NoError(t, b.rt.DeleteActor(ctx, snk))
	c, err := a.rt.CreateActor(ctx, std.CounterType, nil)
	require.NoError(t, err)
	s2, err := b.rt.CreateActor(ctx, std.SinkType, map[string]any{"store_tokens": true, "quiet": true})
	require.NoError(t, err)
	cp, _ := a.rt.PortID(c, actor.Out, "integer")
	sp, _ := b.rt.PortID(s2, actor.In, "token")
	require.NoError(t, a.net.ConnectRemote(ctx, cp, b.node.ID(), sp))
	require.Eventually(t, func() bool { return len(sinkTokens(t, b.rt, s2)) > 10 }, 10*time.Second, time.Millisecond)
	_, err = a.rt.CreateActor(ctx, std.TerminatorType, nil, actor.WithActorID(s2))
	require.NoError(t, err)
	err = b.net.Migrate(ctx, s2, a.node.ID())
	require.ErrorAs(t, err, &me)
	assert.True(t, me.Restored)
	before := len(sinkTokens(t, b.rt, s2))
	require.Eventually(t, func() bool { return len(sinkTokens(t, b.rt, s2)) > before+10 }, 10*time.Second, time.Millisecond)
	got := sinkTokens(t, b.rt, s2)
	assert.Equal(t, ints(int64(len(got)), 1), got)
}

func TestMigrateErrors(t *testing.T) {
	a, b := twoNodes(t, false)
	ctx := context.Background()
	err := a.net.Migrate(ctx, "nope", b.node.ID())
	assert.ErrorIs(t, err, actor.ErrUnknownActor)
	id, err := a.rt.CreateActor(ctx, std.SinkType, nil)
	require.NoError(t, err)
	require.NoError(t, a.net.Migrate(ctx, id, a.node.ID()), "to itself: nothing to do")
	require.NoError(t, a.net.Migrate(ctx, id, b.node.ID()), "an unconnected actor migrates")
	_, ok := b.rt.Actor(id)
	assert.True(t, ok)
	assert.False(t, errors.Is(nil, actor.ErrMigrating))
}

func TestNetworkCloseLeavesNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	reg := netRegistry(t)
	mn := transport.NewMemNetwork()
	tr, err := transport.NewRegistry(transport.WithMemNetwork(mn))
	require.NoError(t, err)
	a := newMeshNodeNoCleanup(t, reg, rt2rt.WithTransport(tr), rt2rt.WithListen("mem://leak-a"))
	b := newMeshNodeNoCleanup(t, reg, rt2rt.WithTransport(tr), rt2rt.WithListen("mem://leak-b"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err = b.node.Join(ctx, "mem://leak-a")
	require.NoError(t, err)
	src, _ := a.rt.CreateActor(ctx, std.CounterType, nil)
	snk, _ := b.rt.CreateActor(ctx, std.SinkType, map[string]any{"store_tokens": true, "quiet": true})
	op, _ := a.rt.PortID(src, actor.Out, "integer")
	ip, _ := b.rt.PortID(snk, actor.In, "token")
	require.NoError(t, b.net.ConnectRemote(ctx, ip, a.node.ID(), op))
	require.Eventually(t, func() bool { return len(sinkTokens(t, b.rt, snk)) > 10 }, 10*time.Second, time.Millisecond)
	require.NoError(t, b.net.Migrate(ctx, snk, a.node.ID()))
	a.close()
	b.close()
	b.close() // twice is fine
	noLeak(t, before)
}

func newMeshNodeNoCleanup(t testing.TB, reg *actor.Registry, opts ...rt2rt.Option) *meshNode {
	t.Helper()
	n, err := rt2rt.NewNode(append([]rt2rt.Option{rt2rt.WithLogger(quiet())}, opts...)...)
	require.NoError(t, err)
	m, err := tunnel.NewManager(n, tunnel.WithLogger(quiet()))
	require.NoError(t, err)
	rt, err := actor.NewRuntime(actor.WithRegistry(reg), actor.WithNodeID(n.ID()))
	require.NoError(t, err)
	f, err := token.NewFlow(token.WithLogger(quiet()))
	require.NoError(t, err)
	require.NoError(t, f.Register(m))
	nw, err := actor.NewNetwork(rt, n, m, f)
	require.NoError(t, err)
	return &meshNode{node: n, mgr: m, flow: f, rt: rt, net: nw}
}

type migObserver struct {
	actor.NopObserver
	migrated chan error
}

func (o *migObserver) ActorMigrated(_, _ string, err error) { o.migrated <- err }

// TestFanOutMigration: one source feeding two sinks; the source moves away
// and back (one PORT_CONNECT per peer each time) and both sinks see the
// whole stream exactly once.
func TestFanOutMigration(t *testing.T) {
	a, b := twoNodes(t, false)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 300
	src, err := a.rt.CreateActor(ctx, std.CountTimerType, map[string]any{"sleep": 0.002, "steps": int64(n)})
	require.NoError(t, err)
	var sinks []string
	for range 2 {
		s, err := a.rt.CreateActor(ctx, std.SinkType, map[string]any{"store_tokens": true, "quiet": true})
		require.NoError(t, err)
		sinks = append(sinks, s)
		op, _ := a.rt.PortID(src, actor.Out, "integer")
		ip, _ := a.rt.PortID(s, actor.In, "token")
		require.NoError(t, a.rt.Connect(ctx, op, ip))
	}
	require.Eventually(t, func() bool { return len(sinkTokens(t, a.rt, sinks[1])) > 5 }, 10*time.Second, time.Millisecond)
	require.NoError(t, a.net.Migrate(ctx, src, b.node.ID()))
	info, ok := b.rt.Actor(src)
	require.True(t, ok)
	assert.Len(t, info.Outports[0].Peers, 2)
	k := len(sinkTokens(t, a.rt, sinks[0]))
	require.Eventually(t, func() bool { return len(sinkTokens(t, a.rt, sinks[0])) > k+5 }, 10*time.Second, time.Millisecond)
	require.NoError(t, b.net.Migrate(ctx, src, a.node.ID()))
	for _, s := range sinks {
		require.Eventually(t, func() bool { return len(sinkTokens(t, a.rt, s)) == n }, 20*time.Second, time.Millisecond)
		assert.Equal(t, ints(n, 1), sinkTokens(t, a.rt, s))
	}
}

func TestMigrationObserved(t *testing.T) {
	reg := netRegistry(t)
	obs := &migObserver{migrated: make(chan error, 4)}
	mn := transport.NewMemNetwork()
	tr, err := transport.NewRegistry(transport.WithMemNetwork(mn))
	require.NoError(t, err)
	a := newMeshNode(t, reg, rt2rt.WithTransport(tr), rt2rt.WithListen("mem://obs-a"))
	b := newMeshNode(t, reg, rt2rt.WithTransport(tr), rt2rt.WithListen("mem://obs-b"))
	rt, err := actor.NewRuntime(actor.WithRegistry(reg), actor.WithNodeID(a.node.ID()), actor.WithObserver(obs))
	require.NoError(t, err)
	_ = a.net.Close()
	_ = a.rt.Close()
	a.rt = rt
	a.net, err = actor.NewNetwork(rt, a.node, a.mgr, a.flow)
	require.NoError(t, err)
	ctx := context.Background()
	_, err = a.node.Join(ctx, "mem://obs-b")
	require.NoError(t, err)
	id, err := rt.CreateActor(ctx, std.SinkType, nil)
	require.NoError(t, err)
	require.NoError(t, a.net.Migrate(ctx, id, b.node.ID()))
	assert.NoError(t, <-obs.migrated)
	_, err = b.rt.CreateActor(ctx, std.SinkType, nil, actor.WithActorID("dup"))
	require.NoError(t, err)
	_, err = rt.CreateActor(ctx, std.SinkType, nil, actor.WithActorID("dup"))
	require.NoError(t, err)
	require.Error(t, a.net.Migrate(ctx, "dup", b.node.ID()))
	assert.ErrorIs(t, <-obs.migrated, actor.ErrMigrationFailed)
}
