package rt2rt

import (
	"context"
	"encoding/binary"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/internal/leakcheck"
	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/transport"
)

// TestMalformedInputKeepsServing: a scripted peer sends every kind of bad
// frame; the node answers only where the spec says, keeps that link, and
// keeps serving another peer throughout.
func TestMalformedInputKeepsServing(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	for _, coder := range []string{"json", "msgpack"} {
		t.Run(coder, func(t *testing.T) {
			rec := &recorder{}
			n := tcpNode(t, WithObserver(rec))
			n.Handle(wire.CmdPortConnect, echoPortConnect)
			good := tcpNode(t)
			joined(t, good, n)

			p := dialRaw(t, n.URIs()[0])
			rep := p.join("raw", coder)
			require.Equal(t, coder, rep["serializer"])
			ser, _ := wire.DefaultRegistry().Lookup(coder)
			env := func(cmd string, kv ...any) map[string]any {
				m := map[string]any{"cmd": cmd, "from_rt_uuid": "raw", "to_rt_uuid": n.ID()}
				for i := 0; i+1 < len(kv); i += 2 {
					m[kv[i].(string)] = kv[i+1]
				}
				return m
			}

			p.write([]byte{0xc1, 0xff, '{', '['})                                    // undecodable
			p.writeMsg(ser, map[string]any{"cmd": "PORT_CONNECT", "msg_uuid": "m0"}) // no to_rt_uuid
			p.writeMsg(ser, env("NO_SUCH_COMMAND", "msg_uuid", "m1"))                // unknown cmd: silence
			p.writeMsg(ser, map[string]any{"to_rt_uuid": n.ID(), "msg_uuid": "m2"})  // no cmd: silence
			p.writeMsg(ser, env("JOIN_REQUEST", "id", "raw", "sid", nil))            // join after join: dropped
			p.writeMsg(ser, env("TUNNEL_NEW", "msg_uuid", "m3", "tunnel_id", "t"))   // missing type, policy: 400
			p.writeMsg(ser, env("TUNNEL_DATA", "msg_uuid", "m4", "tunnel_id", "t"))  // never answered
			p.writeMsg(ser, env("PORT_CONNECT", "msg_uuid", "m5", "tunnel_id", "t")) // no port named: 400
			p.writeMsg(ser, env("PORT_CONNECT", "msg_uuid", "m6", "tunnel_id", "t", "port_id", "a",
				"port_properties", map[string]any{}, "peer_port_id", "pp")) // fine: handler answers 200
			p.writeMsg(ser, env("REPLY", "msg_uuid", "unknown", "value", map[string]any{"status": int64(200)}))

			r := p.readMsg(ser)
			assert.Equal(t, "REPLY", r["cmd"])
			assert.Equal(t, "m3", r["msg_uuid"])
			assert.Equal(t, "raw", r["to_rt_uuid"])
			assert.Equal(t, n.ID(), r["from_rt_uuid"])
			assertStatus(t, r, 400)
			r = p.readMsg(ser)
			assert.Equal(t, "m5", r["msg_uuid"])
			assertStatus(t, r, 400)
			r = p.readMsg(ser)
			assert.Equal(t, "m6", r["msg_uuid"])
			assertStatus(t, r, 200)

			// The other peer is still served, and so is this one.
			n.mu.Lock()
			_, linked := n.links["raw"]
			n.mu.Unlock()
			assert.True(t, linked)
			good.Handle(wire.CmdPortConnect, echoPortConnect)
			_, err := n.Request(context.Background(), good.ID(), portConnect("g"))
			require.NoError(t, err)
			assert.GreaterOrEqual(t, rec.count(func(r *recorder) int { return len(r.dropped) }), 4)

			// A length prefix over 20 MiB ends that connection only.
			var hdr [4]byte
			binary.BigEndian.PutUint32(hdr[:], transport.DefaultMaxFrameSize+1)
			_, err = p.c.Write(hdr[:])
			require.NoError(t, err)
			assert.True(t, p.closedByNode(5*time.Second))
			require.Eventually(t, func() bool { return !hasPeer(n, "raw") }, 5*time.Second, time.Millisecond)
			_, err = good.Request(context.Background(), n.ID(), portConnect("g"))
			require.NoError(t, err)
		})
	}
}

func assertStatus(t *testing.T, reply map[string]any, status int64) {
	t.Helper()
	v, ok := reply["value"].(map[string]any)
	require.True(t, ok, "REPLY without value map: %v", reply)
	got, _ := wire.ToInt64(v["status"])
	assert.Equal(t, status, got)
	assert.Contains(t, v, "data")
	assert.Contains(t, v, "success_list")
}

