// Package rt2rt is the Calvin runtime-to-runtime node: it listens for and
// joins peers (the JSON JOIN handshake with serializer negotiation), keeps
// exactly one link per peer node, and carries requests, replies and
// fire-and-forget messages over those links.
//
// A Node is created with NewNode and functional options; with no option it
// listens on calvinip://127.0.0.1 with an OS-chosen port and speaks json and
// msgpack, json preferred, as Calvin does by default.
//
// Upper layers (tunnels, actors) use four things:
//
//   - Request sends a message that expects a REPLY and waits for it,
//     correlated by msg_uuid, with Calvin's 10 s timeout (ErrTimeout) and
//     immediate failure when the link goes down (ErrLinkDown).
//   - Send sends a message that is never answered (TUNNEL_DATA).
//   - Handle registers a Handler per command. Handlers run on the link's
//     reader goroutine, in arrival order, and answer with Incoming.Reply.
//   - Subscribe reports links coming up and going down.
//
// Both Request and Send re-join a peer they have no link to, at the URIs
// remembered from earlier joins or given by a Resolver (WithResolver, or
// SetResolver once the registry is reachable), with backoff. SetRoute sends
// to a node through another one (Calvin's routing link to a proxied node).
// Messages addressed to another node are forwarded unchanged (Calvin nodes
// are relays, and proxied constrained runtimes depend on it), never back over
// the link they came in on. Sleep holds messages for a peer in proxy sleep
// mode until it joins again.
//
// Close stops everything at once; Shutdown first runs the OnShutdown hooks
// and lets outstanding requests finish while the node answers as a stopping
// Calvin node does.
//
// Calvin compatibility details follow the specification: duplicate and
// simultaneous connections converge on the connection initiated by the node
// with the higher id (§2.8); an invalid first frame gets a JOIN_REPLY with a
// null id and the next frame is read as a new JOIN_REQUEST (§2.3); unknown
// commands are logged and dropped (§3.3); known commands with missing keys
// get 400 (§4.6); replication and security commands get 404/501/400 (§4.5);
// during Shutdown the commands of §4.7 get their fixed status. Commands for
// which no handler is registered get the answer of a node that has no such
// tunnel, port or actor.
package rt2rt
