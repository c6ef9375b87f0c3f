package wire

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func tokenFrame() *TunnelData {
	return &TunnelData{
		Envelope: Envelope{From: "31d7387a-f848-41f1-89d1-c2eeb8c11ed5", To: "c4133d27-e3a1-4b50-bcb5-f24e5676bfa4", MsgUUID: "be53403e-ef1b-4b46-a93e-ddcd6eebf226"},
		TunnelID: "53b3219d-c368-4f80-8952-b025fbfbae6e",
		Value: &Token{
			PortID:      "79a167d5-bf95-4c28-8154-271a096dbbdc",
			PeerPortID:  "a820e000-f8e0-4f0a-b9f0-bc3594685ab2",
			SequenceNbr: 5,
			Token:       TokenPayload{Type: TokenTypeToken, Data: int64(6)},
		},
	}
}

func TestTokenFrameRoundTrip(t *testing.T) {
	for _, s := range []Serializer{JSON, Msgpack} {
		t.Run(s.Name(), func(t *testing.T) {
			b, err := s.Encode(nil, tokenFrame())
			require.NoError(t, err)
			m, err := s.Decode(b)
			require.NoError(t, err)
			td, ok := m.(*TunnelData)
			require.True(t, ok, "%T", m)
			assert.Equal(t, CmdTunnelData, td.Cmd)
			assert.Equal(t, "53b3219d-c368-4f80-8952-b025fbfbae6e", td.TunnelID)
			tok, ok := td.Value.(*Token)
			require.True(t, ok, "%T", td.Value)
			assert.Equal(t, uint64(5), tok.SequenceNbr)
			assert.Equal(t, int64(6), tok.Token.Data)
			assert.Nil(t, td.Extra)
			if s == JSON {
				t.Log(string(b))
			}
		})
	}
}

func TestJSONEncodeValues(t *testing.T) {
	two63 := new(big.Int).Lsh(big.NewInt(1), 63)
	two64 := new(big.Int).Lsh(big.NewInt(1), 64)
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"nil", nil, `null`},
		{"bools", []any{true, false}, `[true,false]`},
		{"ascii escapes", "a\"b\\c\n\r\t\b\f\x01\x7f/~", `"a\"b\\c\n\r\t\b\f\u0001\u007f/~"`},
		{"non-ascii", "é€", `"\u00e9\u20ac"`},
		{"astral", "😀", `"\ud83d\ude00"`},
		{"ints", []any{int64(-5), 7, int32(-3), uint8(200), uint64(1) << 63}, `[-5,7,-3,200,9223372036854775808]`},
		{"big ints", []any{two63, two64, new(big.Int).Neg(two64)}, `[9223372036854775808,18446744073709551616,-18446744073709551616]`},
		{"floats", []any{0.5, 1.0, -2.25, 1795429778.273272, 1e100, 1e-7, 0.0}, `[0.5,1.0,-2.25,1795429778.273272,1e+100,1e-07,0.0]`},
		{"non-finite", []any{math.NaN(), math.Inf(1), math.Inf(-1)}, `[NaN,Infinity,-Infinity]`},
		{"float32", float32(0.5), `0.5`},
		{"bytes", []byte("hi"), `"hi"`},
		{"string list", []string{"a", "b"}, `["a","b"]`},
		{"string map", map[string]string{"k": "v"}, `{"k":"v"}`},
		{"nested", map[string]any{"a": []any{map[string]any{}}}, `{"a":[{}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := JSON.EncodeValue(nil, tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(b))
			back, err := JSON.DecodeValue(b)
			require.NoError(t, err)
			assert.True(t, Equal(tc.in, back), "%#v", back)
		})
	}
}

func TestEncodeErrors(t *testing.T) {
	_, err := JSON.EncodeValue(nil, "bad \xff byte")
	assert.ErrorIs(t, err, ErrUnencodable)
	_, err = JSON.EncodeValue(nil, struct{}{})
	assert.ErrorIs(t, err, ErrUnencodable)
	_, err = Msgpack.EncodeValue(nil, new(big.Int).Lsh(big.NewInt(1), 64))
	assert.ErrorIs(t, err, ErrUnencodable)
	deep := any("x")
	for i := 0; i < MaxDepth+1; i++ {
		deep = []any{deep}
	}
	_, err = JSON.EncodeValue(nil, deep)
	assert.ErrorIs(t, err, ErrUnencodable)
	_, err = JSON.Encode(nil, nil)
	assert.ErrorIs(t, err, ErrUnencodable)
}

func TestJSONDecodeValues(t *testing.T) {
	tests := []struct {
		in   string
		want any
	}{
		{`5`, int64(5)},
		{`-5`, int64(-5)},
		{`0.5`, 0.5},
		{`1E2`, 100.0},
		{`1e999`, math.Inf(1)},
		{`9223372036854775807`, int64(math.MaxInt64)},
		{`-9223372036854775808`, int64(math.MinInt64)},
		{`9223372036854775808`, uint64(1) << 63},
		{`18446744073709551616`, new(big.Int).Lsh(big.NewInt(1), 64)},
		{`-9223372036854775809`, new(big.Int).Sub(big.NewInt(math.MinInt64), big.NewInt(1))},
		{`NaN`, math.NaN()},
		{` [Infinity, -Infinity] `, []any{math.Inf(1), math.Inf(-1)}},
		{`"\u00e9\ud83d\ude00\/"`, "é😀/"},
		{`{"a": {"b": [1, 2.0, null, true]}}`, map[string]any{"a": map[string]any{"b": []any{int64(1), 2.0, nil, true}}}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			v, err := JSON.DecodeValue([]byte(tc.in))
			require.NoError(t, err)
			assert.True(t, Equal(tc.want, v), "got %#v (%T)", v, v)
			assert.IsType(t, tc.want, v)
		})
	}
}

func TestJSONDecodeMalformed(t *testing.T) {
	for _, in := range []string{``, `{`, `{"a"}`, `{"a":1,}`, `[1,]`, `tru`, `"abc`, `{"a":1}x`, `{1:2}`, `"\x"`, `"\u12"`, `-`, `1.`, `1e`, `[1 2]`} {
		_, err := JSON.DecodeValue([]byte(in))
		assert.ErrorIs(t, err, ErrMalformed, "%q", in)
	}
	_, err := JSON.Decode([]byte(`[1]`))
	assert.ErrorIs(t, err, ErrMalformed)

	ok := strings.Repeat("[", MaxDepth) + strings.Repeat("]", MaxDepth)
	_, err = JSON.DecodeValue([]byte(ok))
	assert.NoError(t, err)
	tooDeep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	_, err = JSON.DecodeValue([]byte(tooDeep))
	assert.ErrorIs(t, err, ErrMalformed)
}

