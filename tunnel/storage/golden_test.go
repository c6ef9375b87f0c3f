package storage

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/internal/leakcheck"
	"github.com/meshkit/meshkit/rt2rt/wire"
)

const captureFile = "json-two-nodes.jsonl"

// storageTraffic splits json-two-nodes.jsonl: node B's storage requests of
// lines 4-653 (in order) and node A's replies to them (anywhere in the
// file: the last few arrive after line 653), keyed by the sub-message's
// msg_uuid.
func storageTraffic(t *testing.T) (tunnelNew map[string]any, requests []map[string]any, replies map[string]map[string]any) {
	tunnelNew, requests, replies = storageTrafficOf(t, captureFile, 653)
	require.Len(t, requests, 139+185, "139 SET and 185 ADD_INDEX (§14.2)")
	return tunnelNew, requests, replies
}

// storageTrafficOf collects the storage TUNNEL_NEW, the storage requests up
// to line maxLine (0: all) and all storage replies of a capture.
func storageTrafficOf(t *testing.T, file string, maxLine int) (tunnelNew map[string]any, requests []map[string]any, replies map[string]map[string]any) {
	lines := readCapture(t, file)
	replies = map[string]map[string]any{}
	for _, l := range lines {
		if l.msg["cmd"] != wire.CmdTunnelData {
			if l.msg["cmd"] == wire.CmdTunnelNew && l.msg["type"] == TunnelType {
				tunnelNew = l.msg
			}
			continue
		}
		v, _ := l.msg["value"].(map[string]any)
		switch {
		case l.dir == "from_target" && v["cmd"] == wire.SubReply:
			replies[v["msg_uuid"].(string)] = v
		case l.dir == "to_target" && (maxLine == 0 || l.no <= maxLine) && wire.IsStorageCmd(v["cmd"].(string)):
			requests = append(requests, l.msg)
		}
	}
	require.NotNil(t, tunnelNew)
	return tunnelNew, requests, replies
}

// TestGoldenExecute replays every storage request of the three captures
// (B's writes to A in both two-node sessions, constrained's writes through
// its storage tunnel) in order through the server logic: every reply must
// equal the captured Calvin registry's.
func TestGoldenExecute(t *testing.T) {
	for _, file := range []string{captureFile, "msgpack-two-nodes.jsonl", "msgpack-constrained.jsonl"} {
		t.Run(file, func(t *testing.T) {
			lines := readCapture(t, file)
			replies := map[string]map[string]any{}
			for _, l := range lines {
				if v, ok := l.msg["value"].(map[string]any); ok && l.dir == "from_target" && l.msg["cmd"] == wire.CmdTunnelData && v["cmd"] == wire.SubReply {
					replies[v["msg_uuid"].(string)] = v
				}
			}
			st := NewMemStore()
			replayed := 0
			for _, l := range lines {
				v, ok := l.msg["value"].(map[string]any)
				if !ok || l.dir != "to_target" || l.msg["cmd"] != wire.CmdTunnelData || !wire.IsStorageCmd(v["cmd"].(string)) {
					continue
				}
				want, ok := replies[v["msg_uuid"].(string)]
				require.True(t, ok, "line %d answered", l.no)
				got := Execute(context.Background(), st, subValue(cloneValue(v)))
				require.NotNil(t, got)
				assert.Equal(t, want, rendered(t, got), "line %d: %s %v", l.no, v["cmd"], v["key"])
				replayed++
			}
			assert.Positive(t, replayed)
		})
	}
}

