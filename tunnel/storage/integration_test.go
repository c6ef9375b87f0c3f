package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/internal/leakcheck"
	"github.com/meshkit/meshkit/rt2rt"
	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/transport"
	"github.com/meshkit/meshkit/tunnel"
)

// registryPair is a registry node running a Server and a node with a
// remote Client of it, linked.
type registryPair struct {
	net          *transport.MemNetwork // nil over TCP
	reg, node    *rt2rt.Node
	regM, nodeM  *tunnel.Manager
	srv          *Server
	client       *Client
	storeOfRegis Store
}

func newRegistryPair(t *testing.T, tr string, opts ...Option) *registryPair {
	p := &registryPair{}
	switch tr {
	case "mem":
		p.net = transport.NewMemNetwork()
		p.reg = memNode(t, p.net, "registry", rt2rt.WithRequestTimeout(2*time.Second))
		p.node = memNode(t, p.net, "node", rt2rt.WithRequestTimeout(2*time.Second))
	case "tcp-msgpack":
		p.reg = tcpNode(t, rt2rt.WithSerializers(wire.NameMsgpack))
		p.node = tcpNode(t, rt2rt.WithSerializers(wire.NameMsgpack))
	default:
		p.reg, p.node = tcpNode(t), tcpNode(t)
	}
	p.regM, p.nodeM = manager(t, p.reg), manager(t, p.node)
	p.storeOfRegis = NewMemStore()
	var err error
	p.srv, err = NewServer(p.regM, WithStore(p.storeOfRegis), WithLogger(quiet()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.srv.Close() })
	p.client, err = NewClient(p.nodeM, p.reg.ID(), append([]Option{WithLogger(quiet())}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.client.Close() })
	join(t, p.node, p.reg)
	return p
}

func TestClientServerAllCommands(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	for _, tr := range []string{"mem", "tcp", "tcp-msgpack"} {
		t.Run(tr, func(t *testing.T) {
			p := newRegistryPair(t, tr)
			c, ctx := p.client, ctx10s(t)

			_, err := c.Get(ctx, "missing")
			require.ErrorIs(t, err, ErrNotFound)
			var se *StatusError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, 404, se.Status)

			require.NoError(t, c.Set(ctx, "k", map[string]any{"n": int64(1), "big": uint64(1 << 63)}))
			v, err := c.Get(ctx, "k")
			require.NoError(t, err)
			assert.Equal(t, map[string]any{"n": int64(1), "big": uint64(1 << 63)}, v, "numbers survive the round trip")
			require.NoError(t, c.Delete(ctx, "k"))
			require.NoError(t, c.Delete(ctx, "k"))
			_, err = c.Get(ctx, "k")
			assert.ErrorIs(t, err, ErrNotFound)

			require.NoError(t, c.Append(ctx, "s", []any{"a", "b"}))
			require.NoError(t, c.Append(ctx, "s", []any{"b", "c"}))
			require.NoError(t, c.Remove(ctx, "s", []any{"a"}))
			l, err := c.GetConcat(ctx, "s")
			require.NoError(t, err)
			assert.Equal(t, []any{"b", "c"}, l)
			l, err = c.GetConcat(ctx, "none")
			require.NoError(t, err)
			assert.Equal(t, []any{}, l)

			require.NoError(t, c.AddIndex(ctx, []string{"supernode", "0"}, []any{"r"}))
			require.NoError(t, c.AddIndex(ctx, []string{"supernode", "0", "1"}, []any{"n"}))
			l, err = c.GetIndex(ctx, []string{"supernode"})
			require.NoError(t, err)
			assert.ElementsMatch(t, []any{"r", "n"}, l)
			require.NoError(t, c.RemoveIndex(ctx, []string{"supernode", "0", "1"}, []any{"n"}))
			l, err = c.GetIndex(ctx, []string{"supernode", "0"})
			require.NoError(t, err)
			assert.Equal(t, []any{"r"}, l)

			// The registry's own store holds what the client wrote.
			got, err := p.storeOfRegis.GetConcat(context.Background(), "s")
			require.NoError(t, err)
			assert.Equal(t, []any{"b", "c"}, got)
			tu, ok := p.nodeM.Lookup(p.reg.ID(), TunnelType)
			require.True(t, ok, "one storage tunnel")
			assert.Equal(t, tunnel.StateWorking, tu.State())
		})
	}
}

