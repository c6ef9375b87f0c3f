package wire

import (
	"errors"
	"testing"
)

func addVectorSeeds(f *testing.F, coder string) {
	for _, fr := range loadFrames(f) {
		if fr.coder == coder {
			f.Add(fr.payload)
		}
	}
}

// roundTrip checks the invariants every decodable payload must keep: the
// typed message re-encodes, the re-encoding decodes to the same generic value
// (lossless) and encoding is stable.
func roundTrip(t *testing.T, c interface {
	Serializer
	ValueCoder
}, payload []byte) {
	m, err := c.Decode(payload)
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("decode error does not wrap ErrMalformed: %v", err)
		}
		if _, gerr := c.DecodeValue(payload); gerr == nil {
			// Only a non-map top level may decode generically but not as a message.
			v, _ := c.DecodeValue(payload)
			if _, isMap := v.(map[string]any); isMap {
				t.Fatalf("generic decode accepted a map the typed decode refused: %v", err)
			}
		}
		return
	}
	v1, err := c.DecodeValue(payload)
	if err != nil {
		t.Fatalf("typed decode accepted what generic decode refused: %v", err)
	}
	b, err := c.Encode(nil, m)
	if err != nil {
		if c.Name() == NameJSON && errors.Is(err, ErrUnencodable) {
			return // raw non-UTF-8 bytes inside a JSON string
		}
		t.Fatalf("re-encode: %v", err)
	}
	m2, err := c.Decode(b)
	if err != nil {
		t.Fatalf("decode of own encoding: %v\n%q", err, b)
	}
	v2, err := c.DecodeValue(b)
	if err != nil {
		t.Fatalf("generic decode of own encoding: %v", err)
	}
	if !defaultsAdded(m) && !Equal(v1, v2) {
		t.Fatalf("round trip not lossless:\n in  %#v\n out %#v", v1, v2)
	}
	b3, err := c.Encode(nil, m2)
	if err != nil {
		t.Fatalf("second encode: %v", err)
	}
	v3, err := c.DecodeValue(b3)
	if err != nil || !Equal(v2, v3) {
		t.Fatalf("encoding not stable: %v\n%#v\n%#v", err, v2, v3)
	}
}

// defaultsAdded reports messages whose CalvinResponse gains the keys Go
// always sends (spec §3.5), the one deliberate difference after a round trip.
func defaultsAdded(m Message) bool {
	switch x := m.(type) {
	case *Reply:
		return true
	case *TunnelData:
		_, ok := x.Value.(*TunnelReply)
		return ok
	}
	return false
}

func FuzzDecodeJSON(f *testing.F) {
	addVectorSeeds(f, NameJSON)
	for _, s := range []string{`{}`, `[]`, `{"cmd":"REPLY","value":{"status":200}}`, `{"a":NaN,"b":-Infinity,"c":1e999}`,
		`{"cmd":"TUNNEL_DATA","value":{"cmd":"TOKEN","sequencenbr":-1,"token":5}}`, `{"x":"\ud83d\ude00\ud800"}`,
		`{"n":-9223372036854775809,"m":18446744073709551616}`, `{"cmd":"", "k":[[[[[[]]]]]]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		roundTrip(t, JSON, payload)
	})
}

func FuzzDecodeMsgpack(f *testing.F) {
	addVectorSeeds(f, NameMsgpack)
	for _, s := range []string{"\x80", "\x81\xa3cmd\xa5REPLY", "\x81\x01\x02", "\xdf\xff\xff\xff\xff", "\xc7\x01\x01\x00", "\x81\xa1a\xcb\x7f\xf8\x00\x00\x00\x00\x00\x01"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		roundTrip(t, Msgpack, payload)
		if n := Msgpack.TrailingBytes(payload); n < 0 || n > len(payload) {
			t.Fatalf("TrailingBytes %d of %d", n, len(payload))
		}
	})
}

// FuzzCrossCoder decodes msgpack and re-encodes with JSON and back: both
// coders must agree on every value they can both carry.
func FuzzCrossCoder(f *testing.F) {
	addVectorSeeds(f, NameMsgpack)
	f.Fuzz(func(t *testing.T, payload []byte) {
		m, err := Msgpack.Decode(payload)
		if err != nil {
			return
		}
		v1, _ := Msgpack.DecodeValue(payload)
		b, err := JSON.Encode(nil, m)
		if err != nil {
			if !errors.Is(err, ErrUnencodable) {
				t.Fatalf("json encode: %v", err)
			}
			return
		}
		v2, err := JSON.DecodeValue(b)
		if err != nil {
			t.Fatalf("json decode of own output: %v\n%s", err, b)
		}
		if !defaultsAdded(m) && !Equal(v1, v2) {
			t.Fatalf("msgpack→json changed the message:\n%#v\n%#v", v1, v2)
		}
	})
}

// FuzzDecodeJoinReply covers the initiator's reading of the first frame
// back, which ignores cmd (spec §2.6).
func FuzzDecodeJoinReply(f *testing.F) {
	for _, fr := range loadFrames(f) {
		if cmd, _ := fr.msg["cmd"].(string); cmd == CmdJoinReply || cmd == CmdJoinRequest {
			f.Add(fr.payload)
		}
	}
	f.Add([]byte(`{"cmd":"JOIN_REPLY","id":null,"serializer":null,"sid":null}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		r, err := DecodeJoinReply(payload)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("error does not wrap ErrMalformed: %v", err)
			}
			return
		}
		if r.Accepted() && (r.ID == "" || r.Serializer == "") {
			t.Fatalf("accepted a reply without id or serializer: %+v", r)
		}
		b, err := JSON.Encode(nil, r)
		if err != nil {
			if errors.Is(err, ErrUnencodable) {
				return
			}
			t.Fatal(err)
		}
		r2, err := DecodeJoinReply(b)
		if err != nil || r2.ID != r.ID || r2.Serializer != r.Serializer || r2.SID != r.SID {
			t.Fatalf("join reply not stable: %v %+v %+v", err, r, r2)
		}
	})
}
