package storage

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/rt2rt/wire"
)

func TestIndexLevels(t *testing.T) {
	cases := []struct {
		path string
		root int
		want []string
	}{
		{"/node/attribute/node_name/////nodeB", AttributeRootLevels, []string{"node/attribute", "node_name", "", "", "", "", "nodeB"}},
		{"node/capabilities/math.random", CapabilityRootLevels, []string{"node/capabilities/math.random"}},
		{"actor/signature/abc/node-1", CapabilityRootLevels, []string{"actor/signature/abc", "node-1"}},
		{"supernode/0/1", 1, []string{"supernode", "0", "1"}},
		{"/a", 2, []string{"a"}},
		{"", 2, []string{""}},
		{`/node/attribute/owner/my\/org/unit`, 2, []string{"node/attribute", "owner", `my\/org`, "unit"}},
		{`a\\/b`, 1, []string{`a\\`, "b"}}, // an escaped backslash does not escape the slash
	}
	for _, c := range cases {
		assert.Equal(t, c.want, IndexLevels(c.path, c.root), c.path)
	}
	assert.Equal(t, "/node/attribute/node_name/////nodeB", NodeNameIndex("", "", "", "", "nodeB"))
}

func TestNodeRecordMatchesCapture(t *testing.T) {
	// json-two-nodes.jsonl:67
	captured := map[string]any{
		"attributes":   map[string]any{"indexed_public": []any{"/node/attribute/node_name/////nodeB"}, "public": map[string]any{}},
		"uris":         []any{"calvinip://127.0.0.1:5002"},
		"control_uris": []any{"http://127.0.0.1:5003"},
	}
	rec, err := ParseNodeRecord("c4133d27", captured)
	require.NoError(t, err)
	assert.Equal(t, []string{"calvinip://127.0.0.1:5002"}, rec.URIs)
	assert.Equal(t, []string{"http://127.0.0.1:5003"}, rec.ControlURIs)
	assert.Equal(t, []string{"/node/attribute/node_name/////nodeB"}, rec.Attributes.IndexedPublic)
	assert.Equal(t, captured, rec.Value(), "re-rendered as Calvin writes it")

	proxied := &NodeRecord{ID: "c", Proxy: "p", Attributes: NodeAttributes{Public: map[string]any{"x": int64(1)}}}
	v := proxied.Value()
	assert.Nil(t, v["uris"])
	assert.Nil(t, v["control_uris"])
	assert.Equal(t, "p", v["proxy"])
	back, err := ParseNodeRecord("c", v)
	require.NoError(t, err)
	assert.Equal(t, "p", back.Proxy)
	assert.Nil(t, back.URIs)

	for _, bad := range []any{nil, "x", []any{}, map[string]any{"uris": "x"}, map[string]any{"uris": []any{1}}, map[string]any{"proxy": 1}, map[string]any{"attributes": "x"}} {
		_, err := ParseNodeRecord("n", bad)
		assert.ErrorIs(t, err, ErrBadRequest, "%v", bad)
	}
	// Unknown keys survive.
	r, err := ParseNodeRecord("n", map[string]any{"uris": nil, "future": true})
	require.NoError(t, err)
	assert.Equal(t, true, r.Value()["future"])
}

