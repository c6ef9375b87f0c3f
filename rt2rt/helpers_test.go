package rt2rt

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/transport"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// memNode starts a node listening on mem://name of net with its own
// transport registry (so the mem endpoint names are the node's).
func memNode(t testing.TB, net *transport.MemNetwork, name string, opts ...Option) *Node {
	t.Helper()
	reg, err := transport.NewRegistry(transport.WithMemNetwork(net))
	require.NoError(t, err)
	base := []Option{WithTransport(reg), WithListen("mem://" + name), WithLogger(quietLogger())}
	n, err := NewNode(append(base, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// tcpNode starts a node on a loopback calvinip port.
func tcpNode(t testing.TB, opts ...Option) *Node {
	t.Helper()
	n, err := NewNode(append([]Option{WithLogger(quietLogger())}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// recorder is an Observer that keeps what it saw.
type recorder struct {
	NopObserver
	mu       sync.Mutex
	timeouts []string
	dropped  []string
	joins    []string
	fails    []error
	ups      []string
	downs    []string
	fwd      []string
}

func (r *recorder) RequestTimeout(peer, cmd, id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.timeouts = append(r.timeouts, cmd)
}

func (r *recorder) Dropped(peer, cmd string, reason error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dropped = append(r.dropped, cmd+": "+reason.Error())
}

func (r *recorder) Joined(peer, uri, ser string, initiator bool, rtt time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.joins = append(r.joins, peer)
}

func (r *recorder) JoinFailed(uri string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fails = append(r.fails, err)
}

func (r *recorder) LinkUp(peer, uri string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ups = append(r.ups, peer)
}

func (r *recorder) LinkDown(peer string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.downs = append(r.downs, peer)
}

func (r *recorder) Forwarded(from, to, cmd string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fwd = append(r.fwd, cmd)
}

func (r *recorder) count(f func(r *recorder) int) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return f(r)
}

// echoPortConnect answers PORT_CONNECT with 200 and the port id, as a port
// layer would.
func echoPortConnect(ctx context.Context, in *Incoming) {
	pc := in.Msg.(*wire.PortConnect)
	_ = in.Reply(wire.NewResponse(wire.StatusOK, map[string]any{"port_id": pc.PeerPortID}))
}

func portConnect(peerPort string) *wire.PortConnect {
	return &wire.PortConnect{
		TunnelID:       "t1",
		PortID:         "p-local",
		PortProperties: map[string]any{"direction": "out"},
		PeerPortID:     peerPort,
	}
}

func tunnelData(tunnel string, v any) *wire.TunnelData {
	return &wire.TunnelData{TunnelID: tunnel, Value: v}
}
