package rt2rt

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/internal/leakcheck"
	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/transport"
)

func TestLimitOptionsValidated(t *testing.T) {
	for _, o := range []Option{
		WithMaxLinks(0), WithMaxPendingRequests(0, 1), WithMaxPendingRequests(1, -1),
		WithBadFrameLimit(-1, 1), WithBadFrameLimit(1, -1), WithJoinRateLimit(-1, 1),
	} {
		_, err := NewNode(o, WithListen())
		assert.ErrorIs(t, err, ErrInvalidOption)
	}
}

func TestMaxLinksRefusesFurtherJoins(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	rec := &recorder{}
	a := tcpNode(t, WithMaxLinks(1), WithObserver(rec))
	b := tcpNode(t)
	c := tcpNode(t)
	ctx := context.Background()

	_, err := b.Join(ctx, a.URIs()[0])
	require.NoError(t, err)
	require.Eventually(t, func() bool { return hasPeer(a, b.ID()) }, 5*time.Second, time.Millisecond)

	_, err = c.Join(ctx, a.URIs()[0])
	require.ErrorIs(t, err, ErrJoinRejected)
	assert.False(t, hasPeer(a, c.ID()))

	// A raw peer sees Calvin's refusal (null id), then the close.
	p := dialRaw(t, a.URIs()[0])
	reply := p.join("raw-peer", "json")
	assert.Nil(t, reply["id"])
	assert.True(t, p.closedByNode(5*time.Second))
	assert.Eventually(t, func() bool {
		return rec.count(func(r *recorder) int {
			n := 0
			for _, e := range r.fails {
				if errors.Is(e, ErrTooManyLinks) {
					n++
				}
			}
			return n
		}) >= 2
	}, 5*time.Second, time.Millisecond)

	// The linked peer may join again (a duplicate connection is no new link).
	_, err = b.Join(ctx, a.URIs()[0])
	require.NoError(t, err)
	// Once b is gone, c fits.
	require.NoError(t, b.Close())
	require.Eventually(t, func() bool { return !hasPeer(a, b.ID()) }, 5*time.Second, time.Millisecond)
	_, err = c.Join(ctx, a.URIs()[0])
	require.NoError(t, err)
}

// pendingCount is the node's number of requests waiting for a REPLY.
func pendingCount(n *Node) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.pending)
}

func TestMaxPendingRequestsFailFast(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	network := transport.NewMemNetwork()
	a := memNode(t, network, "a", WithMaxPendingRequests(3, 2))
	b := memNode(t, network, "b")
	c := memNode(t, network, "c")
	ctx := context.Background()
	silent := func(ctx context.Context, in *Incoming) {} // never answers
	b.Handle(wire.CmdPortConnect, silent)
	c.Handle(wire.CmdPortConnect, silent)
	_, err := a.Join(ctx, "mem://b")
	require.NoError(t, err)
	_, err = a.Join(ctx, "mem://c")
	require.NoError(t, err)

	reqCtx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	start := func(peer string) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := a.Request(reqCtx, peer, portConnect("p"))
			errs <- err
		}()
	}
	start(b.ID())
	start(b.ID())
	require.Eventually(t, func() bool { return pendingCount(a) == 2 }, 5*time.Second, time.Millisecond)

	// Per peer: b is full, c is not.
	_, err = a.Request(ctx, b.ID(), portConnect("p"))
	require.ErrorIs(t, err, ErrTooManyRequests)
	var pe *PeerError
	require.ErrorAs(t, err, &pe)
	assert.Equal(t, b.ID(), pe.Peer)

	start(c.ID())
	require.Eventually(t, func() bool { return pendingCount(a) == 3 }, 5*time.Second, time.Millisecond)
	// Per node: 3 in all.
	_, err = a.Request(ctx, c.ID(), portConnect("p"))
	require.ErrorIs(t, err, ErrTooManyRequests)

	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.ErrorIs(t, err, context.Canceled)
	}
	assert.Equal(t, 0, pendingCount(a))
	a.mu.Lock()
	assert.Empty(t, a.pendingPer)
	a.mu.Unlock()

	// Room again once they are gone.
	c.Handle(wire.CmdPortConnect, echoPortConnect)
	resp, err := a.Request(ctx, c.ID(), portConnect("p"))
	require.NoError(t, err)
	assert.Equal(t, wire.StatusOK, resp.Status)
}

