package tunnel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/internal/leakcheck"
	"github.com/meshkit/meshkit/rt2rt"
	"github.com/meshkit/meshkit/transport"
)

const testType = "token"

func ctx5s(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// pair is two managers on linked mem nodes, each with a recorder for testType.
type pair struct {
	net    *transport.MemNetwork
	na, nb *rt2rt.Node
	ma, mb *Manager
	ra, rb *recorder
}

func newPair(t *testing.T, opts ...rt2rt.Option) *pair {
	p := &pair{net: transport.NewMemNetwork(), ra: &recorder{}, rb: &recorder{}}
	p.na = memNode(t, p.net, "a-"+t.Name(), opts...)
	p.nb = memNode(t, p.net, "b-"+t.Name(), opts...)
	p.ma = newManager(t, p.na)
	p.mb = newManager(t, p.nb)
	require.NoError(t, p.ma.RegisterType(testType, p.ra))
	require.NoError(t, p.mb.RegisterType(testType, p.rb))
	join(t, p.na, p.nb)
	return p
}

func TestOpenSendReceive(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	p := newPair(t)
	ctx := ctx5s(t)

	ta, err := p.ma.Open(ctx, p.nb.ID(), testType)
	require.NoError(t, err)
	assert.Equal(t, StateWorking, ta.State())
	assert.Equal(t, p.nb.ID(), ta.Peer())
	assert.Equal(t, testType, ta.Type())

	tb, ok := p.mb.Lookup(p.na.ID(), testType)
	require.True(t, ok, "responder has the tunnel")
	assert.Equal(t, ta.ID(), tb.ID(), "responder uses the requester's id")
	assert.Equal(t, StateWorking, tb.State())

	const n = 200
	for i := range n {
		require.NoError(t, ta.Send(ctx, map[string]any{"i": int64(i)}))
	}
	require.Eventually(t, func() bool { _, _, d := p.rb.counts(); return d == n }, 5*time.Second, time.Millisecond)
	for i, v := range p.rb.values() {
		assert.Equal(t, map[string]any{"i": int64(i)}, v, "values arrive in order")
	}

	// The responder uses the same tunnel in the other direction (§5).
	require.NoError(t, tb.Send(ctx, "back"))
	require.Eventually(t, func() bool { _, _, d := p.ra.counts(); return d == 1 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, []any{"back"}, p.ra.values())

	// Open from the other end finds the existing tunnel: no second one.
	tb2, err := p.mb.Open(ctx, p.na.ID(), testType)
	require.NoError(t, err)
	assert.Same(t, tb, tb2)
	ta2, err := p.ma.Open(ctx, p.nb.ID(), testType)
	require.NoError(t, err)
	assert.Same(t, ta, ta2)
	assert.Len(t, p.ma.Tunnels(), 1)
	assert.Len(t, p.mb.Tunnels(), 1)

	ups, downs, _ := p.ra.counts()
	assert.Equal(t, 1, ups)
	assert.Equal(t, 0, downs)
	ups, _, _ = p.rb.counts()
	assert.Equal(t, 1, ups)
}

func TestOpenErrors(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	p := newPair(t)
	ctx := ctx5s(t)

	_, err := p.ma.Open(ctx, p.nb.ID(), "proxy")
	assert.ErrorIs(t, err, ErrUnknownType, "local type must be registered")

	// The peer does not serve the type: 500, and no dead tunnel is left.
	require.NoError(t, p.ma.RegisterType("control", &recorder{}))
	_, err = p.ma.Open(ctx, p.nb.ID(), "control")
	require.ErrorIs(t, err, ErrSetupFailed)
	var se *SetupError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 500, se.Status)
	_, ok := p.ma.Lookup(p.nb.ID(), "control")
	assert.False(t, ok, "failed tunnel removed (§5.3)")

	// Once the peer serves it, the next Open builds a fresh tunnel.
	require.NoError(t, p.mb.RegisterType("control", &recorder{}))
	tc, err := p.ma.Open(ctx, p.nb.ID(), "control")
	require.NoError(t, err)
	assert.NotEqual(t, se.TunnelID, tc.ID())

	// Refusal by the peer's handler is a 500 too.
	require.NoError(t, p.ma.RegisterType("storage", &recorder{}))
	require.NoError(t, p.mb.RegisterType("storage", &recorder{refuse: errors.New("no")}))
	_, err = p.ma.Open(ctx, p.nb.ID(), "storage")
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 500, se.Status)

	assert.ErrorIs(t, p.ma.RegisterType(testType, &recorder{}), ErrTypeRegistered)
	assert.ErrorIs(t, p.ma.RegisterType("", &recorder{}), ErrInvalidOption)
	_, err = p.ma.Open(ctx, "", testType)
	assert.ErrorIs(t, err, ErrInvalidOption)
}

