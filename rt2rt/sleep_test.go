package rt2rt

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/internal/leakcheck"
	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/transport"
)

// TestSleepingPeerGetsHeldMessages: the proxy holds what is sent to a
// sleeping peer (§6.3) and delivers it, in order, when the peer joins again;
// a request to it waits instead of failing.
func TestSleepingPeerGetsHeldMessages(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	proxy := memNode(t, net, "proxy", WithSerializers("json", "msgpack"))
	// The sleeper dials out only (like calvin-constrained) and prefers
	// msgpack, so held frames are re-encoded if the coder changes.
	sleeper := memNode(t, net, "sleeper", WithListen(), WithSerializers("msgpack"))
	got := make(chan string, 8)
	sleeper.Handle(wire.CmdTunnelData, func(ctx context.Context, in *Incoming) {
		got <- in.Msg.(*wire.TunnelData).Value.(string)
	})
	sleeper.Handle(wire.CmdPortConnect, func(ctx context.Context, in *Incoming) {
		got <- "PORT_CONNECT"
		echoPortConnect(ctx, in)
	})
	_, err := sleeper.Join(context.Background(), proxy.URIs()[0])
	require.NoError(t, err)
	require.Eventually(t, func() bool { return hasPeer(proxy, sleeper.ID()) }, 5*time.Second, time.Millisecond)

	proxy.Sleep(sleeper.ID(), time.Minute)
	require.NoError(t, sleeper.Close()) // goes to sleep: the link drops
	require.Eventually(t, func() bool { return !hasPeer(proxy, sleeper.ID()) }, 5*time.Second, time.Millisecond)

	require.NoError(t, proxy.Send(context.Background(), sleeper.ID(), tunnelData("t", "one")))
	reply := make(chan error, 1)
	go func() {
		resp, err := proxy.Request(context.Background(), sleeper.ID(), portConnect("p"))
		if err == nil && resp.Status != 200 {
			err = assert.AnError
		}
		reply <- err
	}()
	require.Eventually(t, func() bool {
		proxy.mu.Lock()
		defer proxy.mu.Unlock()
		return len(proxy.sleepers[sleeper.ID()].queue) == 2
	}, 5*time.Second, time.Millisecond)
	require.NoError(t, proxy.Send(context.Background(), sleeper.ID(), tunnelData("t", "two")))

	// It wakes up under the same id and joins again, now with json: the
	// held msgpack frames are re-encoded.
	woken := memNode(t, net, "woken", WithListen(), WithID(sleeper.ID()), WithSerializers("json"))
	woken.Handle(wire.CmdTunnelData, func(ctx context.Context, in *Incoming) {
		got <- in.Msg.(*wire.TunnelData).Value.(string)
	})
	woken.Handle(wire.CmdPortConnect, func(ctx context.Context, in *Incoming) {
		got <- "PORT_CONNECT"
		echoPortConnect(ctx, in)
	})
	_, err = woken.Join(context.Background(), proxy.URIs()[0])
	require.NoError(t, err)
	assert.Equal(t, "one", <-got)
	assert.Equal(t, "PORT_CONNECT", <-got)
	assert.Equal(t, "two", <-got)
	require.NoError(t, <-reply)

	// Sleep mode ended with the reconnect: a later loss fails requests again.
	proxy.mu.Lock()
	assert.Empty(t, proxy.sleepers)
	proxy.mu.Unlock()
}

func TestSleepExpires(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	proxy := memNode(t, net, "proxy", WithRequestTimeout(200*time.Millisecond))
	sleeper := memNode(t, net, "sleeper", WithListen())
	_, err := sleeper.Join(context.Background(), proxy.URIs()[0])
	require.NoError(t, err)
	require.Eventually(t, func() bool { return hasPeer(proxy, sleeper.ID()) }, 5*time.Second, time.Millisecond)
	proxy.Sleep(sleeper.ID(), 20*time.Millisecond)
	require.NoError(t, sleeper.Close())
	require.Eventually(t, func() bool { return !hasPeer(proxy, sleeper.ID()) }, 5*time.Second, time.Millisecond)
	require.NoError(t, proxy.Send(context.Background(), sleeper.ID(), tunnelData("t", "held")))

	start := time.Now()
	require.Eventually(t, func() bool { return time.Since(start) > 40*time.Millisecond }, 5*time.Second, time.Millisecond)
	// Expired: nothing is held any more, and the peer cannot be dialled.
	err = proxy.Send(context.Background(), sleeper.ID(), tunnelData("t", "late"))
	require.ErrorIs(t, err, ErrNoRoute)

	proxy.Sleep("x", time.Minute)
	proxy.Sleep("x", 0)
	proxy.mu.Lock()
	assert.Empty(t, proxy.sleepers)
	proxy.mu.Unlock()
	assert.Zero(t, proxy.nSleepers.Load())
}
