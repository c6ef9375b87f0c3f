package tunnel

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/rt2rt"
	"github.com/meshkit/meshkit/transport"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// memNode starts an rt2rt node on mem://name of net.
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

// tcpNode starts an rt2rt node on a loopback calvinip port.
func tcpNode(t testing.TB, opts ...rt2rt.Option) *rt2rt.Node {
	t.Helper()
	n, err := rt2rt.NewNode(append([]rt2rt.Option{rt2rt.WithLogger(quiet())}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	return n
}

func newManager(t testing.TB, n Node, opts ...Option) *Manager {
	t.Helper()
	m, err := NewManager(n, append([]Option{WithLogger(quiet())}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func join(t testing.TB, from, to *rt2rt.Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	id, err := from.Join(ctx, to.URIs()[0])
	require.NoError(t, err)
	require.Equal(t, to.ID(), id)
	// The responder installs its side of the link a moment later.
	require.Eventually(t, func() bool { return linked(to, from.ID()) }, 5*time.Second, time.Millisecond)
}

func linked(n *rt2rt.Node, peer string) bool {
	for _, pi := range n.Peers() {
		if pi.ID == peer {
			return true
		}
	}
	return false
}

// recorder is a TypeHandler that records what it is told.
type recorder struct {
	refuse error

	mu     sync.Mutex
	ups    []string // tunnel ids
	downs  []error
	data   []any
	accept []string
	onData func(t *Tunnel, v any)
}

func (r *recorder) Accept(peer, id string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.accept = append(r.accept, id)
	return r.refuse
}

func (r *recorder) Up(t *Tunnel) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ups = append(r.ups, t.ID())
}

func (r *recorder) Down(t *Tunnel, reason error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.downs = append(r.downs, reason)
}

func (r *recorder) Data(t *Tunnel, v any) {
	r.mu.Lock()
	r.data = append(r.data, v)
	f := r.onData
	r.mu.Unlock()
	if f != nil {
		f(t, v)
	}
}

func (r *recorder) counts() (ups, downs, data int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ups), len(r.downs), len(r.data)
}

func (r *recorder) lastDown() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.downs) == 0 {
		return nil
	}
	return r.downs[len(r.downs)-1]
}

func (r *recorder) values() []any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]any(nil), r.data...)
}

// obsRecorder is an Observer that counts events.
type obsRecorder struct {
	mu    sync.Mutex
	ups   int
	downs int
}

func (o *obsRecorder) TunnelUp(peer, typ, id string) {
	o.mu.Lock()
	o.ups++
	o.mu.Unlock()
}

func (o *obsRecorder) TunnelDown(peer, typ, id string, reason error) {
	o.mu.Lock()
	o.downs++
	o.mu.Unlock()
}

func (o *obsRecorder) get() (int, int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.ups, o.downs
}

// rawPeer is a scripted Calvin-like peer: it speaks calvinip frames with
// JSON payloads over a plain TCP socket, so tests control every message.
type rawPeer struct {
	t    testing.TB
	id   string
	node string // the Go node's id
	c    net.Conn
	br   *bufio.Reader
}

// dialRawPeer connects to a node's calvinip URI and joins it as a Calvin
// initiator would (§2.2).
func dialRawPeer(t testing.TB, n *rt2rt.Node) *rawPeer {
	t.Helper()
	return dialRawPeerAs(t, n, uuid.NewString())
}

// dialRawPeerAs is dialRawPeer with a given peer node id.
func dialRawPeerAs(t testing.TB, n *rt2rt.Node, id string) *rawPeer {
	t.Helper()
	addr := strings.TrimPrefix(n.URIs()[0], "calvinip://")
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	p := &rawPeer{t: t, id: id, node: n.ID(), c: c, br: bufio.NewReader(c)}
	p.send(map[string]any{"cmd": "JOIN_REQUEST", "serializers": []string{"json"}, "id": p.id, "sid": uuid.NewString()})
	reply := p.recv()
	require.Equal(t, "JOIN_REPLY", reply["cmd"])
	require.Equal(t, n.ID(), reply["id"])
	require.Eventually(t, func() bool { return linked(n, p.id) }, 5*time.Second, time.Millisecond)
	return p
}

func (p *rawPeer) send(m map[string]any) {
	p.t.Helper()
	if m["cmd"] != "JOIN_REQUEST" {
		m["from_rt_uuid"] = p.id
		m["to_rt_uuid"] = p.node
	}
	b, err := json.Marshal(m)
	require.NoError(p.t, err)
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(b)))
	_, err = p.c.Write(append(hdr[:], b...))
	require.NoError(p.t, err)
}

func (p *rawPeer) tryRecv(d time.Duration) (map[string]any, error) {
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
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	return m, nil
}

func (p *rawPeer) recv() map[string]any {
	p.t.Helper()
	m, err := p.tryRecv(5 * time.Second)
	require.NoError(p.t, err)
	return m
}

// request sends a command with a fresh msg_uuid and returns the REPLY's value.
func (p *rawPeer) request(m map[string]any) map[string]any {
	p.t.Helper()
	id := uuid.NewString()
	m["msg_uuid"] = id
	p.send(m)
	r := p.recv()
	require.Equal(p.t, "REPLY", r["cmd"], "got %v", r)
	require.Equal(p.t, id, r["msg_uuid"])
	v, ok := r["value"].(map[string]any)
	require.True(p.t, ok, "REPLY value %v", r["value"])
	require.Contains(p.t, v, "status")
	require.Contains(p.t, v, "data")
	require.Contains(p.t, v, "success_list")
	return v
}

func (p *rawPeer) reply(msgUUID string, status int, data any) {
	p.send(map[string]any{"cmd": "REPLY", "msg_uuid": msgUUID,
		"value": map[string]any{"status": status, "data": data, "success_list": []int{200, 201, 202, 203, 204, 205, 206}}})
}

func status(v map[string]any) int { return int(v["status"].(float64)) }

// msgCounter is a slog.Handler counting records by message, so tests can
// see which internal path was taken (e.g. a §5.2 rename).
type msgCounter struct {
	mu     *sync.Mutex
	counts map[string]int
}

func newMsgCounter() *msgCounter { return &msgCounter{mu: &sync.Mutex{}, counts: map[string]int{}} }

func (h *msgCounter) Enabled(context.Context, slog.Level) bool { return true }
func (h *msgCounter) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	h.counts[r.Message]++
	h.mu.Unlock()
	return nil
}
func (h *msgCounter) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *msgCounter) WithGroup(string) slog.Handler      { return h }
func (h *msgCounter) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[msg]
}
