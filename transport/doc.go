// Package transport carries framed byte messages between meshkit nodes.
//
// A Conn sends and receives whole frames; the rt2rt layer above puts one
// encoded RT2RT message in each. Three transports are provided and chosen by
// URI scheme through a Registry:
//
//   - calvinip://host:port — Calvin's TCP transport (spec §1): each frame is
//     a 4-byte big-endian payload length followed by the payload, at most
//     DefaultMaxFrameSize (20 MiB) bytes. WithTLS runs it over (mutual) TLS.
//     calvinip://default or port 0 lets the OS pick a port on loopback.
//   - ws://host:port/path and wss://… — one frame per binary WebSocket
//     message (a project extension; no Calvin peer speaks it).
//   - mem://name — in-process connections on a MemNetwork, with fault
//     injection (drop, delay, cut, partition) for tests of the layers above.
//
// Every connection has one writer goroutine fed by a bounded queue. Send
// appends under a mutex and returns; the writer swaps the whole backlog out,
// writes it into a buffered writer and flushes only when the queue is empty,
// so a burst of small frames costs a handful of system calls. When the queue
// is full Send blocks until there is room or its context ends
// (back-pressure). Recv returns frames the caller owns.
//
// A peer that breaks framing (a length prefix over the limit, a stream
// ending inside a frame) is logged and disconnected, rather than left wedged
// as Calvin does; Recv reports ErrFrameTooLarge, or for a stream ending
// inside a frame (which a peer's Close while it writes also causes) an error
// wrapping both ErrTruncatedFrame and ErrClosed. A Send
// of a frame over the limit fails locally with ErrFrameTooLarge and leaves
// the connection up.
//
// Close discards frames still queued; call Flush first when the last frames
// matter. A reader that copies what it keeps can avoid the copy of each
// received frame: calvinip connections implement Borrower, whose
// RecvBorrowed returns a view of the read buffer valid until the next read. Recv is cheapest with a context that has no Done channel (stop the
// read loop with Close); with a cancellable context the cancellation is
// armed once and kept across calls with the same context.
//
// # Testing upper layers with MemNetwork
//
// Give each simulated node its own Registry on a shared network:
//
//	network := transport.NewMemNetwork()
//	regA, _ := transport.NewRegistry(transport.WithMemNetwork(network))
//	lnA, _ := regA.Listen(ctx, "mem://a")
//
// A mem transport names its end of a dialled link after its first listener,
// so links are addressed by node names: network.CutLink("a", "b") drops the
// link now (both ends see ErrClosed with cause ErrLinkCut, re-dialling works
// at once), network.Partition("a", "b") also refuses dials until Heal,
// network.Isolate("a") cuts a off from everyone until Rejoin, and
// SetFaults, SetLinkFaults and SetDirectedFaults drop frames (seeded,
// reproducible) or delay them (order kept).
//
// ReadFrame and AppendFrame expose the calvinip frame codec for tools and
// tests that work on raw streams.
package transport
