package rt2rt

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/internal/leakcheck"
	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/transport"
)

// When Join returns, the responder has its side of the link too: it can
// send to the initiator at once (Calvin's responder considers the link up
// once it has sent JOIN_REPLY).
func TestJoinReturnsWithBothSidesLinked(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	for _, network := range []string{"mem", "calvinip", "ws"} {
		t.Run(network, func(t *testing.T) {
			for i := range 20 {
				var a, b *Node
				switch network {
				case "mem":
					net := transport.NewMemNetwork()
					a = memNode(t, net, fmt.Sprintf("a%d", i))
					b = memNode(t, net, fmt.Sprintf("b%d", i))
				case "ws":
					a = tcpNode(t, WithListen("ws://127.0.0.1:0/rt2rt"))
					b = tcpNode(t, WithListen("ws://127.0.0.1:0/rt2rt"))
				default:
					a, b = tcpNode(t), tcpNode(t)
				}
				a.Handle(wire.CmdPortConnect, echoPortConnect)
				_, err := a.Join(context.Background(), b.URIs()[0])
				require.NoError(t, err)
				require.Len(t, b.Peers(), 1, "responder linked when Join returns (join %d)", i)
				// The responder does not know the initiator's URI: without
				// the link this fails at once with ErrNoRoute.
				resp, err := b.Request(context.Background(), a.ID(), portConnect("port-a"))
				require.NoError(t, err, "join %d", i)
				assert.Equal(t, map[string]any{"port_id": "port-a"}, resp.Data)
				require.NoError(t, a.Close())
				require.NoError(t, b.Close())
			}
		})
	}
}

// slowJoinObserver holds the responder's Joined callback until the
// initiator's Join has returned or a while has passed: if the responder
// installed its link only after the JOIN_REPLY went out, the initiator sees
// Join return while the responder has no link.
type slowJoinObserver struct {
	NopObserver
	joinReturned chan struct{}
}

func (o *slowJoinObserver) Joined(peer, uri, ser string, initiator bool, rtt time.Duration) {
	if initiator {
		return
	}
	t := time.NewTimer(100 * time.Millisecond)
	defer t.Stop()
	select {
	case <-o.joinReturned:
	case <-t.C:
	}
}

func TestJoinReturnsWithBothSidesLinkedSlowResponder(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	obs := &slowJoinObserver{joinReturned: make(chan struct{})}
	a := tcpNode(t)
	b := tcpNode(t, WithObserver(obs))
	_, err := a.Join(context.Background(), b.URIs()[0])
	close(obs.joinReturned)
	require.NoError(t, err)
	assert.Len(t, b.Peers(), 1, "responder linked when Join returns")
}

// A re-join waiting out its backoff ends as soon as the peer dials this
// node, and uses that link.
func TestRejoinBackoffEndsWhenPeerDialsIn(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	a := memNode(t, net, "a")
	b := memNode(t, net, "b")
	b.Handle(wire.CmdPortConnect, echoPortConnect)
	_, err := a.Join(context.Background(), b.URIs()[0])
	require.NoError(t, err)
	require.Positive(t, net.CutAll())
	require.Eventually(t, func() bool { return len(a.Peers()) == 0 && len(b.Peers()) == 0 }, 5*time.Second, time.Millisecond)

	// a must not dial b for the next 5 s.
	a.mu.Lock()
	a.backoff[b.ID()] = &backoffState{next: maxBackoff, notBefore: time.Now().Add(5 * time.Second)}
	a.mu.Unlock()

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	got := make(chan error, 1)
	go func() {
		_, err := a.Request(ctx, b.ID(), portConnect("port-b"))
		got <- err
	}()
	// Wait until the request sits in the backoff wait.
	require.Eventually(t, func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		return a.dialing[b.ID()] != nil
	}, 5*time.Second, time.Millisecond)
	_, err = b.Join(context.Background(), a.URIs()[0])
	require.NoError(t, err)
	// Without the wake-up the request waits out the backoff (5 s) and its
	// ctx (4 s) ends first.
	require.NoError(t, <-got)
}