func TestMsgpackEncodeFamilies(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string // hex prefix
	}{
		{"nil", nil, "c0"},
		{"bools", []any{true, false}, "92c3c2"},
		{"fixraw", "ab", "a26162"},
		{"31 bytes fixraw", strings.Repeat("x", 31), "bf78"},
		{"32 bytes raw16 not str8", strings.Repeat("x", 32), "da002078"},
		{"uuid", "c4133d27-e3a1-4b50-bcb5-f24e5676bfa4", "da0024"},
		{"raw32", strings.Repeat("x", 65536), "db0001000078"},
		{"fixint", 127, "7f"},
		{"uint8", 200, "ccc8"},
		{"uint16", 256, "cd0100"},
		{"uint32", 1 << 16, "ce00010000"},
		{"uint64 2^63", uint64(1) << 63, "cf8000000000000000"},
		{"big 2^63", new(big.Int).Lsh(big.NewInt(1), 63), "cf8000000000000000"},
		{"negative fixint", -32, "e0"},
		{"int8", -33, "d0df"},
		{"int16", -129, "d1ff7f"},
		{"int32", -32769, "d2ffff7fff"},
		{"int64", int64(math.MinInt64), "d38000000000000000"},
		{"float64", 0.5, "cb3fe0000000000000"},
		{"float32 widened", float32(0.5), "cb3fe0000000000000"},
		{"bytes as raw", []byte{0xff, 0x00}, "a2ff00"},
		{"fixmap", map[string]any{"a": 1}, "81a16101"},
		{"array16", make([]any, 16), "dc0010c0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Msgpack.EncodeValue(nil, tc.in)
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(hex.EncodeToString(b), tc.want), "got %x", b[:min(len(b), 12)])
			back, err := Msgpack.DecodeValue(b)
			require.NoError(t, err)
			assert.True(t, Equal(tc.in, back))
		})
	}
}

func TestMsgpackDecodeLiberal(t *testing.T) {
	tests := []struct {
		name string
		hex  string
		want any
	}{
		{"str8", "d903616263", "abc"},
		{"bin8", "c403616263", "abc"},
		{"bin16", "c50003616263", "abc"},
		{"bin32", "c600000003616263", "abc"},
		{"str16", "da0003616263", "abc"},
		{"non-utf8 kept", "a2fffe", "\xff\xfe"},
		{"float32", "ca3fc00000", 1.5},
		{"int8 positive", "d005", int64(5)},
		{"int16", "d1ff00", int64(-256)},
		{"uint32", "ceffffffff", int64(math.MaxUint32)},
		{"int64", "d3ffffffffffffffff", int64(-1)},
		{"uint64 max", "cfffffffffffffffff", uint64(math.MaxUint64)},
		{"trailing bytes ignored", "81a16101a8726564", map[string]any{"a": int64(1)}},
		{"map16", "de0001a16102", map[string]any{"a": int64(2)}},
		{"array32", "dd0000000101", []any{int64(1)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := hex.DecodeString(tc.hex)
			v, err := Msgpack.DecodeValue(b)
			require.NoError(t, err)
			assert.True(t, Equal(tc.want, v), "got %#v", v)
			assert.IsType(t, tc.want, v)
		})
	}
}

func TestMsgpackDecodeMalformed(t *testing.T) {
	for _, h := range []string{"", "c1", "d40100", "c70101aa", "81", "8101a161", "a5616263", "cd01", "dfffffffff", "ddffffffff00", "db7fffffff61"} {
		b, _ := hex.DecodeString(h)
		_, err := Msgpack.DecodeValue(b)
		assert.ErrorIs(t, err, ErrMalformed, h)
	}
	tooDeep := append(bytes.Repeat([]byte{0x91}, MaxDepth+1), 0xc0)
	_, err := Msgpack.DecodeValue(tooDeep)
	assert.ErrorIs(t, err, ErrMalformed)
	_, err = Msgpack.DecodeValue(tooDeep[1:])
	assert.NoError(t, err)
	_, err = Msgpack.Decode([]byte{0x01})
	assert.ErrorIs(t, err, ErrMalformed)
}

