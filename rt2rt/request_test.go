package rt2rt

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/internal/leakcheck"
	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/transport"
)

// holdRequests registers a PORT_CONNECT handler that never answers at once
// and hands each Incoming to the test.
func holdRequests(n *Node) chan *Incoming {
	ch := make(chan *Incoming, 16)
	n.Handle(wire.CmdPortConnect, func(ctx context.Context, in *Incoming) { ch <- in })
	return ch
}

func joined(t *testing.T, a, b *Node) {
	t.Helper()
	_, err := a.Join(context.Background(), b.URIs()[0])
	require.NoError(t, err)
	require.Eventually(t, func() bool { return hasPeer(b, a.ID()) }, 5*time.Second, time.Millisecond)
}

func hasPeer(n *Node, id string) bool {
	for _, p := range n.Peers() {
		if p.ID == id && p.Via == "" {
			return true
		}
	}
	return false
}

func TestRequestTimeout(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	rec := &recorder{}
	a := memNode(t, net, "a", WithRequestTimeout(50*time.Millisecond), WithObserver(rec))
	b := memNode(t, net, "b")
	held := holdRequests(b)
	joined(t, a, b)

	resp, err := a.Request(context.Background(), b.ID(), portConnect("p"))
	require.ErrorIs(t, err, ErrTimeout)
	assert.Equal(t, wire.StatusGatewayTimeout, resp.Status)
	var pe *PeerError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, b.ID(), pe.Peer)
	assert.NotEmpty(t, pe.MsgUUID)
	assert.Equal(t, []string{wire.CmdPortConnect}, rec.timeouts)

	// The late reply is dropped (unknown msg_uuid) and the link stays usable.
	in := <-held
	require.NoError(t, in.Reply(wire.NewResponse(200, nil)))
	require.ErrorIs(t, in.Reply(wire.NewResponse(200, nil)), ErrAlreadyReplied)
	b.Handle(wire.CmdPortConnect, echoPortConnect)
	resp, err = a.Request(context.Background(), b.ID(), portConnect("p2"))
	require.NoError(t, err)
	assert.Equal(t, 200, resp.Status)
}

func TestRequestHonoursContext(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	a := memNode(t, net, "a")
	b := memNode(t, net, "b")
	held := holdRequests(b)
	joined(t, a, b)
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-held
		cancel()
	}()
	_, err := a.Request(ctx, b.ID(), portConnect("p"))
	require.ErrorIs(t, err, context.Canceled)
	a.mu.Lock()
	assert.Empty(t, a.pending)
	a.mu.Unlock()
}

func TestLinkDownFailsPendingRequests(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	a := memNode(t, net, "a") // default 10 s timeout: the failure must come from the link
	b := memNode(t, net, "b")
	held := holdRequests(b)
	joined(t, a, b)

	const n = 3
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func() {
			_, err := a.Request(context.Background(), b.ID(), portConnect("p"))
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		<-held
	}
	start := time.Now()
	require.Positive(t, net.CutLink("a", "b"))
	for i := 0; i < n; i++ {
		err := <-errs
		require.ErrorIs(t, err, ErrLinkDown)
	}
	assert.Less(t, time.Since(start), 5*time.Second)
}

func TestSubscribeEvents(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	a := memNode(t, net, "a")
	b := memNode(t, net, "b")
	var mu sync.Mutex
	var events []PeerEvent
	cancel := a.Subscribe(func(ev PeerEvent) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	})
	joined(t, a, b)
	net.CutLink("a", "b")
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(events) == 2
	}, 5*time.Second, time.Millisecond)
	mu.Lock()
	assert.Equal(t, PeerEvent{Peer: b.ID(), Up: true, URI: b.URIs()[0]}, events[0])
	assert.Equal(t, b.ID(), events[1].Peer)
	assert.False(t, events[1].Up)
	assert.Error(t, events[1].Err, "a cut is not a local close")
	mu.Unlock()

	cancel()
	cancel() // harmless twice
	joined(t, a, b)
	require.NoError(t, a.Close())
	mu.Lock()
	assert.Len(t, events, 2, "no events after cancel")
	mu.Unlock()
}

func TestRejoinOnNextSendAfterCut(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	a := memNode(t, net, "a")
	b := memNode(t, net, "b")
	got := make(chan *wire.TunnelData, 16)
	b.Handle(wire.CmdTunnelData, func(ctx context.Context, in *Incoming) { got <- in.Msg.(*wire.TunnelData) })
	b.Handle(wire.CmdPortConnect, echoPortConnect)
	joined(t, a, b)

	require.Positive(t, net.CutLink("a", "b"))
	require.Eventually(t, func() bool { return len(a.Peers()) == 0 }, 5*time.Second, time.Millisecond)

	require.NoError(t, a.Send(context.Background(), b.ID(), tunnelData("t1", map[string]any{"cmd": "TOKEN"})))
	td := <-got
	assert.Equal(t, "t1", td.TunnelID)
	assert.Equal(t, a.ID(), td.From)
	assert.Empty(t, td.MsgUUID, "TUNNEL_DATA goes without msg_uuid")

	net.CutLink("a", "b")
	require.Eventually(t, func() bool { return len(a.Peers()) == 0 }, 5*time.Second, time.Millisecond)
	resp, err := a.Request(context.Background(), b.ID(), portConnect("x"))
	require.NoError(t, err)
	assert.Equal(t, 200, resp.Status)
}

