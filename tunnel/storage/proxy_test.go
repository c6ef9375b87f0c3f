package storage

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/internal/leakcheck"
	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/tunnel"
)

// TestProxyServerConstrainedCapture plays the calvin-constrained runtime of
// msgpack-constrained.jsonl (lines 4-22: storage and proxy tunnels, CONFIG,
// registry writes) against a Go node serving storage and proxy; the answers
// must have the captured shapes and the runtime must end up registered
// behind the Go node.
func TestProxyServerConstrainedCapture(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	n := tcpNode(t)
	m := manager(t, n)
	store := NewMemStore()
	srv, err := NewServer(m, WithStore(store), WithLogger(quiet()))
	require.NoError(t, err)
	defer srv.Close()
	local, err := NewLocalClient(store)
	require.NoError(t, err)
	defer local.Close()
	proxy, err := NewProxyServer(m, local, WithLogger(quiet()))
	require.NoError(t, err)
	defer proxy.Close()
	proxy.now = func() time.Time { return time.Unix(1795429934, 118870000) }
	_, err = NewProxyServer(m, local)
	assert.ErrorIs(t, err, tunnel.ErrTypeRegistered)
	require.NoError(t, m.RegisterType("token", tunnel.HandlerFuncs{}))

	lines := readCapture(t, "msgpack-constrained.jsonl")
	replies := map[string]map[string]any{}
	var constrained string
	for _, l := range lines {
		if l.msg["cmd"] == "JOIN_REQUEST" {
			constrained = l.msg["id"].(string)
		}
		if l.dir != "from_target" {
			continue
		}
		if l.msg["cmd"] == "REPLY" {
			replies[l.msg["msg_uuid"].(string)] = l.msg["value"].(map[string]any)
		} else if v, ok := l.msg["value"].(map[string]any); ok && l.msg["cmd"] == wire.CmdTunnelData && v["cmd"] == wire.SubReply {
			replies[v["msg_uuid"].(string)] = v
		}
	}
	p := dialRawPeer(t, n, constrained, wire.NameMsgpack)
	ctx := ctx10s(t)

	for _, l := range lines {
		if l.no < 4 || l.no > 22 || l.dir != "to_target" {
			continue
		}
		if l.msg["cmd"] != wire.CmdTunnelNew {
			v, _ := l.msg["value"].(map[string]any)
			if l.msg["cmd"] != wire.CmdTunnelData || (v["cmd"] != "CONFIG" && !wire.IsStorageCmd(v["cmd"].(string))) {
				continue // ACTOR_NEW's REPLY and the like: not this test's business
			}
		}
		p.send(l.msg)
		got := p.read()
		if l.msg["cmd"] == wire.CmdTunnelNew {
			assert.Equal(t, replies[l.msg["msg_uuid"].(string)], got["value"], "line %d", l.no)
			continue
		}
		require.Equal(t, wire.CmdTunnelData, got["cmd"], "line %d", l.no)
		v := got["value"].(map[string]any)
		want := replies[l.msg["value"].(map[string]any)["msg_uuid"].(string)]
		assert.Equal(t, want, v, "line %d: %v", l.no, l.msg["value"].(map[string]any)["cmd"])
	}

	// The runtime is registered behind this node, with its indexes.
	rec, err := local.LookupNode(ctx, constrained)
	require.NoError(t, err)
	assert.Equal(t, n.ID(), rec.Proxy)
	assert.Nil(t, rec.URIs)
	assert.Equal(t, []string{"/node/attribute/node_name/////constrained"}, rec.Attributes.IndexedPublic)
	ids, err := local.NodesWithCapability(ctx, "io.temperature")
	require.NoError(t, err)
	assert.Equal(t, []string{constrained}, ids)
	ids, err = local.NodesWithCapability(ctx, "runtime.constrained.1")
	require.NoError(t, err)
	assert.Equal(t, []string{constrained}, ids)
	_, err = local.Resolve(ctx, constrained)
	assert.ErrorIs(t, err, ErrNotFound, "reached through its proxy, not by URI")

	// The other proxy commands.
	var proxyTunnel string
	for _, l := range lines {
		if l.msg["cmd"] == wire.CmdTunnelNew && l.msg["type"] == "proxy" {
			proxyTunnel = l.msg["tunnel_id"].(string)
		}
	}
	ask := func(sub map[string]any) map[string]any {
		p.send(map[string]any{"cmd": wire.CmdTunnelData, "tunnel_id": proxyTunnel, "value": sub})
		got := p.read()
		v := got["value"].(map[string]any)
		require.Equal(t, sub["msg_uuid"], v["msg_uuid"])
		return v["value"].(map[string]any)
	}
	r := ask(map[string]any{"cmd": "WAKEUP", "msg_uuid": "MSGID_1"})
	assert.Equal(t, int64(200), r["status"])
	assert.Equal(t, map[string]any{"time": 1795429934.11887}, r["data"])
	r = ask(map[string]any{"cmd": "WILL_SLEEP", "time": int64(10), "msg_uuid": "MSGID_2"})
	assert.Equal(t, int64(200), r["status"])
	r = ask(map[string]any{"cmd": "REQ_MATCH", "actor_id": "a1", "requirements": []any{}, "max_placements": int64(1), "msg_uuid": "MSGID_3"})
	assert.Equal(t, int64(404), r["status"])
	assert.Equal(t, map[string]any{"actor_id": "a1"}, r["data"])
	r = ask(map[string]any{"cmd": "GET_ACTOR_MODULE", "actor_type": "std.Identity", "compiler": "mpy-cross", "msg_uuid": "MSGID_4"})
	assert.Equal(t, int64(500), r["status"])
	assert.Equal(t, map[string]any{"actor_type": "std.Identity", "module": nil}, r["data"])
	r = ask(map[string]any{"cmd": "CONFIG", "attributes": 5, "msg_uuid": "MSGID_5"})
	assert.Equal(t, int64(500), r["status"])
	assert.Equal(t, map[string]any{"peer_node_id": constrained}, r["data"])
	r = ask(map[string]any{"cmd": "CONFIG", "attributes": "{not json", "msg_uuid": "MSGID_6"})
	assert.Equal(t, int64(500), r["status"])
	r = ask(map[string]any{"cmd": "FROB", "msg_uuid": "MSGID_7"})
	assert.Equal(t, int64(400), r["status"])

	// DESTROY_REPLY removes the records; it gets no answer.
	p.send(map[string]any{"cmd": wire.CmdTunnelData, "tunnel_id": proxyTunnel, "value": map[string]any{"cmd": "DESTROY_REPLY"}})
	require.Eventually(t, func() bool {
		_, err := store.Get(context.Background(), PrefixNode+constrained)
		return err != nil
	}, 5*time.Second, time.Millisecond)
	ids, err = local.NodesWithCapability(ctx, "io.temperature")
	require.NoError(t, err)
	assert.Empty(t, ids)
	_, err = p.tryRead(100 * time.Millisecond)
	assert.Error(t, err, "no reply to DESTROY_REPLY")
}