func TestJoinMessages(t *testing.T) {
	reject := &JoinReply{SID: "s1"}
	b, err := JSON.Encode(nil, reject)
	require.NoError(t, err)
	assert.JSONEq(t, `{"cmd":"JOIN_REPLY","id":null,"serializer":null,"sid":"s1"}`, string(b))
	assert.False(t, reject.Accepted())

	r, err := DecodeJoinReply([]byte(`{"cmd":"JOIN_REPLI","id":"n1","serializer":"msgpack","sid":"s1"}`))
	require.NoError(t, err)
	assert.Equal(t, "n1", r.ID)
	assert.Equal(t, "msgpack", r.Serializer)
	assert.True(t, r.Accepted())

	r, err = DecodeJoinReply([]byte(`{"cmd":"JOIN_REPLY","id":"n1","serializer":null,"sid":null}`))
	require.NoError(t, err)
	assert.False(t, r.Accepted())

	m, err := JSON.Decode([]byte(`{"cmd":"JOIN_REQUEST","serializers":["msgpack"],"id":"n2","sid":"MSGID_1"}`))
	require.NoError(t, err)
	req := m.(*JoinRequest)
	assert.Equal(t, []string{"msgpack"}, req.Serializers)
	assert.NoError(t, req.Validate())

	m, err = JSON.Decode([]byte(`{"cmd":"JOIN_REQUEST","serializers":"json","id":"n2"}`))
	require.NoError(t, err)
	assert.ErrorIs(t, m.(*JoinRequest).Validate(), ErrMissingField)
}

func TestPortConnectNullsAndValidation(t *testing.T) {
	pc := &PortConnect{
		Envelope:       Envelope{From: "a", To: "b", MsgUUID: "m"},
		TunnelID:       "t",
		PortID:         "p",
		PortProperties: map[string]any{"direction": "in"},
		PeerPortID:     "q",
	}
	b, err := JSON.Encode(nil, pc)
	require.NoError(t, err)
	assert.JSONEq(t, `{"cmd":"PORT_CONNECT","from_rt_uuid":"a","to_rt_uuid":"b","msg_uuid":"m","tunnel_id":"t","port_id":"p",
		"port_properties":{"direction":"in"},"peer_port_id":"q","peer_actor_id":null,"peer_port_name":null,"peer_port_properties":null}`, string(b))

	m, err := JSON.Decode([]byte(`{"cmd":"PORT_CONNECT","port_id":"p","peer_port_id":null,"to_rt_uuid":"b","from_rt_uuid":"a"}`))
	require.NoError(t, err)
	got := m.(*PortConnect)
	assert.True(t, got.Has("peer_port_id"))
	assert.False(t, got.Has("tunnel_id"))
	assert.False(t, got.Has("peer_actor_id"))
	assert.Equal(t, "", got.PeerPortID)
	// Absent keys stay absent when re-encoded.
	b, err = JSON.Encode(nil, got)
	require.NoError(t, err)
	assert.JSONEq(t, `{"cmd":"PORT_CONNECT","port_id":"p","peer_port_id":null,"to_rt_uuid":"b","from_rt_uuid":"a"}`, string(b))

	m, err = JSON.Decode([]byte(`{"cmd":"TUNNEL_NEW","tunnel_id":"t","type":"token","from_rt_uuid":"a","to_rt_uuid":"b","msg_uuid":"m"}`))
	require.NoError(t, err)
	assert.ErrorIs(t, m.(*TunnelNew).Validate(), ErrMissingField)
	assert.NoError(t, (&TunnelNew{TunnelID: "t", Type: "token"}).Validate())
	b, err = JSON.Encode(nil, &TunnelNew{TunnelID: "t", Type: "token"})
	require.NoError(t, err)
	assert.Contains(t, string(b), `"policy":{}`)
}

func TestReplyDefaultsAndExtra(t *testing.T) {
	m, err := JSON.Decode([]byte(`{"cmd":"REPLY","msg_uuid":"m","from_rt_uuid":"a","to_rt_uuid":"b","value":{"status":404}}`))
	require.NoError(t, err)
	r := m.(*Reply)
	assert.Equal(t, StatusNotFound, r.Value.Status)
	assert.Nil(t, r.Value.Data)
	assert.Equal(t, DefaultSuccessList(), r.Value.SuccessList)
	assert.False(t, r.Value.OK())
	b, err := JSON.Encode(nil, r)
	require.NoError(t, err)
	assert.Contains(t, string(b), `"value":{"status":404,"data":null,"success_list":[200,201,202,203,204,205,206]}`)

	// A value that is not a CalvinResponse is kept as it was.
	m, err = JSON.Decode([]byte(`{"cmd":"REPLY","from_rt_uuid":"a","to_rt_uuid":"b","value":"ACK"}`))
	require.NoError(t, err)
	assert.Equal(t, "ACK", m.Header().Extra["value"])
	b, err = JSON.Encode(nil, m)
	require.NoError(t, err)
	assert.JSONEq(t, `{"cmd":"REPLY","from_rt_uuid":"a","to_rt_uuid":"b","value":"ACK"}`, string(b))

	assert.True(t, BoolResponse(true).Success())
	assert.Equal(t, StatusInternalError, BoolResponse(false).Status)
	assert.True(t, Response{Status: 201}.Success())
	assert.False(t, Response{Status: 200, SuccessList: []int{201}}.Success())
}

