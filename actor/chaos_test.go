package actor_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
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

var (
	chaosSeed     = flag.Uint64("chaos.seed", 27, "seed of TestChaos's decisions (faults, migrations)")
	chaosDuration = flag.Duration("chaos.duration", 3*time.Second, "how long TestChaos injects faults and migrates")
	chaosDrops    = flag.Bool("chaos.drops", true, "TestChaos also drops frames on links for a while")
	chaosLogs     = flag.String("chaos.logs", "", "file where a failed TestChaos writes the node logs")
	chaosDebug    = flag.Bool("chaos.debug", false, "TestChaos keeps debug-level node logs (with -chaos.logs)")
)

// memRecords is an in-memory registry of actor and port locations: a
// Recorder and Locator that always answers, as the registry would if it
// were never partitioned. Like Calvin's registry it holds what was last
// published, so during a migration it names the destination as soon as the
// destination published the arrival (spec §9.6 relies on that).
type memRecords struct {
	mu     sync.Mutex
	actors map[string]string // actor id → node id
	ports  map[string]string // port id → node id
}

func newMemRecords() *memRecords {
	return &memRecords{actors: map[string]string{}, ports: map[string]string{}}
}

func (m *memRecords) Publish(_ context.Context, nodeID string, info actor.Info) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.actors[info.ID] = nodeID
	for _, p := range append(append([]actor.PortInfo{}, info.Inports...), info.Outports...) {
		m.ports[p.ID] = nodeID
	}
	return nil
}

func (m *memRecords) Unpublish(_ context.Context, info actor.Info) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.actors, info.ID)
	for _, p := range append(append([]actor.PortInfo{}, info.Inports...), info.Outports...) {
		delete(m.ports, p.ID)
	}
	return nil
}

func (m *memRecords) ActorNode(_ context.Context, id string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n, ok := m.actors[id]; ok {
		return n, nil
	}
	return "", fmt.Errorf("%w: %q", actor.ErrUnknownActor, id)
}

func (m *memRecords) PortNode(_ context.Context, id string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if n, ok := m.ports[id]; ok {
		return n, nil
	}
	return "", fmt.Errorf("%w: %q", actor.ErrUnknownPort, id)
}

// chaosNode builds one node named name on mn with its own transport
// registry (so that links are named after the nodes) and the oracle.
func chaosNode(t *testing.T, mn *transport.MemNetwork, reg *actor.Registry, name string, recs *memRecords, log *slog.Logger) *meshNode {
	t.Helper()
	log = log.With("node", name)
	tr, err := transport.NewRegistry(transport.WithMemNetwork(mn))
	require.NoError(t, err)
	resolve := rt2rt.ResolverFunc(func(_ context.Context, id string) ([]string, error) { return []string{"mem://" + id}, nil })
	n, err := rt2rt.NewNode(rt2rt.WithLogger(log), rt2rt.WithID(name), rt2rt.WithTransport(tr),
		rt2rt.WithListen("mem://"+name), rt2rt.WithResolver(resolve), rt2rt.WithRequestTimeout(2*time.Second))
	require.NoError(t, err)
	m, err := tunnel.NewManager(n, tunnel.WithLogger(log))
	require.NoError(t, err)
	rt, err := actor.NewRuntime(actor.WithRegistry(reg), actor.WithNodeID(n.ID()), actor.WithLogger(log))
	require.NoError(t, err)
	f, err := token.NewFlow(token.WithLogger(log), token.WithPortLookup(rt.HasPort))
	require.NoError(t, err)
	require.NoError(t, f.Register(m))
	nw, err := actor.NewNetwork(rt, n, m, f, actor.WithNetworkLogger(log), actor.WithLocator(recs), actor.WithRecorder(recs),
		actor.WithOperationTimeout(10*time.Second))
	require.NoError(t, err)
	mn2 := &meshNode{node: n, mgr: m, flow: f, rt: rt, net: nw}
	t.Cleanup(mn2.close)
	return mn2
}

