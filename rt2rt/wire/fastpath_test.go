package wire

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// generalDecode runs the general decoder alone.
func generalDecode(s Serializer, payload []byte) (Message, error) {
	if s.Name() == NameJSON {
		return decodeJSONMessage(payload, backingFor(payload))
	}
	return decodeMsgpackMessage(payload, backingFor(payload))
}

// fastDecode runs the fast path alone.
func fastDecode(s Serializer, payload []byte) (Message, bool) {
	if s.Name() == NameJSON {
		f := newFastJSON(payload)
		return fastTunnelData(&f)
	}
	f := newFastMP(payload)
	return fastTunnelData(&f)
}

func tokenReplyFrame() *TunnelData {
	return &TunnelData{
		Envelope: Envelope{From: "c4133d27-e3a1-4b50-bcb5-f24e5676bfa4", To: "31d7387a-f848-41f1-89d1-c2eeb8c11ed5"},
		TunnelID: "53b3219d-c368-4f80-8952-b025fbfbae6e",
		Value: &TokenReply{
			PortID: "79a167d5-bf95-4c28-8154-271a096dbbdc", PeerPortID: "a820e000-f8e0-4f0a-b9f0-bc3594685ab2",
			SequenceNbr: 1 << 40, Value: TokenACK,
		},
	}
}

// fastSeeds are frames in the shapes the fast path takes and some it must
// refuse.
func fastSeeds(t testing.TB, s Serializer) [][]byte {
	big := tokenFrame()
	big.Value.(*Token).Token.Data = map[string]any{"a": []any{1.5, "x", nil, true}, "b": int64(-3)}
	noUUID := tokenFrame()
	noUUID.MsgUUID = ""
	var out [][]byte
	for _, m := range []Message{tokenFrame(), tokenReplyFrame(), big, noUUID,
		&TunnelData{Envelope: Envelope{From: "a", To: "b"}, TunnelID: "t", Value: &StorageRequest{SubEnvelope: SubEnvelope{Cmd: StorageGet}, Key: "k"}}} {
		b, err := s.Encode(nil, m)
		require.NoError(t, err)
		out = append(out, b)
	}
	if s.Name() == NameJSON {
		out = append(out,
			[]byte(`{"cmd":"TUNNEL_DATA","from_rt_uuid":"a","to_rt_uuid":"b","tunnel_id":"t","value":{"cmd":"TOKEN","port_id":"p","peer_port_id":"q","sequencenbr":05,"token":{"type":"Token","data":1}}}`),
			[]byte(` { "cmd" : "TUNNEL_DATA" , "from_rt_uuid":"a","to_rt_uuid":"b","tunnel_id":"t","value":{"cmd":"TOKEN","port_id":"p","peer_port_id":"q","sequencenbr":5,"token":{"type":"Token","data":1}} } `),
			[]byte(`{"cmd":"TUNNEL_DATA","from_rt_uuid":"a","to_rt_uuid":"b","tunnel_id":"t","tunnel_id":"u","value":{"cmd":"TOKEN","port_id":"p","peer_port_id":"q","sequencenbr":5,"token":{"type":"Token","data":1}}}`),
			[]byte(`{"cmd":"TUNNEL_DATA","from_rt_uuid":"a\u0041","to_rt_uuid":"b","tunnel_id":"t","value":{"cmd":"TOKEN","port_id":"p","peer_port_id":"q","sequencenbr":5.0,"token":{"type":"Token","data":1}}}`),
			[]byte(`{"cmd":"TUNNEL_DATA","from_rt_uuid":"a","to_rt_uuid":"b","tunnel_id":"t","value":{"cmd":"TOKEN","port_id":"p","peer_port_id":"q","sequencenbr":5,"token":{"type":"Token","data":1}}}x`),
		)
	}
	return out
}