func TestActorAndPortRecordsMatchCapture(t *testing.T) {
	// json-two-nodes.jsonl:659
	actor := map[string]any{"is_shadow": false, "name": "xflow:snk",
		"inports": []any{map[string]any{"id": "a820e000", "name": "token"}},
		"node_id": "c4133d27", "outports": []any{}, "type": "test.Sink"}
	ar, err := ParseActorRecord("3e4e18f4", actor)
	require.NoError(t, err)
	assert.Equal(t, "test.Sink", ar.Type)
	assert.Equal(t, []PortRef{{ID: "a820e000", Name: "token"}}, ar.InPorts)
	assert.Equal(t, actor, ar.Value())

	// constrained writes replication keys and "connected" as a string
	// (msgpack-constrained.jsonl:14).
	port := map[string]any{"peers": []any{[]any{"d225c01d", "92da0434"}},
		"properties": map[string]any{"direction": "in", "routing": "default", "nbr_peers": int64(1)},
		"name":       "token", "connected": "false", "node_id": "c094c4c0", "actor_id": "7926db19"}
	pr, err := ParsePortRecord("8b9948e1", port)
	require.NoError(t, err)
	assert.False(t, pr.Connected)
	assert.Equal(t, []PortPeer{{NodeID: "d225c01d", PortID: "92da0434"}}, pr.Peers)

	// Calvin's own port record, not connected: no peers key (line 658).
	calvinPort := map[string]any{"properties": map[string]any{"direction": "in", "routing": "default", "nbr_peers": int64(1)},
		"node_id": "c4133d27", "connected": false, "name": "token", "actor_id": "3e4e18f4"}
	pr, err = ParsePortRecord("a820e000", calvinPort)
	require.NoError(t, err)
	assert.Equal(t, calvinPort, pr.Value())
	pr.Connected = true
	pr.Peers = []PortPeer{{NodeID: "local", PortID: "p2"}}
	assert.Equal(t, []any{[]any{"local", "p2"}}, pr.Value()["peers"])

	for _, bad := range []any{nil, 1, map[string]any{"inports": "x"}, map[string]any{"inports": []any{1}}, map[string]any{"name": 1}} {
		_, err := ParseActorRecord("a", bad)
		assert.ErrorIs(t, err, ErrBadRequest, "%v", bad)
	}
	for _, bad := range []any{"x", map[string]any{"peers": []any{"x"}}, map[string]any{"peers": 1}, map[string]any{"properties": 1}, map[string]any{"node_id": 2}} {
		_, err := ParsePortRecord("p", bad)
		assert.ErrorIs(t, err, ErrBadRequest, "%v", bad)
	}
	assert.True(t, truthy("True"))
	assert.True(t, truthy(int64(1)))
	assert.False(t, truthy(nil))
}

// FuzzParseRecords feeds registry values (as read from a remote registry)
// to the record parsers: no panic, and what parses re-renders to a value
// that parses again to the same record.
func FuzzParseRecords(f *testing.F) {
	for _, s := range []string{
		`{"attributes": {"indexed_public": ["/node/attribute/node_name/////nodeB"], "public": {}}, "uris": ["calvinip://127.0.0.1:5002"], "control_uris": ["http://127.0.0.1:5003"]}`,
		`{"proxy": "p", "uris": null, "control_uris": null, "attributes": {"indexed_public": {"node_name": {"name": "c"}}}}`,
		`{"is_shadow": false, "name": "xflow:snk", "inports": [{"id": "a", "name": "token"}], "node_id": "n", "outports": [], "type": "test.Sink"}`,
		`{"peers": [["d", "p"]], "properties": {"direction": "in"}, "name": "token", "connected": "false", "node_id": "c", "actor_id": "a"}`,
		`[1, 2]`, `null`, `{"uris": 5}`, `{"peers": [[1]]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := wire.JSON.DecodeValue(b)
		if err != nil {
			return
		}
		if r, err := ParseNodeRecord("n", v); err == nil {
			again, err := ParseNodeRecord("n", r.Value())
			if err != nil {
				t.Fatalf("node record re-parse: %v", err)
			}
			if again.Proxy != r.Proxy || len(again.URIs) != len(r.URIs) {
				t.Fatalf("node record changed: %+v vs %+v", r, again)
			}
		}
		if r, err := ParseActorRecord("a", v); err == nil {
			again, err := ParseActorRecord("a", r.Value())
			if err != nil || again.Type != r.Type || len(again.InPorts) != len(r.InPorts) {
				t.Fatalf("actor record re-parse: %v", err)
			}
		}
		if r, err := ParsePortRecord("p", v); err == nil {
			again, err := ParsePortRecord("p", r.Value())
			if err != nil || again.Connected != r.Connected || len(again.Peers) != len(r.Peers) {
				t.Fatalf("port record re-parse: %v", err)
			}
		}
	})
}