// TestGoldenRegistryContents reads back what node B registered at A, the
// way Calvin looks it up.
func TestGoldenRegistryContents(t *testing.T) {
	_, requests, _ := storageTraffic(t)
	st := NewMemStore()
	for _, req := range requests {
		require.NotNil(t, Execute(context.Background(), st, subValue(cloneValue(req["value"]))))
	}
	rec, err := st.Get(context.Background(), "node-c4133d27-e3a1-4b50-bcb5-f24e5676bfa4")
	require.NoError(t, err)
	node, err := ParseNodeRecord("c4133d27-e3a1-4b50-bcb5-f24e5676bfa4", rec)
	require.NoError(t, err)
	assert.Equal(t, []string{"calvinip://127.0.0.1:5002"}, node.URIs)
	ids, err := st.GetIndex(context.Background(), IndexLevels("/node/attribute/node_name/////nodeB", AttributeRootLevels))
	require.NoError(t, err)
	assert.Equal(t, []any{"c4133d27-e3a1-4b50-bcb5-f24e5676bfa4"}, ids)
	ids, err = st.GetIndex(context.Background(), []string{"supernode", "0"})
	require.NoError(t, err)
	assert.Equal(t, []any{"c4133d27-e3a1-4b50-bcb5-f24e5676bfa4"}, ids)
	ids, err = st.GetIndex(context.Background(), CapabilityIndex("math.random"))
	require.NoError(t, err)
	assert.Equal(t, []any{"c4133d27-e3a1-4b50-bcb5-f24e5676bfa4"}, ids)
}

// TestGoldenReplayOverWire plays node B of the capture against a Go
// registry over loopback TCP: B's TUNNEL_NEW and all its storage requests
// go out as captured (only to_rt_uuid changes to the Go node's id), and the
// Go node's answers must match A's in shape and content.
func TestGoldenReplayOverWire(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	for _, c := range []struct {
		file  string
		coder string
		max   int
	}{{captureFile, wire.NameJSON, 653}, {"msgpack-two-nodes.jsonl", wire.NameMsgpack, 0}} {
		t.Run(c.file, func(t *testing.T) {
			tunnelNew, requests, replies := storageTrafficOf(t, c.file, c.max)
			n := tcpNode(t)
			srv, err := NewServer(manager(t, n), WithLogger(quiet()))
			require.NoError(t, err)
			defer srv.Close()

			b := dialRawPeer(t, n, tunnelNew["from_rt_uuid"].(string), c.coder)
			b.send(tunnelNew)
			r := b.read()
			assert.Equal(t, "REPLY", r["cmd"])
			assert.Equal(t, tunnelNew["msg_uuid"], r["msg_uuid"])
			assert.Equal(t, map[string]any{"status": int64(200), "data": map[string]any{"tunnel_id": tunnelNew["tunnel_id"]},
				"success_list": []any{int64(200), int64(201), int64(202), int64(203), int64(204), int64(205), int64(206)}}, r["value"],
				"as json-two-nodes.jsonl:5")

			for _, req := range requests {
				b.send(req)
			}
			for range requests {
				m := b.read()
				require.Equal(t, "TUNNEL_DATA", m["cmd"])
				assert.Equal(t, tunnelNew["tunnel_id"], m["tunnel_id"])
				assert.ElementsMatch(t, []string{"cmd", "from_rt_uuid", "to_rt_uuid", "tunnel_id", "value"}, keysOf(m),
					"TUNNEL_DATA envelope (A also adds a msg_uuid, which Go omits, §4.3)")
				v := m["value"].(map[string]any)
				want, ok := replies[v["msg_uuid"].(string)]
				require.True(t, ok, "reply to a request B sent: %v", v)
				assert.Equal(t, want, v)
			}
			_, err = b.tryRead(100 * time.Millisecond)
			assert.Error(t, err, "one reply per request")
		})
	}
}

// capturedRequestKeys are the sub-message keys of the storage requests Calvin
// sends: from the capture where it has them (SET :6, ADD_INDEX :145,
// DELETE :719), from the §6.2 table for the others.
func capturedRequestKeys(t *testing.T) map[string][]string {
	keys := map[string][]string{
		wire.StorageGet:         {"cmd", "key", "msg_uuid"},
		wire.StorageAppend:      {"cmd", "key", "value", "msg_uuid"},
		wire.StorageRemove:      {"cmd", "key", "value", "msg_uuid"},
		wire.StorageGetConcat:   {"cmd", "key", "msg_uuid"},
		wire.StorageRemoveIndex: {"cmd", "prefix", "index", "value", "msg_uuid"},
		wire.StorageGetIndex:    {"cmd", "prefix", "index", "msg_uuid"},
	}
	for _, l := range readCapture(t, captureFile) {
		if l.msg["cmd"] != wire.CmdTunnelData || l.dir != "to_target" {
			continue
		}
		v := l.msg["value"].(map[string]any)
		cmd := v["cmd"].(string)
		if _, seen := keys[cmd]; !seen && wire.IsStorageCmd(cmd) {
			keys[cmd] = keysOf(v)
		}
	}
	for _, cmd := range []string{wire.StorageSet, wire.StorageAddIndex, wire.StorageDelete} {
		require.Contains(t, keys, cmd, "captured")
	}
	return keys
}