// TestDefaultAnswers: commands nobody registered get Calvin's answers
// (§4.5, §5, §8, §9) and known commands with missing keys get 400.
func TestDefaultAnswers(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	a := memNode(t, net, "a")
	b := memNode(t, net, "b")
	joined(t, a, b)
	one := 1
	raw := func(cmd string, kv map[string]any) wire.Message {
		return &wire.Unknown{Envelope: wire.Envelope{Cmd: cmd, Extra: kv}}
	}
	for _, tc := range []struct {
		name   string
		msg    wire.Message
		status int
		data   any
	}{
		{"authentication", &wire.SecurityRequest{Envelope: wire.Envelope{Cmd: wire.CmdAuthenticationDecision}, JWT: "x"}, 404, nil},
		{"authorization register", &wire.SecurityRequest{Envelope: wire.Envelope{Cmd: wire.CmdAuthorizationRegister}}, 404, nil},
		{"authorization decision", &wire.SecurityRequest{Envelope: wire.Envelope{Cmd: wire.CmdAuthorizationDecision}}, 404, nil},
		{"authorization search", &wire.SecurityRequest{Envelope: wire.Envelope{Cmd: wire.CmdAuthorizationSearch}}, 404, nil},
		{"queue pressure", &wire.QueuePressure{ActorID: "x"}, 501, nil},
		{"leader elected replication", &wire.LeaderElected{Type: "replication", TypeCmd: "lock"}, 501, nil},
		{"leader elected other type", &wire.LeaderElected{Type: "storage", TypeCmd: "lock"}, 400, nil},
		{"leader elected bad type_cmd", &wire.LeaderElected{Type: "replication", TypeCmd: "dance"}, 400, nil},
		{"tunnel new unknown type", &wire.TunnelNew{TunnelID: "t1", Type: "token"}, 500, map[string]any{"tunnel_id": "t1"}},
		{"tunnel new without policy", raw("TUNNEL_NEW", map[string]any{"tunnel_id": "t1", "type": "token"}), 400, nil},
		{"tunnel destroy unknown", &wire.TunnelDestroy{TunnelID: "t1"}, 404, nil},
		{"port connect no port", portConnect("p"), 404, nil},
		{"port connect without tunnel_id", raw("PORT_CONNECT", map[string]any{"port_id": "a", "peer_port_id": "b"}), 400, nil},
		{"port connect by name, keys present", raw("PORT_CONNECT", map[string]any{"port_id": "a", "tunnel_id": "t", "peer_actor_id": nil, "peer_port_name": nil, "peer_port_properties": nil}), 404, nil},
		{"port disconnect no port", &wire.PortDisconnect{PortID: "a", PeerPortID: "b"}, 404, nil},
		{"port disconnect without port_id", raw("PORT_DISCONNECT", map[string]any{"peer_port_id": "b"}), 400, nil},
		{"port remote connect", &wire.PortRemoteConnect{PortID: "a", PeerPortID: "b"}, 404, nil},
		{"actor new", &wire.ActorNew{State: wire.ActorNewState{ActorType: "std.Counter", ActorState: map[string]any{}}}, 500, nil},
		{"actor new without state", raw("ACTOR_NEW", nil), 400, nil},
		{"actor migrate unknown actor", &wire.ActorMigrate{ActorID: "x", PeerNodeID: "y"}, 500, nil},
		{"actor migrate without target", raw("ACTOR_MIGRATE", map[string]any{"actor_id": "x"}), 400, nil},
		{"app destroy nothing", &wire.AppDestroy{AppUUID: "app", ActorUUIDs: []string{}}, 200, []any{}},
		{"app destroy missing", &wire.AppDestroy{AppUUID: "app", ActorUUIDs: []string{"x", "y"}}, 500, []any{"x", "y"}},
		{"app destroy disconnect missing", &wire.AppDestroy{AppUUID: "app", ActorUUIDs: []string{"x"}, Disconnect: &one}, 500, map[string]any{"missing": []any{"x"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := a.Request(context.Background(), b.ID(), tc.msg)
			require.NoError(t, err)
			assert.Equal(t, tc.status, resp.Status)
			assert.True(t, wire.Equal(tc.data, resp.Data), "data %v, want %v", resp.Data, tc.data)
			assert.Equal(t, wire.DefaultSuccessList(), resp.SuccessList)
		})
	}
}

// TestShutdownAnswers: during Shutdown the §4.7 commands get their fixed
// status without reaching handlers, the rest keeps flowing.
func TestShutdownAnswers(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	a := memNode(t, net, "a")
	b := memNode(t, net, "b")
	called := map[string]int{}
	calls := make(chan string, 16)
	for _, cmd := range []string{wire.CmdPortConnect, wire.CmdPortDisconnect, wire.CmdActorNew, wire.CmdTunnelNew} {
		b.Handle(cmd, func(ctx context.Context, in *Incoming) {
			calls <- in.Msg.Header().Cmd
			_ = in.Reply(wire.NewResponse(200, nil))
		})
	}
	gotData := make(chan struct{}, 1)
	b.Handle(wire.CmdTunnelData, func(ctx context.Context, in *Incoming) { gotData <- struct{}{} })
	joined(t, a, b)

	inHook := make(chan struct{})
	release := make(chan struct{})
	b.OnShutdown(func(ctx context.Context) {
		close(inHook)
		<-release
	})
	var downs []PeerEvent
	downCh := make(chan struct{})
	a.Subscribe(func(ev PeerEvent) {
		if !ev.Up {
			downs = append(downs, ev)
			close(downCh)
		}
	})
	shutdownErr := make(chan error, 1)
	go func() { shutdownErr <- b.Shutdown(context.Background()) }()
	<-inHook
	assert.True(t, b.ShuttingDown())

	for _, tc := range []struct {
		msg    wire.Message
		status int
	}{
		{&wire.ActorNew{State: wire.ActorNewState{ActorType: "x", ActorState: map[string]any{}}}, 500},
		{&wire.ActorMigrate{ActorID: "x", PeerNodeID: "y"}, 404},
		{&wire.AppDestroy{AppUUID: "a", ActorUUIDs: []string{}}, 404},
		{portConnect("p"), 404},
		{&wire.PortRemoteConnect{PortID: "a", PeerPortID: "b"}, 404},
		{&wire.TunnelNew{TunnelID: "t", Type: "token"}, 500},
		{&wire.SecurityRequest{Envelope: wire.Envelope{Cmd: wire.CmdAuthenticationDecision}}, 500},
		{&wire.SecurityRequest{Envelope: wire.Envelope{Cmd: wire.CmdAuthorizationRegister}}, 404},
		{&wire.SecurityRequest{Envelope: wire.Envelope{Cmd: wire.CmdAuthorizationDecision}}, 404},
		{&wire.SecurityRequest{Envelope: wire.Envelope{Cmd: wire.CmdAuthorizationSearch}}, 500},
		{&wire.PortDisconnect{PortID: "a", PeerPortID: "b"}, 200}, // still processed
	} {
		resp, err := a.Request(context.Background(), b.ID(), tc.msg)
		require.NoError(t, err)
		assert.Equal(t, tc.status, resp.Status, tc.msg.Header().Cmd)
	}
	require.NoError(t, a.Send(context.Background(), b.ID(), tunnelData("t", nil)))
	<-gotData
	close(calls)
	for c := range calls {
		called[c]++
	}
	assert.Equal(t, map[string]int{wire.CmdPortDisconnect: 1}, called)
	// New joins are refused while shutting down.
	c := memNode(t, net, "c")
	_, err := c.Join(context.Background(), b.URIs()[0])
	require.Error(t, err)

	close(release)
	require.NoError(t, <-shutdownErr)
	<-downCh
	assert.Equal(t, b.ID(), downs[0].Peer)
	require.NoError(t, b.Close())
}

func TestShutdownWaitsForPendingRequests(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	a := memNode(t, net, "a")
	b := memNode(t, net, "b")
	held := holdRequests(b)
	joined(t, a, b)
	res := make(chan error, 1)
	go func() {
		_, err := a.Request(context.Background(), b.ID(), portConnect("p"))
		res <- err
	}()
	in := <-held
	done := make(chan error, 1)
	go func() { done <- a.Shutdown(context.Background()) }()
	require.Eventually(t, a.ShuttingDown, 5*time.Second, time.Millisecond)
	select {
	case <-done:
		t.Fatal("Shutdown returned with a request outstanding")
	default:
	}
	require.NoError(t, in.Reply(wire.NewResponse(200, nil)))
	require.NoError(t, <-res)
	require.NoError(t, <-done)

	// A Shutdown whose context ends first still closes the node.
	c := memNode(t, net, "c")
	held = holdRequests(b)
	joined(t, c, b)
	go func() {
		_, err := c.Request(context.Background(), b.ID(), portConnect("p"))
		res <- err
	}()
	<-held
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, c.Shutdown(ctx), context.DeadlineExceeded)
	require.ErrorIs(t, <-res, ErrClosed)
}

func TestHandlerPanicIsContained(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	a := memNode(t, net, "a")
	b := memNode(t, net, "b")
	b.Handle(wire.CmdPortConnect, func(ctx context.Context, in *Incoming) { panic("boom") })
	joined(t, a, b)
	resp, err := a.Request(context.Background(), b.ID(), portConnect("p"))
	require.NoError(t, err)
	assert.Equal(t, 500, resp.Status)
	b.Handle(wire.CmdPortConnect, nil) // back to the default answer
	resp, err = a.Request(context.Background(), b.ID(), portConnect("p"))
	require.NoError(t, err)
	assert.Equal(t, 404, resp.Status)
}