// chaosFlow is one CountTimer fanning out to several sinks.
type chaosFlow struct {
	src, out   string   // actor and outport
	sinks, ins []string // actors and inports
}

// chaosStats are the figures of a run.
type chaosStats struct {
	cuts, partitions, delays, drops, isolations atomic.Int64
	migOK, migRestored, migMoved, migOther      atomic.Int64
	checks                                      atomic.Int64
}

// TestChaos runs flows with fan-out across four nodes on the in-memory
// network while links are cut, partitioned, delayed and lossy and nodes
// isolated at random, and actors migrate all the while. Decisions are
// seeded (-chaos.seed); the run lasts -chaos.duration (timing is not
// reproducible, so a failure replays the same decisions, not always the
// same interleaving; -chaos.logs keeps the node logs of a failed run). During the run every sink's tokens must be
// 1..n at every look; at the end, with the network healed and the sources
// stopped, every sink holds exactly what its source produced, each token
// acknowledged, and every actor exists on exactly one node.
func TestChaos(t *testing.T) {
	seed, dur := *chaosSeed, *chaosDuration
	t.Logf("chaos: -chaos.seed=%d -chaos.duration=%v -chaos.drops=%v", seed, dur, *chaosDrops)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay with: go test ./actor/ -run TestChaos -chaos.seed=%d -chaos.duration=%v -chaos.drops=%v", seed, dur, *chaosDrops)
		}
	})
	start := time.Now()
	before := runtime.NumGoroutine()
	mn := transport.NewMemNetwork()
	reg := netRegistry(t)
	recs := newMemRecords()
	// The fan-out source declares its three peers, so it starts only once
	// every sink is connected and each sink sees the stream from 1.
	ct, ok := reg.Lookup(std.CountTimerType)
	require.True(t, ok)
	fan := *ct
	fan.Name = "chaos.FanoutCountTimer"
	fan.PortProperties = map[string]map[string]any{"integer": {"nbr_peers": int64(3)}}
	require.NoError(t, reg.Register(fan))
	names := []string{"c0", "c1", "c2", "c3"}
	var logBuf lockedBuffer
	level := slog.LevelInfo
	if *chaosDebug {
		level = slog.LevelDebug
	}
	logger := slog.New(slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: level}))
	t.Cleanup(func() {
		if t.Failed() && *chaosLogs != "" {
			_ = os.WriteFile(*chaosLogs, logBuf.bytes(), 0o644)
			t.Logf("node logs in %s", *chaosLogs)
		}
	})
	var nodes []*meshNode
	for _, name := range names {
		nodes = append(nodes, chaosNode(t, mn, reg, name, recs, logger))
	}
	ctx, cancel := context.WithTimeout(context.Background(), dur+5*time.Minute)
	defer cancel()
	for i := range nodes {
		for j := range i {
			_, err := nodes[i].node.Join(ctx, "mem://"+names[j])
			require.NoError(t, err)
		}
	}

	// Two flows: c0 → c1, c2, c3 and c1 → c2, c3, c0.
	var flows []*chaosFlow
	for f, layout := range [][]int{{0, 1, 2, 3}, {1, 2, 3, 0}} {
		host := nodes[layout[0]]
		src, err := host.rt.CreateActor(ctx, fan.Name, map[string]any{"sleep": 0.002, "name": fmt.Sprintf("chaos:src%d", f)})
		require.NoError(t, err)
		out, err := host.rt.PortID(src, actor.Out, "integer")
		require.NoError(t, err)
		fl := &chaosFlow{src: src, out: out}
		for k, s := range layout[1:] {
			snk, err := nodes[s].rt.CreateActor(ctx, std.SinkType, map[string]any{"store_tokens": true, "quiet": true,
				"name": fmt.Sprintf("chaos:snk%d.%d", f, k)})
			require.NoError(t, err)
			in, err := nodes[s].rt.PortID(snk, actor.In, "token")
			require.NoError(t, err)
			require.NoError(t, nodes[s].net.ConnectRemote(ctx, in, host.node.ID(), out))
			require.NoError(t, nodes[s].net.Publish(ctx, snk))
			fl.sinks = append(fl.sinks, snk)
			fl.ins = append(fl.ins, in)
		}
		require.NoError(t, host.net.Publish(ctx, src))
		flows = append(flows, fl)
		t.Logf("flow %d: source %s (outport %s) on %s → sinks %v (inports %v)", f, src, out, host.node.ID(), fl.sinks, fl.ins)
	}
	var actors []string
	for _, fl := range flows {
		actors = append(actors, fl.src)
		actors = append(actors, fl.sinks...)
	}

	// anyHost finds a node holding id (during the run an arriving actor
	// may briefly be on two, or on none while ACTOR_NEW is in flight).
	anyHost := func(id string) *meshNode {
		for _, n := range nodes {
			if _, ok := n.rt.Actor(id); ok {
				return n
			}
		}
		return nil
	}
	var st chaosStats
	var evMu sync.Mutex
	var events []string
	logEvent := func(format string, args ...any) {
		evMu.Lock()
		events = append(events, fmt.Sprintf("%v ", time.Since(start).Round(time.Millisecond))+fmt.Sprintf(format, args...))
		evMu.Unlock()
	}
	t.Cleanup(func() {
		if t.Failed() {
			evMu.Lock()
			defer evMu.Unlock()
			for _, e := range events {
				t.Log(e)
			}
		}
	})
	var mu sync.Mutex // guards firstErr
	var firstErr error
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	check := func() {
		for _, fl := range flows {
			for _, snk := range fl.sinks {
				h := anyHost(snk)
				if h == nil {
					continue
				}
				v, err := h.rt.Report(ctx, snk, nil)
				if err != nil {
					continue // it left meanwhile
				}
				if err := checkSequence(v.([]any)); err != nil {
					logEvent("check: sink %s on %s: %v", snk[:8], h.node.ID(), err)
					fail(fmt.Errorf("sink %s on %s: %w", snk, h.node.ID(), err))
				}
			}
		}
		st.checks.Add(1)
	}

	chaosCtx, stopChaos := context.WithTimeout(ctx, dur)
	defer stopChaos()
	var wg sync.WaitGroup
	pair := func(r *rand.Rand) (string, string) {
		i := r.IntN(len(names))
		j := (i + 1 + r.IntN(len(names)-1)) % len(names)
		return names[i], names[j]
	}
	// Faults. Each one lasts a random while; the loop restores it itself.
	wg.Go(func() {
		r := rand.New(rand.NewPCG(seed, 1))
		type undo struct {
			at time.Time
			do func()
		}
		var undos []undo
		for chaosCtx.Err() == nil {
			now := time.Now()
			kept := undos[:0]
			for _, u := range undos {
				if now.After(u.at) {
					u.do()
				} else {
					kept = append(kept, u)
				}
			}
			undos = kept
			a, b := pair(r)
			lasting := time.Duration(50+r.IntN(300)) * time.Millisecond
			switch k := r.IntN(5); {
			case k == 0:
				mn.CutLink(a, b)
				logEvent("cut %s-%s", a, b)
				st.cuts.Add(1)
			case k == 1:
				mn.Partition(a, b)
				logEvent("partition %s-%s for %v", a, b, lasting)
				undos = append(undos, undo{now.Add(lasting), func() { mn.Heal(a, b) }})
				st.partitions.Add(1)
			case k == 2:
				if err := mn.SetLinkFaults(a, b, transport.Faults{Delay: time.Duration(1+r.IntN(10)) * time.Millisecond}); err != nil {
					fail(err)
				}
				undos = append(undos, undo{now.Add(lasting), func() { _ = mn.SetLinkFaults(a, b, transport.Faults{}) }})
				st.delays.Add(1)
				logEvent("delay %s-%s for %v", a, b, lasting)
			case k == 3 && *chaosDrops:
				if err := mn.SetLinkFaults(a, b, transport.Faults{DropRate: 0.02 + 0.08*r.Float64(), Seed: r.Int64()}); err != nil {
					fail(err)
				}
				undos = append(undos, undo{now.Add(lasting), func() { _ = mn.SetLinkFaults(a, b, transport.Faults{}) }})
				st.drops.Add(1)
				logEvent("drops %s-%s for %v", a, b, lasting)
			case k == 4:
				mn.Isolate(a)
				undos = append(undos, undo{now.Add(lasting), func() { mn.Rejoin(a) }})
				st.isolations.Add(1)
				logEvent("isolate %s for %v", a, lasting)
			}
			pause(chaosCtx, time.Duration(20+r.IntN(60))*time.Millisecond)
		}
		for _, u := range undos {
			u.do()
		}
	})
	// Migrations, one at a time, of random actors to random other nodes.
	wg.Go(func() {
		r := rand.New(rand.NewPCG(seed, 2))
		for chaosCtx.Err() == nil {
			id := actors[r.IntN(len(actors))]
			to := nodes[r.IntN(len(nodes))]
			if from := anyHost(id); from != nil && from != to {
				mctx, mcancel := context.WithTimeout(ctx, 30*time.Second)
				err := from.net.Migrate(mctx, id, to.node.ID())
				mcancel()
				logEvent("migrate %s %s→%s: %v", id[:8], from.node.ID(), to.node.ID(), err)
				var me *actor.MigrationError
				switch {
				case err == nil:
					st.migOK.Add(1)
				case errors.As(err, &me) && me.Moved:
					st.migMoved.Add(1)
				case errors.As(err, &me) && me.Restored:
					st.migRestored.Add(1)
				default:
					st.migOther.Add(1)
				}
			}
			pause(chaosCtx, time.Duration(5+r.IntN(30))*time.Millisecond)
		}
	})
	for chaosCtx.Err() == nil {
		check()
		pause(chaosCtx, 50*time.Millisecond)
	}
	wg.Wait()
	mn.HealAll()
	mn.ClearFaults()
	chaosEnd := time.Now()
	mu.Lock()
	require.NoError(t, firstErr, "during the run")
	mu.Unlock()

	// Every actor settles on exactly one node.
	require.Eventually(t, func() bool {
		for _, id := range actors {
			k := 0
			for _, n := range nodes {
				if _, ok := n.rt.Actor(id); ok {
					k++
				}
			}
			if k != 1 {
				return false
			}
		}
		return true
	}, 60*time.Second, 5*time.Millisecond, "every actor on exactly one node")
	for _, n := range nodes {
		for _, id := range n.rt.ActorIDs() {
			assert.Contains(t, actors, id, "no stray actor on %s", n.node.ID())
		}
	}

	// Every connection comes back and the sources run again.
	describe := func() string {
		var out string
		for _, id := range actors {
			h := hostOf(t, id, nodes...)
			info, _ := h.rt.Actor(id)
			out += fmt.Sprintf("\n  %s on %s connected=%v in=%+v out=%+v", id, h.node.ID(), info.Connected, info.Inports, info.Outports)
		}
		return out
	}
	allConnected := func() bool {
		for _, id := range actors {
			if info, _ := hostOf(t, id, nodes...).rt.Actor(id); !info.Connected {
				return false
			}
		}
		return true
	}
	if !assert.Eventually(t, allConnected, 120*time.Second, 5*time.Millisecond) {
		t.Fatalf("not every actor reconnected:%s", describe())
	}
	count := func(id string) int64 {
		v, err := hostOf(t, id, nodes...).rt.Report(ctx, id, nil)
		require.NoError(t, err)
		return v.(int64)
	}
	for _, fl := range flows {
		c0 := count(fl.src)
		if !assert.Eventually(t, func() bool { return count(fl.src) > c0+5 }, 120*time.Second, 5*time.Millisecond) {
			t.Fatalf("source %s does not produce (%d):%s", fl.src, count(fl.src), describe())
		}
	}

	// Stop the sources; every sink must get exactly what its source made.
	var moved int64
	for _, fl := range flows {
		h := hostOf(t, fl.src, nodes...)
		v, err := h.rt.Report(ctx, fl.src, map[string]any{"stopped": true})
		require.NoError(t, err)
		produced := v.(int64)
		for k, snk := range fl.sinks {
			var got []any
			ok := assert.Eventually(t, func() bool {
				sh := hostOf(t, snk, nodes...)
				got = sinkTokens(t, sh.rt, snk)
				require.NoError(t, checkSequence(got), "sink %s on %s", snk, sh.node.ID())
				return int64(len(got)) >= produced
			}, 120*time.Second, 5*time.Millisecond, "sink %s gets all %d tokens of %s", snk, produced, fl.src)
			if !ok {
				h := hostOf(t, fl.src, nodes...)
				ps, _ := h.rt.PortState(fl.out)
				info, _ := h.rt.Actor(fl.src)
				sh := hostOf(t, snk, nodes...)
				sinfo, _ := sh.rt.Actor(snk)
				t.Fatalf("sink %s (on %s, %+v) stuck at %d of %d; source on %s %+v, outport state %v",
					snk, sh.node.ID(), sinfo.Inports, len(got), produced, h.node.ID(), info.Outports, ps)
			}
			in := fl.ins[k]
			require.Eventually(t, func() bool {
				ps, err := hostOf(t, fl.src, nodes...).rt.PortState(fl.out)
				if err != nil {
					return false
				}
				wp, _ := ps["write_pos"].(int64)
				rp, _ := ps["read_pos"].(map[string]any)[in].(int64)
				tp, _ := ps["tentative_read_pos"].(map[string]any)[in].(int64)
				return wp == rp && rp == tp
			}, 120*time.Second, 5*time.Millisecond, "every token of %s to %s acknowledged", fl.src, snk)
			got = sinkTokens(t, hostOf(t, snk, nodes...).rt, snk)
			assert.Len(t, got, int(produced), "sink %s: exactly the produced tokens", snk)
			moved += int64(len(got))
		}
	}
	settled := time.Since(chaosEnd)
	for _, n := range nodes {
		n.close()
	}
	noLeak(t, before)
	t.Logf("chaos seed %d, %v of chaos (+%v to settle, %v in all): %d tokens delivered to %d sinks, lost 0, duplicated 0; "+
		"faults: %d cuts, %d partitions, %d node isolations, %d delay spells, %d drop spells; migrations: %d ok, %d restored, %d moved with error, %d refused; %d sequence checks",
		seed, dur, settled.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), moved, len(actors)-len(flows),
		st.cuts.Load(), st.partitions.Load(), st.isolations.Load(), st.delays.Load(), st.drops.Load(),
		st.migOK.Load(), st.migRestored.Load(), st.migMoved.Load(), st.migOther.Load(), st.checks.Load())
}