func TestLosslessQuirks(t *testing.T) {
	in := `{"cmd":"ACTOR_NEW","from_rt_uuid":"a","to_rt_uuid":"b","msg_uuid":"m","state":{"actor_type":"x.Y","actor_state":{},"prev_connections":null,"extra_key":1},` +
		`"value":{"status":200,"data":null,"success_list":[200]},"future":[1,2]}`
	m, err := JSON.Decode([]byte(in))
	require.NoError(t, err)
	an := m.(*ActorNew)
	assert.Equal(t, "x.Y", an.State.ActorType)
	assert.False(t, an.State.Has("connection_list"))
	assert.Contains(t, an.Extra, "value", "stray value on requests is kept")
	assert.Contains(t, an.Extra, "future")
	b, err := JSON.Encode(nil, m)
	require.NoError(t, err)
	assert.JSONEq(t, in, string(b))

	// Known keys with unexpected types stay in Extra and are re-sent as they were.
	in = `{"cmd":"TUNNEL_DATA","from_rt_uuid":"a","to_rt_uuid":"b","tunnel_id":7,"value":{"cmd":"TOKEN","port_id":"p","peer_port_id":"q","sequencenbr":-1,"token":"bad"}}`
	m, err = JSON.Decode([]byte(in))
	require.NoError(t, err)
	td := m.(*TunnelData)
	assert.Equal(t, "", td.TunnelID)
	tok := td.Value.(*Token)
	assert.Equal(t, int64(-1), tok.Extra["sequencenbr"])
	b, err = JSON.Encode(nil, m)
	require.NoError(t, err)
	assert.JSONEq(t, in, string(b))

	// Extra overrides the typed field of the same key.
	b, err = JSON.Encode(nil, &TunnelDestroy{TunnelID: "t", Envelope: Envelope{Extra: map[string]any{"tunnel_id": "override"}}})
	require.NoError(t, err)
	assert.Contains(t, string(b), `"tunnel_id":"override"`)
	assert.Equal(t, 1, strings.Count(string(b), "tunnel_id"))
}

func TestUnknownCommand(t *testing.T) {
	for _, s := range []Serializer{JSON, Msgpack} {
		in := map[string]any{"cmd": "ROUTE_REQUEST", "from_rt_uuid": "a", "to_rt_uuid": "b", "msg_uuid": "m", "dest": "x"}
		b, err := s.(ValueCoder).EncodeValue(nil, in)
		require.NoError(t, err)
		m, err := s.Decode(b)
		require.NoError(t, err)
		u, ok := m.(*Unknown)
		require.True(t, ok)
		assert.Equal(t, "b", u.To)
		assert.Equal(t, map[string]any{"dest": "x"}, u.Extra)
		out, err := s.Encode(nil, u)
		require.NoError(t, err)
		v, err := s.(ValueCoder).DecodeValue(out)
		require.NoError(t, err)
		assert.True(t, Equal(in, v))
	}
}

func TestSubMessages(t *testing.T) {
	set := &StorageRequest{SubEnvelope: SubEnvelope{Cmd: StorageSet, MsgUUID: "m1"}, Key: "node-1", Value: map[string]any{"uris": []string{"calvinip://h:1"}}}
	idx := &StorageRequest{SubEnvelope: SubEnvelope{Cmd: StorageGetIndex, MsgUUID: "m2"}, Prefix: "index-", Index: []string{"node/capabilities/x"}}
	get404 := &TunnelReply{SubEnvelope: SubEnvelope{MsgUUID: "m3"}, Key: "node-2", Response: &Response{Status: 404}}
	data := &TunnelReply{SubEnvelope: SubEnvelope{MsgUUID: "m4"}, Value: []any{"a"}}
	proxy := &TunnelReply{SubEnvelope: SubEnvelope{MsgUUID: "m5"}, Value: NewResponse(200, map[string]any{"time": 1.5})}
	cfg := &ProxyConfig{SubEnvelope: SubEnvelope{MsgUUID: "m6"}, Attributes: "{}", Capabilities: []string{"io.light"}, PortPropertyCapability: "runtime.constrained.1"}
	want := []string{
		`{"cmd":"SET","msg_uuid":"m1","key":"node-1","value":{"uris":["calvinip://h:1"]}}`,
		`{"cmd":"GET_INDEX","msg_uuid":"m2","prefix":"index-","index":["node/capabilities/x"]}`,
		`{"cmd":"REPLY","msg_uuid":"m3","key":"node-2","response":{"status":404,"data":null,"success_list":[200,201,202,203,204,205,206]}}`,
		`{"cmd":"REPLY","msg_uuid":"m4","value":["a"]}`,
		`{"cmd":"REPLY","msg_uuid":"m5","value":{"status":200,"data":{"time":1.5},"success_list":[200,201,202,203,204,205,206]}}`,
		`{"cmd":"CONFIG","msg_uuid":"m6","attributes":"{}","capabilities":["io.light"],"port_property_capability":"runtime.constrained.1"}`,
	}
	for i, sub := range []SubMessage{set, idx, get404, data, proxy, cfg} {
		td := &TunnelData{TunnelID: "t", Value: sub}
		b, err := JSON.Encode(nil, td)
		require.NoError(t, err)
		v, err := JSON.DecodeValue(b)
		require.NoError(t, err)
		vb, err := JSON.EncodeValue(nil, v.(map[string]any)["value"])
		require.NoError(t, err)
		assert.JSONEq(t, want[i], string(vb))
		m, err := Msgpack.Decode(mustEncode(t, Msgpack, td))
		require.NoError(t, err)
		assert.IsType(t, sub, m.(*TunnelData).Value)
	}
	m, err := JSON.Decode(mustEncode(t, JSON, &TunnelData{Value: proxy}))
	require.NoError(t, err)
	resp, ok := m.(*TunnelData).Value.(*TunnelReply).ValueResponse()
	require.True(t, ok)
	assert.Equal(t, 200, resp.Status)
	assert.NoError(t, set.Validate())
	bad, err := JSON.Decode([]byte(`{"cmd":"TUNNEL_DATA","tunnel_id":"t","value":{"cmd":"SET","msg_uuid":"m"}}`))
	require.NoError(t, err)
	assert.ErrorIs(t, bad.(*TunnelData).Value.(*StorageRequest).Validate(), ErrMissingField)

	// Unknown sub-commands (the control tunnel's) stay generic.
	m, err = JSON.Decode([]byte(`{"cmd":"TUNNEL_DATA","tunnel_id":"t","value":{"cmd":"httpreq","msgid":"1"}}`))
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"cmd": "httpreq", "msgid": "1"}, m.(*TunnelData).Value)
}

