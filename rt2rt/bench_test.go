package rt2rt

import (
	"context"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/rt2rt/wire"
)

// benchPair starts two nodes joined over calvinip loopback.
func benchPair(b *testing.B, opts ...Option) (a, c *Node) {
	b.Helper()
	a = tcpNode(b, opts...)
	c = tcpNode(b, opts...)
	_, err := a.Join(context.Background(), c.URIs()[0])
	require.NoError(b, err)
	require.Eventually(b, func() bool { return hasPeer(c, a.ID()) }, 5*time.Second, time.Millisecond)
	return a, c
}

// BenchmarkTunnelDataOneWay measures one-way TUNNEL_DATA throughput between
// two nodes over calvinip loopback: a token-sized message per frame, sent
// by one goroutine, counted by the receiver's handler.
func BenchmarkTunnelDataOneWay(b *testing.B) {
	for _, ser := range []string{"json", "msgpack"} {
		b.Run(ser, func(b *testing.B) {
			a, c := benchPair(b, WithSerializers(ser))
			var got atomic.Int64
			done := make(chan struct{})
			var target int64
			c.Handle(wire.CmdTunnelData, func(ctx context.Context, in *Incoming) {
				if got.Add(1) == atomic.LoadInt64(&target) {
					close(done)
				}
			})
			atomic.StoreInt64(&target, int64(b.N))
			token := map[string]any{
				"cmd": "TOKEN", "port_id": "79a167d5-bf95-4c28-8154-271a096dbbdc",
				"peer_port_id": "a820e000-f8e0-4f0a-b9f0-bc3594685ab2", "sequencenbr": int64(5),
				"token": map[string]any{"type": "Token", "data": int64(6)},
			}
			msg := &wire.TunnelData{TunnelID: "53b3219d-c368-4f80-8952-b025fbfbae6e", Value: token}
			ctx := context.Background()
			peer := c.ID()
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := 0; i < b.N; i++ {
				if err := a.Send(ctx, peer, msg); err != nil {
					b.Fatal(err)
				}
			}
			<-done
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "frames/s")
		})
	}
}

// BenchmarkRequestReply measures the round trip of a request answered at
// once by the peer's handler, over calvinip loopback, and reports the
// median and 99th percentile.
func BenchmarkRequestReply(b *testing.B) {
	a, c := benchPair(b)
	c.Handle(wire.CmdPortConnect, func(ctx context.Context, in *Incoming) {
		_ = in.Reply(wire.NewResponse(wire.StatusOK, nil))
	})
	ctx := context.Background()
	peer := c.ID()
	durs := make([]time.Duration, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if _, err := a.Request(ctx, peer, portConnect("p")); err != nil {
			b.Fatal(err)
		}
		durs[i] = time.Since(start)
	}
	b.StopTimer()
	sort.Slice(durs, func(i, j int) bool { return durs[i] < durs[j] })
	b.ReportMetric(float64(durs[len(durs)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(durs[len(durs)*99/100].Nanoseconds())/1e3, "p99-µs")
}
