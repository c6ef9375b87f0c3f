package tunnel_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/meshkit/meshkit/rt2rt"
	"github.com/meshkit/meshkit/tunnel"
)

// Two nodes on loopback TCP: the first opens a tunnel of a custom type to
// the second and sends a value over it.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	a, err := rt2rt.NewNode()
	if err != nil {
		log.Fatal(err)
	}
	defer a.Close()
	b, err := rt2rt.NewNode()
	if err != nil {
		log.Fatal(err)
	}
	defer b.Close()

	ma, err := tunnel.NewManager(a)
	if err != nil {
		log.Fatal(err)
	}
	defer ma.Close()
	mb, err := tunnel.NewManager(b)
	if err != nil {
		log.Fatal(err)
	}
	defer mb.Close()

	got := make(chan any, 1)
	_ = ma.RegisterType("demo", tunnel.HandlerFuncs{})
	_ = mb.RegisterType("demo", tunnel.HandlerFuncs{
		DataFunc: func(t *tunnel.Tunnel, v any) { got <- v },
	})

	if _, err := a.Join(ctx, b.URIs()[0]); err != nil {
		log.Fatal(err)
	}
	t, err := ma.Open(ctx, b.ID(), "demo")
	if err != nil {
		log.Fatal(err)
	}
	if err := t.Send(ctx, "hello"); err != nil {
		log.Fatal(err)
	}
	fmt.Println(t.State(), <-got)
	// Output: WORKING hello
}