func mustEncode(t *testing.T, s Serializer, m Message) []byte {
	t.Helper()
	b, err := s.Encode(nil, m)
	require.NoError(t, err)
	return b
}

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	_, ok := r.Choose([]string{"json"})
	assert.False(t, ok)
	require.NoError(t, r.Register(Msgpack))
	assert.ErrorIs(t, r.Register(Msgpack), ErrDuplicateSerializer)
	assert.Error(t, r.Register(nil))
	require.NoError(t, r.Register(JSON))
	assert.Equal(t, []string{"msgpack", "json"}, r.Names())
	s, ok := r.Lookup("json")
	require.True(t, ok)
	assert.Equal(t, "json", s.Name())
	_, ok = r.Lookup("cbor")
	assert.False(t, ok)
	s, ok = r.Choose([]string{"json", "msgpack"})
	require.True(t, ok)
	assert.Equal(t, "msgpack", s.Name())
}

func TestValueHelpers(t *testing.T) {
	i, ok := ToInt64(uint64(5))
	assert.True(t, ok)
	assert.Equal(t, int64(5), i)
	_, ok = ToInt64(uint64(1) << 63)
	assert.False(t, ok)
	_, ok = ToInt64(0.5)
	assert.False(t, ok, "floats are not integers")
	u, ok := ToUint64(uint64(1) << 63)
	assert.True(t, ok)
	assert.Equal(t, uint64(1)<<63, u)
	_, ok = ToUint64(int64(-1))
	assert.False(t, ok)
	n, ok := ToInt(int32(-7))
	assert.True(t, ok)
	assert.Equal(t, -7, n)
	f, ok := ToFloat64(float32(0.5))
	assert.True(t, ok)
	assert.Equal(t, 0.5, f)

	assert.True(t, Equal(int64(1), 1))
	assert.False(t, Equal(int64(1), 1.0), "an integer never equals a float")
	assert.True(t, Equal(uint64(1)<<63, new(big.Int).Lsh(big.NewInt(1), 63)))
	assert.True(t, Equal([]byte("x"), "x"))
	assert.True(t, Equal(map[string]any{"a": []any{"b"}}, map[string]any{"a": []string{"b"}}))
	assert.False(t, Equal(map[string]any{"a": nil}, map[string]any{"b": nil}))
	assert.True(t, Equal(math.NaN(), math.NaN()))
}

func TestDuplicateKeysLastWins(t *testing.T) {
	for _, s := range []struct {
		c   Serializer
		raw []byte
	}{
		{JSON, []byte(`{"cmd":"TUNNEL_DESTROY","tunnel_id":"a","x":1,"tunnel_id":"b","x":2,"to_rt_uuid":"t"}`)},
		{Msgpack, mustHex(t, "86a3636d64ae54554e4e454c5f44455354524f59a974756e6e656c5f6964a161a17801a974756e6e656c5f6964a162a17802aa746f5f72745f75756964a174")},
	} {
		m, err := s.c.Decode(s.raw)
		require.NoError(t, err)
		td := m.(*TunnelDestroy)
		assert.Equal(t, "b", td.TunnelID)
		assert.Equal(t, map[string]any{"x": int64(2)}, td.Extra)
	}
}

func mustHex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

// Maps wider than the span decoder handles take the generic path with the
// same result.
func TestWideMaps(t *testing.T) {
	wide := map[string]any{"cmd": "PORT_CONNECT", "port_id": "p", "from_rt_uuid": "a", "to_rt_uuid": "b"}
	props := map[string]any{}
	for i := 0; i < 3*maxSpanPairs; i++ {
		wide["k"+strconv.Itoa(i)] = int64(i)
		props["p"+strconv.Itoa(i)] = "v"
	}
	wide["port_properties"] = props
	sub := map[string]any{"cmd": "TOKEN", "sequencenbr": int64(3)}
	for i := 0; i < 2*maxSpanPairs; i++ {
		sub["s"+strconv.Itoa(i)] = true
	}
	td := map[string]any{"cmd": "TUNNEL_DATA", "tunnel_id": "t", "value": sub}
	for _, c := range []interface {
		Serializer
		ValueCoder
	}{JSON, Msgpack} {
		b, err := c.EncodeValue(nil, wide)
		require.NoError(t, err)
		m, err := c.Decode(b)
		require.NoError(t, err)
		pc := m.(*PortConnect)
		assert.Equal(t, "p", pc.PortID)
		assert.Len(t, pc.PortProperties, 3*maxSpanPairs)
		assert.Len(t, pc.Extra, 3*maxSpanPairs)

		b, err = c.EncodeValue(nil, td)
		require.NoError(t, err)
		m, err = c.Decode(b)
		require.NoError(t, err)
		tok := m.(*TunnelData).Value.(*Token)
		assert.Equal(t, uint64(3), tok.SequenceNbr)
		assert.Len(t, tok.Extra, 2*maxSpanPairs)
		out, err := c.Encode(nil, m)
		require.NoError(t, err)
		v, err := c.DecodeValue(out)
		require.NoError(t, err)
		assert.True(t, Equal(td, v))
	}
}

