// Package token implements Calvin's dataflow tokens, the port FIFO and the
// exactly-once TOKEN / TOKEN_REPLY flow between nodes (spec chapter 7).
//
// # Tokens
//
// A [Token] is a small value: a [Kind] (ordinary, exception, end of stream)
// and generic Data. It is encoded as {"type": ..., "data": ...}; [Decode]
// follows Calvin's rules (an unknown or missing type is an exception token
// that keeps its data, a missing data key is "Bad Token") and [Token.Encode]
// always writes the canonical type names.
//
// # The FIFO
//
// [FIFO] is Calvin's fanout_fifo: a ring of queue_length+1 slots addressed by
// absolute stream positions that only grow. Every reader (one per peer inport
// on an outport, the port itself on an inport) has a read and a tentative
// position: [FIFO.Peek] hands out tokens tentatively, [FIFO.Commit] consumes
// them and [FIFO.Cancel] gives them back. Positions are the sequence numbers
// of the token flow, so they survive reconnects and migration. [FIFO.State]
// and [ImportQueue] convert to and from Calvin's exact state layout (§7.6,
// §10.3); [FIFO.MigrationState] cancels tentative reads in the export as §7.8
// requires. Queue types the library does not run are kept as [OpaqueQueue].
// [Move] is a local connection between two actors on one node.
package token