// TestClientRequestShapes runs the Go client against a scripted Calvin
// registry: each request must carry the keys Calvin's client sends, and the
// replies, given exactly as Calvin's registry shapes them, must be read.
func TestClientRequestShapes(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	want := capturedRequestKeys(t)
	n := tcpNode(t)
	m := manager(t, n)
	a := dialRawPeer(t, n, uuid.NewString(), wire.NameJSON) // plays registry node A
	c, err := NewClient(m, a.id, WithLogger(quiet()))
	require.NoError(t, err)
	defer c.Close()
	ctx := ctx10s(t)

	// The registry side: accept the tunnel, then answer each request like
	// Calvin's local storage would, and check its shape.
	type seen struct {
		cmd  string
		keys []string
	}
	seenc := make(chan seen, 16)
	go func() {
		tn, err := a.tryRead(5 * time.Second)
		if err != nil {
			close(seenc)
			return
		}
		a.send(map[string]any{"cmd": "REPLY", "msg_uuid": tn["msg_uuid"],
			"value": map[string]any{"status": 200, "data": map[string]any{"tunnel_id": tn["tunnel_id"]}, "success_list": []any{200, 201, 202, 203, 204, 205, 206}}})
		st := NewMemStore()
		for {
			d, err := a.tryRead(5 * time.Second)
			if err != nil {
				close(seenc)
				return
			}
			v := d["value"].(map[string]any)
			seenc <- seen{cmd: v["cmd"].(string), keys: keysOf(v)}
			reply := Execute(context.Background(), st, subValue(v))
			a.send(map[string]any{"cmd": "TUNNEL_DATA", "tunnel_id": d["tunnel_id"], "value": rendered(t, reply),
				"msg_uuid": uuid.NewString()}) // Calvin puts one on every TUNNEL_DATA
		}
	}()

	check := func(cmd string) {
		t.Helper()
		s, ok := <-seenc
		require.True(t, ok)
		assert.Equal(t, cmd, s.cmd)
		assert.ElementsMatch(t, want[cmd], s.keys, cmd)
	}
	require.NoError(t, c.Set(ctx, "node-x", map[string]any{"uris": []any{"calvinip://h:1"}}))
	check(wire.StorageSet)
	v, err := c.Get(ctx, "node-x")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"uris": []any{"calvinip://h:1"}}, v)
	check(wire.StorageGet)
	_, err = c.Get(ctx, "node-y")
	assert.ErrorIs(t, err, ErrNotFound)
	check(wire.StorageGet)
	require.NoError(t, c.Delete(ctx, "node-x"))
	check(wire.StorageDelete)
	require.NoError(t, c.Append(ctx, "s", []any{"a"}))
	check(wire.StorageAppend)
	require.NoError(t, c.Remove(ctx, "s", []any{"b"}))
	check(wire.StorageRemove)
	l, err := c.GetConcat(ctx, "s")
	require.NoError(t, err)
	assert.Equal(t, []any{"a"}, l)
	check(wire.StorageGetConcat)
	require.NoError(t, c.AddIndex(ctx, []string{"node/capabilities/io.print"}, []any{"x"}))
	check(wire.StorageAddIndex)
	require.NoError(t, c.RemoveIndex(ctx, []string{"node/capabilities/io.print"}, []any{"x"}))
	check(wire.StorageRemoveIndex)
	l, err = c.GetIndex(ctx, []string{"node"})
	require.NoError(t, err)
	assert.Equal(t, []any{}, l)
	check(wire.StorageGetIndex)
	require.NoError(t, c.Close())
}