func TestDepthLimitInTypedPositions(t *testing.T) {
	// 100 levels in total are fine, 101 are not, also below typed keys.
	data := func(levels int) string {
		return strings.Repeat("[", levels) + strings.Repeat("]", levels)
	}
	frame := func(levels int) []byte {
		// top map (1) > value (2) > token (3) > data lists
		return []byte(`{"cmd":"TUNNEL_DATA","tunnel_id":"t","value":{"cmd":"TOKEN","token":{"type":"Token","data":` + data(levels) + `}}}`)
	}
	_, err := JSON.Decode(frame(MaxDepth - 3))
	assert.NoError(t, err)
	_, err = JSON.Decode(frame(MaxDepth - 2))
	assert.ErrorIs(t, err, ErrMalformed)

	v, err := JSON.DecodeValue(frame(MaxDepth - 3))
	require.NoError(t, err)
	b, err := Msgpack.EncodeValue(nil, v)
	require.NoError(t, err)
	m, err := Msgpack.Decode(b)
	require.NoError(t, err)
	_, err = JSON.Encode(nil, m)
	assert.NoError(t, err, "whatever decodes also encodes")
}

type customMessage struct{ Envelope }

func TestEncodeForeignMessage(t *testing.T) {
	m := &customMessage{Envelope{Cmd: "X_CUSTOM", From: "a", To: "b", Extra: map[string]any{"k": "v"}}}
	b, err := JSON.Encode(nil, m)
	require.NoError(t, err)
	assert.JSONEq(t, `{"cmd":"X_CUSTOM","from_rt_uuid":"a","to_rt_uuid":"b","k":"v"}`, string(b))
}

func TestFromMapAndToMap(t *testing.T) {
	m := FromMap(map[string]any{"cmd": "TUNNEL_DATA", "tunnel_id": "t", "from_rt_uuid": "a", "to_rt_uuid": "b",
		"value": map[string]any{"cmd": "TOKEN_REPLY", "port_id": "p", "peer_port_id": "q", "sequencenbr": int64(9), "value": "NACK"}})
	r := m.(*TunnelData).Value.(*TokenReply)
	assert.Equal(t, TokenNACK, r.Value)
	assert.Equal(t, uint64(9), r.SequenceNbr)
	back, err := ToMap(m)
	require.NoError(t, err)
	assert.Equal(t, "TOKEN_REPLY", back["value"].(map[string]any)["cmd"])

	in := map[string]any{"status": int64(500), "data": "boom", "extra": true}
	resp, ok := ResponseFrom(in)
	require.True(t, ok)
	assert.Equal(t, 500, resp.Status)
	assert.Equal(t, map[string]any{"extra": true}, resp.Extra)
	assert.Len(t, in, 3, "ResponseFrom does not modify its argument")
	_, ok = ResponseFrom(map[string]any{"status": "200"})
	assert.False(t, ok)
}