// lockedBuffer collects log lines from many goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

// pause waits d or until ctx ends (pacing of the chaos loops, not
// synchronisation).
func pause(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// TestMigrationLostDisconnectReply: the peer of a migrating source handles
// PORT_DISCONNECT but its reply is lost. The migration fails and the source
// stays; the peer's side is gone, so the source must connect the pair
// afresh (retrying until the link works again) instead of keeping a sender
// nobody receives from, which would stall the flow for good.
func TestMigrationLostDisconnectReply(t *testing.T) {
	mn := transport.NewMemNetwork()
	reg := netRegistry(t)
	recs := newMemRecords()
	var nodes []*meshNode
	for _, name := range []string{"ld-a", "ld-b", "ld-c"} {
		nodes = append(nodes, chaosNode(t, mn, reg, name, recs, quiet()))
	}
	a, b, c := nodes[0], nodes[1], nodes[2]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for _, n := range []*meshNode{b, c} {
		_, err := n.node.Join(ctx, "mem://ld-a")
		require.NoError(t, err)
	}
	src, err := a.rt.CreateActor(ctx, std.CountTimerType, map[string]any{"sleep": 0.002})
	require.NoError(t, err)
	snk, err := b.rt.CreateActor(ctx, std.SinkType, map[string]any{"store_tokens": true, "quiet": true})
	require.NoError(t, err)
	op, _ := a.rt.PortID(src, actor.Out, "integer")
	ip, _ := b.rt.PortID(snk, actor.In, "token")
	require.NoError(t, b.net.ConnectRemote(ctx, ip, a.node.ID(), op))
	require.Eventually(t, func() bool { return len(sinkTokens(t, b.rt, snk)) > 5 }, 10*time.Second, time.Millisecond)

	// Everything b sends to a is lost: the PORT_DISCONNECT reply too.
	require.NoError(t, mn.SetDirectedFaults("ld-b", "ld-a", transport.Faults{DropRate: 1}))
	err = a.net.Migrate(ctx, src, c.node.ID())
	var me *actor.MigrationError
	require.ErrorAs(t, err, &me)
	assert.True(t, me.Restored, "%v", err)
	info, ok := a.rt.Actor(src)
	require.True(t, ok, "the source stays")
	sinkInfo, _ := b.rt.Actor(snk)
	t.Logf("after the failed migration: source peers %v, sink peers %v", info.Outports[0].Peers, sinkInfo.Inports[0].Peers)
	mn.ClearFaults()

	k := len(sinkTokens(t, b.rt, snk))
	require.Eventually(t, func() bool { return len(sinkTokens(t, b.rt, snk)) > k+20 }, 20*time.Second, time.Millisecond,
		"tokens flow again once the link works")
	require.NoError(t, checkSequence(sinkTokens(t, b.rt, snk)))
}

// TestRetriedReconnectFollowsMovedPeer: a source arrives on a node that
// cannot reach its sink yet, so its connection waits for a retry; meanwhile
// the (now unconnected) sink migrates elsewhere. The retry must look the
// sink's port up again instead of asking the old node until it gives up.
func TestRetriedReconnectFollowsMovedPeer(t *testing.T) {
	mn := transport.NewMemNetwork()
	reg := netRegistry(t)
	recs := newMemRecords()
	var nodes []*meshNode
	for _, name := range []string{"rf-a", "rf-b", "rf-c", "rf-d"} {
		nodes = append(nodes, chaosNode(t, mn, reg, name, recs, quiet()))
	}
	a, b, c, d := nodes[0], nodes[1], nodes[2], nodes[3]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range nodes {
		for j := range i {
			_, err := nodes[i].node.Join(ctx, "mem://"+nodes[j].node.ID())
			require.NoError(t, err)
		}
	}
	src, err := a.rt.CreateActor(ctx, std.CountTimerType, map[string]any{"sleep": 0.002})
	require.NoError(t, err)
	snk, err := b.rt.CreateActor(ctx, std.SinkType, map[string]any{"store_tokens": true, "quiet": true})
	require.NoError(t, err)
	op, _ := a.rt.PortID(src, actor.Out, "integer")
	ip, _ := b.rt.PortID(snk, actor.In, "token")
	require.NoError(t, b.net.ConnectRemote(ctx, ip, a.node.ID(), op))
	require.NoError(t, a.net.Publish(ctx, src))
	require.NoError(t, b.net.Publish(ctx, snk))
	require.Eventually(t, func() bool { return len(sinkTokens(t, b.rt, snk)) > 5 }, 10*time.Second, time.Millisecond)

	mn.Partition("rf-c", "rf-b")
	err = a.net.Migrate(ctx, src, c.node.ID())
	var me *actor.MigrationError
	require.ErrorAs(t, err, &me, "the source cannot reconnect from c")
	require.True(t, me.Moved, "%v", err)
	_, onC := c.rt.Actor(src)
	require.True(t, onC)
	require.NoError(t, b.net.Migrate(ctx, snk, d.node.ID()), "the unconnected sink moves on")
	mn.Heal("rf-c", "rf-b")

	k := len(sinkTokens(t, d.rt, snk))
	require.Eventually(t, func() bool { return len(sinkTokens(t, d.rt, snk)) > k+20 }, 20*time.Second, time.Millisecond,
		"the source's retry finds the sink on d")
	require.NoError(t, checkSequence(sinkTokens(t, d.rt, snk)))
}
