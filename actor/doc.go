// Package actor runs Calvin dataflow actors: the interface users write
// actors against, a registry of actor types, and a Runtime that creates,
// connects, fires, deletes and migrates them.
//
// # Writing an actor
//
// An actor declares ports on its Type and returns guarded Actions. An action
// fires when its Guard holds, every inport it reads has a token and every
// outport it writes has room; it consumes one token per input and produces
// one per output. State that must survive migration is exported by
// implementing Stateful under the attribute names Calvin uses; resources
// that cannot migrate are re-created in Setup, which runs on creation and
// again after every arrival. Timers and stdout are system objects opened
// through the Context; the runtime migrates them itself (spec §10.4).
//
// # Scheduling
//
// A fixed pool of workers fires ready actors. Nothing polls: an actor is
// queued when a token arrives, when room appears in an outport, when one of
// its timers expires, or when a report changes it. Actors on the same
// runtime are connected without serialisation: tokens move directly between
// the outport and inport queues (token.Move), with the queue positions
// Calvin uses, so a connection can later switch to a remote one.
//
// # State
//
// ExportState and ImportActor use calvin-base's actor_state layout
// (private / managed / security / custom, port states with fanout_fifo
// queues, _calvinsys). Unknown keys are kept; a type this runtime cannot
// host becomes a shadow actor that never fires and migrates on unchanged.
//
// # Network
//
// The Runtime does not talk to peers itself. The token layer attaches an
// Endpoint to a port for each remote connection (AttachEndpoint) and calls
// Wake when the network changed a queue; the node binding uses ExportState,
// ImportActor and Disconnect for PORT_CONNECT, PORT_DISCONNECT and
// migration.
//
// Network binds a Runtime to an rt2rt node. Migrate keeps an actor at the
// source until the destination confirms and rolls back otherwise; a
// migrating actor takes no new connection (PORT_CONNECT answers 503), and an
// ACTOR_NEW whose answer was lost is asked again, the destination answering
// a repeat with the first outcome, so an actor never runs on two nodes.
//
// # Restarting a node
//
// Network.Suspend stops every actor, exports its state and connections into
// a Snapshot (MarshalBinary for a file) and removes it without telling the
// peers, which keep their unacknowledged tokens as across a link loss.
// Network.Resume on a node with the same id brings the actors back and
// reconnects them; the streams continue with nothing lost or duplicated.
//
// # Limits
//
// Peers create actors (ACTOR_NEW) and connections (PORT_CONNECT), so both
// are bounded per runtime, with sentinel errors and 503 on the wire:
//
//   - WithMaxActors (default 100000): hosted actors, shadows and arrivals in
//     progress included; ErrTooManyActors, ACTOR_NEW 503 (the source keeps
//     the actor).
//   - WithMaxPortConnections (default 256): connections per port, for an
//     outport the peers its queue keeps a reader for; ErrTooManyConnections,
//     PORT_CONNECT 503. Reconnecting a known pair is always allowed.
package actor