func TestRecordsAndResolver(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	// A registry node R (local mode for its own records) and two nodes B and
	// C over loopback TCP that register themselves; B never joined C but
	// finds it through the registry.
	r, b, c := tcpNode(t), tcpNode(t), tcpNode(t)
	rm, bm, cm := manager(t, r), manager(t, b), manager(t, c)
	store := NewMemStore()
	srv, err := NewServer(rm, WithStore(store), WithLogger(quiet()))
	require.NoError(t, err)
	defer srv.Close()
	local, err := NewLocalClient(store)
	require.NoError(t, err)
	defer local.Close()
	assert.True(t, local.Local())
	ctx := ctx10s(t)

	require.NoError(t, local.RegisterNode(ctx, &NodeRecord{ID: r.ID(), URIs: r.URIs(),
		Attributes: NodeAttributes{IndexedPublic: []string{NodeNameIndex("", "", "", "", "registry")}}}))

	clients := map[string]*Client{}
	for _, n := range []struct {
		node *rt2rt.Node
		m    *tunnel.Manager
		name string
	}{{b, bm, "nodeB"}, {c, cm, "nodeC"}} {
		join(t, n.node, r)
		cl, err := NewClient(n.m, r.ID(), WithLogger(quiet()))
		require.NoError(t, err)
		defer cl.Close()
		clients[n.name] = cl
		require.NoError(t, cl.RegisterNode(ctx, &NodeRecord{
			ID: n.node.ID(), URIs: n.node.URIs(), ControlURIs: []string{"http://127.0.0.1:5003"},
			Attributes:   NodeAttributes{Public: map[string]any{}, IndexedPublic: []string{NodeNameIndex("", "", "", "", n.name)}},
			Capabilities: []string{"io.print", "sys.timer.once"},
		}))
		n.node.SetResolver(cl)
	}

	// Registered records are Calvin-shaped and findable by index.
	cb := clients["nodeB"]
	rec, err := cb.LookupNode(ctx, c.ID())
	require.NoError(t, err)
	assert.Equal(t, c.URIs(), rec.URIs)
	raw, err := store.Get(ctx, PrefixNode+c.ID())
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"uris", "control_uris", "attributes"}, keysOf(raw.(map[string]any)))
	ids, err := cb.NodesWithCapability(ctx, "io.print")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{b.ID(), c.ID()}, ids)
	named, err := cb.GetIndex(ctx, IndexLevels(NodeNameIndex("", "", "", "", "nodeC"), AttributeRootLevels))
	require.NoError(t, err)
	assert.Equal(t, []any{c.ID()}, named)
	rrec, err := cb.LookupNode(ctx, r.ID())
	require.NoError(t, err, "the registry's own record, written locally, is visible remotely")
	assert.Equal(t, r.URIs(), rrec.URIs)

	// Actor and port records.
	require.NoError(t, cb.SetActor(ctx, &ActorRecord{ID: "a1", Name: "app:snk", Type: "test.Sink", NodeID: b.ID(),
		InPorts: []PortRef{{ID: "p1", Name: "token"}}}))
	require.NoError(t, cb.SetPort(ctx, &PortRecord{ID: "p1", Name: "token", NodeID: b.ID(), ActorID: "a1",
		Properties: map[string]any{"direction": "in"}}))
	ar, err := clients["nodeC"].LookupActor(ctx, "a1")
	require.NoError(t, err)
	assert.Equal(t, b.ID(), ar.NodeID)
	pr, err := clients["nodeC"].LookupPort(ctx, "p1")
	require.NoError(t, err)
	assert.Equal(t, "a1", pr.ActorID)
	_, err = clients["nodeC"].LookupActor(ctx, "nope")
	assert.ErrorIs(t, err, ErrNotFound)

	// B reaches C through the registry: the node resolves node-<C> (§3.8).
	require.False(t, linked(b, c.ID()))
	require.NoError(t, bm.RegisterType("demo", tunnel.HandlerFuncs{}))
	require.NoError(t, cm.RegisterType("demo", tunnel.HandlerFuncs{}))
	_, err = bm.Open(ctx, c.ID(), "demo")
	require.NoError(t, err)
	assert.True(t, linked(b, c.ID()))

	_, err = cb.Resolve(ctx, r.ID())
	assert.ErrorIs(t, err, ErrNotFound, "the registry is not resolved through itself")
	_, err = cb.Resolve(ctx, "unknown-node")
	assert.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, local.Set(ctx, PrefixNode+"proxied", (&NodeRecord{ID: "proxied", Proxy: r.ID()}).Value()))
	_, err = cb.Resolve(ctx, "proxied")
	assert.ErrorIs(t, err, ErrNotFound)

	// Unregistering removes the record and the index entries.
	require.NoError(t, clients["nodeC"].UnregisterNode(ctx, &NodeRecord{ID: c.ID(),
		Attributes:   NodeAttributes{IndexedPublic: []string{NodeNameIndex("", "", "", "", "nodeC")}},
		Capabilities: []string{"io.print", "sys.timer.once"}}))
	_, err = cb.LookupNode(ctx, c.ID())
	assert.ErrorIs(t, err, ErrNotFound)
	ids, err = cb.NodesWithCapability(ctx, "io.print")
	require.NoError(t, err)
	assert.Equal(t, []string{b.ID()}, ids)
}