// Serializers are used from many links at once; run with -race.
func TestConcurrentUse(t *testing.T) {
	frames := make([][]byte, 0, 2)
	for _, s := range []Serializer{JSON, Msgpack} {
		frames = append(frames, mustEncode(t, s, tokenFrame()))
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				for j, s := range []Serializer{JSON, Msgpack} {
					m, err := s.Decode(frames[j])
					if err != nil {
						errs <- err
						return
					}
					b, err := s.Encode(nil, m)
					if err != nil || !bytes.Equal(b, frames[j]) {
						errs <- fmt.Errorf("re-encode differs: %v", err)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestValidate(t *testing.T) {
	decode := func(s string) Message {
		t.Helper()
		m, err := JSON.Decode([]byte(s))
		require.NoError(t, err)
		return m
	}
	type validator interface{ Validate() error }
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"port connect by id", `{"cmd":"PORT_CONNECT","port_id":"p","tunnel_id":"t","peer_port_id":"q"}`, true},
		{"port connect by name", `{"cmd":"PORT_CONNECT","port_id":"p","tunnel_id":"t","peer_actor_id":null,"peer_port_name":null,"peer_port_properties":null}`, true},
		{"port connect no peer", `{"cmd":"PORT_CONNECT","port_id":"p","tunnel_id":"t","peer_actor_id":"a"}`, false},
		{"port connect no tunnel", `{"cmd":"PORT_CONNECT","port_id":"p","peer_port_id":"q"}`, false},
		{"port connect port_id null", `{"cmd":"PORT_CONNECT","port_id":null,"tunnel_id":"t","peer_port_id":"q"}`, false},
		{"port disconnect constrained", `{"cmd":"PORT_DISCONNECT","port_id":"p","peer_port_id":"q","tunnel_id":"t"}`, true},
		{"port disconnect no port", `{"cmd":"PORT_DISCONNECT","peer_port_id":"q"}`, false},
		{"port disconnect by name", `{"cmd":"PORT_DISCONNECT","port_id":"p","peer_actor_id":"a","peer_port_name":"in","peer_port_dir":"in"}`, true},
		{"tunnel destroy", `{"cmd":"TUNNEL_DESTROY"}`, false},
		{"tunnel data no value", `{"cmd":"TUNNEL_DATA","tunnel_id":"t"}`, false},
		{"remote connect", `{"cmd":"PORT_REMOTE_CONNECT","port_id":"p","peer_port_id":"q"}`, true},
		{"app destroy", `{"cmd":"APP_DESTROY","app_uuid":"a","actor_uuids":[]}`, true},
		{"app destroy bad list", `{"cmd":"APP_DESTROY","app_uuid":"a","actor_uuids":[1]}`, false},
		{"migrate direct", `{"cmd":"ACTOR_MIGRATE","actor_id":"a","peer_node_id":"n"}`, true},
		{"migrate requirements not list", `{"cmd":"ACTOR_MIGRATE","actor_id":"a","requirements":{},"extend":false,"move":true}`, false},
		{"actor new ok", `{"cmd":"ACTOR_NEW","state":{"actor_type":"t","prev_connections":{"inports":{},"outports":{}},"connection_list":null,
			"actor_state":{"private":{"_id":"x","inports":{},"outports":{}},"managed":{},"security":{},"custom":{}}}}`, true},
		{"actor new no managed", `{"cmd":"ACTOR_NEW","state":{"actor_type":"t","actor_state":{"private":{"_id":"x","inports":{},"outports":{}},"security":{},"custom":{}}}}`, false},
		{"actor new bad prev", `{"cmd":"ACTOR_NEW","state":{"actor_type":"t","prev_connections":[],
			"actor_state":{"private":{"_id":"x","inports":{},"outports":{}},"managed":{},"security":{},"custom":{}}}}`, false},
		{"actor new no state", `{"cmd":"ACTOR_NEW"}`, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := decode(tc.in).(validator).Validate()
			if tc.ok {
				assert.NoError(t, err)
			} else {
				assert.ErrorIs(t, err, ErrMissingField)
			}
		})
	}
	for _, f := range loadFrames(t) {
		m, err := coderFor(f.coder).Decode(f.payload)
		require.NoError(t, err)
		if v, ok := m.(validator); ok {
			assert.NoError(t, v.Validate(), "%s: captured requests are valid", f)
		}
		if td, ok := m.(*TunnelData); ok {
			if v, ok := td.Value.(validator); ok {
				assert.NoError(t, v.Validate(), "%s", f)
			}
		}
	}
}

func TestToMapKeepsEverything(t *testing.T) {
	huge := new(big.Int).Lsh(big.NewInt(1), 70)
	for _, data := range []any{"\xff\xfe", huge} {
		m := &TunnelData{TunnelID: "t", Value: &Token{Token: TokenPayload{Type: "Token", Data: data}}}
		got, err := ToMap(m)
		require.NoError(t, err)
		assert.True(t, Equal(data, got["value"].(map[string]any)["token"].(map[string]any)["data"]))
	}
	_, err := ToMap(&TunnelData{Value: []any{"\xff", huge}})
	assert.ErrorIs(t, err, ErrUnencodable)
}

func TestDecodeErrorDetails(t *testing.T) {
	_, err := JSON.Decode([]byte(`{"cmd": "REPLY",}`))
	var de *DecodeError
	require.ErrorAs(t, err, &de)
	assert.Equal(t, NameJSON, de.Coder)
	assert.Equal(t, 16, de.Offset)
	assert.ErrorIs(t, err, ErrMalformed)

	_, err = Msgpack.Decode([]byte{0x81, 0xa1, 'a', 0xd4, 0x01, 0x00})
	require.ErrorAs(t, err, &de)
	assert.Equal(t, NameMsgpack, de.Coder)
	assert.Equal(t, 3, de.Offset)
	assert.Contains(t, de.Error(), "ext")

	_, err = Msgpack.Decode([]byte{0x93, 1, 2, 3})
	require.ErrorAs(t, err, &de)
	assert.Contains(t, de.Reason, "not a map")
}

func TestEscapedAndEmptyKeys(t *testing.T) {
	m, err := JSON.Decode([]byte(`{"c\u006dd":"TUNNEL_DESTROY","tunnel_\u0069d":"t","":1,"x\"y":2}`))
	require.NoError(t, err)
	td, ok := m.(*TunnelDestroy)
	require.True(t, ok, "%T", m)
	assert.Equal(t, "t", td.TunnelID)
	assert.Equal(t, map[string]any{"": int64(1), "x\"y": int64(2)}, td.Extra)

	b, err := Msgpack.EncodeValue(nil, map[string]any{"cmd": "TUNNEL_DESTROY", "": "empty", "tunnel_id": "t"})
	require.NoError(t, err)
	m, err = Msgpack.Decode(b)
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"": "empty"}, m.Header().Extra)
}

func TestSequenceNumberFamilies(t *testing.T) {
	for _, seq := range []uint64{0, 127, 128, 255, 256, 65535, 65536, 1<<32 - 1, 1 << 32, 1<<63 - 1, 1 << 63, math.MaxUint64} {
		for _, s := range []Serializer{JSON, Msgpack} {
			in := &TunnelData{TunnelID: "t", Value: &TokenReply{PortID: "p", PeerPortID: "q", SequenceNbr: seq, Value: TokenACK}}
			m, err := s.Decode(mustEncode(t, s, in))
			require.NoError(t, err)
			r := m.(*TunnelData).Value.(*TokenReply)
			assert.Equal(t, seq, r.SequenceNbr, "%s %d", s.Name(), seq)
			assert.Nil(t, r.Extra)
		}
	}
	// Signed msgpack families are accepted for non-negative numbers too.
	for _, h := range []string{"d005", "d10005", "d200000005", "d30000000000000005"} {
		raw := append(mustHex(t, "83a3636d64ab54554e4e454c5f44415441a974756e6e656c5f6964a174a576616c756582a3636d64ab544f4b454e5f5245504c59ab73657175656e63656e6272"), mustHex(t, h)...)
		m, err := Msgpack.Decode(raw)
		require.NoError(t, err)
		assert.Equal(t, uint64(5), m.(*TunnelData).Value.(*TokenReply).SequenceNbr, h)
	}
}

