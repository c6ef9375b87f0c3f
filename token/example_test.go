package token_test

import (
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
