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

// ExampleNetwork_Suspend restarts a node on its state: Suspend takes its
// actors out, the snapshot is kept (here in memory; MarshalBinary makes it
// bytes for a file), and a new node with the same id brings them back with
// Resume, reconnecting them to their peers.
func ExampleNetwork_Suspend() {
	reg, _ := std.NewRegistry()
	tr, _ := transport.NewRegistry(transport.WithMemNetwork(transport.NewMemNetwork()))
	ctx := context.Background()
	node := func(id string) (*actor.Runtime, *actor.Network, func()) {
		n, _ := rt2rt.NewNode(rt2rt.WithID(id), rt2rt.WithTransport(tr), rt2rt.WithListen("mem://"+id))
		mgr, _ := tunnel.NewManager(n)
		rt, _ := actor.NewRuntime(actor.WithRegistry(reg), actor.WithNodeID(n.ID()))
		flow, _ := token.NewFlow(token.WithPortLookup(rt.HasPort))
		_ = flow.Register(mgr)
		nw, _ := actor.NewNetwork(rt, n, mgr, flow)
		return rt, nw, func() { nw.Close(); rt.Close(); flow.Close(); mgr.Close(); n.Close() }
	}

	rt, nw, stop := node("restarting-node")
	snk, _ := rt.CreateActor(ctx, "test.Sink", map[string]any{"name": "app:snk", "store_tokens": true})
	snap, err := nw.Suspend(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	stop()
	saved, _ := snap.MarshalBinary()

	rt, nw, stop = node("restarting-node")
	defer stop()
	var back actor.Snapshot
	if err := back.UnmarshalBinary(saved); err != nil {
		fmt.Println(err)
		return
	}
	if err := nw.Resume(ctx, &back); err != nil {
		fmt.Println(err)
		return
	}
	info, ok := rt.Actor(snk)
	fmt.Println(ok, info.Name)
	// Output: true app:snk
}