func TestOptionsValidated(t *testing.T) {
	net := transport.NewMemNetwork()
	n := memNode(t, net, "opts")
	for name, opt := range map[string]Option{
		"queue":  WithQueueLimit(0),
		"setup":  WithSetupTimeout(0),
		"send":   WithSendTimeout(-time.Second),
		"logger": WithLogger(nil),
		"obs":    WithObserver(nil),
		"nil":    nil,
	} {
		_, err := NewManager(n, opt)
		assert.ErrorIs(t, err, ErrInvalidOption, name)
	}
	_, err := NewManager(nil)
	assert.ErrorIs(t, err, ErrInvalidOption)
}

// TestSimultaneousCreationCrossing makes both TUNNEL_NEWs cross on the wire
// (every frame is delayed), so every round takes the §5.2 path: exactly one
// end renames its tunnel, and both end with the higher id.
func TestSimultaneousCreationCrossing(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	na, nb := memNode(t, net, "xa"), memNode(t, net, "xb")
	ca, cb := newMsgCounter(), newMsgCounter()
	ma := newManager(t, na, WithLogger(slog.New(ca)))
	mb := newManager(t, nb, WithLogger(slog.New(cb)))
	const rounds = 10
	for i := range rounds {
		typ := fmt.Sprintf("t%d", i)
		require.NoError(t, ma.RegisterType(typ, &recorder{}))
		require.NoError(t, mb.RegisterType(typ, &recorder{}))
	}
	join(t, na, nb)
	require.NoError(t, net.SetFaults(transport.Faults{Delay: 30 * time.Millisecond}))
	ctx := ctx5s(t)
	for i := range rounds {
		typ := fmt.Sprintf("t%d", i)
		var ta, tb *Tunnel
		var ea, eb error
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); ta, ea = ma.Open(ctx, nb.ID(), typ) }()
		go func() { defer wg.Done(); tb, eb = mb.Open(ctx, na.ID(), typ) }()
		wg.Wait()
		require.NoError(t, ea)
		require.NoError(t, eb)
		assert.Equal(t, ta.ID(), tb.ID(), "round %d", i)
	}
	assert.Equal(t, rounds, ca.count("tunnel renamed")+cb.count("tunnel renamed"), "one rename per round")
}