func TestProxyAttributes(t *testing.T) {
	a := ProxyAttributes(map[string]any{
		"public": map[string]any{"k": "v"},
		"indexed_public": map[string]any{
			"node_name": map[string]any{"organization": "org/x", "name": "n1"},
			"address":   map[string]any{"country": "SE", "room": "3"},
			"owner":     map[string]any{"personOrGroup": `a\b`},
			"unknown":   map[string]any{"x": "y"},
			"bad":       "not a map",
		},
	})
	assert.Equal(t, map[string]any{"k": "v"}, a.Public)
	assert.Equal(t, []string{
		"/node/attribute/address/SE///////3",
		"/node/attribute/node_name/org\\/x////n1",
		`/node/attribute/owner////a\\b`,
	}, a.IndexedPublic)
	assert.Equal(t, []string{"node/attribute", "node_name", `org\/x`, "", "", "", "n1"},
		IndexLevels(a.IndexedPublic[1], AttributeRootLevels), "escaped slash stays in its level")
	b := ProxyAttributes(map[string]any{"indexed_public": []any{"/node/attribute/node_name/////x", 3}})
	assert.Equal(t, []string{"/node/attribute/node_name/////x"}, b.IndexedPublic)
	_, err := NewProxyServer(nil, nil)
	assert.ErrorIs(t, err, ErrInvalidOption)
}

// FuzzProxyAttributes feeds CONFIG "attributes" texts (a JSON string inside
// the message) to the attribute conversion: no panic, and every index path
// splits into levels under the node/attribute root.
func FuzzProxyAttributes(f *testing.F) {
	for _, s := range []string{
		`{"indexed_public": {"node_name": {"name": "constrained"}}}`,
		`{"indexed_public": {"address": {"country": "SE", "room": "a/b"}}, "public": {"x": 1}}`,
		`{"indexed_public": ["/node/attribute/node_name/////x"]}`,
		`{"indexed_public": {"owner": {"role": "\\\\/"}}}`,
		`[]`, `{}`, `{"indexed_public": 5}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		var attrs map[string]any
		if json.Unmarshal([]byte(text), &attrs) != nil {
			return
		}
		a := ProxyAttributes(attrs)
		for _, p := range a.IndexedPublic {
			levels := IndexLevels(p, AttributeRootLevels)
			if len(levels) == 0 {
				t.Fatalf("no levels for %q", p)
			}
		}
		rec := &NodeRecord{ID: "n", Proxy: "p", Attributes: a}
		if _, err := ParseNodeRecord("n", rec.Value()); err != nil {
			t.Fatalf("record of %q does not parse: %v", text, err)
		}
	})
}