func TestRejoinUsesResolver(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	var calls atomic.Int32
	var bURI atomic.Value
	a := memNode(t, net, "a", WithRequestTimeout(500*time.Millisecond), WithResolver(ResolverFunc(func(ctx context.Context, id string) ([]string, error) {
		calls.Add(1)
		if u, ok := bURI.Load().(string); ok {
			return []string{u}, nil
		}
		return nil, errors.New("not in registry")
	})))
	b := memNode(t, net, "b")
	b.Handle(wire.CmdPortConnect, echoPortConnect)
	// b joins a, so a has no URI of its own for b.
	joined(t, b, a)
	net.CutLink("a", "b")
	require.Eventually(t, func() bool { return len(a.Peers()) == 0 }, 5*time.Second, time.Millisecond)

	_, err := a.Request(context.Background(), b.ID(), portConnect("x"))
	require.ErrorIs(t, err, ErrNoRoute)
	assert.Positive(t, calls.Load())

	bURI.Store(b.URIs()[0])
	resp, err := a.Request(context.Background(), b.ID(), portConnect("x"))
	require.NoError(t, err)
	assert.Equal(t, 200, resp.Status)
}

func TestSendWithoutRoute(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	a := tcpNode(t, WithRequestTimeout(200*time.Millisecond))
	err := a.Send(context.Background(), "nobody", tunnelData("t", nil))
	require.ErrorIs(t, err, ErrNoRoute)
	var pe *PeerError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, "nobody", pe.Peer)
}

// TestForwardingViaMiddleNode: a reaches c only through b (a routing link,
// §3.8); b relays both ways without changing the messages.
func TestForwardingViaMiddleNode(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	rec := &recorder{}
	a := memNode(t, net, "a")
	b := memNode(t, net, "b", WithObserver(rec))
	c := memNode(t, net, "c", WithSerializers("msgpack", "json"))
	joined(t, a, b)
	joined(t, b, c) // b-c uses msgpack, a-b json: b re-encodes
	a.SetRoute(c.ID(), b.ID())

	var via string
	c.Handle(wire.CmdPortConnect, func(ctx context.Context, in *Incoming) {
		via = in.Peer
		echoPortConnect(ctx, in)
	})
	resp, err := a.Request(context.Background(), c.ID(), portConnect("pc"))
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"port_id": "pc"}, resp.Data)
	assert.Equal(t, b.ID(), via)
	// The observer is told after the relay, so the reply may overtake it.
	require.Eventually(t, func() bool { return rec.count(func(r *recorder) int { return len(r.fwd) }) == 2 }, 5*time.Second, time.Millisecond, "request and reply relayed")

	got := make(chan *Incoming, 1)
	c.Handle(wire.CmdTunnelData, func(ctx context.Context, in *Incoming) { got <- in })
	td := tunnelData("t9", map[string]any{"k": "v"})
	td.Extra = map[string]any{"custom_key": "kept"}
	require.NoError(t, a.Send(context.Background(), c.ID(), td))
	in := <-got
	m := in.Msg.(*wire.TunnelData)
	assert.Equal(t, a.ID(), m.From)
	assert.Equal(t, c.ID(), m.To)
	assert.Equal(t, "kept", m.Extra["custom_key"], "forwarded unchanged")
	assert.Equal(t, b.ID(), in.Peer)

	peers := a.Peers()
	require.Len(t, peers, 2)
	assert.Equal(t, PeerInfo{ID: c.ID(), URI: b.URIs()[0], Serializer: "json", RTT: peers[1].RTT, Via: b.ID()}, peers[1])
}

// TestForwardingJoinsTarget: the middle node has no link to the target yet
// and joins it through its resolver before relaying.
func TestForwardingJoinsTarget(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	c := memNode(t, net, "c")
	c.Handle(wire.CmdPortConnect, echoPortConnect)
	b := memNode(t, net, "b", WithResolver(ResolverFunc(func(ctx context.Context, id string) ([]string, error) {
		if id == c.ID() {
			return c.URIs(), nil
		}
		return nil, nil
	})))
	a := memNode(t, net, "a")
	joined(t, a, b)
	a.SetRoute(c.ID(), b.ID())
	resp, err := a.Request(context.Background(), c.ID(), portConnect("pc"))
	require.NoError(t, err)
	assert.Equal(t, 200, resp.Status)
	assert.True(t, hasPeer(b, c.ID()))
	assert.False(t, hasPeer(a, c.ID()))
}

