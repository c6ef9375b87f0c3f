// Package client is a Go client of the two OPACA HTTP APIs: the Runtime
// Platform API (Client, spec §5 and §16.1) and the Agent Container API
// (ContainerClient, spec §4 and §16.2), including the /subscribe event
// websocket with reconnects.
//
// Every call takes a context. Answers with status ≥ 400 come back as a
// *StatusError carrying the status, the platform's ErrorResponse (when the
// body is one) and the raw body; transport failures as a *TransportError.
// Both work with errors.Is / errors.As.
//
// The runtime platform uses this package for its own calls to containers
// and connected platforms, and agent containers use Client for their
// outbound calls to their platform.
package client
