// Package control serves the HTTP control API of a Calvin node, the subset
// of calvin-base's csruntime API in spec chapter 12, with the same paths,
// bodies and status codes: JSON bodies with Content-Type exactly
// application/json, 204 for a successful answer without body, 400 without
// body for a request body that is not JSON or lacks a required key, 404
// without body for an unknown route, 500 for everything while the node shuts
// down, CORS headers on every answer and 200 for OPTIONS.
//
// NewHandler installs GET /id, GET /nodes and POST /peer_setup; other
// packages add their routes with Handler.Route, one RouteFunc per route.
// The node is reached through the small Node interface.
package control