func TestSimultaneousCreationRealNodes(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	for _, tr := range []string{"mem", "tcp"} {
		t.Run(tr, func(t *testing.T) {
			var na, nb *rt2rt.Node
			if tr == "mem" {
				net := transport.NewMemNetwork()
				na, nb = memNode(t, net, "sa"), memNode(t, net, "sb")
			} else {
				na, nb = tcpNode(t), tcpNode(t)
			}
			oa, ob := &obsRecorder{}, &obsRecorder{}
			ma, mb := newManager(t, na, WithObserver(oa)), newManager(t, nb, WithObserver(ob))
			const rounds = 20
			for i := range rounds {
				typ := fmt.Sprintf("t%d", i)
				require.NoError(t, ma.RegisterType(typ, &recorder{}))
				require.NoError(t, mb.RegisterType(typ, &recorder{}))
			}
			join(t, na, nb)
			ctx := ctx5s(t)
			for i := range rounds {
				typ := fmt.Sprintf("t%d", i)
				var ta, tb *Tunnel
				var ea, eb error
				var wg sync.WaitGroup
				start := make(chan struct{})
				wg.Add(2)
				go func() { defer wg.Done(); <-start; ta, ea = ma.Open(ctx, nb.ID(), typ) }()
				go func() { defer wg.Done(); <-start; tb, eb = mb.Open(ctx, na.ID(), typ) }()
				close(start)
				wg.Wait()
				require.NoError(t, ea)
				require.NoError(t, eb)
				// Both ends converge on one id, whoever won.
				require.Eventually(t, func() bool { return ta.ID() == tb.ID() }, 5*time.Second, time.Millisecond,
					"round %d: %s vs %s", i, ta.ID(), tb.ID())
				assert.Equal(t, StateWorking, ta.State())
				assert.Equal(t, StateWorking, tb.State())
			}
			assert.Len(t, ma.Tunnels(), rounds)
			assert.Len(t, mb.Tunnels(), rounds)
			// Up is delivered right after the tunnel became WORKING, possibly
			// just after Open returned.
			require.Eventually(t, func() bool { ups, _ := oa.get(); return ups >= rounds }, 5*time.Second, time.Millisecond)
			ups, downs := oa.get()
			assert.Equal(t, rounds, ups, "Up once per tunnel even when both ends created it")
			assert.Zero(t, downs)
			require.Eventually(t, func() bool { ups, _ := ob.get(); return ups >= rounds }, 5*time.Second, time.Millisecond)
			ups, _ = ob.get()
			assert.Equal(t, rounds, ups)
		})
	}
}

// rawSetup starts a Go node with a manager and a scripted peer joined to it.
func rawSetup(t *testing.T, opts ...Option) (*rt2rt.Node, *Manager, *recorder, *rawPeer) {
	n := tcpNode(t, rt2rt.WithRequestTimeout(2*time.Second))
	m := newManager(t, n, opts...)
	r := &recorder{}
	require.NoError(t, m.RegisterType(testType, r))
	p := dialRawPeer(t, n)
	return n, m, r, p
}

func TestSimultaneousCreationScripted(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	for _, peerWins := range []bool{true, false} {
		t.Run(fmt.Sprintf("peerWins=%v", peerWins), func(t *testing.T) {
			_, m, r, p := rawSetup(t)
			ctx := ctx5s(t)

			type res struct {
				t   *Tunnel
				err error
			}
			done := make(chan res, 1)
			go func() {
				tu, err := m.Open(ctx, p.id, testType)
				done <- res{tu, err}
			}()
			req := p.recv()
			require.Equal(t, "TUNNEL_NEW", req["cmd"])
			require.Equal(t, testType, req["type"])
			require.Equal(t, map[string]any{}, req["policy"], "policy {} always sent (§4.1)")
			goID := req["tunnel_id"].(string)

			// The peer creates its own tunnel before answering (§5.2).
			peerID := "00000000-0000-4000-8000-000000000000"
			if peerWins {
				peerID = "ffffffff-ffff-4fff-8fff-ffffffffffff"
			}
			winner := max(goID, peerID)
			v := p.request(map[string]any{"cmd": "TUNNEL_NEW", "tunnel_id": peerID, "type": testType, "policy": map[string]any{}})
			assert.Equal(t, 200, status(v))
			assert.Equal(t, map[string]any{"tunnel_id": winner}, v["data"], "higher id wins")

			// Calvin's peer answers our request with the winner too.
			p.reply(req["msg_uuid"].(string), 200, map[string]any{"tunnel_id": winner})
			got := <-done
			require.NoError(t, got.err)
			assert.Equal(t, winner, got.t.ID())
			assert.Equal(t, StateWorking, got.t.State())
			// Data flows under the winning id in both directions.
			require.NoError(t, got.t.Send(ctx, "x"))
			d := p.recv()
			assert.Equal(t, "TUNNEL_DATA", d["cmd"])
			assert.Equal(t, winner, d["tunnel_id"])
			assert.Equal(t, "x", d["value"])
			assert.NotContains(t, d, "msg_uuid", "TUNNEL_DATA sent without msg_uuid (§4.3)")
			p.send(map[string]any{"cmd": "TUNNEL_DATA", "tunnel_id": winner, "value": "y", "msg_uuid": uuid.NewString()})
			require.Eventually(t, func() bool { _, _, n := r.counts(); return n == 1 }, 5*time.Second, time.Millisecond)
			ups, _, _ := r.counts()
			assert.Equal(t, 1, ups, "Up once, before the data")
		})
	}
}

