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
	"slices"
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
	chaosSeed     = flag.Uint64("chaos.seed", 27, "seed of the decisions (faults, migrations) of TestChaos and TestChaosTCP")
	chaosDuration = flag.Duration("chaos.duration", 3*time.Second, "how long TestChaos and TestChaosTCP inject faults and migrate")
	chaosDrops    = flag.Bool("chaos.drops", true, "TestChaos also drops frames on links for a while")
	chaosLogs     = flag.String("chaos.logs", "", "file where a failed TestChaos or TestChaosTCP writes the node logs")
	chaosRestarts = flag.Bool("chaos.restarts", true, "TestChaos and TestChaosTCP also stop nodes and restart them on their state")
	chaosDebug    = flag.Bool("chaos.debug", false, "TestChaos and TestChaosTCP keep debug-level node logs (with -chaos.logs)")
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
	tr, err := transport.NewRegistry(transport.WithMemNetwork(mn))
	require.NoError(t, err)
	resolve := rt2rt.ResolverFunc(func(_ context.Context, id string) ([]string, error) { return []string{"mem://" + id}, nil })
	return chaosMeshNode(t, reg, name, recs, log, rt2rt.WithTransport(tr), rt2rt.WithListen("mem://"+name), rt2rt.WithResolver(resolve))
}

// chaosMeshNode builds one node named name with the oracle as locator and
// recorder; opts say how it listens and finds its peers.
func chaosMeshNode(t *testing.T, reg *actor.Registry, name string, recs *memRecords, log *slog.Logger, opts ...rt2rt.Option) *meshNode {
	t.Helper()
	log = log.With("node", name)
	n, err := rt2rt.NewNode(append([]rt2rt.Option{rt2rt.WithLogger(log), rt2rt.WithID(name), rt2rt.WithRequestTimeout(2 * time.Second)}, opts...)...)
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

// chaosNet is the network of a chaos run: it builds the nodes, links them
// and injects its faults between them. runChaos writes the flows, the
// migrations, the checks and the figures once for every chaosNet.
type chaosNet interface {
	// newNode builds node i of c (named c.names[i]) with c's registry,
	// records and logger.
	newNode(t *testing.T, c *chaosRun, i int) *meshNode
	// link joins the nodes to each other once all are built.
	link(ctx context.Context, t *testing.T, c *chaosRun)
	// inject injects one fault chosen with r; a fault that lasts schedules
	// its end with c.after. It runs on the fault loop's goroutine, between
	// pauses, for as long as the chaos lasts. It may act on the nodes too:
	// a fault that stops and restarts node i closes c.nodes()[i] and puts a
	// new one in its place with c.startNode(i) (everything else reads
	// c.nodes() afresh each time).
	inject(c *chaosRun, r *rand.Rand)
	// heal ends every fault; it runs after every scheduled end ran.
	heal()
	// faults sums up the faults injected, for the final log line.
	faults() string
	// close releases what the network holds besides the nodes, after they
	// were closed; it may run twice.
	close()
}

// chaosRun is one chaos run: its nodes and what its loops share.
type chaosRun struct {
	net   chaosNet
	t     *testing.T
	names []string
	reg   *actor.Registry
	recs  *memRecords
	log   *slog.Logger
	start time.Time

	mu       sync.Mutex // guards list, events and firstErr
	list     []*meshNode
	events   []string
	firstErr error

	undos []chaosUndo // the fault loop's scheduled ends

	migOK, migRestored, migMoved, migOther atomic.Int64
	checks, restarts                       atomic.Int64
}

// chaosUndo is the end of a lasting fault, due at at.
type chaosUndo struct {
	at time.Time
	do func()
}

// nodes returns the nodes now, in name order.
func (c *chaosRun) nodes() []*meshNode {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.list)
}

// startNode builds node i and puts it in its place.
func (c *chaosRun) startNode(i int) *meshNode {
	n := c.net.newNode(c.t, c, i)
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(c.list) <= i {
		c.list = append(c.list, nil)
	}
	c.list[i] = n
	return n
}