// Every message type built in Go survives both coders: same type, same
// encoding after a decode (JSON output is deterministic without Extra).
func TestAllTypesRoundTrip(t *testing.T) {
	env := Envelope{From: "a", To: "b", MsgUUID: "m"}
	disc := DisconnectTerminate
	msgs := []Message{
		&JoinRequest{Serializers: []string{"json", "msgpack"}, ID: "n", SID: "s"},
		&JoinReply{ID: "n", Serializer: "json", SID: "s"},
		&Reply{Envelope: env, Value: NewResponse(StatusGone, []any{"x"})},
		&TunnelNew{Envelope: env, TunnelID: "t", Type: TunnelTypeStorage},
		&TunnelDestroy{Envelope: env, TunnelID: "t"},
		&TunnelData{Envelope: Envelope{From: "a", To: "b"}, TunnelID: "t", Value: &ProxyRequest{SubEnvelope: SubEnvelope{Cmd: ProxyCmdWillSleep, MsgUUID: "p", Extra: map[string]any{"time": int64(10)}}}},
		&TunnelData{Envelope: env, TunnelID: "t", Value: &StorageRequest{SubEnvelope: SubEnvelope{Cmd: StorageAddIndex, MsgUUID: "s"}, Prefix: "index-", Index: []string{"a", "b"}, Value: []any{"n"}}},
		&TunnelData{Envelope: env, TunnelID: "t", Value: "not a map"},
		&PortConnect{Envelope: env, TunnelID: "t", PortID: "p", PortProperties: map[string]any{"direction": "out"}, PeerActorID: "act", PeerPortName: "in", PeerPortProperties: map[string]any{"direction": "in"}},
		&PortDisconnect{Envelope: env, PortID: "p", PeerPortID: "q", Terminate: DisconnectExhaustPeer, RemainingTokens: map[string]any{"p": []any{[]any{int64(3), map[string]any{"type": "Token", "data": 1.5}}}}},
		&PortRemoteConnect{Envelope: env, PortID: "p", PeerPortID: "q"},
		&ActorNew{Envelope: env, State: ActorNewState{ActorType: "std.Counter", ActorState: map[string]any{"managed": map[string]any{}}, PrevConnections: map[string]any{"inports": map[string]any{}}}},
		&ActorMigrate{Envelope: env, ActorID: "x", PeerNodeID: "n"},
		&ActorMigrate{Envelope: env, ActorID: "x", Requirements: []any{map[string]any{"op": "node_attr_match"}}, Move: true},
		&AppDestroy{Envelope: env, AppUUID: "app", ActorUUIDs: []string{"x", "y"}, Disconnect: &disc, ReplicationID: "r"},
		&QueuePressure{Envelope: env, ActorID: "x", ReplicationID: "r", Pressure: []any{int64(1)}},
		&LeaderElected{Envelope: env, Type: "replication", TypeCmd: "create", Data: map[string]any{"k": "v"}},
		&SecurityRequest{Envelope: Envelope{Cmd: CmdAuthorizationSearch, From: "a", To: "b", MsgUUID: "m"}, JWT: "j", CertName: "c"},
		&Unknown{Envelope: Envelope{Cmd: "SOMETHING_NEW", From: "a", To: "b"}},
	}
	for _, m := range msgs {
		for _, s := range []Serializer{JSON, Msgpack} {
			b := mustEncode(t, s, m)
			got, err := s.Decode(b)
			require.NoError(t, err)
			require.IsType(t, m, got, "%s %T", s.Name(), m)
			if td, ok := m.(*TunnelData); ok {
				assert.IsType(t, td.Value, got.(*TunnelData).Value)
			}
			want, err := ToMap(m)
			require.NoError(t, err)
			have, err := ToMap(got)
			require.NoError(t, err)
			assert.True(t, Equal(want, have), "%s %T:\n%v\n%v", s.Name(), m, want, have)
			// Re-encoding the decoded message gives the same message again
			// (not the same bytes: generic maps keep no key order).
			again, err := s.Decode(mustEncode(t, s, got))
			require.NoError(t, err)
			againMap, err := ToMap(again)
			require.NoError(t, err)
			assert.True(t, Equal(want, againMap), "%s %T re-encoded:\n%v\n%v", s.Name(), m, want, againMap)
		}
	}
	sec := FromMap(map[string]any{"cmd": CmdAuthenticationDecision, "jwt": "j", "cert_name": "c"}).(*SecurityRequest)
	assert.Equal(t, CmdAuthenticationDecision, sec.Cmd)
	le := FromMap(map[string]any{"cmd": CmdLeaderElected, "type": "replication", "type_cmd": "lock", "data": nil}).(*LeaderElected)
	assert.Equal(t, "lock", le.TypeCmd)
	am := FromMap(map[string]any{"cmd": CmdActorMigrate, "actor_id": "x", "requirements": []any{}, "extend": true, "move": false}).(*ActorMigrate)
	assert.True(t, am.Extend)
	assert.NotNil(t, am.Requirements)
	assert.False(t, (&SubEnvelope{}).Has("cmd"), "a sub-message built in Go was not decoded")
}
