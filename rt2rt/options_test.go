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

func TestInvalidOptions(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	for name, o := range map[string]Option{
		"nil option":             nil,
		"empty id":               WithID(""),
		"empty listen":           WithListen("calvinip://127.0.0.1:0", ""),
		"no serializer":          WithSerializers(),
		"unknown serializer":     WithSerializers("json", "cbor"),
		"serializer twice":       WithSerializers("json", "json"),
		"nil serializer reg":     WithSerializerRegistry(nil),
		"nil transport":          WithTransport(nil),
		"nil logger":             WithLogger(nil),
		"nil observer":           WithObserver(nil),
		"nil validator":          WithJoinValidator(nil),
		"zero join timeout":      WithJoinTimeout(0),
		"negative req timeout":   WithRequestTimeout(-time.Second),
		"nil resolver":           WithResolver(nil),
		"zero stale":             WithStaleLinkAfter(0),
		"negative replace grace": WithReplacedLinkGrace(-1),
	} {
		t.Run(name, func(t *testing.T) {
			n, err := NewNode(o)
			require.ErrorIs(t, err, ErrInvalidOption)
			assert.Nil(t, n)
		})
	}
}

func TestListenFailureLeavesNothing(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	reg, err := transport.NewRegistry(transport.WithMemNetwork(net))
	require.NoError(t, err)
	first := memNode(t, net, "taken")
	_ = first
	_, err = NewNode(WithTransport(reg), WithListen("mem://free", "mem://taken"), WithLogger(quietLogger()))
	require.ErrorIs(t, err, transport.ErrAddressInUse)
	// mem://free was released again.
	n, err := NewNode(WithTransport(reg), WithListen("mem://free"), WithLogger(quietLogger()))
	require.NoError(t, err)
	require.NoError(t, n.Close())
}

func TestDefaults(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	n, err := NewNode()
	require.NoError(t, err)
	defer n.Close()
	assert.Len(t, n.ID(), 36, "uuid4 id")
	require.Len(t, n.URIs(), 1)
	assert.Regexp(t, `^calvinip://127\.0\.0\.1:\d+$`, n.URIs()[0])
	assert.Equal(t, []string{"json", "msgpack"}, n.Serializers())
	assert.Equal(t, DefaultRequestTimeout, n.cfg.requestTimeout)
	assert.True(t, n.cfg.forwarding)

	// A registry's order is the priority unless WithSerializers says otherwise.
	m, err := NewNode(WithListen(), WithSerializerRegistry(wire.NewRegistry(wire.Msgpack, wire.JSON)))
	require.NoError(t, err)
	defer m.Close()
	assert.Equal(t, []string{"msgpack", "json"}, m.Serializers())
	assert.Empty(t, m.URIs(), "WithListen() dials only")

	// A dial-only node joins and is joined back over its link.
	_, err = m.Join(context.Background(), n.URIs()[0])
	require.NoError(t, err)
	require.Eventually(t, func() bool { return hasPeer(n, m.ID()) }, 5*time.Second, time.Millisecond)
	assert.Equal(t, "json", n.Peers()[0].Serializer, "the responder's priority decides")
}
