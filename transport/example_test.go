package transport_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/meshkit/meshkit/transport"
)

// Listen on calvinip with an OS-chosen port, dial it, and exchange frames.
func ExampleListen() {
	ctx := context.Background()
	l, err := transport.Listen(ctx, "calvinip://127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	fmt.Println(strings.HasPrefix(l.URI(), "calvinip://127.0.0.1:"))

	client, err := transport.Dial(ctx, l.URI())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer client.Close()
	server, err := l.Accept(ctx)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer server.Close()

	_ = client.Send(ctx, []byte(`{"cmd": "JOIN_REQUEST"}`))
	frame, _ := server.Recv(ctx)
	fmt.Printf("%s\n", frame)
	_ = server.Send(ctx, []byte(`{"cmd": "JOIN_REPLY"}`))
	frame, _ = client.Recv(ctx)
	fmt.Printf("%s\n", frame)
	// Output:
	// true
	// {"cmd": "JOIN_REQUEST"}
	// {"cmd": "JOIN_REPLY"}
}

// Dial through a Registry whose mem transport runs on a private network.
func ExampleDial() {
	ctx := context.Background()
	network := transport.NewMemNetwork()
	reg, err := transport.NewRegistry(transport.WithMemNetwork(network))
	if err != nil {
		fmt.Println(err)
		return
	}
	l, _ := reg.Listen(ctx, "mem://node-a")
	defer l.Close()

	c, err := reg.Dial(ctx, "mem://node-a?from=node-b")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	s, _ := l.Accept(ctx)
	defer s.Close()
	fmt.Println(c.LocalURI(), "->", c.RemoteURI())

	_ = c.Send(ctx, []byte("hello"))
	frame, _ := s.Recv(ctx)
	fmt.Printf("%s from %s\n", frame, s.RemoteURI())

	_, err = reg.Dial(ctx, "bluetooth://x")
	fmt.Println(errors.Is(err, transport.ErrUnknownScheme))
	// Output:
	// mem://node-b -> mem://node-a
	// hello from mem://node-b
	// true
}

// Cut a link between two nodes, keep them apart, then let them re-dial.
func ExampleMemNetwork_Partition() {
	ctx := context.Background()
	network := transport.NewMemNetwork()
	nodeA, _ := transport.NewRegistry(transport.WithMemNetwork(network))
	nodeB, _ := transport.NewRegistry(transport.WithMemNetwork(network))
	la, _ := nodeA.Listen(ctx, "mem://a")
	defer la.Close()
	lb, _ := nodeB.Listen(ctx, "mem://b")
	defer lb.Close()

	ab, _ := nodeA.Dial(ctx, "mem://b") // named a->b: A listens as "a"
	defer ab.Close()
	ba, _ := lb.Accept(ctx)
	defer ba.Close()

	network.Partition("a", "b")
	_, err := ba.Recv(ctx)
	fmt.Println(errors.Is(err, transport.ErrClosed), errors.Is(err, transport.ErrLinkCut))
	_, err = nodeB.Dial(ctx, "mem://a")
	fmt.Println(errors.Is(err, transport.ErrUnreachable))

	network.Heal("a", "b")
	again, err := nodeB.Dial(ctx, "mem://a")
	fmt.Println(err == nil)
	again.Close()
	// Output:
	// true true
	// true
	// true
}

// The calvinip frame codec on its own.
func ExampleReadFrame() {
	wire := transport.AppendFrame(nil, []byte("first"))
	wire = transport.AppendFrame(wire, []byte("second"))
	fmt.Printf("% x\n", wire[:9])

	r := bufio.NewReader(bytes.NewReader(wire))
	for {
		frame, err := transport.ReadFrame(r, transport.DefaultMaxFrameSize, nil)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("%s\n", frame)
	}
	// Output:
	// 00 00 00 05 66 69 72 73 74
	// first
	// second
	// EOF
}
