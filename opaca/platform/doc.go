// Package platform is an embeddable OPACA Runtime Platform (spec §5–§14).
//
// A Platform serves the whole Runtime Platform API as an http.Handler:
// information and configuration, the event history and the /subscribe
// websocket, agent container management, the agent routes (send,
// broadcast, invoke, streams) with forwarding to connected platforms,
// platform connections and their notify protocol, login, tokens and users.
//
// Containers are started by Runners chosen by image name: an http(s) URL
// adopts a running container, registered names run a Go container in the
// same process (WithInProcessImage) or a local command (WithProcessImage),
// and everything else goes to the Docker Engine API when WithDocker is
// given. Starting waits for the container's /info.
//
// Calls are routed to local containers first (in start order) and, with
// forward=true, to connected platforms, which get the call with
// forward=false so it travels at most one hop. Broadcasts reach every
// matching container and platform. In-process containers are called in
// memory; they still listen on their own port for direct access.
//
// With WithRequireAuth every route but the open ones needs an HS256 bearer
// token; roles and ownership follow spec §11. Users (bcrypt-hashed),
// running containers and connections are kept in a state file
// (WithStateFile) written atomically, and restored by Start.
//
// Against misbehaving clients: JSON request bodies are limited
// (WithMaxBodySize, 413 beyond; stream bodies are not), a JSON body must
// arrive within the body read timeout (408), and Serve's server drops
// clients that send their headers too slowly or idle too long
// (WithServerTimeouts). The platform holds 1,000 concurrent clients mixing
// calls and /subscribe websockets without leaving goroutines or heap behind
// (TestLoadThousandClients, BenchmarkMixedLoad).
//
// Typical embedding:
//
//	p, err := platform.New(platform.WithPublicURL("http://10.0.0.5:8000"))
//	ln, err := net.Listen("tcp", ":8000")
//	go p.Serve(ln)
//	err = p.Start(ctx) // restore state, deploy default images
//	defer p.Shutdown(ctx)
package platform