func TestTunnelNewAnswers(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	_, m, r, p := rawSetup(t)
	require.NoError(t, m.RegisterType("storage", &recorder{refuse: errors.New("not a registry")}))

	cases := []struct {
		name   string
		msg    map[string]any
		status int
		data   any
	}{
		{"no policy", map[string]any{"cmd": "TUNNEL_NEW", "tunnel_id": "t-1", "type": testType}, 400, nil},
		{"no type", map[string]any{"cmd": "TUNNEL_NEW", "tunnel_id": "t-1", "policy": map[string]any{}}, 400, nil},
		{"no id", map[string]any{"cmd": "TUNNEL_NEW", "type": testType, "policy": map[string]any{}}, 400, nil},
		{"id not a string", map[string]any{"cmd": "TUNNEL_NEW", "tunnel_id": 7, "type": testType, "policy": map[string]any{}}, 400, nil},
		{"unknown type", map[string]any{"cmd": "TUNNEL_NEW", "tunnel_id": "t-2", "type": "control", "policy": map[string]any{}}, 500, map[string]any{"tunnel_id": "t-2"}},
		{"refused", map[string]any{"cmd": "TUNNEL_NEW", "tunnel_id": "t-3", "type": "storage", "policy": map[string]any{}}, 500, map[string]any{"tunnel_id": "t-3"}},
		{"new", map[string]any{"cmd": "TUNNEL_NEW", "tunnel_id": "t-4", "type": testType, "policy": map[string]any{}}, 200, map[string]any{"tunnel_id": "t-4"}},
		// A second TUNNEL_NEW for a WORKING type gets the existing id (§5.3).
		{"existing", map[string]any{"cmd": "TUNNEL_NEW", "tunnel_id": "t-5", "type": testType, "policy": map[string]any{}}, 200, map[string]any{"tunnel_id": "t-4"}},
	}
	for _, c := range cases {
		v := p.request(c.msg)
		assert.Equal(t, c.status, status(v), c.name)
		assert.Equal(t, c.data, v["data"], c.name)
	}
	assert.Len(t, m.Tunnels(), 1, "only the accepted tunnel exists")

	// TUNNEL_DATA for an unknown id is dropped without a reply; data for the
	// known one is delivered.
	p.send(map[string]any{"cmd": "TUNNEL_DATA", "tunnel_id": "t-5", "value": 1, "msg_uuid": uuid.NewString()})
	p.send(map[string]any{"cmd": "TUNNEL_DATA", "tunnel_id": "t-4", "value": 2})
	require.Eventually(t, func() bool { _, _, n := r.counts(); return n == 1 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, []any{int64(2)}, r.values())
	ups, _, _ := r.counts()
	assert.Equal(t, 1, ups, "Up once, before the data")
	_, err := p.tryRecv(100 * time.Millisecond)
	assert.Error(t, err, "TUNNEL_DATA is never answered")
}

func TestTunnelDestroyAnswers(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	_, m, r, p := rawSetup(t)
	v := p.request(map[string]any{"cmd": "TUNNEL_NEW", "tunnel_id": "t-1", "type": testType, "policy": map[string]any{}})
	require.Equal(t, 200, status(v))

	v = p.request(map[string]any{"cmd": "TUNNEL_DESTROY", "tunnel_id": "nope"})
	assert.Equal(t, 404, status(v))

	v = p.request(map[string]any{"cmd": "TUNNEL_DESTROY", "tunnel_id": "t-1"})
	assert.Equal(t, 200, status(v))
	assert.Nil(t, v["data"])
	_, ok := m.Lookup(p.id, testType)
	assert.False(t, ok)
	assert.ErrorIs(t, r.lastDown(), ErrDestroyed)

	// Without msg_uuid the tunnel is closed and nothing is sent back: the
	// next frame is the reply to the following request.
	v = p.request(map[string]any{"cmd": "TUNNEL_NEW", "tunnel_id": "t-2", "type": testType, "policy": map[string]any{}})
	require.Equal(t, 200, status(v))
	p.send(map[string]any{"cmd": "TUNNEL_DESTROY", "tunnel_id": "t-2"})
	v = p.request(map[string]any{"cmd": "TUNNEL_DESTROY", "tunnel_id": "t-2"})
	assert.Equal(t, 404, status(v), "already gone")
	_, ok = m.Lookup(p.id, testType)
	assert.False(t, ok)
	ups, downs, _ := r.counts()
	assert.Equal(t, 2, ups)
	assert.Equal(t, 2, downs)
}

func TestDestroyFromGo(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	p := newPair(t)
	ctx := ctx5s(t)
	ta, err := p.ma.Open(ctx, p.nb.ID(), testType)
	require.NoError(t, err)
	require.NoError(t, ta.Destroy(ctx))
	assert.Equal(t, StateTerminated, ta.State())
	_, ok := p.mb.Lookup(p.na.ID(), testType)
	assert.False(t, ok, "peer removed it")
	assert.ErrorIs(t, p.ra.lastDown(), ErrDestroyed)
	assert.ErrorIs(t, p.rb.lastDown(), ErrDestroyed)
	assert.ErrorIs(t, ta.Send(ctx, 1), ErrTerminated)
	assert.ErrorIs(t, ta.Destroy(ctx), ErrTerminated)
}

func TestSetupFailureAndTimeout(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	_, m, _, p := rawSetup(t)
	ctx := ctx5s(t)

	errc := make(chan error, 1)
	go func() { _, err := m.Open(ctx, p.id, testType); errc <- err }()
	req := p.recv()
	p.reply(req["msg_uuid"].(string), 500, map[string]any{"tunnel_id": req["tunnel_id"]})
	err := <-errc
	var se *SetupError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 500, se.Status)
	_, ok := m.Lookup(p.id, testType)
	assert.False(t, ok)

	// Silence: the node's 2 s request timeout fails the set-up; the tunnel
	// is removed and the next attempt uses a new id.
	go func() { _, err := m.Open(ctx, p.id, testType); errc <- err }()
	first := p.recv()
	err = <-errc
	require.ErrorIs(t, err, ErrSetupFailed)
	assert.ErrorIs(t, err, rt2rt.ErrTimeout)
	_, ok = m.Lookup(p.id, testType)
	assert.False(t, ok)

	go func() { _, err := m.Open(ctx, p.id, testType); errc <- err }()
	second := p.recv()
	assert.NotEqual(t, first["tunnel_id"], second["tunnel_id"])
	p.reply(second["msg_uuid"].(string), 200, map[string]any{"tunnel_id": second["tunnel_id"]})
	require.NoError(t, <-errc)
}

