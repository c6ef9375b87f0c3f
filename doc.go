// Package meshkit embeds two open agent protocols in Go services.
//
// The Calvin side speaks Ericsson Calvin's runtime-to-runtime protocol
// (RT2RT): a node joins a mesh over TCP, opens tunnels to its peers, streams
// dataflow tokens between actor ports with per-token acknowledgement and
// migrates actors with their state. It interoperates with calvin-base and
// calvin-constrained runtimes. Its packages, bottom up:
//
//   - transport: framed byte connections (calvinip TCP and TLS, ws, mem)
//   - rt2rt/wire: typed RT2RT messages and the json and msgpack serializers
//   - rt2rt: the node (join, links, routing, request and reply)
//   - tunnel: tunnels over a node; tunnel/storage: the registry tunnel
//   - token: tokens, the FIFO and the exactly-once TOKEN / TOKEN_REPLY flow
//   - actor: actors, ports, scheduler, migration; actor/std: standard actors;
//     actor/control: the HTTP control API
//
// The OPACA side implements GT-ARC's multi-agent platform protocol:
//
//   - opaca: models, errors, argument validation
//   - opaca/client: a client of the platform and container APIs
//   - opaca/container: the agent container SDK
//   - opaca/platform: an embeddable runtime platform
//   - opaca/sample: the sample agent container
//
// The two stacks are independent; examples/bridge joins them.
package meshkit
