// Package container is the OPACA Agent Container SDK (spec §4, §15): it
// turns Go code into an agent container that serves the Agent Container
// API and talks to its Runtime Platform.
//
// A Container is created from an image description and an environment
// source (the process environment, or a map when a platform hosts the
// container in-process). It holds Agents; each agent offers actions
// (handlers with declared parameters, or plain typed Go functions through
// AddFunc), GET and POST streams, a handler for direct messages and
// handlers for broadcast channels and platform events. Agents, actions and
// streams can be added and removed at run time; the container then
// notifies its platform.
//
// The container is an http.Handler serving every route of spec §4.2, with
// the bearer check against TOKEN, invoke timeouts, argument validation and
// container login. Agents reach the platform through Agent.Platform
// (invoke, send, broadcast, streams, notify), authenticated with the
// container's token, which is renewed at half its lifetime.
//
// JSON request bodies are limited (WithMaxBodySize, 413) and must arrive
// within the body read timeout (408); Serve drops clients that send their
// headers too slowly or idle too long (WithServerTimeouts).
package container
