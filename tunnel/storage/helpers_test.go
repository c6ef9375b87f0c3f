package storage

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/rt2rt"
	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/transport"
	"github.com/meshkit/meshkit/tunnel"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func ctx10s(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func memNode(t testing.TB, net *transport.MemNetwork, name string, opts ...rt2rt.Option) *rt2rt.Node {
	t.Helper()
	reg, err := transport.NewRegistry(transport.WithMemNetwork(net))
	require.NoError(t, err)
	base := []rt2rt.Option{rt2rt.WithTransport(reg), rt2rt.WithListen("mem://" + name), rt2rt.WithLogger(quiet())}
	n, err := rt2rt.NewNode(append(base, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	return n
}

func tcpNode(t testing.TB, opts ...rt2rt.Option) *rt2rt.Node {
	t.Helper()
	n, err := rt2rt.NewNode(append([]rt2rt.Option{rt2rt.WithLogger(quiet())}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	return n
}

func manager(t testing.TB, n *rt2rt.Node) *tunnel.Manager {
	t.Helper()
	m, err := tunnel.NewManager(n, tunnel.WithLogger(quiet()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func linked(n *rt2rt.Node, peer string) bool {
	for _, pi := range n.Peers() {
		if pi.ID == peer {
			return true
		}
	}
	return false
}

func join(t testing.TB, from, to *rt2rt.Node) {
	t.Helper()
	id, err := from.Join(ctx10s(t), to.URIs()[0])
	require.NoError(t, err)
	require.Equal(t, to.ID(), id)
	require.Eventually(t, func() bool { return linked(to, from.ID()) }, 5*time.Second, time.Millisecond)
}

// vectorFile opens a golden capture (§14): the shared directory seen from
// this package, or its absolute place on the build machine.
func vectorFile(t testing.TB, name string) string {
	t.Helper()
	for _, dir := range []string{filepath.Join("..", "..", "..", "shared", "vectors", "calvin"), "/work/shared/vectors/calvin"} {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Fatalf("golden vector %s not found", name)
	return ""
}

// captureLine is one frame line of a capture, its payload decoded with the
// library's coders (lossless numbers; msgpack strings as text).
type captureLine struct {
	no  int
	dir string
	msg map[string]any
}

func readCapture(t testing.TB, name string) []captureLine {
	t.Helper()
	b, err := os.ReadFile(vectorFile(t, name))
	require.NoError(t, err)
	var out []captureLine
	for i, line := range strings.Split(string(b), "\n") {
		if strings.TrimSpace(line) == "" {
			continue
		}
		v, err := wire.JSON.DecodeValue([]byte(line))
		require.NoError(t, err, "line %d", i+1)
		rec := v.(map[string]any)
		var msg any
		switch {
		case rec["raw"] != nil:
			msg, err = wire.JSON.DecodeValue([]byte(rec["raw"].(string)))
		case rec["raw_hex"] != nil:
			var payload []byte
			payload, err = hex.DecodeString(rec["raw_hex"].(string))
			if err == nil {
				msg, err = wire.Msgpack.DecodeValue(payload)
			}
		default:
			continue // event line
		}
		require.NoError(t, err, "line %d", i+1)
		out = append(out, captureLine{no: i + 1, dir: rec["dir"].(string), msg: msg.(map[string]any)})
	}
	return out
}

// rawPeer is a scripted Calvin node on a plain TCP socket with JSON frames.
type rawPeer struct {
	t     testing.TB
	id    string
	node  string
	coder wire.ValueCoder // after the join; join frames are JSON (§2.4)
	c     net.Conn
	br    *bufio.Reader
}

// dialRawPeer joins n as a Calvin initiator (§2.2) with the given node id,
// offering only the named coder.
func dialRawPeer(t testing.TB, n *rt2rt.Node, id, coder string) *rawPeer {
	t.Helper()
	c, err := net.DialTimeout("tcp", strings.TrimPrefix(n.URIs()[0], "calvinip://"), 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	p := &rawPeer{t: t, id: id, node: n.ID(), coder: wire.JSON, c: c, br: bufio.NewReader(c)}
	p.writeValue(map[string]any{"cmd": "JOIN_REQUEST", "serializers": []any{coder}, "id": id, "sid": uuid.NewString()})
	r := p.read()
	require.Equal(t, "JOIN_REPLY", r["cmd"])
	require.Equal(t, coder, r["serializer"])
	if coder == wire.NameMsgpack {
		p.coder = wire.Msgpack
	}
	require.Eventually(t, func() bool { return linked(n, id) }, 5*time.Second, time.Millisecond)
	return p
}

// send writes a post-join message addressed from the peer to the node.
func (p *rawPeer) send(m map[string]any) {
	p.t.Helper()
	m["from_rt_uuid"], m["to_rt_uuid"] = p.id, p.node
	p.writeValue(m)
}

func (p *rawPeer) writeValue(v any) {
	p.t.Helper()
	b, err := p.coder.EncodeValue(nil, v)
	require.NoError(p.t, err)
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(b)))
	_, err = p.c.Write(append(hdr[:], b...))
	require.NoError(p.t, err)
}

func (p *rawPeer) tryRead(d time.Duration) (map[string]any, error) {
	_ = p.c.SetReadDeadline(time.Now().Add(d))
	defer func() { _ = p.c.SetReadDeadline(time.Time{}) }()
	var hdr [4]byte
	if _, err := io.ReadFull(p.br, hdr[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(p.br, b); err != nil {
		return nil, err
	}
	v, err := p.coder.DecodeValue(b)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("frame is %T, not a map", v)
	}
	return m, nil
}

func (p *rawPeer) read() map[string]any {
	p.t.Helper()
	m, err := p.tryRead(5 * time.Second)
	require.NoError(p.t, err)
	return m
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
