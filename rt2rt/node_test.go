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

func TestJoinAndRequest(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	for _, tc := range []struct {
		name      string
		responder []string
		initiator []string
		want      string
	}{
		{"json default", nil, nil, "json"},
		{"responder prefers msgpack", []string{"msgpack", "json"}, nil, "msgpack"},
		{"initiator offers msgpack only", nil, []string{"msgpack"}, "msgpack"},
		{"initiator offers json only", []string{"msgpack", "json"}, []string{"json"}, "json"},
	} {
		for _, network := range []string{"mem", "calvinip", "ws"} {
			t.Run(tc.name+"/"+network, func(t *testing.T) {
				var ropts, iopts []Option
				if tc.responder != nil {
					ropts = append(ropts, WithSerializers(tc.responder...))
				}
				if tc.initiator != nil {
					iopts = append(iopts, WithSerializers(tc.initiator...))
				}
				var a, b *Node
				if network == "mem" {
					net := transport.NewMemNetwork()
					a = memNode(t, net, "a", iopts...)
					b = memNode(t, net, "b", ropts...)
				} else if network == "ws" {
					a = tcpNode(t, append(iopts, WithListen("ws://127.0.0.1:0/rt2rt"))...)
					b = tcpNode(t, append(ropts, WithListen("ws://127.0.0.1:0/rt2rt"))...)
					require.Regexp(t, `^ws://127\.0\.0\.1:\d+/rt2rt$`, b.URIs()[0])
				} else {
					a = tcpNode(t, iopts...)
					b = tcpNode(t, ropts...)
				}
				b.Handle(wire.CmdPortConnect, echoPortConnect)
				a.Handle(wire.CmdPortConnect, echoPortConnect)

				peer, err := a.Join(context.Background(), b.URIs()[0])
				require.NoError(t, err)
				assert.Equal(t, b.ID(), peer)
				require.Eventually(t, func() bool { return len(b.Peers()) == 1 }, 5*time.Second, time.Millisecond)
				pa, pb := a.Peers(), b.Peers()
				require.Len(t, pa, 1)
				assert.Equal(t, tc.want, pa[0].Serializer)
				assert.Equal(t, tc.want, pb[0].Serializer)
				assert.True(t, pa[0].Initiator)
				assert.False(t, pb[0].Initiator)
				assert.Equal(t, a.ID(), pb[0].ID)

				resp, err := a.Request(context.Background(), b.ID(), portConnect("port-b"))
				require.NoError(t, err)
				assert.Equal(t, wire.StatusOK, resp.Status)
				assert.Equal(t, map[string]any{"port_id": "port-b"}, resp.Data)

				// The responder can use the link too.
				resp, err = b.Request(context.Background(), a.ID(), portConnect("port-a"))
				require.NoError(t, err)
				assert.Equal(t, map[string]any{"port_id": "port-a"}, resp.Data)
			})
		}
	}
}