// TestFloodingPeerIsCutOffOthersKeepWorking: one peer floods the node, first
// with valid frames as fast as it can write, then with garbage, oversized
// and unknown frames; another peer's requests keep being answered
// throughout, and the flooder is cut off.
func TestFloodingPeerIsCutOffOthersKeepWorking(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	n := tcpNode(t)
	good := tcpNode(t)
	n.Handle(wire.CmdPortConnect, echoPortConnect)
	var data sync.WaitGroup
	n.Handle(wire.CmdTunnelData, func(ctx context.Context, in *Incoming) {})
	downs := make(chan PeerEvent, 16)
	unsub := n.Subscribe(func(ev PeerEvent) {
		if !ev.Up {
			downs <- ev
		}
	})
	defer unsub()
	ctx := context.Background()
	_, err := good.Join(ctx, n.URIs()[0])
	require.NoError(t, err)

	flooder := dialRaw(t, n.URIs()[0])
	require.Equal(t, n.ID(), flooder.join("flooder", "msgpack")["id"])
	valid, err := wire.Msgpack.Encode(nil, &wire.TunnelData{
		Envelope: wire.Envelope{From: "flooder", To: n.ID()}, TunnelID: "t",
		Value: &wire.Token{PortID: "p", PeerPortID: "q", SequenceNbr: 1, Token: wire.TokenPayload{Type: "Token", Data: int64(1)}},
	})
	require.NoError(t, err)
	unknown, err := wire.Msgpack.Encode(nil, &wire.Unknown{Envelope: wire.Envelope{Cmd: "NO_SUCH_CMD", From: "flooder", To: n.ID()}})
	require.NoError(t, err)

	requests := func(count int) {
		for i := 0; i < count; i++ {
			resp, err := good.Request(ctx, n.ID(), portConnect("p"))
			require.NoError(t, err)
			require.Equal(t, wire.StatusOK, resp.Status)
		}
	}

	// Phase 1: valid frames as fast as the socket takes them.
	stop := make(chan struct{})
	data.Add(1)
	go func() {
		defer data.Done()
		var hdr [4]byte
		frame := append(append(hdr[:0:0], 0, 0, 0, byte(len(valid))), valid...)
		batch := make([]byte, 0, 64*len(frame))
		for range 64 {
			batch = append(batch, frame...)
		}
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := flooder.c.Write(batch); err != nil {
				return
			}
		}
	}()
	requests(200)
	close(stop)
	data.Wait()

	// Phase 2: garbage, unknown commands and frames without to_rt_uuid
	// until the node cuts the flooder off.
	noTo, err := wire.Msgpack.Encode(nil, &wire.TunnelData{TunnelID: "t"})
	require.NoError(t, err)
	data.Add(1)
	go func() {
		defer data.Done()
		frames := [][]byte{[]byte("\xc1garbage"), unknown, noTo}
		for i := 0; ; i++ {
			f := frames[i%len(frames)]
			var hdr [4]byte
			hdr[3] = byte(len(f))
			if _, err := flooder.c.Write(append(hdr[:], f...)); err != nil {
				return
			}
		}
	}()
	requests(100)
	select {
	case ev := <-downs:
		assert.Equal(t, "flooder", ev.Peer)
		assert.ErrorIs(t, ev.Err, ErrPeerCutOff)
	case <-time.After(10 * time.Second):
		t.Fatal("flooder not cut off")
	}
	assert.True(t, flooder.closedByNode(5*time.Second))
	data.Wait()
	requests(10)
	assert.True(t, hasPeer(n, good.ID()))

	// An oversized frame announced by another peer closes its connection
	// at once (transport limit), and good is unaffected.
	big := dialRaw(t, n.URIs()[0])
	require.Equal(t, n.ID(), big.join("big", "msgpack")["id"])
	_, err = big.c.Write([]byte{0x7f, 0xff, 0xff, 0xff})
	require.NoError(t, err)
	assert.True(t, big.closedByNode(5*time.Second))
	requests(10)
}

func TestJoinRateLimitPerHost(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	n := tcpNode(t, WithJoinRateLimit(2, 0.001))
	for i, id := range []string{"r1", "r2"} {
		p := dialRaw(t, n.URIs()[0])
		assert.Equal(t, n.ID(), p.join(id, "json")["id"], "join %d", i)
	}
	p := dialRaw(t, n.URIs()[0])
	assert.True(t, p.closedByNode(5*time.Second), "third connection within the burst window")

	// Switched off, any number of connections is accepted.
	m := tcpNode(t, WithJoinRateLimit(0, 0))
	for _, id := range []string{"s1", "s2", "s3", "s4"} {
		p := dialRaw(t, m.URIs()[0])
		assert.Equal(t, m.ID(), p.join(id, "json")["id"])
	}
}

func TestTokenBucket(t *testing.T) {
	var b tokenBucket
	now := time.Unix(1000, 0)
	for i := 0; i < 3; i++ {
		require.True(t, b.take(now, 3, 1))
	}
	require.False(t, b.take(now, 3, 1))
	require.True(t, b.take(now.Add(time.Second), 3, 1))
	require.False(t, b.take(now.Add(time.Second), 3, 1))
	assert.True(t, b.full(now.Add(10*time.Second), 3, 1))
}

