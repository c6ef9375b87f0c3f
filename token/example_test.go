package token_test

import (
	"context"
	"fmt"

	"github.com/meshkit/meshkit/token"
)

func ExampleFIFO() {
	q, err := token.NewFIFO(token.DefaultQueueLength)
	if err != nil {
		panic(err)
	}
	q.AddReader("inport-id")
	for i := range 3 {
		_ = q.Write(token.New(int64(i)))
	}
	t, _ := q.Peek("inport-id") // tentative: not yet consumed
	fmt.Println(t, q.Free())
	_ = q.Commit("inport-id")
	fmt.Println(q.Free())
	// Output:
	// Token(0) 1
	// 2
}

func ExampleDecode() {
	t, _ := token.Decode(map[string]any{"type": "SomethingNew", "data": "kept"})
	fmt.Println(t.IsException(), t.Encode()["type"], t.Data)
	// Output: true ExceptionToken kept
}

func ExampleImportQueue() {
	state := map[string]any{
		"queuetype": "fanout_fifo", "N": int64(3),
		"fifo": []any{
			map[string]any{"type": "Token", "data": int64(3)},
			map[string]any{"type": "Token", "data": int64(4)},
			map[string]any{"type": "Token", "data": int64(2)},
		},
		"readers":            []any{"peer"},
		"write_pos":          int64(5),
		"read_pos":           map[string]any{"peer": int64(4)},
		"tentative_read_pos": map[string]any{"peer": int64(4)},
	}
	q, err := token.ImportQueue(state)
	if err != nil {
		panic(err)
	}
	fifo := q.(*token.FIFO)
	pos, t, _ := fifo.PeekPos("peer")
	fmt.Println(pos, t)
	// Output: 4 Token(4)
}

// memLink is a toy in-process token tunnel for the example: values are
// handed to the other flow in order on one goroutine.
type memLink struct {
	peer string
	ch   chan any
}

func (l *memLink) Peer() string { return l.peer }

func (l *memLink) Send(ctx context.Context, v any) error {
	select {
	case l.ch <- v:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func pump(to *token.Flow, back token.Link, ch chan any, done chan struct{}) {
	for {
		select {
		case v := <-ch:
			to.Deliver(back, v)
		case <-done:
			return
		}
	}
}

func ExampleFlow() {
	src, _ := token.NewFlow()
	dst, _ := token.NewFlow()
	defer src.Close()
	defer dst.Close()

	// Node "A" sends to node "B": one link each way.
	toB := &memLink{peer: "B", ch: make(chan any, 64)}
	toA := &memLink{peer: "A", ch: make(chan any, 64)}
	done := make(chan struct{})
	defer close(done)
	go pump(dst, toA, toB.ch, done)
	go pump(src, toB, toA.ch, done)
	src.LinkUp(toB)
	dst.LinkUp(toA)

	in, _ := token.NewFIFO(token.DefaultQueueLength)
	arrived := make(chan struct{}, 1)
	rcv, _ := dst.AddReceiver(token.ReceiverConfig{Peer: "A", PortID: "inport", PeerPortID: "outport", Queue: in,
		OnData: func() {
			select {
			case arrived <- struct{}{}:
			default:
			}
		}})
	out, _ := token.NewFIFO(token.DefaultQueueLength)
	snd, _ := src.AddSender(token.SenderConfig{Peer: "B", PortID: "outport", PeerPortID: "inport", Queue: out})

	_ = out.Write(token.New("hello"))
	_ = out.Write(token.NewEOS())
	snd.Notify()
	for got := 0; got < 2; {
		t, err := in.Read("inport")
		if err != nil {
			<-arrived
			continue
		}
		rcv.Notify()
		fmt.Println(t)
		got++
	}
	// Output:
	// Token(hello)
	// EOSToken(End of stream)
}
