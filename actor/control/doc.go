// Package control serves the HTTP control API of a Calvin node, the subset
// of calvin-base's csruntime API in spec chapter 12, with the same paths,
// bodies and status codes: JSON bodies with Content-Type exactly
// application/json, 204 for a successful answer without body, 400 without
// body for a request body that is not JSON or lacks a required key, 404
// without body for an unknown route (a query string makes any route
// unknown; a trailing slash and non-uuid ids are accepted), 500 for
// everything while the node shuts down, CORS headers on every answer and 200
// for OPTIONS.
//
// # Routes
//
// NewHandler always installs GET /id, GET /nodes and POST /peer_setup. The
// other routes are installed for the parts given as options, each reached
// through a small interface so that the handler is testable:
//
//   - WithRuntime (Runtime, implemented by *actor.Runtime): GET
//     /capabilities, GET /actors, POST /actor, GET and DELETE
//     /actor/{id}, GET and POST /actor/{id}/report, POST
//     /actor/{id}/migrate, GET /actor/{id}/port/{port_id}, GET
//     /actor/{id}/port/{port_id}/state, POST /connect, POST /disconnect,
//     GET /applications, GET and DELETE /application/{id}, POST /deploy
//     (the precompiled app_info form of §12.3; CalvinScript is answered 400).
//   - WithNetwork (Network, implemented by *actor.Network): connections to
//     ports on other nodes and migration of local actors.
//   - WithRegistry (Registry, implemented by *storage.Client): GET
//     /node/{id} and the registry reads of §12.4 (actor, port and application
//     records of other nodes, the peer node of /connect and /disconnect, the
//     host of an actor to migrate, which gets ACTOR_MIGRATE, and the hosts of
//     an application's actors, which get APP_DESTROY); POST /deploy writes
//     application-<id>.
//   - WithShutdown: DELETE /node, /node/clean, /node/migrate and /node/now
//     answer 204 and hand the ShutdownMode to the node program.
//
// Other packages can add or replace routes with Handler.Route, one
// RouteFunc per route.
//
// # Registry records
//
// Records keeps the actor-<id> and port-<id> records of the node's actors
// current (spec §6.2, §12.4). It is the runtime's actor.Observer (creation,
// destruction) and the network's actor.Recorder (arrival by migration,
// written before ACTOR_NEW is answered); Records.Watch wraps the node given
// to actor.NewNetwork so that connections made by peers (PORT_CONNECT,
// PORT_DISCONNECT) or by this node update the port records too; WithRecords
// makes the routes write the records of what they changed before they
// answer. All writes go through one goroutine, in order, from the live
// state. Locator implements actor.Locator over the registry.
//
// # Limits
//
// Placement by requirements (POST /actor/{id}/migrate with requirements,
// deploy_info) is not implemented: a local actor answers 501 and deploy_info
// is ignored, all actors of a deployment stay on this node. POST /deploy
// creates a shadow actor for a type this node does not host, with the ports
// the application names; for hosted types app_info port_properties and
// /connect port_properties are not applied (the runtime sets port
// properties from the actor type).
package control
