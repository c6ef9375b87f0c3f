package tunnel

import (
	"log/slog"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/internal/leakcheck"
)

func TestMaxTunnelsOptionValidated(t *testing.T) {
	n := tcpNode(t)
	for _, o := range []Option{WithMaxTunnels(0, 1), WithMaxTunnels(1, 0)} {
		_, err := NewManager(n, o)
		assert.ErrorIs(t, err, ErrInvalidOption)
	}
}

// TestMaxTunnelsPerPeerAndTotal: a TUNNEL_NEW beyond a limit gets 500 and a
// log line, other peers and existing tunnels are unaffected, and a local
// Open beyond a limit fails with ErrTooManyTunnels.
func TestMaxTunnelsPerPeerAndTotal(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	logs := newMsgCounter()
	n := tcpNode(t)
	m, err := NewManager(n, WithMaxTunnels(2, 3), WithLogger(slog.New(logs)))
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	for _, typ := range []string{"t1", "t2", "t3"} {
		require.NoError(t, m.RegisterType(typ, &recorder{}))
	}

	p := dialRawPeer(t, n)
	for _, typ := range []string{"t1", "t2"} {
		v := p.request(map[string]any{"cmd": "TUNNEL_NEW", "type": typ, "tunnel_id": "id-" + typ, "policy": map[string]any{}})
		require.Equal(t, 200, status(v), typ)
	}
	v := p.request(map[string]any{"cmd": "TUNNEL_NEW", "type": "t3", "tunnel_id": "id-t3", "policy": map[string]any{}})
	assert.Equal(t, 500, status(v))
	assert.Equal(t, 1, logs.count("TUNNEL_NEW refused"))
	_, ok := m.Lookup(p.id, "t3")
	assert.False(t, ok)
	// An existing tunnel is still answered with its id.
	v = p.request(map[string]any{"cmd": "TUNNEL_NEW", "type": "t1", "tunnel_id": "other", "policy": map[string]any{}})
	assert.Equal(t, 200, status(v))

	q := dialRawPeer(t, n)
	v = q.request(map[string]any{"cmd": "TUNNEL_NEW", "type": "t1", "tunnel_id": "q-t1", "policy": map[string]any{}})
	require.Equal(t, 200, status(v))
	// Three in all now.
	v = q.request(map[string]any{"cmd": "TUNNEL_NEW", "type": "t2", "tunnel_id": "q-t2", "policy": map[string]any{}})
	assert.Equal(t, 500, status(v))
	_, err = m.Open(ctx5s(t), q.id, "t2")
	assert.ErrorIs(t, err, ErrTooManyTunnels)

	// Destroying one makes room.
	v = p.request(map[string]any{"cmd": "TUNNEL_DESTROY", "tunnel_id": "id-t2"})
	require.Equal(t, 200, status(v))
	v = q.request(map[string]any{"cmd": "TUNNEL_NEW", "type": "t2", "tunnel_id": "q-t2", "policy": map[string]any{}})
	assert.Equal(t, 200, status(v))
}