func TestClientRetriesAfterLinkLoss(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	p := newRegistryPair(t, "mem")
	ctx := ctx10s(t)
	require.NoError(t, p.client.Set(ctx, "k", "v"), "tunnel up")

	// Every frame is lost: the GET hangs until the link is cut.
	require.NoError(t, p.net.SetFaults(transport.Faults{DropRate: 1}))
	type res struct {
		v   any
		err error
	}
	done := make(chan res, 1)
	go func() { v, err := p.client.Get(ctx, "k"); done <- res{v, err} }()
	require.Eventually(t, func() bool {
		p.client.mu.Lock()
		defer p.client.mu.Unlock()
		return len(p.client.pending) == 1
	}, 5*time.Second, time.Millisecond)
	p.net.ClearFaults()
	require.Positive(t, p.net.CutAll())

	got := <-done
	require.NoError(t, got.err, "request sent again after the re-join")
	assert.Equal(t, "v", got.v)
	tu, ok := p.nodeM.Lookup(p.reg.ID(), TunnelType)
	require.True(t, ok)
	assert.Equal(t, tunnel.StateWorking, tu.State())
}

func TestClientTimeoutAndClose(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	n := tcpNode(t)
	m := manager(t, n)
	peer := dialRawPeer(t, n, "silent-registry", wire.NameJSON)
	c, err := NewClient(m, peer.id, WithTimeout(300*time.Millisecond), WithLogger(quiet()))
	require.NoError(t, err)
	ctx := ctx10s(t)

	errc := make(chan error, 1)
	go func() { errc <- c.Set(ctx, "k", 1) }()
	tn := peer.read()
	require.Equal(t, "TUNNEL_NEW", tn["cmd"])
	peer.send(map[string]any{"cmd": "REPLY", "msg_uuid": tn["msg_uuid"],
		"value": map[string]any{"status": 200, "data": map[string]any{"tunnel_id": tn["tunnel_id"]}, "success_list": []any{200}}})
	data := peer.read()
	require.Equal(t, "TUNNEL_DATA", data["cmd"])
	assert.ErrorIs(t, <-errc, ErrTimeout, "a silent registry fails the request")

	// Close fails requests in flight.
	go func() { _, err := c.Get(ctx, "k"); errc <- err }()
	peer.read()
	require.NoError(t, c.Close())
	assert.ErrorIs(t, <-errc, ErrClosed)
	require.NoError(t, c.Close())
	_, err = c.Get(ctx, "k")
	assert.ErrorIs(t, err, ErrClosed)
}

func TestServerRefusesWithoutRegistry(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	p := newRegistryPair(t, "mem")
	ctx := ctx10s(t)
	require.NoError(t, p.client.Set(ctx, "k", "v"))

	// The client's node is no registry: requests reaching it over the
	// existing tunnel are answered 500, new storage tunnels refused.
	regClient, err := NewClient(p.regM, p.node.ID(), WithLogger(quiet()))
	require.NoError(t, err)
	defer regClient.Close()
	_, err = regClient.Get(ctx, "k")
	var se *StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 500, se.Status)

	x := memNode(t, p.net, "x")
	xc, err := NewClient(manager(t, x), p.node.ID(), WithLogger(quiet()))
	require.NoError(t, err)
	defer xc.Close()
	join(t, x, p.node)
	_, err = xc.Get(ctx, "k")
	require.ErrorIs(t, err, tunnel.ErrSetupFailed)

	// A second server on one manager is refused; a foreign handler too.
	_, err = NewServer(p.regM)
	assert.Error(t, err)
	other := manager(t, memNode(t, p.net, "other"))
	require.NoError(t, other.RegisterType(TunnelType, tunnel.HandlerFuncs{}))
	_, err = NewServer(other)
	assert.Error(t, err)
	_, err = NewClient(other, "x")
	assert.Error(t, err)

	// After Close the existing tunnel stays; its requests are answered 500.
	require.NoError(t, p.srv.Close())
	require.NoError(t, p.srv.Close())
	err = p.client.Set(ctx, "k2", "v")
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 500, se.Status)
}

