// Package storage implements Calvin's registry sub-protocol, the "storage"
// tunnel (Calvin spec §6.2), on top of package tunnel.
//
// Calvin nodes share a registry of node, actor, port and application
// records. With proxy storage one node keeps it (storage_type = "local") and
// the others send every registry operation to it over a storage tunnel:
// SET, GET, DELETE, APPEND, REMOVE, GET_CONCAT, ADD_INDEX, REMOVE_INDEX and
// GET_INDEX, each answered by a REPLY carrying either "value" or
// "response".
//
// This package provides both ends:
//
//   - Server makes a node a registry master: it accepts storage tunnels
//     from any peer and answers from a Store. MemStore implements the
//     semantics of Calvin's local storage exactly (separate namespaces for
//     plain values and sets, DELETE of a missing key is fine, GET of one is
//     404, index look-ups match whole level prefixes). A real Calvin node
//     started with storage_type = "proxy" can use a meshkit node as its
//     registry.
//   - Client reads and writes a registry: remotely over a storage tunnel
//     (NewClient, with a timeout per request and a re-send after link loss),
//     or locally on the registry's own Store (NewLocalClient). Besides the
//     nine commands it writes and reads the records of §6.2: RegisterNode,
//     LookupNode, LookupActor, LookupPort, SetActor, SetPort.
//   - Client.Resolve implements rt2rt.Resolver (node-<id> → URIs) so a node
//     can re-join and forward through the registry.
//   - ProxyServer serves the "proxy" tunnel of calvin-constrained runtimes
//     (§6.3): CONFIG registers the runtime behind this node, WAKEUP and
//     WILL_SLEEP are answered, REQ_MATCH and GET_ACTOR_MODULE refused.
//
// Execute is the server logic as a function: one decoded sub-message in,
// the REPLY out. Server, local Client and tests share it.
//
// # Limits
//
// Peers write the registry, so what they can make a node hold is bounded:
//
//   - WithMaxKeys (default 100000): keys of a MemStore, plain values, sets
//     and index entries together; ErrStoreFull, response 503.
//   - WithMaxBytes (default 64 MiB): estimated size of a MemStore's
//     contents; ErrStoreFull, response 503. A refused write stores
//     nothing; reads, deletes and removals keep working.
//   - WithMaxPending (default 65536): requests a Server queues per tunnel;
//     later ones are dropped (their clients time out).
package storage
