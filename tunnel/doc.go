// Package tunnel keeps the tunnels of an RT2RT node (Calvin spec chapter 5).
//
// A tunnel is a typed channel to one peer node, multiplexed over the single
// link to it: TUNNEL_NEW creates it, TUNNEL_DATA carries sub-protocol
// messages (tokens, registry requests, proxy messages) and TUNNEL_DESTROY
// removes it. A Manager answers those three commands for its node and keeps
// at most one tunnel per (peer, type). Upper layers register a TypeHandler
// per tunnel type ("token" by package token, "storage" by tunnel/storage,
// "proxy" and "control" where implemented); the handler accepts or refuses
// incoming tunnels, learns when its tunnels come up and go down, and gets
// every TUNNEL_DATA value in arrival order.
//
// Behaviour on the wire follows Calvin, minus its weak points:
//
//   - The requester owns the tunnel id; when both ends create the tunnel at
//     the same time the higher id wins on both ends (§5.2).
//   - A TUNNEL_NEW for a type that already has a tunnel is answered 200 with
//     the existing id (Calvin stays silent); the requester renames.
//   - Missing type, tunnel_id or policy → 400; unknown type or refusal → 500;
//     during shutdown (Drain, Close) → 500.
//   - A failed set-up removes the tunnel, so the next Open starts afresh
//     (Calvin keeps the dead tunnel for ever, §5.3).
//   - TUNNEL_DATA is never sent before the tunnel is WORKING: Send queues
//     (bounded) until it is.
//   - On link loss tunnels go DOWN and keep their ids; when the peer is
//     linked again they are WORKING again with the same id (§5.5).
//   - TUNNEL_DESTROY: 200 null, 404 for an unknown id, no reply without
//     msg_uuid.
//   - Tunnels are bounded per peer and in all (WithMaxTunnels, defaults 64
//     and 65536; a DOWN tunnel counts until destroyed): a TUNNEL_NEW beyond
//     is answered 500 and logged, Open fails with ErrTooManyTunnels.
//
// Handlers run on the node's goroutines (the link reader for data) and must
// not block. Events of one tunnel are delivered one at a time, in order:
// Up before any data that follows it, Down only after an Up. An Observer
// (WithObserver) sees the same up and down events.
//
// The port layer finds the tunnel a PORT_CONNECT names with LookupID; a
// node shutting down calls Drain so that new tunnels are refused while the
// existing ones carry the last tokens.
//
// One Calvin behaviour cannot be helped from this side: a Calvin node that
// still has a WORKING tunnel of a type to this node (say, after this node
// restarted with the same id) never answers a TUNNEL_NEW for it, so Open
// fails with a timeout (a *SetupError wrapping rt2rt.ErrTimeout).
package tunnel