// stopNode suspends node i, keeps its snapshot as bytes (as a file would)
// and closes the node. It returns nil if the node could not be suspended.
func (c *chaosRun) stopNode(i int) []byte {
	old := c.nodes()[i]
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	snap, err := old.net.Suspend(ctx)
	if err != nil {
		c.fail(fmt.Errorf("suspend %s: %w", c.names[i], err))
		return nil
	}
	raw, err := snap.MarshalBinary()
	if err != nil {
		c.fail(fmt.Errorf("snapshot of %s: %w", c.names[i], err))
		return nil
	}
	old.close()
	c.logEvent("stop %s with %d actors", c.names[i], len(snap.Actors))
	return raw
}

// resumeNode starts node i again (same id and address) on its snapshot.
func (c *chaosRun) resumeNode(i int, raw []byte) {
	n := c.startNode(i)
	var snap actor.Snapshot
	if err := snap.UnmarshalBinary(raw); err != nil {
		c.fail(fmt.Errorf("snapshot of %s: %w", c.names[i], err))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.net.Resume(ctx, &snap); err != nil {
		c.fail(fmt.Errorf("resume %s: %w", c.names[i], err))
	}
	c.restarts.Add(1)
	c.logEvent("restart %s with %d actors", c.names[i], len(snap.Actors))
}

// logEvent notes what happened when (printed if the test fails).
func (c *chaosRun) logEvent(format string, args ...any) {
	c.mu.Lock()
	c.events = append(c.events, fmt.Sprintf("%v ", time.Since(c.start).Round(time.Millisecond))+fmt.Sprintf(format, args...))
	c.mu.Unlock()
}

// fail records the first error found during the run.
func (c *chaosRun) fail(err error) {
	c.mu.Lock()
	if c.firstErr == nil {
		c.firstErr = err
	}
	c.mu.Unlock()
}

// after schedules the end of a lasting fault (fault loop only).
func (c *chaosRun) after(d time.Duration, do func()) {
	c.undos = append(c.undos, chaosUndo{time.Now().Add(d), do})
}

// endFaults runs the scheduled ends due by now, or all of them.
func (c *chaosRun) endFaults(now time.Time, all bool) {
	kept := c.undos[:0]
	for _, u := range c.undos {
		if all || now.After(u.at) {
			u.do()
		} else {
			kept = append(kept, u)
		}
	}
	c.undos = kept
}

// pair picks two different nodes.
func (c *chaosRun) pair(r *rand.Rand) (int, int) {
	i := r.IntN(len(c.names))
	j := (i + 1 + r.IntN(len(c.names)-1)) % len(c.names)
	return i, j
}

// anyHost finds a node holding id (during the run an arriving actor may
// briefly be on two, or on none while ACTOR_NEW is in flight).
func (c *chaosRun) anyHost(id string) *meshNode {
	for _, n := range c.nodes() {
		if _, ok := n.rt.Actor(id); ok {
			return n
		}
	}
	return nil
}

// runChaos runs two flows with fan-out across four nodes of the network
// newNet returns, while it injects faults and actors migrate all the while
// (see TestChaos). flags are the command-line flags that replay the run.
func runChaos(t *testing.T, flags string, newNet func() chaosNet) {
	seed, dur := *chaosSeed, *chaosDuration
	t.Logf("chaos: %s", flags)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("replay with: go test ./actor/ -run '^%s$' %s", t.Name(), flags)
		}
	})
	start := time.Now()
	before := runtime.NumGoroutine()
	cn := newNet()
	t.Cleanup(cn.close)
	reg := netRegistry(t)
	// The fan-out source declares its three peers, so it starts only once
	// every sink is connected and each sink sees the stream from 1.
	ct, ok := reg.Lookup(std.CountTimerType)
	require.True(t, ok)
	fan := *ct
	fan.Name = "chaos.FanoutCountTimer"
	fan.PortProperties = map[string]map[string]any{"integer": {"nbr_peers": int64(3)}}
	require.NoError(t, reg.Register(fan))
	var logBuf lockedBuffer
	level := slog.LevelInfo
	if *chaosDebug {
		level = slog.LevelDebug
	}
	c := &chaosRun{net: cn, t: t, names: []string{"c0", "c1", "c2", "c3"}, reg: reg, recs: newMemRecords(),
		log: slog.New(noSinkLines{slog.NewTextHandler(&logBuf, &slog.HandlerOptions{Level: level})}), start: start}
	t.Cleanup(func() {
		if t.Failed() && *chaosLogs != "" {
			_ = os.WriteFile(*chaosLogs, logBuf.bytes(), 0o644)
			t.Logf("node logs in %s", *chaosLogs)
		}
	})
	for i := range c.names {
		c.startNode(i)
	}
	ctx, cancel := context.WithTimeout(context.Background(), dur+5*time.Minute)
	defer cancel()
	cn.link(ctx, t, c)

	// Two flows: c0 → c1, c2, c3 and c1 → c2, c3, c0.
	nodes := c.nodes()
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

	t.Cleanup(func() {
		if t.Failed() {
			c.mu.Lock()
			defer c.mu.Unlock()
			for _, e := range c.events {
				t.Log(e)
			}
		}
	})
	check := func() {
		for _, fl := range flows {
			for _, snk := range fl.sinks {
				h := c.anyHost(snk)
				if h == nil {
					continue
				}
				v, err := h.rt.Report(ctx, snk, nil)
				if err != nil {
					continue // it left meanwhile
				}
				if err := checkSequence(v.([]any)); err != nil {
					c.logEvent("check: sink %s on %s: %v", snk[:8], h.node.ID(), err)
					c.fail(fmt.Errorf("sink %s on %s: %w", snk, h.node.ID(), err))
				}
			}
		}
		c.checks.Add(1)
	}

	chaosCtx, stopChaos := context.WithTimeout(ctx, dur)
	defer stopChaos()
	var wg sync.WaitGroup
	// Faults. Each one lasts a random while; the loop ends it itself.
	wg.Go(func() {
		r := rand.New(rand.NewPCG(seed, 1))
		down := -1 // the node stopped now; one at a time
		for chaosCtx.Err() == nil {
			c.endFaults(time.Now(), false)
			if *chaosRestarts && down < 0 && r.IntN(20) == 0 {
				i := r.IntN(len(c.names))
				lasting := time.Duration(50+r.IntN(300)) * time.Millisecond
				if raw := c.stopNode(i); raw != nil {
					down = i
					c.after(lasting, func() { c.resumeNode(i, raw); down = -1 })
				}
			} else {
				cn.inject(c, r)
			}
			pause(chaosCtx, time.Duration(20+r.IntN(60))*time.Millisecond)
		}
		c.endFaults(time.Time{}, true)
	})
	// Migrations, one at a time, of random actors to random other nodes.
	wg.Go(func() {
		r := rand.New(rand.NewPCG(seed, 2))
		for chaosCtx.Err() == nil {
			id := actors[r.IntN(len(actors))]
			nodes := c.nodes()
			to := nodes[r.IntN(len(nodes))]
			if from := c.anyHost(id); from != nil && from != to {
				mctx, mcancel := context.WithTimeout(ctx, 30*time.Second)
				err := from.net.Migrate(mctx, id, to.node.ID())
				mcancel()
				c.logEvent("migrate %s %s→%s: %v", id[:8], from.node.ID(), to.node.ID(), err)
				var me *actor.MigrationError
				switch {
				case err == nil:
					c.migOK.Add(1)
				case errors.As(err, &me) && me.Moved:
					c.migMoved.Add(1)
				case errors.As(err, &me) && me.Restored:
					c.migRestored.Add(1)
				default:
					c.migOther.Add(1)
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
	cn.heal()
	chaosEnd := time.Now()
	c.mu.Lock()
	firstErr := c.firstErr
	c.mu.Unlock()
	require.NoError(t, firstErr, "during the run")
	nodes = c.nodes()

	// Every actor settles on exactly one node.
	placement := func() (string, bool) {
		var out string
		settled := true
		for _, id := range actors {
			var on []string
			for _, n := range nodes {
				if _, ok := n.rt.Actor(id); ok {
					on = append(on, n.node.ID())
				}
			}
			settled = settled && len(on) == 1
			out += fmt.Sprintf("\n  %s on %v", id, on)
		}
		return out, settled
	}
	if !assert.Eventually(t, func() bool { _, ok := placement(); return ok }, 60*time.Second, 5*time.Millisecond) {
		where, _ := placement()
		t.Fatalf("not every actor on exactly one node:%s", where)
	}
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
	faults := cn.faults()
	for _, n := range nodes {
		n.close()
	}
	cn.close()
	noLeak(t, before)
	t.Logf("chaos seed %d, %v of chaos (+%v to settle, %v in all): %d tokens delivered to %d sinks, lost 0, duplicated 0; "+
		"faults: %s, %d node restarts on their state; migrations: %d ok, %d restored, %d moved with error, %d refused; %d sequence checks",
		seed, dur, settled.Round(time.Millisecond), time.Since(start).Round(time.Millisecond), moved, len(actors)-len(flows),
		faults, c.restarts.Load(), c.migOK.Load(), c.migRestored.Load(), c.migMoved.Load(), c.migOther.Load(), c.checks.Load())
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
	runChaos(t, fmt.Sprintf("-chaos.seed=%d -chaos.duration=%v -chaos.drops=%v", *chaosSeed, *chaosDuration, *chaosDrops),
		func() chaosNet { return &memChaos{mn: transport.NewMemNetwork()} })
}

// memChaos is TestChaos's network: the in-memory transport, whose links
// are cut, partitioned, delayed and lossy, and whose nodes are isolated.
type memChaos struct {
	mn                                          *transport.MemNetwork
	cuts, partitions, delays, drops, isolations atomic.Int64
}

func (m *memChaos) newNode(t *testing.T, c *chaosRun, i int) *meshNode {
	return chaosNode(t, m.mn, c.reg, c.names[i], c.recs, c.log)
}

func (m *memChaos) link(ctx context.Context, t *testing.T, c *chaosRun) {
	nodes := c.nodes()
	for i := range nodes {
		for j := range i {
			_, err := nodes[i].node.Join(ctx, "mem://"+c.names[j])
			require.NoError(t, err)
		}
	}
}

func (m *memChaos) inject(c *chaosRun, r *rand.Rand) {
	i, j := c.pair(r)
	a, b := c.names[i], c.names[j]
	mn := m.mn
	lasting := time.Duration(50+r.IntN(300)) * time.Millisecond
	switch k := r.IntN(5); {
	case k == 0:
		mn.CutLink(a, b)
		c.logEvent("cut %s-%s", a, b)
		m.cuts.Add(1)
	case k == 1:
		mn.Partition(a, b)
		c.logEvent("partition %s-%s for %v", a, b, lasting)
		c.after(lasting, func() { mn.Heal(a, b) })
		m.partitions.Add(1)
	case k == 2:
		if err := mn.SetLinkFaults(a, b, transport.Faults{Delay: time.Duration(1+r.IntN(10)) * time.Millisecond}); err != nil {
			c.fail(err)
		}
		c.after(lasting, func() { _ = mn.SetLinkFaults(a, b, transport.Faults{}) })
		m.delays.Add(1)
		c.logEvent("delay %s-%s for %v", a, b, lasting)
	case k == 3 && *chaosDrops:
		if err := mn.SetLinkFaults(a, b, transport.Faults{DropRate: 0.02 + 0.08*r.Float64(), Seed: r.Int64()}); err != nil {
			c.fail(err)
		}
		c.after(lasting, func() { _ = mn.SetLinkFaults(a, b, transport.Faults{}) })
		m.drops.Add(1)
		c.logEvent("drops %s-%s for %v", a, b, lasting)
	case k == 4:
		mn.Isolate(a)
		c.after(lasting, func() { mn.Rejoin(a) })
		m.isolations.Add(1)
		c.logEvent("isolate %s for %v", a, lasting)
	}
}

func (m *memChaos) heal() {
	m.mn.HealAll()
	m.mn.ClearFaults()
}

func (m *memChaos) faults() string {
	return fmt.Sprintf("%d cuts, %d partitions, %d node isolations, %d delay spells, %d drop spells",
		m.cuts.Load(), m.partitions.Load(), m.isolations.Load(), m.delays.Load(), m.drops.Load())
}

func (m *memChaos) close() {}

// noSinkLines drops test.Sink's line per token, which would bury the debug
// lines of the nodes.
type noSinkLines struct{ slog.Handler }

func (h noSinkLines) Handle(ctx context.Context, r slog.Record) error {
	if r.Message == "sink" {
		return nil
	}
	return h.Handler.Handle(ctx, r)
}

func (h noSinkLines) WithAttrs(as []slog.Attr) slog.Handler {
	return noSinkLines{h.Handler.WithAttrs(as)}
}

func (h noSinkLines) WithGroup(name string) slog.Handler {
	return noSinkLines{h.Handler.WithGroup(name)}
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
