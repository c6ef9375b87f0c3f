package rt2rt

import (
	"context"
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

func openConns(n *Node) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.conns)
}

// converged checks the §2.8 outcome: one link each way, on the connection
// the higher id initiated.
func converged(a, b *Node) bool {
	pa, pb := a.Peers(), b.Peers()
	if len(pa) != 1 || len(pb) != 1 || openConns(a) != 1 || openConns(b) != 1 {
		return false
	}
	hi, lo := pa[0], pb[0]
	if a.ID() < b.ID() {
		hi, lo = pb[0], pa[0]
	}
	return hi.Initiator && !lo.Initiator
}

func TestDuplicateConnectionsConverge(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	for _, tc := range []struct {
		name string
		tcp  bool
		// who joins first; then the other joins back
		firstLow bool
	}{
		{"mem/lower id joins first", false, true},
		{"mem/higher id joins first", false, false},
		{"calvinip/lower id joins first", true, true},
		{"calvinip/higher id joins first", true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts := []Option{WithReplacedLinkGrace(50 * time.Millisecond)}
			var lo, hi *Node
			if tc.tcp {
				lo = tcpNode(t, append(opts, WithID("11111111-aaaa-4aaa-8aaa-000000000001"))...)
				hi = tcpNode(t, append(opts, WithID("99999999-aaaa-4aaa-8aaa-000000000009"))...)
			} else {
				net := transport.NewMemNetwork()
				lo = memNode(t, net, "lo", append(opts, WithID("11111111-aaaa-4aaa-8aaa-000000000001"))...)
				hi = memNode(t, net, "hi", append(opts, WithID("99999999-aaaa-4aaa-8aaa-000000000009"))...)
			}
			first, second := hi, lo
			if tc.firstLow {
				first, second = lo, hi
			}
			joined(t, first, second)
			peer, err := second.Join(context.Background(), first.URIs()[0])
			require.NoError(t, err, "joining a linked peer succeeds")
			assert.Equal(t, first.ID(), peer)
			require.Eventually(t, func() bool { return converged(lo, hi) }, 5*time.Second, time.Millisecond)

			hi.Handle(wire.CmdPortConnect, echoPortConnect)
			lo.Handle(wire.CmdPortConnect, echoPortConnect)
			_, err = lo.Request(context.Background(), hi.ID(), portConnect("x"))
			require.NoError(t, err)
			_, err = hi.Request(context.Background(), lo.ID(), portConnect("y"))
			require.NoError(t, err)
		})
	}
}

func TestSimultaneousJoinsConverge(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	for i := 0; i < 10; i++ {
		net := transport.NewMemNetwork()
		a := memNode(t, net, "a", WithReplacedLinkGrace(20*time.Millisecond))
		b := memNode(t, net, "b", WithReplacedLinkGrace(20*time.Millisecond))
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); _, _ = a.Join(context.Background(), b.URIs()[0]) }()
		go func() { defer wg.Done(); _, _ = b.Join(context.Background(), a.URIs()[0]) }()
		wg.Wait()
		require.Eventually(t, func() bool { return converged(a, b) }, 5*time.Second, time.Millisecond, "round %d", i)
		require.NoError(t, a.Close())
		require.NoError(t, b.Close())
	}
}

// TestReplacementKeepsQueuedMessages streams TUNNEL_DATA while a duplicate
// connection replaces the link: nothing is lost.
func TestReplacementKeepsQueuedMessages(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	rec := &replaceCounter{}
	lo := tcpNode(t, WithID("11111111-aaaa-4aaa-8aaa-000000000001"), WithReplacedLinkGrace(200*time.Millisecond))
	hi := tcpNode(t, WithID("99999999-aaaa-4aaa-8aaa-000000000009"), WithReplacedLinkGrace(200*time.Millisecond), WithObserver(rec))
	var got atomic.Int64
	hi.Handle(wire.CmdTunnelData, func(ctx context.Context, in *Incoming) { got.Add(1) })
	joined(t, lo, hi) // the old link: initiated by the lower id, so it loses

	const total = 20000
	done := make(chan error, 1)
	go func() {
		for i := 0; i < total; i++ {
			if err := lo.Send(context.Background(), hi.ID(), tunnelData("t", int64(i))); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	// hi's own connection replaces lo's while frames flow.
	_, err := hi.Join(context.Background(), lo.URIs()[0])
	require.NoError(t, err)
	require.NoError(t, <-done)
	require.Eventually(t, func() bool { return got.Load() == total }, 10*time.Second, time.Millisecond, "got %d of %d", got.Load(), total)
	require.Eventually(t, func() bool { return converged(lo, hi) }, 5*time.Second, time.Millisecond)
	assert.Equal(t, int32(1), rec.n.Load())
}

type replaceCounter struct {
	NopObserver
	n atomic.Int32
}

func (r *replaceCounter) LinkReplaced(string) { r.n.Add(1) }

// TestStaleLinkReplacedByFreshConnection: a lower-id peer reconnects while
// the higher-id node still holds its old connection (a half-open case).
// By the §2.8 rule the node closes the new connection right after
// JOIN_REPLY; when the old link has been silent for longer than
// WithStaleLinkAfter, it keeps the fresh one instead.
func TestStaleLinkReplacedByFreshConnection(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	const lowID = "00000000-0000-4000-8000-000000000000"
	for _, stale := range []bool{false, true} {
		name := map[bool]string{false: "fresh old link kept", true: "stale old link replaced"}[stale]
		t.Run(name, func(t *testing.T) {
			staleAfter := time.Hour
			if stale {
				staleAfter = 20 * time.Millisecond
			}
			n := tcpNode(t, WithID("ffffffff-0000-4000-8000-000000000000"), WithStaleLinkAfter(staleAfter),
				WithReplacedLinkGrace(10*time.Millisecond))
			old := dialRaw(t, n.URIs()[0])
			require.Equal(t, n.ID(), old.join(lowID, "json")["id"])
			require.Eventually(t, func() bool { return hasPeer(n, lowID) }, 5*time.Second, time.Millisecond)
			if stale {
				// Let the old link go quiet for longer than staleAfter.
				lastRecv := time.Now()
				require.Eventually(t, func() bool { return time.Since(lastRecv) > 2*staleAfter }, 5*time.Second, time.Millisecond)
			}
			fresh := dialRaw(t, n.URIs()[0])
			require.Equal(t, n.ID(), fresh.join(lowID, "json")["id"], "JOIN_REPLY is sent either way")

			if stale {
				// The JOIN_REPLY goes out just before the link is installed.
				freshURI := "calvinip://" + fresh.c.LocalAddr().String()
				require.Eventually(t, func() bool {
					p := n.Peers()
					return len(p) == 1 && p[0].URI == freshURI
				}, 5*time.Second, time.Millisecond)
			}
			// Send something to the peer and see which socket carries it.
			go func() { _ = n.Send(context.Background(), lowID, tunnelData("t", "hello")) }()
			if stale {
				m := fresh.readMsg(wire.JSON)
				assert.Equal(t, "TUNNEL_DATA", m["cmd"])
				assert.True(t, old.closedByNode(5*time.Second), "old connection closed after the grace")
			} else {
				assert.True(t, fresh.closedByNode(5*time.Second), "new connection closed (§2.8)")
				m := old.readMsg(wire.JSON)
				assert.Equal(t, "TUNNEL_DATA", m["cmd"])
			}
		})
	}
}
