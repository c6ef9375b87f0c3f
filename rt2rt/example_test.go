package rt2rt_test

import (
	"context"
	"fmt"
	"log"

	"github.com/meshkit/meshkit/rt2rt"
	"github.com/meshkit/meshkit/rt2rt/wire"
)

// Two nodes on loopback: one joins the other and sends it a request that a
// registered handler answers.
func ExampleNode_Request() {
	server, err := rt2rt.NewNode(rt2rt.WithID("server"))
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()
	server.Handle(wire.CmdPortConnect, func(ctx context.Context, in *rt2rt.Incoming) {
		pc := in.Msg.(*wire.PortConnect)
		_ = in.Reply(wire.NewResponse(wire.StatusOK, map[string]any{"port_id": pc.PeerPortID}))
	})

	client, err := rt2rt.NewNode(rt2rt.WithID("client"), rt2rt.WithListen())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	peer, err := client.Join(context.Background(), server.URIs()[0])
	if err != nil {
		log.Fatal(err)
	}
	resp, err := client.Request(context.Background(), peer, &wire.PortConnect{
		TunnelID: "t1", PortID: "out-1", PeerPortID: "in-7",
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(peer, resp.Status, resp.Data)
	// Output: server 200 map[port_id:in-7]
}

// Fire-and-forget messages (TUNNEL_DATA) reach the peer's handler in order.
func ExampleNode_Send() {
	server, err := rt2rt.NewNode()
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()
	got := make(chan string, 3)
	server.Handle(wire.CmdTunnelData, func(ctx context.Context, in *rt2rt.Incoming) {
		got <- fmt.Sprint(in.Msg.(*wire.TunnelData).Value)
	})

	client, err := rt2rt.NewNode(rt2rt.WithListen(), rt2rt.WithSerializers("msgpack", "json"))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	peer, err := client.Join(context.Background(), server.URIs()[0])
	if err != nil {
		log.Fatal(err)
	}
	for _, v := range []string{"a", "b", "c"} {
		if err := client.Send(context.Background(), peer, &wire.TunnelData{TunnelID: "t1", Value: v}); err != nil {
			log.Fatal(err)
		}
	}
	fmt.Println(<-got, <-got, <-got, client.Peers()[0].Serializer)
	// Output: a b c json
}

// Subscribe reports links going up and down.
func ExampleNode_Subscribe() {
	a, _ := rt2rt.NewNode(rt2rt.WithID("a"))
	b, _ := rt2rt.NewNode(rt2rt.WithID("b"))
	events := make(chan rt2rt.PeerEvent, 2)
	cancel := a.Subscribe(func(ev rt2rt.PeerEvent) { events <- ev })
	defer cancel()
	if _, err := b.Join(context.Background(), a.URIs()[0]); err != nil {
		log.Fatal(err)
	}
	up := <-events
	_ = b.Close()
	down := <-events
	fmt.Println(up.Peer, up.Up, down.Peer, down.Up)
	_ = a.Close()
	// Output: b true b false
}
