package rt2rt

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/transport"
)

// When Join returns, the responder has its side of the link too: it can
// send to the initiator at once (Calvin's responder considers the link up
// once it has sent JOIN_REPLY).
func TestJoinReturnsWithBothSidesLinked(t *testing.T) {
	noLeaks(t)
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
	noLeaks(t)
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
	noLeaks(t)
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

