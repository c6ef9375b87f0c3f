package actor_test

import (
	"context"
	"flag"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/actor/std"
	"github.com/meshkit/meshkit/rt2rt"
)

var enduranceMigrations = flag.Int("endurance.migrations", 100,
	"migrations of the sink, then of the source, in TestMigrationEndurance")

// tcpPair returns two nodes joined over loopback TCP (calvinip) that speak
// only ser, and checks that the link negotiated it.
func tcpPair(t *testing.T, ser string) (*meshNode, *meshNode) {
	t.Helper()
	reg := netRegistry(t)
	a := newMeshNode(t, reg, rt2rt.WithListen("calvinip://127.0.0.1:0"), rt2rt.WithSerializers(ser))
	b := newMeshNode(t, reg, rt2rt.WithListen("calvinip://127.0.0.1:0"), rt2rt.WithSerializers(ser))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := b.node.Join(ctx, a.node.URIs()[0])
	require.NoError(t, err)
	require.Equal(t, a.node.ID(), id)
	require.Eventually(t, func() bool { return hasPeer(a, b.node.ID()) }, 10*time.Second, time.Millisecond)
	for _, n := range []*meshNode{a, b} {
		for _, p := range n.node.Peers() {
			require.Equal(t, ser, p.Serializer, "negotiated serializer on %s", n.node.ID())
		}
	}
	return a, b
}

func hasPeer(n *meshNode, id string) bool {
	for _, p := range n.node.Peers() {
		if p.ID == id && p.Via == "" {
			return true
		}
	}
	return false
}

// hostOf returns the one node hosting actor id; it fails the test if the
// actor exists on none or on several.
func hostOf(t *testing.T, id string, nodes ...*meshNode) *meshNode {
	t.Helper()
	var host *meshNode
	for _, n := range nodes {
		if _, ok := n.rt.Actor(id); ok {
			require.Nil(t, host, "actor %s exists on %s and %s", id, n.node.ID(), hostID(host))
			host = n
		}
	}
	require.NotNil(t, host, "actor %s exists on no node", id)
	return host
}

func hostID(n *meshNode) string {
	if n == nil {
		return ""
	}
	return n.node.ID()
}

// checkSequence reports the first place where got differs from 1, 2, 3, …
func checkSequence(got []any) error {
	for i, v := range got {
		if v != int64(i+1) {
			return fmt.Errorf("token %d of %d is %v (%T), want %d; around it: %v", i+1, len(got), v, v, i+1,
				got[max(0, i-3):min(len(got), i+4)])
		}
	}
	return nil
}

// migrationTimes summarises migration durations.
type migrationTimes []time.Duration

func (m migrationTimes) String() string {
	if len(m) == 0 {
		return "none"
	}
	s := slices.Clone(m)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return fmt.Sprintf("n=%d mean=%v p50=%v p99=%v max=%v", len(s), (sum / time.Duration(len(s))).Round(time.Microsecond),
		s[len(s)/2].Round(time.Microsecond), s[len(s)*99/100].Round(time.Microsecond), s[len(s)-1].Round(time.Microsecond))
}

// TestMigrationEndurance is the done-criterion: a flow
// std.CountTimer → test.Sink split across two nodes over loopback TCP keeps
// an unbroken sequence while the sink and then the source migrate back and
// forth (-endurance.migrations times each, default 100), once with json and
// once with msgpack negotiated. Tokens flow during every migration: each
// one starts only after the sink has received new tokens since the last,
// and every other one with full queues on both sides (the sink paused).
func TestMigrationEndurance(t *testing.T) {
	for _, ser := range []string{"json", "msgpack"} {
		t.Run(ser, func(t *testing.T) { runEndurance(t, ser, *enduranceMigrations) })
	}
}

