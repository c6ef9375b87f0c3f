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
//
// Handlers run on the node's goroutines (the link reader for data) and must
// not block. Events of one tunnel are delivered one at a time, in order.
package tunnel