// Link-level backoff: a link that carried traffic is re-joined at once
// however short it lived; one that died before the peer sent anything
// spaces re-joins out; the backoff stays within half a request timeout.
func TestRejoinBackoffPolicy(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	a := memNode(t, net, "a", WithRequestTimeout(400*time.Millisecond))
	b := memNode(t, net, "b")
	b.Handle(wire.CmdPortConnect, echoPortConnect)
	backoffOf := func() *backoffState {
		a.mu.Lock()
		defer a.mu.Unlock()
		if s := a.backoff[b.ID()]; s != nil {
			c := *s
			return &c
		}
		return nil
	}
	cut := func() {
		t.Helper()
		require.Positive(t, net.CutAll())
		// Both sides: a b that still holds the cut link may close the
		// re-join's connection (§2.8), which is not what this test is about.
		require.Eventually(t, func() bool { return len(a.Peers()) == 0 && len(b.Peers()) == 0 }, 5*time.Second, time.Millisecond)
	}
	ctx := context.Background()
	_, err := a.Join(ctx, b.URIs()[0])
	require.NoError(t, err)

	// Died at once, nothing read after the join: backoff.
	cut()
	first := backoffOf()
	require.NotNil(t, first, "a link that never carried traffic backs off")
	assert.Equal(t, minBackoff, first.next)

	// The next re-join waits that out, then carries traffic and is cut:
	// no backoff for the one after.
	_, err = a.Request(ctx, b.ID(), portConnect("port-b"))
	require.NoError(t, err)
	cut()
	assert.Nil(t, backoffOf(), "a link that carried traffic re-joins at once")
	_, err = a.Request(ctx, b.ID(), portConnect("port-b"))
	require.NoError(t, err)

	// Failing joins grow the backoff, never beyond half a request timeout.
	net.Partition("a", "b")
	require.Eventually(t, func() bool { return len(a.Peers()) == 0 && len(b.Peers()) == 0 }, 5*time.Second, time.Millisecond)
	for range 3 {
		_, err = a.Request(ctx, b.ID(), portConnect("port-b"))
		require.ErrorIs(t, err, ErrNoRoute)
		s := backoffOf()
		require.NotNil(t, s)
		assert.LessOrEqual(t, s.next, 200*time.Millisecond)
	}
	assert.Equal(t, 200*time.Millisecond, backoffOf().next, "20, 40, 80, 160 ms, then capped at 200 ms")
	net.Heal("a", "b")
	_, err = a.Request(ctx, b.ID(), portConnect("port-b"))
	require.NoError(t, err, "the capped backoff leaves room for an attempt in the window")
}

// Subscribers see a peer's events in the order its link came and went: a
// re-join racing the previous link's loss never leaves the peer reported
// down while it is linked (the loss's Down was queued after the new link's
// Up, and a tunnel stayed DOWN for good).
func TestLinkEventsOrderedAcrossFastRejoins(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	a := memNode(t, net, "a")
	b := memNode(t, net, "b")
	b.Handle(wire.CmdPortConnect, echoPortConnect)
	var mu sync.Mutex
	up := false
	unsub := b.Subscribe(func(ev PeerEvent) {
		if ev.Peer != a.ID() {
			return
		}
		mu.Lock()
		up = ev.Up
		mu.Unlock()
	})
	defer unsub()
	seesUp := func() bool {
		mu.Lock()
		defer mu.Unlock()
		return up
	}
	ctx := context.Background()
	_, err := a.Join(ctx, b.URIs()[0])
	require.NoError(t, err)
	for i := range 300 {
		for deadline := time.Now().Add(5 * time.Second); ; {
			require.True(t, time.Now().Before(deadline), "no link to b within 5 s (round %d)", i)
			_, err := a.Request(ctx, b.ID(), portConnect("port-b"))
			if err == nil {
				break
			}
			// b (if the higher id) may still hold the cut link and then
			// closes the re-join's connection (§2.8); a retries.
			require.ErrorIs(t, err, ErrLinkDown, "round %d", i)
		}
		require.Eventually(t, func() bool { return len(b.Peers()) == 1 }, 5*time.Second, time.Millisecond)
		require.Eventually(t, seesUp, 5*time.Second, time.Millisecond, "b linked to a but reports it down (round %d)", i)
		net.CutAll()
		// Only a's side is awaited: b notices the loss while a re-joins.
		require.Eventually(t, func() bool { return len(a.Peers()) == 0 }, 5*time.Second, time.Millisecond)
	}
}