func TestQueueUntilWorking(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	_, m, _, p := rawSetup(t, WithQueueLimit(3))
	ctx := ctx5s(t)

	errc := make(chan error, 1)
	go func() { _, err := m.Open(ctx, p.id, testType); errc <- err }()
	req := p.recv()
	tu, ok := m.Lookup(p.id, testType)
	require.True(t, ok)
	require.Equal(t, StatePending, tu.State())

	// Nothing goes out while PENDING; the queue is bounded.
	for i := range 3 {
		require.NoError(t, tu.Send(ctx, int64(i)))
	}
	assert.ErrorIs(t, tu.Send(ctx, int64(3)), ErrQueueFull)
	_, err := p.tryRecv(100 * time.Millisecond)
	require.Error(t, err, "no TUNNEL_DATA before the tunnel is WORKING")

	// The peer renames the tunnel (it had one of that type already).
	p.reply(req["msg_uuid"].(string), 200, map[string]any{"tunnel_id": "zz-peer-id"})
	require.NoError(t, <-errc)
	assert.Equal(t, "zz-peer-id", tu.ID())
	for i := range 3 {
		d := p.recv()
		assert.Equal(t, "TUNNEL_DATA", d["cmd"])
		assert.Equal(t, "zz-peer-id", d["tunnel_id"], "queued values use the adopted id")
		assert.Equal(t, float64(i), d["value"])
	}
	// Data from the peer under the adopted id is found.
	_, ok = m.Lookup(p.id, testType)
	require.True(t, ok)
}