func runEndurance(t *testing.T, ser string, migrations int) {
	start := time.Now()
	before := runtime.NumGoroutine()
	a, b := tcpPair(t, ser)
	nodes := []*meshNode{a, b}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	src, err := a.rt.CreateActor(ctx, std.CountTimerType, map[string]any{"sleep": 0.001, "name": "endurance:src"})
	require.NoError(t, err)
	snk, err := b.rt.CreateActor(ctx, std.SinkType, map[string]any{"store_tokens": true, "quiet": true, "name": "endurance:snk"})
	require.NoError(t, err)
	op, err := a.rt.PortID(src, actor.Out, "integer")
	require.NoError(t, err)
	ip, err := b.rt.PortID(snk, actor.In, "token")
	require.NoError(t, err)
	require.NoError(t, b.net.ConnectRemote(ctx, ip, a.node.ID(), op))

	// received returns the sink's tokens, wherever it is, after checking
	// that they are 1..n so far.
	received := func() []any {
		got := sinkTokens(t, hostOf(t, snk, nodes...).rt, snk)
		require.NoError(t, checkSequence(got))
		return got
	}
	const grow = 3 // new tokens required between two migrations
	waitGrowth := func(what string, from int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for len(received()) < from+grow {
			require.True(t, time.Now().Before(deadline), "%s: no tokens flow (still %d)", what, from)
			time.Sleep(time.Millisecond) // polling interval, not synchronisation
		}
	}
	waitGrowth("initial connection", 0)

	// queued returns how many tokens of a local port's queue the reader
	// has not consumed (outport: not acknowledged).
	queued := func(id, portID, reader string) int64 {
		st, err := hostOf(t, id, nodes...).rt.PortState(portID)
		require.NoError(t, err)
		wp, _ := st["write_pos"].(int64)
		rp, _ := st["read_pos"].(map[string]any)[reader].(int64)
		return wp - rp
	}
	setActive := func(on bool) {
		_, err := hostOf(t, snk, nodes...).rt.Report(ctx, snk, map[string]any{"active": on})
		require.NoError(t, err)
	}

	var times migrationTimes
	inFlight := 0 // migrations that began with unacknowledged tokens on the outport
	move := func(phase string, id string, i int) {
		t.Helper()
		from := hostOf(t, id, nodes...)
		to := a
		if from == a {
			to = b
		}
		k := len(received())
		backlog := i%2 == 1
		if backlog {
			// Every other migration starts with full queues: the sink
			// stops consuming until its inport and the source's outport
			// hold tokens (the remote ones NACKed, still to be resent).
			setActive(false)
			require.Eventually(t, func() bool { return queued(snk, ip, ip) >= 3 && queued(src, op, ip) >= 3 },
				20*time.Second, time.Millisecond, "%s migration %d: queues fill", phase, i+1)
		}
		if queued(src, op, ip) > 0 {
			inFlight++
		}
		t0 := time.Now()
		require.NoError(t, from.net.Migrate(ctx, id, to.node.ID()), "%s migration %d", phase, i+1)
		times = append(times, time.Since(t0))
		require.Same(t, to, hostOf(t, id, nodes...), "%s migration %d", phase, i+1)
		if backlog {
			setActive(true)
		}
		waitGrowth(fmt.Sprintf("after %s migration %d", phase, i+1), k)
	}
	for i := range migrations {
		move("sink", snk, i)
	}
	for i := range migrations {
		move("source", src, i)
	}

	// Stop the source; everything it produced must arrive exactly once.
	srcHost := hostOf(t, src, nodes...)
	v, err := srcHost.rt.Report(ctx, src, map[string]any{"stopped": true})
	require.NoError(t, err)
	produced, ok := v.(int64)
	require.True(t, ok, "CountTimer report %v (%T)", v, v)
	require.Greater(t, produced, int64(2*migrations), "more tokens than migrations")
	require.Eventually(t, func() bool { return int64(len(received())) >= produced }, 20*time.Second, time.Millisecond)
	// Quiescence: the source's outport has every token acknowledged, so no
	// retransmission can add anything after this point.
	require.Eventually(t, func() bool {
		st, err := srcHost.rt.PortState(op)
		if err != nil {
			return false
		}
		wp, _ := st["write_pos"].(int64)
		rp, _ := st["read_pos"].(map[string]any)[ip].(int64)
		tp, _ := st["tentative_read_pos"].(map[string]any)[ip].(int64)
		return wp == rp && rp == tp
	}, 20*time.Second, time.Millisecond, "every token acknowledged")
	got := received()
	assert.Len(t, got, int(produced), "exactly the produced tokens, no duplicates")
	for _, n := range nodes {
		assert.ElementsMatch(t, []string{}, slices.DeleteFunc(n.rt.ActorIDs(), func(id string) bool { return id == src || id == snk }),
			"no stray actors on %s", n.node.ID())
	}
	assert.Same(t, a, hostOf(t, src, nodes...))
	assert.Same(t, b, hostOf(t, snk, nodes...))

	for _, n := range nodes {
		n.close()
	}
	noLeak(t, before)
	t.Logf("%s: %d tokens 1..%d in order, %d migrations (%d sink, %d source, %d with unacknowledged tokens): %v; total %v",
		ser, len(got), len(got), len(times), migrations, migrations, inFlight, times, time.Since(start).Round(time.Millisecond))
}
