package storage_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/meshkit/meshkit/rt2rt"
	"github.com/meshkit/meshkit/tunnel"
	"github.com/meshkit/meshkit/tunnel/storage"
)

// A registry node serves the storage tunnel; a second node registers itself
// there and looks itself up, as a Calvin proxy-storage node does.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	registry, err := rt2rt.NewNode()
	if err != nil {
		log.Fatal(err)
	}
	defer registry.Close()
	rm, err := tunnel.NewManager(registry)
	if err != nil {
		log.Fatal(err)
	}
	defer rm.Close()
	srv, err := storage.NewServer(rm) // a MemStore with Calvin's local semantics
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	node, err := rt2rt.NewNode()
	if err != nil {
		log.Fatal(err)
	}
	defer node.Close()
	nm, err := tunnel.NewManager(node)
	if err != nil {
		log.Fatal(err)
	}
	defer nm.Close()
	if _, err := node.Join(ctx, registry.URIs()[0]); err != nil {
		log.Fatal(err)
	}
	client, err := storage.NewClient(nm, registry.ID())
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	node.SetResolver(client) // re-joins and forwarding look peers up here

	err = client.RegisterNode(ctx, &storage.NodeRecord{
		ID:           node.ID(),
		URIs:         node.URIs(),
		Attributes:   storage.NodeAttributes{IndexedPublic: []string{storage.NodeNameIndex("", "", "", "", "example")}},
		Capabilities: []string{"io.print"},
	})
	if err != nil {
		log.Fatal(err)
	}
	rec, err := client.LookupNode(ctx, node.ID())
	if err != nil {
		log.Fatal(err)
	}
	ids, err := client.NodesWithCapability(ctx, "io.print")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(rec.URIs[0] == node.URIs()[0], len(ids))
	// Output: true 1
}

// A node that is its own registry reads and writes its store directly.
func ExampleNewLocalClient() {
	ctx := context.Background()
	store := storage.NewMemStore() // share it with the node's Server
	c, err := storage.NewLocalClient(store)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	_ = c.Append(ctx, "set", []any{"a", "b", "a"})
	l, _ := c.GetConcat(ctx, "set")
	_, err = c.Get(ctx, "missing")
	fmt.Println(l, err != nil)
	// Output: [a b] true
}

// Calvin's clients split index paths into levels; GET_INDEX matches whole
// level prefixes.
func ExampleIndexLevels() {
	fmt.Printf("%q\n", storage.IndexLevels("/node/attribute/node_name/////nodeB", storage.AttributeRootLevels))
	fmt.Printf("%q\n", storage.CapabilityIndex("io.print"))
	// Output:
	// ["node/attribute" "node_name" "" "" "" "" "nodeB"]
	// ["node/capabilities/io.print"]
}
