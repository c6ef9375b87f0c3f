package tunnel

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/rt2rt"
	"github.com/meshkit/meshkit/transport"
)

// BenchmarkTunnelData measures one-way TUNNEL_DATA throughput through two
// managers: Send on one end until the other end's handler saw every value.
func BenchmarkTunnelData(b *testing.B) {
	for _, tr := range []string{"mem", "tcp"} {
		b.Run(tr, func(b *testing.B) {
			var na, nb *rt2rt.Node
			if tr == "mem" {
				net := transport.NewMemNetwork()
				na, nb = memNode(b, net, "ba"), memNode(b, net, "bb")
			} else {
				na, nb = tcpNode(b), tcpNode(b)
			}
			ma, mb := newManager(b, na), newManager(b, nb)
			var got atomic.Int64
			done := make(chan struct{}, 1)
			var want atomic.Int64
			require.NoError(b, ma.RegisterType(testType, HandlerFuncs{}))
			require.NoError(b, mb.RegisterType(testType, HandlerFuncs{DataFunc: func(*Tunnel, any) {
				if got.Add(1) == want.Load() {
					done <- struct{}{}
				}
			}}))
			join(b, na, nb)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			t, err := ma.Open(ctx, nb.ID(), testType)
			require.NoError(b, err)
			value := map[string]any{"cmd": "TOKEN", "sequencenbr": int64(1), "token": map[string]any{"type": "Token", "data": int64(42)}}
			b.ReportAllocs()
			b.ResetTimer()
			want.Store(int64(b.N))
			start := time.Now()
			for range b.N {
				if err := t.Send(ctx, value); err != nil {
					b.Fatal(err)
				}
			}
			select {
			case <-done:
			case <-ctx.Done():
				b.Fatalf("received %d of %d", got.Load(), b.N)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "values/s")
		})
	}
}
