package token

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/internal/testnet"
	"github.com/meshkit/meshkit/rt2rt"
	"github.com/meshkit/meshkit/transport"
	"github.com/meshkit/meshkit/tunnel"
)

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// stack is one node with its tunnel manager and token flow.
type stack struct {
	node *rt2rt.Node
	mgr  *tunnel.Manager
	flow *Flow
}

func newStack(t testing.TB, flowOpts []Option, opts ...rt2rt.Option) *stack {
	t.Helper()
	n, err := rt2rt.NewNode(append([]rt2rt.Option{rt2rt.WithLogger(quietLog())}, opts...)...)
	require.NoError(t, err)
	m, err := tunnel.NewManager(n, tunnel.WithLogger(quietLog()))
	require.NoError(t, err)
	f, err := NewFlow(flowOpts...)
	require.NoError(t, err)
	require.NoError(t, f.Register(m))
	s := &stack{node: n, mgr: m, flow: f}
	t.Cleanup(func() { s.close() })
	return s
}

func (s *stack) close() {
	_ = s.flow.Close()
	_ = s.mgr.Close()
	_ = s.node.Close()
}

func memStack(t testing.TB, mn *transport.MemNetwork, name string, flowOpts []Option, opts ...rt2rt.Option) *stack {
	t.Helper()
	reg, err := transport.NewRegistry(transport.WithMemNetwork(mn))
	require.NoError(t, err)
	return newStack(t, flowOpts, append([]rt2rt.Option{rt2rt.WithTransport(reg), rt2rt.WithListen("mem://" + name)}, opts...)...)
}

// connectStacks joins a to b at uri, opens the token tunnel and connects
// outport "out" on a to inport "in" on b.
func connectStacks(t testing.TB, a, b *stack, uri string, outLen, inLen int) *pair {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	id, err := a.node.Join(ctx, uri)
	require.NoError(t, err)
	require.Equal(t, b.node.ID(), id)
	_, err = a.mgr.Open(ctx, b.node.ID(), "token")
	require.NoError(t, err)
	p := &pair{a: a.flow, b: b.flow, credit: make(chan struct{}, 1), data: make(chan struct{}, 1)}
	p.out, err = NewFIFO(outLen)
	require.NoError(t, err)
	p.in, err = NewFIFO(inLen)
	require.NoError(t, err)
	p.rcv, err = b.flow.AddReceiver(ReceiverConfig{Peer: a.node.ID(), PortID: "in", PeerPortID: "out", Queue: p.in, OnData: signal(p.data)})
	require.NoError(t, err)
	p.snd, err = a.flow.AddSender(SenderConfig{Peer: b.node.ID(), PortID: "out", PeerPortID: "in", Queue: p.out, OnCredit: signal(p.credit)})
	require.NoError(t, err)
	return p
}

func streamOK(t *testing.T, p *pair, n int, timeout time.Duration, diag ...func() string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- p.produce(ctx, n) }()
	if err := p.consume(ctx, n, nil); err != nil {
		ip, _ := p.in.Positions("in")
		msg := fmt.Sprintf("sender %+v receiver queue %+v", p.snd.Stats(), ip)
		for _, d := range diag {
			msg += "\n" + d()
		}
		require.NoError(t, err, msg)
	}
	require.NoError(t, <-errc)
	require.Eventually(t, func() bool { return p.snd.Stats().Read == uint64(n) }, timeout, time.Millisecond)
	assert.Equal(t, uint64(n), p.in.WritePos(), "nothing beyond the stream was stored")
}

func TestNodesMemStream(t *testing.T) {
	mn := transport.NewMemNetwork()
	a := memStack(t, mn, "a-stream", nil)
	b := memStack(t, mn, "b-stream", nil)
	p := connectStacks(t, a, b, "mem://b-stream", DefaultQueueLength, DefaultQueueLength)
	streamOK(t, p, 3000, 20*time.Second)
	a.close()
	b.close()
	requireNoFlowGoroutines(t)
}

