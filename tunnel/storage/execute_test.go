package storage

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/rt2rt/wire"
)

// sub decodes a TUNNEL_DATA payload the way the node does: as the value of
// a JSON TUNNEL_DATA frame.
func sub(t testing.TB, js string) any {
	t.Helper()
	v, err := wire.JSON.DecodeValue([]byte(js))
	require.NoError(t, err)
	return subValue(v)
}

func subValue(v any) any {
	m := wire.FromMap(map[string]any{"cmd": "TUNNEL_DATA", "from_rt_uuid": "a", "to_rt_uuid": "b", "tunnel_id": "t", "value": v})
	return m.(*wire.TunnelData).Value
}

// rendered is what a sub-message looks like on the wire, as a generic value.
func rendered(t testing.TB, v any) map[string]any {
	t.Helper()
	m, err := wire.ToMap(&wire.TunnelData{Envelope: wire.Envelope{Cmd: wire.CmdTunnelData, From: "a", To: "b"}, TunnelID: "t", Value: v})
	require.NoError(t, err)
	out, ok := m["value"].(map[string]any)
	require.True(t, ok)
	return out
}

func ok200() map[string]any {
	return map[string]any{"status": int64(200), "data": nil, "success_list": []any{int64(200), int64(201), int64(202), int64(203), int64(204), int64(205), int64(206)}}
}

func withStatusMap(s int64) map[string]any {
	m := ok200()
	m["status"] = s
	return m
}

func TestExecuteShapes(t *testing.T) {
	ctx := context.Background()
	st := NewMemStore()
	steps := []struct {
		name string
		req  string
		want map[string]any // nil: no reply
	}{
		{"get missing", `{"cmd":"GET","key":"k","msg_uuid":"1"}`,
			map[string]any{"cmd": "REPLY", "msg_uuid": "1", "key": "k", "response": withStatusMap(404)}},
		{"set", `{"cmd":"SET","key":"k","value":{"a":[1,2]},"msg_uuid":"2"}`,
			map[string]any{"cmd": "REPLY", "msg_uuid": "2", "key": "k", "response": ok200()}},
		{"get", `{"cmd":"GET","key":"k","msg_uuid":"3"}`,
			map[string]any{"cmd": "REPLY", "msg_uuid": "3", "key": "k", "value": map[string]any{"a": []any{int64(1), int64(2)}}}},
		{"set null", `{"cmd":"SET","key":"n","value":null,"msg_uuid":"3b"}`,
			map[string]any{"cmd": "REPLY", "msg_uuid": "3b", "key": "n", "response": ok200()}},
		{"get null", `{"cmd":"GET","key":"n","msg_uuid":"3c"}`,
			map[string]any{"cmd": "REPLY", "msg_uuid": "3c", "key": "n", "value": nil}},
		{"delete", `{"cmd":"DELETE","key":"k","msg_uuid":"4"}`,
			map[string]any{"cmd": "REPLY", "msg_uuid": "4", "key": "k", "response": ok200()}},
		{"delete missing", `{"cmd":"DELETE","key":"k","msg_uuid":"5"}`,
			map[string]any{"cmd": "REPLY", "msg_uuid": "5", "key": "k", "response": ok200()}},
		{"append", `{"cmd":"APPEND","key":"s","value":["x","y","x"],"msg_uuid":"6"}`,
			map[string]any{"cmd": "REPLY", "msg_uuid": "6", "key": "s", "response": ok200()}},
		{"remove", `{"cmd":"REMOVE","key":"s","value":["y"],"msg_uuid":"7"}`,
			map[string]any{"cmd": "REPLY", "msg_uuid": "7", "key": "s", "response": ok200()}},
		{"get_concat", `{"cmd":"GET_CONCAT","key":"s","msg_uuid":"8"}`,
			map[string]any{"cmd": "REPLY", "msg_uuid": "8", "key": "s", "value": []any{"x"}}},
		{"get_concat missing", `{"cmd":"GET_CONCAT","key":"none","msg_uuid":"9"}`,
			map[string]any{"cmd": "REPLY", "msg_uuid": "9", "key": "none", "value": []any{}}},
		{"add_index", `{"cmd":"ADD_INDEX","prefix":"index-","index":["node/capabilities/x"],"value":["n1"],"msg_uuid":"10"}`,
			map[string]any{"cmd": "REPLY", "msg_uuid": "10", "response": ok200()}},
		{"add_index deeper", `{"cmd":"ADD_INDEX","prefix":"index-","index":["supernode","0","1"],"value":["n2"],"msg_uuid":"11"}`,
			map[string]any{"cmd": "REPLY", "msg_uuid": "11", "response": ok200()}},
		{"get_index", `{"cmd":"GET_INDEX","prefix":"index-","index":["supernode"],"msg_uuid":"12"}`,
			map[string]any{"cmd": "REPLY", "msg_uuid": "12", "value": []any{"n2"}}},
		{"remove_index", `{"cmd":"REMOVE_INDEX","prefix":"index-","index":["supernode","0","1"],"value":["n2"],"msg_uuid":"13"}`,
			map[string]any{"cmd": "REPLY", "msg_uuid": "13", "response": ok200()}},
		{"get_index empty", `{"cmd":"GET_INDEX","prefix":"index-","index":["supernode"],"msg_uuid":"14"}`,
			map[string]any{"cmd": "REPLY", "msg_uuid": "14", "value": []any{}}},
		// Malformed requests get response 400 (§6.2 Go).
		{"set without value", `{"cmd":"SET","key":"k","msg_uuid":"20"}`,
			map[string]any{"cmd": "REPLY", "msg_uuid": "20", "key": "k", "response": withStatusMap(400)}},
		{"get without key", `{"cmd":"GET","msg_uuid":"21"}`,
			map[string]any{"cmd": "REPLY", "msg_uuid": "21", "response": withStatusMap(400)}},
		{"key not a string", `{"cmd":"GET","key":7,"msg_uuid":"22"}`,
			map[string]any{"cmd": "REPLY", "msg_uuid": "22", "response": withStatusMap(400)}},
		{"append not a list", `{"cmd":"APPEND","key":"s","value":"xy","msg_uuid":"23"}`,
			map[string]any{"cmd": "REPLY", "msg_uuid": "23", "key": "s", "response": withStatusMap(400)}},
		{"index not strings", `{"cmd":"ADD_INDEX","prefix":"index-","index":[1],"value":["a"],"msg_uuid":"24"}`,
			map[string]any{"cmd": "REPLY", "msg_uuid": "24", "response": withStatusMap(400)}},
		{"get_index without index", `{"cmd":"GET_INDEX","prefix":"index-","msg_uuid":"25"}`,
			map[string]any{"cmd": "REPLY", "msg_uuid": "25", "response": withStatusMap(400)}},
		{"unknown command", `{"cmd":"FROB","key":"k","msg_uuid":"26"}`,
			map[string]any{"cmd": "REPLY", "msg_uuid": "26", "response": withStatusMap(400)}},
		{"token on storage tunnel", `{"cmd":"TOKEN","port_id":"p","peer_port_id":"q","sequencenbr":1,"token":{"type":"Token","data":1},"msg_uuid":"27"}`,
			map[string]any{"cmd": "REPLY", "msg_uuid": "27", "response": withStatusMap(400)}},
		// Nothing to answer to.
		{"no msg_uuid", `{"cmd":"SET","key":"k","value":1}`, nil},
		{"a reply", `{"cmd":"REPLY","msg_uuid":"28","response":{"status":200,"data":null,"success_list":[200]}}`, nil},
		{"not a map", `[1,2]`, nil},
		{"unknown without id", `{"cmd":"FROB"}`, nil},
	}
	for _, s := range steps {
		reply := Execute(ctx, st, sub(t, s.req))
		if s.want == nil {
			assert.Nil(t, reply, s.name)
			continue
		}
		require.NotNil(t, reply, s.name)
		assert.Equal(t, s.want, rendered(t, reply), s.name)
	}
}

