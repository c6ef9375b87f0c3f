package rt2rt

import (
	"bytes"
	"context"
	"fmt"
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
// two nodes over calvinip loopback: a TOKEN per frame, typed as package
// token sends it (the "-map" cases send the same TOKEN as a generic map),
// sent by one goroutine, counted by the receiver's handler. cpu-ns/frame is
// the CPU time of the whole process (both nodes) per frame, which does not
// grow while the benchmark waits for a core on a shared machine.
func BenchmarkTunnelDataOneWay(b *testing.B) {
	typed := &wire.Token{
		PortID: "79a167d5-bf95-4c28-8154-271a096dbbdc", PeerPortID: "a820e000-f8e0-4f0a-b9f0-bc3594685ab2",
		SequenceNbr: 5, Token: wire.TokenPayload{Type: wire.TokenTypeToken, Data: int64(6)},
	}
	generic := map[string]any{
		"cmd": "TOKEN", "port_id": "79a167d5-bf95-4c28-8154-271a096dbbdc",
		"peer_port_id": "a820e000-f8e0-4f0a-b9f0-bc3594685ab2", "sequencenbr": int64(5),
		"token": map[string]any{"type": "Token", "data": int64(6)},
	}
	for _, bc := range []struct {
		name, ser string
		value     any
	}{
		{"json", "json", typed}, {"msgpack", "msgpack", typed},
		{"json-map", "json", generic}, {"msgpack-map", "msgpack", generic},
		{"plain", "plain", typed},
	} {
		b.Run(bc.name, func(b *testing.B) {
			reg := wire.NewRegistry(wire.JSON, wire.Msgpack, plainCodec{})
			a, c := benchPair(b, WithSerializerRegistry(reg), WithSerializers(bc.ser))
			var got atomic.Int64
			done := make(chan struct{})
			var target int64
			c.Handle(wire.CmdTunnelData, func(ctx context.Context, in *Incoming) {
				if got.Add(1) == atomic.LoadInt64(&target) {
					close(done)
				}
			})
			atomic.StoreInt64(&target, int64(b.N))
			msg := &wire.TunnelData{TunnelID: "53b3219d-c368-4f80-8952-b025fbfbae6e", Value: bc.value}
			ctx := context.Background()
			peer := c.ID()
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			cpu0, cpuOK := processCPU()
			for i := 0; i < b.N; i++ {
				if err := a.Send(ctx, peer, msg); err != nil {
					b.Fatal(err)
				}
			}
			<-done
			elapsed := time.Since(start)
			cpu1, cpuOK1 := processCPU()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "frames/s")
			if cpuOK && cpuOK1 {
				b.ReportMetric(float64(cpu1-cpu0)/float64(b.N), "cpu-ns/frame")
			}
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

// plainCodec is a test-only coder with a trivial format (cmd, from, to,
// tunnel id separated by NUL bytes) that costs next to nothing, so that
// BenchmarkTunnelDataOneWay/plain measures the node and transport alone.
type plainCodec struct{}

func (plainCodec) Name() string { return "plain" }

func (plainCodec) Encode(dst []byte, m wire.Message) ([]byte, error) {
	h := m.Header()
	td, _ := m.(*wire.TunnelData)
	dst = append(dst, h.Cmd...)
	dst = append(dst, 0)
	dst = append(dst, h.From...)
	dst = append(dst, 0)
	dst = append(dst, h.To...)
	dst = append(dst, 0)
	if td != nil {
		dst = append(dst, td.TunnelID...)
	}
	return dst, nil
}

func (plainCodec) Decode(p []byte) (wire.Message, error) {
	parts := bytes.SplitN(p, []byte{0}, 4)
	if len(parts) != 4 {
		return nil, fmt.Errorf("%w: plain frame", wire.ErrMalformed)
	}
	return &wire.TunnelData{
		Envelope: wire.Envelope{Cmd: string(parts[0]), From: string(parts[1]), To: string(parts[2])},
		TunnelID: string(parts[3]),
	}, nil
}
