package wire_test

import (
	"fmt"

	"github.com/meshkit/meshkit/rt2rt/wire"
)

func tokenData() *wire.TunnelData {
	return &wire.TunnelData{
		Envelope: wire.Envelope{From: "node-a", To: "node-b"},
		TunnelID: "tunnel-1",
		Value: &wire.Token{
			PortID:      "out-port",
			PeerPortID:  "in-port",
			SequenceNbr: 5,
			Token:       wire.TokenPayload{Type: wire.TokenTypeToken, Data: 6},
		},
	}
}

// Encode a TOKEN inside a TUNNEL_DATA with the JSON coder and read it back.
func ExampleJSONSerializer_Encode() {
	b, err := wire.JSON.Encode(nil, tokenData())
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))

	m, err := wire.JSON.Decode(b)
	if err != nil {
		panic(err)
	}
	tok := m.(*wire.TunnelData).Value.(*wire.Token)
	fmt.Println(tok.SequenceNbr, tok.Token.Data)
	// Output:
	// {"cmd":"TUNNEL_DATA","from_rt_uuid":"node-a","to_rt_uuid":"node-b","tunnel_id":"tunnel-1","value":{"cmd":"TOKEN","port_id":"out-port","peer_port_id":"in-port","sequencenbr":5,"token":{"type":"Token","data":6}}}
	// 5 6
}

// Encode a TOKEN_REPLY with the msgpack coder: strings are old-spec raw
// (0xa0 | length), small integers positive fixints, as Calvin sends them.
func ExampleMsgpackSerializer_Encode() {
	ack := &wire.TunnelData{
		Envelope: wire.Envelope{From: "a", To: "b"},
		TunnelID: "t",
		Value:    &wire.TokenReply{PortID: "p", PeerPortID: "q", SequenceNbr: 200, Value: wire.TokenACK},
	}
	b, err := wire.Msgpack.Encode(nil, ack)
	if err != nil {
		panic(err)
	}
	fmt.Printf("% x\n", b[:12])

	m, err := wire.Msgpack.Decode(b)
	if err != nil {
		panic(err)
	}
	r := m.(*wire.TunnelData).Value.(*wire.TokenReply)
	fmt.Println(r.Value, r.SequenceNbr)
	// Output:
	// 85 a3 63 6d 64 ab 54 55 4e 4e 45 4c
	// ACK 200
}

// A responder picks the coder by its own priority list, whatever the order
// of the initiator's offer.
func ExampleRegistry_Choose() {
	reg := wire.DefaultRegistry() // json, then msgpack
	s, ok := reg.Choose([]string{"msgpack", "json"})
	fmt.Println(s.Name(), ok)

	s, ok = reg.Choose([]string{"msgpack"})
	fmt.Println(s.Name(), ok)

	_, ok = reg.Choose([]string{"cbor"})
	fmt.Println(ok)

	prefersMsgpack := wire.NewRegistry(wire.Msgpack, wire.JSON)
	s, _ = prefersMsgpack.Choose([]string{"json", "msgpack"})
	fmt.Println(s.Name(), prefersMsgpack.Names())
	// Output:
	// json true
	// msgpack true
	// false
	// msgpack [msgpack json]
}

// A REPLY always carries status, data and success_list.
func ExampleResponse() {
	reply := &wire.Reply{
		Envelope: wire.Envelope{From: "a", To: "b", MsgUUID: "m1"},
		Value:    wire.NewResponse(wire.StatusOK, map[string]any{"tunnel_id": "t1"}),
	}
	b, _ := wire.JSON.Encode(nil, reply)
	fmt.Println(string(b))
	fmt.Println(reply.Value.Success(), wire.NewResponse(wire.StatusGone, nil).Success())
	// Output:
	// {"cmd":"REPLY","from_rt_uuid":"a","to_rt_uuid":"b","msg_uuid":"m1","value":{"status":200,"data":{"tunnel_id":"t1"},"success_list":[200,201,202,203,204,205,206]}}
	// true false
}

// A message with an unknown cmd keeps every key, so a node can forward it
// (re-encoded with the next link's coder) without changing it.
func ExampleUnknown() {
	in := []byte(`{"cmd":"ROUTE_REQUEST","from_rt_uuid":"a","to_rt_uuid":"c","msg_uuid":"m1","dest_peer_id":"c"}`)
	m, err := wire.JSON.Decode(in)
	if err != nil {
		panic(err)
	}
	u := m.(*wire.Unknown)
	fmt.Println(u.Cmd, u.To, u.Extra["dest_peer_id"])

	b, _ := wire.Msgpack.Encode(nil, u)
	back, _ := wire.Msgpack.DecodeValue(b)
	orig, _ := wire.JSON.DecodeValue(in)
	fmt.Println(wire.Equal(orig, back))
	// Output:
	// ROUTE_REQUEST c c
	// true
}

// The initiator reads the JOIN_REPLY whatever its cmd and checks id and
// serializer (spec §2.6).
func ExampleDecodeJoinReply() {
	r, err := wire.DecodeJoinReply([]byte(`{"cmd": "JOIN_REPLY", "id": null, "serializer": null, "sid": "s1"}`))
	if err != nil {
		panic(err)
	}
	fmt.Println(r.Accepted(), r.SID)

	b, _ := wire.JSON.Encode(nil, &wire.JoinReply{ID: "node-b", Serializer: wire.NameMsgpack, SID: "s1"})
	fmt.Println(string(b))
	// Output:
	// false s1
	// {"cmd":"JOIN_REPLY","id":"node-b","serializer":"msgpack","sid":"s1"}
}

// Handlers answer 400 to requests missing required keys instead of staying
// silent as Calvin does.
func ExampleTunnelNew_Validate() {
	m, _ := wire.JSON.Decode([]byte(`{"cmd":"TUNNEL_NEW","tunnel_id":"t1","type":"token","from_rt_uuid":"a","to_rt_uuid":"b","msg_uuid":"m1"}`))
	fmt.Println(m.(*wire.TunnelNew).Validate())
	// Output:
	// wire: required field missing: TUNNEL_NEW has no "policy"
}