func TestFastPathMatchesGeneral(t *testing.T) {
	for _, s := range []Serializer{JSON, Msgpack} {
		t.Run(s.Name(), func(t *testing.T) {
			taken := 0
			for i, p := range fastSeeds(t, s) {
				want, werr := generalDecode(s, p)
				got, ok := fastDecode(s, p)
				if ok {
					taken++
					require.NoError(t, werr, "seed %d", i)
					assert.True(t, reflect.DeepEqual(want, got), "seed %d:\n%#v\n%#v", i, want, got)
				}
				full, ferr := s.Decode(p)
				assert.Equal(t, werr == nil, ferr == nil, "seed %d", i)
				if werr == nil {
					assert.True(t, reflect.DeepEqual(want, full), "seed %d", i)
				}
			}
			// The token, token reply, nested data and no-msg_uuid frames, plus
			// the leading-zero and whitespace JSON ones.
			want := 4
			if s.Name() == NameJSON {
				want = 6
			}
			assert.Equal(t, want, taken)
		})
	}
}

func TestFastPathRefusesOddShapes(t *testing.T) {
	p := []byte(`{"cmd":"TUNNEL_DATA","from_rt_uuid":"a","to_rt_uuid":"b","tunnel_id":"t","value":{"cmd":"TOKEN","port_id":"p","peer_port_id":"q","sequencenbr":5,"token":{"type":"Token","data":1}}}`)
	_, ok := fastDecode(JSON, p)
	require.True(t, ok)
	for _, bad := range []string{
		`{"cmd":"TUNNEL_DATA","from_rt_uuid":"a","to_rt_uuid":"b","tunnel_id":"t","value":{"cmd":"TOKEN","port_id":"p","peer_port_id":"q","sequencenbr":-5,"token":{"type":"Token","data":1}}}`,
		`{"cmd":"TUNNEL_DATA","from_rt_uuid":"a","to_rt_uuid":"b","tunnel_id":"t","value":{"cmd":"TOKEN","port_id":"p","peer_port_id":"q","sequencenbr":5,"token":{"type":"Token"}}}`,
		`{"cmd":"TUNNEL_DATA","from_rt_uuid":"a","to_rt_uuid":"b","tunnel_id":"t","value":{"cmd":"TOKEN","port_id":"p","peer_port_id":"q","sequencenbr":5,"token":{"type":"Token","data":1},"x":1}}`,
		`{"cmd":"TUNNEL_DATA","from_rt_uuid":"a","to_rt_uuid":"b","tunnel_id":"t","msg_uuid":"","value":{"cmd":"TOKEN","port_id":"p","peer_port_id":"q","sequencenbr":5,"token":{"type":"Token","data":1}}}`,
		`{"cmd":"TUNNEL_DATA","from_rt_uuid":"a","to_rt_uuid":"b","tunnel_id":"t","value":{"cmd":"TOKEN_REPLY","port_id":"p","peer_port_id":"q","sequencenbr":5,"token":{"type":"Token","data":1}}}`,
		`{"cmd":"TUNNEL_DATA","from_rt_uuid":"a","to_rt_uuid":"b","value":{"cmd":"TOKEN","port_id":"p","peer_port_id":"q","sequencenbr":5,"token":{"type":"Token","data":1}}}`,
		`{"cmd":"TUNNEL_DATA","from_rt_uuid":"a","to_rt_uuid":"b","tunnel_id":"t","value":{"cmd":"TOKEN","port_id":"p","peer_port_id":"q","sequencenbr":5,"token":{"type":"Token","data":1}},}`,
		`{"cmd":"TUNNEL_DATA","from_rt_uuid":"a","to_rt_uuid":"b","tunnel_id":"t","value":{"cmd":"TOKEN","port_id":"p","peer_port_id":"q","sequencenbr":5,"token":{"type":"Token","data":1}}`,
	} {
		_, ok := fastDecode(JSON, []byte(bad))
		assert.False(t, ok, bad)
	}
}

// FuzzFastPathMatches checks that whenever the fast path decodes a payload,
// the general decoder decodes it to exactly the same message.
func FuzzFastPathMatches(f *testing.F) {
	for _, s := range []Serializer{JSON, Msgpack} {
		for _, p := range fastSeeds(f, s) {
			f.Add(s.Name() == NameJSON, p)
		}
	}
	f.Fuzz(func(t *testing.T, json bool, p []byte) {
		var s Serializer = Msgpack
		if json {
			s = JSON
		}
		got, ok := fastDecode(s, p)
		if !ok {
			return
		}
		want, err := generalDecode(s, p)
		if err != nil {
			t.Fatalf("fast path accepted what the general decoder refuses: %v", err)
		}
		if !reflect.DeepEqual(want, got) {
			t.Fatalf("fast path differs:\n%#v\n%#v", want, got)
		}
	})
}

