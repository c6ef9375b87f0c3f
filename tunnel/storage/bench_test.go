package storage

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// benchPair builds a registry and a client node over loopback TCP.
func benchPair(b *testing.B) *Client {
	r, n := tcpNode(b), tcpNode(b)
	srv, err := NewServer(manager(b, r), WithLogger(quiet()))
	require.NoError(b, err)
	b.Cleanup(func() { _ = srv.Close() })
	c, err := NewClient(manager(b, n), r.ID(), WithLogger(quiet()))
	require.NoError(b, err)
	b.Cleanup(func() { _ = c.Close() })
	join(b, n, r)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(b, c.Set(ctx, "node-bench", map[string]any{
		"uris": []any{"calvinip://127.0.0.1:5000"}, "control_uris": []any{"http://127.0.0.1:5001"},
		"attributes": map[string]any{"public": map[string]any{}, "indexed_public": []any{"/node/attribute/node_name/////bench"}},
	}))
	return c
}

// BenchmarkGetRoundTrip measures sequential storage GETs over loopback TCP:
// TUNNEL_DATA request, server store read, TUNNEL_DATA reply.
func BenchmarkGetRoundTrip(b *testing.B) {
	c := benchPair(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.Get(ctx, "node-bench"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "ops/s")
}

// BenchmarkGetParallel measures concurrent GETs sharing one tunnel.
func BenchmarkGetParallel(b *testing.B) {
	c := benchPair(b)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := c.Get(ctx, "node-bench"); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "ops/s")
}