// tlsPKI makes a CA and certificates valid for both TLS roles on 127.0.0.1.
func tlsPKI(t *testing.T) (pool *x509.CertPool, issue func(name string) tls.Certificate) {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rt2rt test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	pool = x509.NewCertPool()
	pool.AddCert(ca)
	serial := int64(1)
	issue = func(name string) tls.Certificate {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		serial++
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
			NotBefore:   now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		require.NoError(t, err)
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	return pool, issue
}

func TestMutualTLSNodeWithoutClientCertCannotJoin(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	pool, issue := tlsPKI(t)
	tlsNode := func(cfg *tls.Config, listen ...string) *Node {
		reg, err := transport.NewRegistry(transport.WithTLS(cfg), transport.WithLogger(quietLogger()))
		require.NoError(t, err)
		return tcpNode(t, WithTransport(reg), WithListen(listen...))
	}
	a := tlsNode(&tls.Config{
		Certificates: []tls.Certificate{issue("a")}, RootCAs: pool,
		ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	}, DefaultListenURI)
	withCert := tlsNode(&tls.Config{Certificates: []tls.Certificate{issue("b")}, RootCAs: pool, MinVersion: tls.VersionTLS12})
	noCert := tlsNode(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12})
	ctx := context.Background()

	peer, err := withCert.Join(ctx, a.URIs()[0])
	require.NoError(t, err)
	assert.Equal(t, a.ID(), peer)
	a.Handle(wire.CmdPortConnect, echoPortConnect)
	resp, err := withCert.Request(ctx, a.ID(), portConnect("p"))
	require.NoError(t, err)
	assert.Equal(t, wire.StatusOK, resp.Status)

	_, err = noCert.Join(ctx, a.URIs()[0])
	require.Error(t, err)
	var je *JoinError
	require.ErrorAs(t, err, &je)
	assert.False(t, hasPeer(a, noCert.ID()))
	assert.Len(t, a.Peers(), 1)

	// A plain TCP client does not get a JOIN_REPLY either.
	p := dialRaw(t, a.URIs()[0])
	p.writeJSON(map[string]any{"cmd": "JOIN_REQUEST", "serializers": []string{"json"}, "id": "plain", "sid": "s"})
	_, rerr := p.tryRead(2 * time.Second)
	assert.Error(t, rerr)
	assert.Len(t, a.Peers(), 1)
}

// TestSlowNextHopDoesNotStallRelay: the target of relayed messages stops
// reading; the relay drops what does not fit its queue to the target
// instead of blocking, so the source's own requests to the relay are still
// answered.
func TestSlowNextHopDoesNotStallRelay(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	network := transport.NewMemNetwork()
	small := func(name string, opts ...Option) *Node {
		reg, err := transport.NewRegistry(transport.WithMemNetwork(network), transport.WithSendQueue(4))
		require.NoError(t, err)
		n, err := NewNode(append([]Option{WithTransport(reg), WithListen("mem://" + name), WithLogger(quietLogger())}, opts...)...)
		require.NoError(t, err)
		t.Cleanup(func() { _ = n.Close() })
		return n
	}
	rec := &recorder{}
	src := small("src")
	relay := small("relay", WithObserver(rec))
	target := small("target")
	ctx := context.Background()
	_, err := src.Join(ctx, "mem://relay")
	require.NoError(t, err)
	_, err = relay.Join(ctx, "mem://target")
	require.NoError(t, err)
	src.SetRoute(target.ID(), relay.ID())
	relay.Handle(wire.CmdPortConnect, echoPortConnect)

	release := make(chan struct{})
	var got sync.WaitGroup
	got.Add(1)
	first := true
	target.Handle(wire.CmdTunnelData, func(ctx context.Context, in *Incoming) {
		if first {
			first = false
			got.Done()
			<-release // the target stops reading
		}
	})
	defer close(release)
	require.NoError(t, src.Send(ctx, target.ID(), tunnelData("t", int64(0))))
	got.Wait()
	// Bounded waits: with a relay that blocks, these fail instead of hanging.
	reqCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	for i := range 200 {
		require.NoError(t, src.Send(reqCtx, target.ID(), tunnelData("t", int64(i))), "relay stalled by its slow next hop")
	}
	resp, err := src.Request(reqCtx, relay.ID(), portConnect("p"))
	require.NoError(t, err, "relay stalled by its slow next hop")
	assert.Equal(t, wire.StatusOK, resp.Status)
	assert.Eventually(t, func() bool {
		return rec.count(func(r *recorder) int {
			n := 0
			for _, d := range r.dropped {
				if strings.Contains(d, transport.ErrQueueFull.Error()) {
					n++
				}
			}
			return n
		}) > 0
	}, 5*time.Second, time.Millisecond)
}
