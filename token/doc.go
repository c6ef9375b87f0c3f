// Package token implements Calvin's dataflow tokens, the port FIFO and the
// exactly-once TOKEN / TOKEN_REPLY flow between nodes (spec chapter 7).
//
// # Tokens
//
// A [Token] is a small value: a [Kind] (ordinary, exception, end of stream)
// and generic Data. It is encoded as {"type": ..., "data": ...}; [Decode]
// follows Calvin's rules (an unknown or missing type is an exception token
// that keeps its data, a missing data key is "Bad Token") and [Token.Encode]
// always writes the canonical type names. [Token.Payload] and [FromPayload]
// convert to and from the wire's TokenPayload.
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
// requires. Queue types the library does not run (collect and dispatch
// routings, "none") are kept unchanged as [OpaqueQueue]. [FIFO.Remaining]
// and [FIFO.AbsorbRemaining] carry the remaining_tokens of an EXHAUST
// disconnect. [Move] is the whole of a local connection between two actors
// on one node.
//
// # The flow
//
// A [Flow] is the handler of the "token" tunnel type ([Flow.Register]). The
// actor layer attaches ports to it once PORT_CONNECT succeeded:
//
//   - [Flow.AddSender] for a local outport connected to a remote inport. The
//     outport FIFO's reader for that inport holds the sender's state: read is
//     the first unacknowledged position, tentative the next to send. Call
//     [Sender.Notify] after writing tokens; OnCredit reports acknowledgements
//     that freed slots; OnPeerLost reports ABORT or a destroyed tunnel.
//   - [Flow.AddReceiver] for a local inport connected to a remote outport.
//     OnData reports stored tokens; call [Receiver.Notify] after consuming.
//
// Callbacks run on flow goroutines and must not block. One goroutine per
// peer node sends that peer's tokens and replies, so the tunnel reader never
// blocks on a send. Closing a Sender (or the Flow) is a TEMPORARY disconnect:
// unacknowledged tokens go back into the FIFO and are resent, with the same
// sequence numbers, by the next sender for the pair.
//
// Receiver rules are spec §7.4 (ACK in-order tokens, ACK and drop
// duplicates, NACK a full queue, ABORT an unknown port, silence for a port
// without that connection), with a gap NACKed with the expected number so
// that a Calvin sender rewinds instead of stalling.
//
// Sender rules are spec §7.5: a window of the outport queue length, go-back-N
// on NACK with Calvin's 0.1-1 s backoff in throttled mode, and a
// retransmission timer (5 s doubling to 60 s) that probes with the first
// unacknowledged token so a lost frame never stalls a port. Two details go
// beyond Calvin without changing what a Calvin peer sees:
//
//   - ACKs are cumulative: a receiver ACKs n only once its write position is
//     past n, so an ACK commits every earlier token too. A lost ACK does not
//     hold the window, and Calvin's out-of-order ACK bugs cannot happen.
//   - Resume signal: after NACKing a full queue, a receiver whose consumer
//     frees a slot sends ACK(write_pos + [ResumeAhead]). The number is beyond
//     anything the sender sent, so it commits nothing; but like every ACK it
//     ends throttled mode and clears the backoff in Calvin's sender and ours,
//     which then sends at once. A full receiver thus pushes back without
//     polling, and the NACK backoff is not the steady state.
//
// Link loss: when the token tunnel goes down the sender goes back to its
// first unacknowledged token and sends only it (on a tunnel that is down the
// send is queued and starts the re-join); replies are not sent into a tunnel
// that is down. When the tunnel is up again every sender resends its
// unacknowledged tokens at once and the receiver ACKs the duplicates, so
// throughput is back as soon as the link is.
//
// An [Observer] (WithObserver) is told about tokens sent, retransmitted,
// acknowledged, NACKed and received.
package token