// FuzzExecute feeds arbitrary storage sub-messages (decoded as a node
// decodes TUNNEL_DATA values) to the server logic: it must never panic,
// and every reply must be a well-formed REPLY with exactly one of value and
// response.
func FuzzExecute(f *testing.F) {
	for _, s := range []string{
		`{"cmd":"SET","key":"k","value":{"a":1},"msg_uuid":"1"}`,
		`{"cmd":"GET","key":"k","msg_uuid":"2"}`,
		`{"cmd":"APPEND","key":"s","value":["x",1,null,[1]],"msg_uuid":"3"}`,
		`{"cmd":"REMOVE","key":"s","value":["x"],"msg_uuid":"4"}`,
		`{"cmd":"GET_CONCAT","key":"s","msg_uuid":"5"}`,
		`{"cmd":"ADD_INDEX","prefix":"index-","index":["a","b"],"value":["n"],"msg_uuid":"6"}`,
		`{"cmd":"REMOVE_INDEX","prefix":"index-","index":["a"],"value":["n"],"msg_uuid":"7"}`,
		`{"cmd":"GET_INDEX","prefix":"index-","index":[],"msg_uuid":"8"}`,
		`{"cmd":"DELETE","key":"k","msg_uuid":"9"}`,
		`{"cmd":"GET","key":{"x":1},"msg_uuid":10}`,
		`{"cmd":"ADD_INDEX","index":"a/b","value":"n","msg_uuid":"11"}`,
		`{"cmd":"REPLY","msg_uuid":"12","value":1}`,
		`"just a string"`,
	} {
		f.Add([]byte(s))
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, payload []byte) {
		v, err := wire.JSON.DecodeValue(payload)
		if err != nil {
			return
		}
		st := NewMemStore()
		// Run it twice so that stored values are read back as well.
		for range 2 {
			reply := Execute(ctx, st, subValue(v))
			if reply == nil {
				continue
			}
			if reply.Cmd != wire.SubReply || reply.MsgUUID == "" {
				t.Fatalf("bad reply header %+v", reply.SubEnvelope)
			}
			if reply.Response != nil && reply.Value != nil {
				t.Fatalf("reply has both value and response")
			}
			if _, err := wire.ToMap(&wire.TunnelData{Envelope: wire.Envelope{Cmd: wire.CmdTunnelData, From: "a", To: "b"}, TunnelID: "t", Value: reply}); err != nil {
				t.Fatalf("reply cannot be encoded: %v", err)
			}
		}
	})
}
