package actor_test

import (
	"context"
	"fmt"
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

// restartable builds the stack of node name on mn; it is closed by the test.
func restartable(t *testing.T, mn *transport.MemNetwork, reg *actor.Registry, name string) *meshNode {
	t.Helper()
	tr, err := transport.NewRegistry(transport.WithMemNetwork(mn))
	require.NoError(t, err)
	resolve := rt2rt.ResolverFunc(func(_ context.Context, id string) ([]string, error) { return []string{"mem://" + id}, nil })
	n, err := rt2rt.NewNode(rt2rt.WithLogger(quiet()), rt2rt.WithID(name), rt2rt.WithTransport(tr),
		rt2rt.WithListen("mem://"+name), rt2rt.WithResolver(resolve), rt2rt.WithRequestTimeout(2*time.Second))
	require.NoError(t, err)
	m, err := tunnel.NewManager(n, tunnel.WithLogger(quiet()))
	require.NoError(t, err)
	rt, err := actor.NewRuntime(actor.WithRegistry(reg), actor.WithNodeID(n.ID()))
	require.NoError(t, err)
	f, err := token.NewFlow(token.WithLogger(quiet()), token.WithPortLookup(rt.HasPort))
	require.NoError(t, err)
	require.NoError(t, f.Register(m))
	nw, err := actor.NewNetwork(rt, n, m, f, actor.WithNetworkLogger(quiet()), actor.WithOperationTimeout(10*time.Second))
	require.NoError(t, err)
	return &meshNode{node: n, mgr: m, flow: f, rt: rt, net: nw}
}

// TestSuspendResumeRestartsNodeOnItsState stops the middle node of a mesh
// twice while tokens flow through it (in from a remote source, out to a
// remote and a local sink), brings it back each time from its snapshot on
// a new stack with the same id, and checks that every sink ends with exactly
// what its source produced, in order, every token acknowledged.
func TestSuspendResumeRestartsNodeOnItsState(t *testing.T) {
	before := runtime.NumGoroutine()
	mn := transport.NewMemNetwork()
	reg := netRegistry(t)
	ct, ok := reg.Lookup(std.CountTimerType)
	require.True(t, ok)
	fan := *ct
	fan.Name = "test.PairCountTimer"
	fan.PortProperties = map[string]map[string]any{"integer": {"nbr_peers": int64(2)}}
	require.NoError(t, reg.Register(fan))

	a := restartable(t, mn, reg, "ra")
	b := restartable(t, mn, reg, "rb")
	c := restartable(t, mn, reg, "rc")
	defer func() { a.close(); c.close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, err := b.node.Join(ctx, "mem://ra")
	require.NoError(t, err)
	_, err = c.node.Join(ctx, "mem://rb")
	require.NoError(t, err)

	sink := func(n *meshNode, name string) (string, string) {
		id, err := n.rt.CreateActor(ctx, std.SinkType, map[string]any{"store_tokens": true, "quiet": true, "name": name})
		require.NoError(t, err)
		in, err := n.rt.PortID(id, actor.In, "token")
		require.NoError(t, err)
		return id, in
	}
	// a.src1 → b.snk1; b.src2 → b.snk2 (local) and c.snk3.
	src1, err := a.rt.CreateActor(ctx, std.CountTimerType, map[string]any{"sleep": 0.002})
	require.NoError(t, err)
	out1, _ := a.rt.PortID(src1, actor.Out, "integer")
	src2, err := b.rt.CreateActor(ctx, fan.Name, map[string]any{"sleep": 0.002})
	require.NoError(t, err)
	out2, _ := b.rt.PortID(src2, actor.Out, "integer")
	snk1, in1 := sink(b, "snk1")
	snk2, in2 := sink(b, "snk2")
	snk3, in3 := sink(c, "snk3")
	require.NoError(t, b.net.ConnectRemote(ctx, in1, "ra", out1))
	require.NoError(t, b.rt.Connect(ctx, out2, in2))
	require.NoError(t, c.net.ConnectRemote(ctx, in3, "rb", out2))

	where := map[string]*meshNode{src1: a, src2: b, snk1: b, snk2: b, snk3: c}
	count := func(id string) int64 {
		v, err := where[id].rt.Report(ctx, id, nil)
		require.NoError(t, err)
		return v.(int64)
	}
	tokens := func(id string) []any { return sinkTokens(t, where[id].rt, id) }

	for round := range 2 {
		require.Eventually(t, func() bool { return len(tokens(snk1)) > 20 && len(tokens(snk3)) > 20 },
			20*time.Second, time.Millisecond, "round %d: tokens flow", round)
		snap, err := b.net.Suspend(ctx)
		require.NoError(t, err)
		require.Len(t, snap.Actors, 3, "round %d", round)
		assert.Empty(t, b.rt.ActorIDs(), "suspended actors leave the runtime")
		raw, err := snap.MarshalBinary()
		require.NoError(t, err)
		b.close()

		// While b is down its upstream produces into its queue, which
		// holds tokens b has not acknowledged.
		require.Eventually(t, func() bool {
			ps, err := a.rt.PortState(out1)
			require.NoError(t, err)
			wp, _ := ps["write_pos"].(int64)
			rp, _ := ps["read_pos"].(map[string]any)[in1].(int64)
			return wp > rp
		}, 20*time.Second, time.Millisecond, "round %d: tokens wait for b", round)

		var back actor.Snapshot
		require.NoError(t, back.UnmarshalBinary(raw))
		b = restartable(t, mn, reg, "rb")
		for _, id := range []string{src2, snk1, snk2} {
			where[id] = b
		}
		require.NoError(t, b.net.Resume(ctx, &back), "round %d", round)
		for _, id := range []string{src2, snk1, snk2} {
			_, ok := b.rt.Actor(id)
			require.True(t, ok, "round %d: actor %s is back", round, id)
		}
		for _, id := range []string{snk1, snk2, snk3} {
			require.NoError(t, checkSequence(tokens(id)), "round %d: sink %s", round, id)
		}
	}
	defer b.close()

	// Stop the sources; each sink gets exactly what its source produced.
	for _, fl := range []struct {
		src, out string
		sinks    []string
		ins      []string
	}{{src1, out1, []string{snk1}, []string{in1}}, {src2, out2, []string{snk2, snk3}, []string{in2, in3}}} {
		c0 := count(fl.src)
		require.Eventually(t, func() bool { return count(fl.src) > c0+5 }, 20*time.Second, time.Millisecond,
			"source %s runs after the restarts", fl.src)
		v, err := where[fl.src].rt.Report(ctx, fl.src, map[string]any{"stopped": true})
		require.NoError(t, err)
		produced := v.(int64)
		for k, snk := range fl.sinks {
			require.Eventually(t, func() bool { return int64(len(tokens(snk))) >= produced }, 30*time.Second, time.Millisecond,
				"sink %s gets all %d tokens", snk, produced)
			got := tokens(snk)
			require.NoError(t, checkSequence(got))
			assert.Len(t, got, int(produced), "sink %s: exactly the produced tokens", snk)
			in := fl.ins[k]
			require.Eventually(t, func() bool {
				ps, err := where[fl.src].rt.PortState(fl.out)
				if err != nil {
					return false
				}
				wp, _ := ps["write_pos"].(int64)
				rp, _ := ps["read_pos"].(map[string]any)[in].(int64)
				return wp == rp
			}, 30*time.Second, time.Millisecond, "every token to %s acknowledged", snk)
		}
	}
	a.close()
	b.close()
	c.close()
	noLeak(t, before)
}

func TestSuspendRefusesArrivalsAndTwice(t *testing.T) {
	mn := transport.NewMemNetwork()
	reg := netRegistry(t)
	a := restartable(t, mn, reg, "sa")
	b := restartable(t, mn, reg, "sb")
	defer a.close()
	defer b.close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := b.node.Join(ctx, "mem://sa")
	require.NoError(t, err)
	id, err := a.rt.CreateActor(ctx, std.SinkType, map[string]any{"store_tokens": true, "quiet": true})
	require.NoError(t, err)

	snap, err := b.net.Suspend(ctx)
	require.NoError(t, err)
	assert.Empty(t, snap.Actors)
	_, err = b.net.Suspend(ctx)
	require.ErrorIs(t, err, actor.ErrClosed)

	// A migration to the suspended node is refused and the actor stays.
	err = a.net.Migrate(ctx, id, "sb")
	var me *actor.MigrationError
	require.ErrorAs(t, err, &me)
	assert.True(t, me.Restored, "actor restored at the source: %v", err)
	_, ok := a.rt.Actor(id)
	assert.True(t, ok)

	// Resume checks the node id.
	err = a.net.Resume(ctx, &actor.Snapshot{NodeID: "sb"})
	require.ErrorIs(t, err, actor.ErrBadArgument)
}

func TestSnapshotUnmarshalRejectsBadShapes(t *testing.T) {
	for name, s := range map[string]actor.Snapshot{
		"no node":  {Actors: nil},
		"no type":  {NodeID: "x", Actors: []actor.SnapshotActor{{State: map[string]any{}}}},
		"no state": {NodeID: "x", Actors: []actor.SnapshotActor{{Type: "t"}}},
		"bad prev": {NodeID: "x", Actors: []actor.SnapshotActor{{Type: "t", State: map[string]any{},
			PrevConnections: map[string]any{"inports": "nope"}}}},
	} {
		t.Run(name, func(t *testing.T) {
			raw, err := s.MarshalBinary()
			require.NoError(t, err)
			var back actor.Snapshot
			require.ErrorIs(t, back.UnmarshalBinary(raw), actor.ErrBadState)
		})
	}
	var back actor.Snapshot
	require.ErrorIs(t, back.UnmarshalBinary([]byte{0xc1}), actor.ErrBadState)
	good := actor.Snapshot{NodeID: "x", Actors: []actor.SnapshotActor{{Type: "t", State: map[string]any{"a": int64(1)},
		PrevConnections: map[string]any{"inports": map[string]any{"p": []any{[]any{"n", "q"}}}}}}}
	raw, err := good.MarshalBinary()
	require.NoError(t, err)
	require.NoError(t, back.UnmarshalBinary(raw))
	assert.Equal(t, fmt.Sprint(good), fmt.Sprint(back))
}

// FuzzSnapshotUnmarshal: a snapshot read back from disk never panics and is
// either refused with ErrBadState or has the shape Resume needs.
func FuzzSnapshotUnmarshal(f *testing.F) {
	good := actor.Snapshot{NodeID: "x", Actors: []actor.SnapshotActor{{Type: "t", State: map[string]any{"a": int64(1)},
		PrevConnections: map[string]any{"inports": map[string]any{"p": []any{[]any{"n", "q"}}}}}}}
	raw, err := good.MarshalBinary()
	require.NoError(f, err)
	f.Add(raw)
	f.Add([]byte{0x80})
	f.Add([]byte{0x82, 0xa7, 'n', 'o', 'd', 'e', '_', 'i', 'd', 0xa1, 'x', 0xa6, 'a', 'c', 't', 'o', 'r', 's', 0x90})
	f.Fuzz(func(t *testing.T, b []byte) {
		var s actor.Snapshot
		if err := s.UnmarshalBinary(b); err != nil {
			require.ErrorIs(t, err, actor.ErrBadState)
			return
		}
		require.NotEmpty(t, s.NodeID)
		for _, a := range s.Actors {
			require.NotEmpty(t, a.Type)
			require.NotNil(t, a.State)
		}
	})
}

// TestConnectToRestartedPeer: a node whose token tunnel to a peer is from
// before the peer restarted (same id, no tunnels) gets 410 on PORT_CONNECT;
// it must set up a tunnel the peer knows instead of failing.
func TestConnectToRestartedPeer(t *testing.T) {
	mn := transport.NewMemNetwork()
	reg := netRegistry(t)
	x := restartable(t, mn, reg, "px")
	y := restartable(t, mn, reg, "py")
	defer x.close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := x.node.Join(ctx, "mem://py")
	require.NoError(t, err)
	connect := func(y *meshNode) string {
		src, err := y.rt.CreateActor(ctx, "test.Source", map[string]any{"n": int64(5)})
		require.NoError(t, err)
		out, _ := y.rt.PortID(src, actor.Out, "out")
		snk, err := x.rt.CreateActor(ctx, std.SinkType, map[string]any{"store_tokens": true, "quiet": true})
		require.NoError(t, err)
		in, _ := x.rt.PortID(snk, actor.In, "token")
		require.NoError(t, x.net.ConnectRemote(ctx, in, "py", out))
		require.Eventually(t, func() bool { return len(sinkTokens(t, x.rt, snk)) == 5 }, 10*time.Second, time.Millisecond)
		return snk
	}
	connect(y)
	old, ok := x.mgr.Lookup("py", "token")
	require.True(t, ok)
	oldID := old.ID()
	y.close()
	require.Eventually(t, func() bool { return !hasPeer(x, "py") }, 10*time.Second, time.Millisecond, "x sees the link go")
	y = restartable(t, mn, reg, "py")
	defer y.close()
	snk := connect(y)
	assert.Equal(t, ints(5, 1), sinkTokens(t, x.rt, snk))
	now, ok := x.mgr.Lookup("py", "token")
	require.True(t, ok)
	assert.NotEqual(t, oldID, now.ID(), "a new token tunnel replaced the one the peer forgot")
}