func TestLinkLossAndRejoin(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	p := newPair(t, rt2rt.WithRequestTimeout(2*time.Second))
	ctx := ctx5s(t)
	ta, err := p.ma.Open(ctx, p.nb.ID(), testType)
	require.NoError(t, err)
	id := ta.ID()
	tb, ok := p.mb.Lookup(p.na.ID(), testType)
	require.True(t, ok)

	// Cut the link: both ends go DOWN and keep the id.
	require.Positive(t, p.net.CutAll())
	require.Eventually(t, func() bool { return ta.State() == StateDown && tb.State() == StateDown }, 5*time.Second, time.Millisecond)
	assert.ErrorIs(t, p.ra.lastDown(), ErrLinkLost)
	assert.ErrorIs(t, p.rb.lastDown(), ErrLinkLost)
	open, err := p.ma.Open(ctx, p.nb.ID(), testType)
	require.NoError(t, err, "a DOWN tunnel is returned as is")
	assert.Same(t, ta, open)

	// Sending on the DOWN tunnel queues and re-joins the peer (the node
	// knows its URI from the first join), as Calvin does (§5.5).
	for i := range 5 {
		require.NoError(t, ta.Send(ctx, int64(i)))
	}
	require.Eventually(t, func() bool { return ta.State() == StateWorking && tb.State() == StateWorking }, 5*time.Second, time.Millisecond)
	assert.Equal(t, id, ta.ID())
	assert.Equal(t, id, tb.ID())
	require.Eventually(t, func() bool { _, _, n := p.rb.counts(); return n == 5 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, []any{int64(0), int64(1), int64(2), int64(3), int64(4)}, p.rb.values(), "queued values in order")
	require.Eventually(t, func() bool { ups, _, _ := p.ra.counts(); return ups == 2 }, 5*time.Second, time.Millisecond)
	_, downs, _ := p.ra.counts()
	assert.Equal(t, 1, downs)
}

func TestDrainAndClose(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	n, m, r, p := rawSetup(t)
	ctx := ctx5s(t)
	v := p.request(map[string]any{"cmd": "TUNNEL_NEW", "tunnel_id": "t-1", "type": testType, "policy": map[string]any{}})
	require.Equal(t, 200, status(v))
	tu, ok := m.Lookup(p.id, testType)
	require.True(t, ok)

	m.Drain()
	require.NoError(t, m.RegisterType("storage", &recorder{}))
	v = p.request(map[string]any{"cmd": "TUNNEL_NEW", "tunnel_id": "t-2", "type": "storage", "policy": map[string]any{}})
	assert.Equal(t, 500, status(v), "no new tunnels while shutting down (§4.7)")
	require.NoError(t, tu.Send(ctx, "still works"))
	d := p.recv()
	assert.Equal(t, "still works", d["value"])

	// A pending Open is failed by Close.
	errc := make(chan error, 1)
	go func() { _, err := m.Open(ctx, p.id, "storage"); errc <- err }()
	p.recv() // its TUNNEL_NEW, left unanswered
	require.NoError(t, m.Close())
	require.ErrorIs(t, <-errc, ErrClosed)
	require.NoError(t, m.Close(), "second Close")

	assert.Equal(t, StateTerminated, tu.State())
	assert.ErrorIs(t, r.lastDown(), ErrClosed)
	_, err := m.Open(ctx, p.id, testType)
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, m.RegisterType("proxy", &recorder{}), ErrClosed)
	v = p.request(map[string]any{"cmd": "TUNNEL_NEW", "tunnel_id": "t-3", "type": testType, "policy": map[string]any{}})
	assert.Equal(t, 500, status(v))
	require.NoError(t, n.Close())
}

