package actor_test

import (
	"context"
	"fmt"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/actor/std"
	"github.com/meshkit/meshkit/rt2rt"
	"github.com/meshkit/meshkit/token"
	"github.com/meshkit/meshkit/transport"
	"github.com/meshkit/meshkit/tunnel"
)

// exampleNode assembles one node: rt2rt node, tunnel manager, token flow,
// actor runtime and the network binding.
func exampleNode(reg *actor.Registry, tr *transport.Registry, uri string) (*actor.Runtime, *actor.Network, *rt2rt.Node, func()) {
	node, _ := rt2rt.NewNode(rt2rt.WithTransport(tr), rt2rt.WithListen(uri))
	mgr, _ := tunnel.NewManager(node)
	rt, _ := actor.NewRuntime(actor.WithRegistry(reg), actor.WithNodeID(node.ID()))
	flow, _ := token.NewFlow(token.WithPortLookup(rt.HasPort))
	_ = flow.Register(mgr)
	nw, _ := actor.NewNetwork(rt, node, mgr, flow)
	return rt, nw, node, func() { nw.Close(); rt.Close(); flow.Close(); mgr.Close(); node.Close() }
}

// ExampleNetwork_Migrate moves a test.Sink with its stored tokens from one
// node to another (over the in-memory transport; calvinip works the same).
func ExampleNetwork_Migrate() {
	reg, _ := std.NewRegistry()
	tr, _ := transport.NewRegistry(transport.WithMemNetwork(transport.NewMemNetwork()))
	rtA, netA, nodeA, closeA := exampleNode(reg, tr, "mem://example-a")
	defer closeA()
	rtB, _, nodeB, closeB := exampleNode(reg, tr, "mem://example-b")
	defer closeB()
	ctx := context.Background()
	if _, err := nodeA.Join(ctx, "mem://example-b"); err != nil {
		fmt.Println(err)
		return
	}

	snk, _ := rtA.CreateActor(ctx, "test.Sink", map[string]any{"name": "app:snk", "store_tokens": true})
	if err := netA.Migrate(ctx, snk, nodeB.ID()); err != nil {
		fmt.Println(err)
		return
	}
	_, onA := rtA.Actor(snk)
	info, onB := rtB.Actor(snk)
	fmt.Println(onA, onB, info.Name)
	// Output: false true app:snk
}