func TestOptionsAndConstructors(t *testing.T) {
	_, err := NewServer(nil)
	assert.ErrorIs(t, err, ErrInvalidOption)
	_, err = NewClient(nil, "r")
	assert.ErrorIs(t, err, ErrInvalidOption)
	_, err = NewLocalClient(nil)
	assert.ErrorIs(t, err, ErrInvalidOption)
	for name, o := range map[string]Option{
		"store": WithStore(nil), "logger": WithLogger(nil), "timeout": WithTimeout(0), "pending": WithMaxPending(0), "nil": nil,
	} {
		_, err := NewLocalClient(NewMemStore(), o)
		assert.ErrorIs(t, err, ErrInvalidOption, name)
	}
	se := &StatusError{Cmd: "GET", Key: "k", Status: 500}
	assert.NotErrorIs(t, se, ErrNotFound)
	assert.ErrorIs(t, &StatusError{Status: 400}, ErrBadRequest)
	assert.Contains(t, se.Error(), "500")
}

func TestConcurrentClients(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	p := newRegistryPair(t, "tcp")
	ctx := ctx10s(t)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				key := fmt.Sprintf("k-%d-%d", g, i)
				if err := p.client.Set(ctx, key, int64(i)); err != nil {
					errs <- err
					return
				}
				v, err := p.client.Get(ctx, key)
				if err != nil || v != int64(i) {
					errs <- errors.Join(err, fmt.Errorf("%s = %v", key, v))
					return
				}
				if err := p.client.Append(ctx, "all", []any{key}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	l, err := p.client.GetConcat(ctx, "all")
	require.NoError(t, err)
	assert.Len(t, l, 200)
}

func TestWriteBehind(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	reg := memNode(t, net, "wb-registry")
	node := memNode(t, net, "wb-node", rt2rt.WithRequestTimeout(time.Second))
	store := NewMemStore()
	srv, err := NewServer(manager(t, reg), WithStore(store), WithLogger(quiet()))
	require.NoError(t, err)
	defer srv.Close()
	c, err := NewClient(manager(t, node), reg.ID(), WithWriteBehind(3), WithLogger(quiet()))
	require.NoError(t, err)
	defer c.Close()
	c.retryBase = 20 * time.Millisecond
	ctx := ctx10s(t)

	// The registry is unknown to the node: writes queue instead of failing.
	require.NoError(t, c.Set(ctx, "k", int64(1)))
	require.NoError(t, c.Append(ctx, "s", []any{"a"}))
	require.NoError(t, c.Set(ctx, "k", int64(2)))
	assert.ErrorIs(t, c.Set(ctx, "k", int64(3)), ErrQueueFull, "the backlog is bounded")
	_, err = c.Get(ctx, "k")
	require.Error(t, err, "reads go to the registry, which is unreachable")
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	assert.Error(t, c.Flush(short))
	cancel()

	// Once the node can reach the registry the backlog goes out in order.
	join(t, node, reg)
	require.NoError(t, c.Flush(ctx))
	v, err := store.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, int64(2), v, "writes applied in order")
	l, _ := store.GetConcat(ctx, "s")
	assert.Equal(t, []any{"a"}, l)
	got, err := c.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, v, got)

	// Writes made while the registry is reachable also go out in order.
	for i := range 3 {
		require.NoError(t, c.Append(ctx, "order", []any{int64(i)}))
	}
	require.NoError(t, c.Flush(ctx))
	l, _ = store.GetConcat(ctx, "order")
	assert.Equal(t, []any{int64(0), int64(1), int64(2)}, l)
	assert.ErrorIs(t, WithWriteBehind(0)(&options{}), ErrInvalidOption)
}