func TestForwardingOff(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	rec := &recorder{}
	a := memNode(t, net, "a", WithRequestTimeout(100*time.Millisecond))
	b := memNode(t, net, "b", WithForwarding(false), WithObserver(rec))
	c := memNode(t, net, "c")
	c.Handle(wire.CmdPortConnect, echoPortConnect)
	joined(t, a, b)
	joined(t, b, c)
	a.SetRoute(c.ID(), b.ID())
	_, err := a.Request(context.Background(), c.ID(), portConnect("pc"))
	require.ErrorIs(t, err, ErrTimeout)
	require.Eventually(t, func() bool { return rec.count(func(r *recorder) int { return len(r.dropped) }) == 1 }, 5*time.Second, time.Millisecond)
	assert.Contains(t, rec.dropped[0], "forwarding is off")
	assert.Empty(t, rec.fwd)
}

func TestForwardingNeverGoesBack(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	rec := &recorder{}
	a := memNode(t, net, "a", WithRequestTimeout(100*time.Millisecond))
	b := memNode(t, net, "b", WithObserver(rec))
	joined(t, a, b)
	a.SetRoute("ghost", b.ID())
	b.SetRoute("ghost", a.ID()) // a loop
	_, err := a.Request(context.Background(), "ghost", portConnect("x"))
	require.ErrorIs(t, err, ErrTimeout)
	require.Eventually(t, func() bool { return rec.count(func(r *recorder) int { return len(r.dropped) }) == 1 }, 5*time.Second, time.Millisecond)
	assert.Contains(t, rec.dropped[0], "back over the link it came in on")
}

func TestRequestAfterClose(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	a := memNode(t, net, "a")
	b := memNode(t, net, "b")
	held := holdRequests(b)
	joined(t, a, b)
	errs := make(chan error, 1)
	go func() {
		_, err := a.Request(context.Background(), b.ID(), portConnect("p"))
		errs <- err
	}()
	<-held
	require.NoError(t, a.Close())
	require.NoError(t, a.Close())
	require.ErrorIs(t, <-errs, ErrClosed)
	_, err := a.Request(context.Background(), b.ID(), portConnect("p"))
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, a.Send(context.Background(), b.ID(), tunnelData("t", nil)), ErrClosed)
	_, err = a.Join(context.Background(), b.URIs()[0])
	require.ErrorIs(t, err, ErrShuttingDown)
}

func TestForwardingLoopIsCut(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	rec := &recorder{}
	a := memNode(t, net, "a", WithObserver(rec))
	b := memNode(t, net, "b")
	c := memNode(t, net, "c")
	joined(t, a, b)
	joined(t, b, c)
	joined(t, c, a)
	a.SetRoute("ghost", b.ID())
	b.SetRoute("ghost", c.ID())
	c.SetRoute("ghost", a.ID())
	require.NoError(t, a.Send(context.Background(), "ghost", tunnelData("t", nil)))
	require.Eventually(t, func() bool { return rec.count(func(r *recorder) int { return len(r.dropped) }) == 1 }, 5*time.Second, time.Millisecond)
	assert.Contains(t, rec.dropped[0], "routing loop")
	assert.Empty(t, rec.fwd)
}

func TestOversizedFrameFailsLocally(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	a := tcpNode(t)
	b := tcpNode(t)
	got := make(chan struct{}, 1)
	b.Handle(wire.CmdTunnelData, func(ctx context.Context, in *Incoming) { got <- struct{}{} })
	joined(t, a, b)
	big := strings.Repeat("x", transport.DefaultMaxFrameSize)
	err := a.Send(context.Background(), b.ID(), tunnelData("t", big))
	require.ErrorIs(t, err, transport.ErrFrameTooLarge)
	require.ErrorIs(t, err, ErrInvalidMessage)
	// The link is unaffected.
	require.NoError(t, a.Send(context.Background(), b.ID(), tunnelData("t", "small")))
	<-got
	assert.True(t, hasPeer(a, b.ID()))
}

func TestObserverEvents(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	ra, rb := &recorder{}, &recorder{}
	a := memNode(t, net, "a", WithObserver(ra))
	b := memNode(t, net, "b", WithObserver(rb))
	joined(t, a, b)
	require.Eventually(t, func() bool {
		return ra.count(func(r *recorder) int { return len(r.ups) }) == 1 && rb.count(func(r *recorder) int { return len(r.ups) }) == 1
	}, 5*time.Second, time.Millisecond)
	ra.mu.Lock()
	assert.Equal(t, []string{b.ID()}, ra.joins)
	assert.Equal(t, []string{b.ID()}, ra.ups)
	ra.mu.Unlock()
	rb.mu.Lock()
	assert.Equal(t, []string{a.ID()}, rb.joins)
	rb.mu.Unlock()
	require.NoError(t, b.Close())
	require.Eventually(t, func() bool { return ra.count(func(r *recorder) int { return len(r.downs) }) == 1 }, 5*time.Second, time.Millisecond)
	ra.mu.Lock()
	assert.Equal(t, []string{b.ID()}, ra.downs)
	ra.mu.Unlock()
}