func TestHandlerPanicIsContained(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	_, m, r, p := rawSetup(t)
	r.onData = func(t *Tunnel, v any) {
		if v == "boom" {
			panic("handler bug")
		}
	}
	v := p.request(map[string]any{"cmd": "TUNNEL_NEW", "tunnel_id": "t-1", "type": testType, "policy": map[string]any{}})
	require.Equal(t, 200, status(v))
	p.send(map[string]any{"cmd": "TUNNEL_DATA", "tunnel_id": "t-1", "value": "boom"})
	p.send(map[string]any{"cmd": "TUNNEL_DATA", "tunnel_id": "t-1", "value": "after"})
	require.Eventually(t, func() bool { _, _, n := r.counts(); return n == 2 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, []any{"boom", "after"}, r.values())
	_, ok := m.Lookup(p.id, testType)
	assert.True(t, ok)
}

func TestCallbacksMayCallBack(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	p := newPair(t)
	ctx := ctx5s(t)
	// B echoes every value and destroys the tunnel on "bye", from inside
	// its Data callback: no deadlock, events stay ordered.
	p.rb.onData = func(tu *Tunnel, v any) {
		if v == "bye" {
			go func() { _ = tu.Destroy(context.Background()) }()
			return
		}
		_ = tu.Send(context.Background(), v)
	}
	ta, err := p.ma.Open(ctx, p.nb.ID(), testType)
	require.NoError(t, err)
	for i := range 50 {
		require.NoError(t, ta.Send(ctx, int64(i)))
	}
	require.Eventually(t, func() bool { _, _, n := p.ra.counts(); return n == 50 }, 5*time.Second, time.Millisecond)
	require.NoError(t, ta.Send(ctx, "bye"))
	require.Eventually(t, func() bool { return ta.State() == StateTerminated }, 5*time.Second, time.Millisecond)
	assert.ErrorIs(t, p.ra.lastDown(), ErrDestroyed)
}

func TestStateString(t *testing.T) {
	assert.Equal(t, "PENDING", StatePending.String())
	assert.Equal(t, "WORKING", StateWorking.String())
	assert.Equal(t, "DOWN", StateDown.String())
	assert.Equal(t, "TERMINATED", StateTerminated.String())
	assert.Equal(t, "State(9)", State(9).String())
}

func TestLookupAndWait(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	p := newPair(t)
	ctx := ctx5s(t)
	ups := make(chan string, 1)
	require.NoError(t, p.ma.RegisterType("proxy", HandlerFuncs{UpFunc: func(t *Tunnel) { ups <- t.ID() }}))
	require.NoError(t, p.mb.RegisterType("proxy", HandlerFuncs{}))
	ta, err := p.ma.Open(ctx, p.nb.ID(), "proxy")
	require.NoError(t, err)
	require.NoError(t, ta.Wait(ctx))
	assert.Equal(t, ta.ID(), <-ups)
	assert.Same(t, p.ma, ta.Manager())
	assert.Contains(t, ta.String(), "WORKING")

	got, ok := p.ma.LookupID(p.nb.ID(), ta.ID())
	require.True(t, ok)
	assert.Same(t, ta, got)
	_, ok = p.ma.LookupID(p.nb.ID(), "nope")
	assert.False(t, ok)
	h, ok := p.ma.Handler("proxy")
	require.True(t, ok)
	assert.IsType(t, HandlerFuncs{}, h)
	assert.NotNil(t, p.mb.Node())
	assert.Equal(t, p.na.ID(), p.ma.NodeID())

	// Wait on a tunnel whose set-up fails returns the set-up error.
	require.NoError(t, p.ma.RegisterType("control", HandlerFuncs{}))
	_, err = p.ma.Open(ctx, p.nb.ID(), "control")
	var se *SetupError
	require.ErrorAs(t, err, &se)
	assert.Contains(t, se.Error(), "500")
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, err = p.ma.Open(cancelled, p.nb.ID(), "control")
	assert.ErrorIs(t, err, context.Canceled)
	_, ok = p.ma.Lookup(p.nb.ID(), "control")
	assert.False(t, ok, "a done ctx starts no set-up")
}

// A DOWN tunnel whose flush gave up (re-join failed) and whose queue is full
// re-joins on the next Send even though that Send is refused.
func TestFullDownQueueStillRejoins(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	nameA, nameB := "a-"+t.Name(), "b-"+t.Name()
	na := memNode(t, net, nameA, rt2rt.WithRequestTimeout(300*time.Millisecond))
	nb := memNode(t, net, nameB)
	logs := newMsgCounter()
	ma := newManager(t, na, WithQueueLimit(3), WithLogger(slog.New(logs)))
	mb := newManager(t, nb)
	ra, rb := &recorder{}, &recorder{}
	require.NoError(t, ma.RegisterType(testType, ra))
	require.NoError(t, mb.RegisterType(testType, rb))
	join(t, na, nb)
	ctx := ctx5s(t)
	ta, err := ma.Open(ctx, nb.ID(), testType)
	require.NoError(t, err)

	net.Partition(nameA, nameB)
	require.Eventually(t, func() bool { return ta.State() == StateDown }, 5*time.Second, time.Millisecond)
	for i := range 3 {
		require.NoError(t, ta.Send(ctx, int64(i)))
	}
	// The flush started by the first Send fails once the re-join window
	// is over; the values stay queued and no flush runs.
	require.Eventually(t, func() bool { return logs.count("queued tunnel data not sent; kept for later") >= 1 }, 5*time.Second, time.Millisecond)

	net.Heal(nameA, nameB)
	assert.ErrorIs(t, ta.Send(ctx, int64(3)), ErrQueueFull)
	require.Eventually(t, func() bool { _, _, n := rb.counts(); return n == 3 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, []any{int64(0), int64(1), int64(2)}, rb.values())
	assert.Equal(t, StateWorking, ta.State())
}

func TestUnencodableQueuedValueIsDropped(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	_, m, _, p := rawSetup(t)
	ctx := ctx5s(t)
	errc := make(chan error, 1)
	go func() { _, err := m.Open(ctx, p.id, testType); errc <- err }()
	req := p.recv()
	tu, ok := m.Lookup(p.id, testType)
	require.True(t, ok)
	require.NoError(t, tu.Send(ctx, make(chan int)), "queued while PENDING")
	require.NoError(t, tu.Send(ctx, "after"))
	p.reply(req["msg_uuid"].(string), 200, map[string]any{"tunnel_id": req["tunnel_id"]})
	require.NoError(t, <-errc)
	d := p.recv()
	assert.Equal(t, "after", d["value"], "the value that cannot be encoded does not block the queue")
	assert.Error(t, tu.Send(ctx, make(chan int)), "sent directly, the error is returned")
}