// TestNodesMemCutsAndDrops: real nodes on the in-memory transport; the link
// is cut over and over (each cut loses frames in flight, the node re-joins)
// and frames are dropped at random. Exactly-once in-order delivery must hold.
func TestNodesMemCutsAndDrops(t *testing.T) {
	for _, seed := range []int64{1, 2, 3} {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			mn := transport.NewMemNetwork()
			an, bn := fmt.Sprintf("a-cut%d", seed), fmt.Sprintf("b-cut%d", seed)
			fo := []Option{WithTiming(fastTiming)}
			a := memStack(t, mn, an, fo)
			b := memStack(t, mn, bn, fo)
			p := connectStacks(t, a, b, "mem://"+bn, DefaultQueueLength, DefaultQueueLength)
			require.NoError(t, mn.SetFaults(transport.Faults{DropRate: 0.02, Seed: seed}))
			stop := make(chan struct{})
			var wg sync.WaitGroup
			cuts := 0
			wg.Add(1)
			go func() {
				defer wg.Done()
				cutWhileProgressing(stop, 10*time.Millisecond, 200, p.snd, func() { cuts += mn.CutLink(an, bn) })
			}()
			streamOK(t, p, 1500, 60*time.Second, func() string { return describe(a) + "\n" + describe(b) })
			close(stop)
			wg.Wait()
			assert.GreaterOrEqual(t, cuts, 3, "the stream crossed several cuts")
		})
	}
}

// cutWhileProgressing calls cut at most every period, and only once the
// stream has moved every tokens since the previous cut: the node backs off
// re-joins to a peer whose links die before carrying anything (20 ms
// doubling to 2 s), and a blind cutter could mostly measure that backoff.
func cutWhileProgressing(stop <-chan struct{}, period time.Duration, every uint64, s *Sender, cut func()) {
	tick := time.NewTicker(period)
	defer tick.Stop()
	last := s.Stats().Read
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		if r := s.Stats().Read; r >= last+every {
			last = r
			cut()
		}
	}
}

// relay is a loopback TCP proxy whose connections can be killed, to cut a
// calvinip link the way a network failure does (testnet.Relay, with the
// names this package's tests and benchmarks use).
type relay struct{ *testnet.Relay }

func newRelay(t testing.TB, target string) relay {
	t.Helper()
	r, err := testnet.NewRelay(target)
	require.NoError(t, err)
	t.Cleanup(func() { _ = r.Close() })
	return relay{r}
}

func (r relay) uri() string { return "calvinip://" + r.Addr() }

// kill closes every relayed connection: both nodes see the link die.
func (r relay) kill() int { return r.Kill() }

func hostPort(uri string) string {
	const p = "calvinip://"
	return uri[len(p):]
}

// TestNodesTCPKilledConnection: two nodes over loopback calvinip through a
// relay whose TCP connections are killed repeatedly during the stream.
func TestNodesTCPKilledConnection(t *testing.T) {
	a := newStack(t, []Option{WithTiming(fastTiming)})
	b := newStack(t, []Option{WithTiming(fastTiming)})
	rl := newRelay(t, hostPort(b.node.URIs()[0]))
	p := connectStacks(t, a, b, rl.uri(), DefaultQueueLength, DefaultQueueLength)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var kills int
	wg.Add(1)
	go func() {
		defer wg.Done()
		cutWhileProgressing(stop, 10*time.Millisecond, 1000, p.snd, func() { kills += rl.kill() })
	}()
	streamOK(t, p, 10000, 60*time.Second, func() string { return describe(a) + "\n" + describe(b) })
	close(stop)
	wg.Wait()
	t.Logf("killed %d connections; sender stats %+v", kills, p.snd.Stats())
	assert.Positive(t, kills, "the stream outlived at least one killed connection")
}

func describe(s *stack) string {
	out := fmt.Sprintf("node %s peers %+v", s.node.ID(), s.node.Peers())
	for _, tu := range s.mgr.Tunnels() {
		out += "\n  " + tu.String()
	}
	return out
}