func TestSWARScans(t *testing.T) {
	for c := 0; c < 256; c++ {
		for pos := 0; pos < 8; pos++ {
			b := []byte("abcdefgh")
			b[pos] = byte(c)
			special := c < 0x20 || c >= 0x7f || c == '"' || c == '\\'
			got := plainPrefix(string(b)) == 0
			require.Equal(t, special, got, "byte %#x at %d", c, pos)
			idx := quoteOrBackslash(b)
			if c == '"' || c == '\\' {
				require.Equal(t, pos, idx, "byte %#x at %d", c, pos)
			} else {
				require.Equal(t, -1, idx, "byte %#x at %d", c, pos)
			}
		}
	}
	assert.Equal(t, 16, plainPrefix("0123456789abcdef\n"))
	assert.Equal(t, 17, quoteOrBackslash([]byte(`0123456789abcdefg"`)))
}

// generalEncode runs the general encoder alone.
func generalEncode(m Message, mp bool) ([]byte, error) {
	w := getWriter(nil, mp)
	w.object(m.(fielder))
	return w.release()
}

func TestFastEncodeMatchesGeneral(t *testing.T) {
	withUUIDs := tokenFrame()
	withUUIDs.Value.(*Token).MsgUUID = "sub-uuid"
	deep := tokenFrame()
	deep.Value.(*Token).Token.Data = map[string]any{"a": []any{1.5, "x\n\u00e9", nil, true, map[string]any{"b": uint64(1 << 63)}}}
	reply := tokenReplyFrame()
	reply.Cmd = "TUNNEL_DATA"
	nack := tokenReplyFrame()
	nack.Value.(*TokenReply).Value = TokenNACK
	decoded, err := JSON.Decode(mustEncode(t, JSON, tokenFrame()))
	require.NoError(t, err)
	for _, mp := range []bool{false, true} {
		for i, m := range []*TunnelData{tokenFrame(), withUUIDs, deep, reply, nack, decoded.(*TunnelData)} {
			want, err := generalEncode(m, mp)
			require.NoError(t, err)
			w := getWriter(nil, mp)
			require.True(t, w.tokenFrame(m), "case %d", i)
			got, err := w.release()
			require.NoError(t, err)
			assert.Equal(t, string(want), string(got), "case %d mp=%v", i, mp)
		}
	}
	// Shapes it leaves to the general encoder.
	extra := tokenFrame()
	extra.Extra = map[string]any{"x": 1}
	subExtra := tokenFrame()
	subExtra.Value.(*Token).Extra = map[string]any{"x": 1}
	var nilTok *Token
	for i, m := range []*TunnelData{extra, subExtra, {TunnelID: "t", Value: nilTok}, {TunnelID: "t", Value: map[string]any{"cmd": "TOKEN"}}} {
		w := getWriter(nil, true)
		assert.False(t, w.tokenFrame(m), "case %d", i)
		assert.Empty(t, w.b)
		_, _ = w.release()
	}
	// Too deep data fails as in the general encoder.
	var v any = int64(1)
	for range MaxDepth {
		v = []any{v}
	}
	tooDeep := tokenFrame()
	tooDeep.Value.(*Token).Token.Data = v
	_, gerr := generalEncode(tooDeep, true)
	_, ferr := Msgpack.Encode(nil, tooDeep)
	assert.Error(t, gerr)
	assert.Error(t, ferr)
}

// TestFastPathCopiesStrings: nothing decoded shares memory with the payload,
// which the caller may reuse.
func TestFastPathCopiesStrings(t *testing.T) {
	for _, s := range []Serializer{JSON, Msgpack} {
		for _, m := range []*TunnelData{tokenFrame(), tokenReplyFrame()} {
			if tok, ok := m.Value.(*Token); ok {
				tok.Token.Data = map[string]any{"s": "a string in the data"}
			}
			p := mustEncode(t, s, m)
			got, ok := fastDecode(s, p)
			require.True(t, ok)
			want, err := generalDecode(s, p)
			require.NoError(t, err)
			for i := range p {
				p[i] = 'x'
			}
			assert.True(t, reflect.DeepEqual(want, got), "%s: decoded message changed with the payload", s.Name())
		}
	}
}
