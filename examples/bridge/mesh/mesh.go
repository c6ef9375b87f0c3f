// Package mesh assembles a minimal Calvin node for the examples: an rt2rt
// node, its tunnel manager, the token flow, an actor runtime with the
// standard actor types (actor/std) and the network binding that connects
// ports across nodes and migrates actors. It has no registry: connections
// and migrations name their peer node explicitly. examples/calvinnode shows
// the full node with a registry and the HTTP control API.
package mesh

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/actor/std"
	"github.com/meshkit/meshkit/rt2rt"
	"github.com/meshkit/meshkit/token"
	"github.com/meshkit/meshkit/tunnel"
)

// Node is one running Calvin node.
type Node struct {
	Node    *rt2rt.Node
	Runtime *actor.Runtime
	Network *actor.Network

	tunnels *tunnel.Manager
	flow    *token.Flow
}

// Start starts a node listening on listen (e.g. "calvinip://127.0.0.1:0")
// and joins each of join. log may be nil.
func Start(ctx context.Context, listen string, join []string, log *slog.Logger) (_ *Node, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	n := &Node{}
	defer func() {
		if err != nil {
			err = errors.Join(err, n.Close())
		}
	}()
	if n.Node, err = rt2rt.NewNode(rt2rt.WithListen(listen), rt2rt.WithLogger(log)); err != nil {
		return nil, err
	}
	if n.tunnels, err = tunnel.NewManager(n.Node, tunnel.WithLogger(log)); err != nil {
		return nil, err
	}
	types, err := std.NewRegistry()
	if err != nil {
		return nil, err
	}
	if n.Runtime, err = actor.NewRuntime(actor.WithRegistry(types), actor.WithNodeID(n.Node.ID()), actor.WithLogger(log)); err != nil {
		return nil, err
	}
	// A TOKEN for a port that exists but is not connected yet gets no reply
	// rather than ABORT, as in Calvin.
	if n.flow, err = token.NewFlow(token.WithLogger(log), token.WithPortLookup(func(id string) bool {
		_, ok := n.Runtime.Port(id)
		return ok
	})); err != nil {
		return nil, err
	}
	if err = n.flow.Register(n.tunnels); err != nil {
		return nil, err
	}
	if n.Network, err = actor.NewNetwork(n.Runtime, n.Node, n.tunnels, n.flow, actor.WithNetworkLogger(log)); err != nil {
		return nil, err
	}
	for _, uri := range join {
		if _, err = n.Node.Join(ctx, uri); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// ID returns the node id.
func (n *Node) ID() string { return n.Node.ID() }

// URI returns the first listen URI, with the port the OS chose.
func (n *Node) URI() string { return n.Node.URIs()[0] }

// Linked reports whether the node has a direct link to peer.
func (n *Node) Linked(peer string) bool {
	for _, p := range n.Node.Peers() {
		if p.ID == peer && p.Via == "" {
			return true
		}
	}
	return false
}

// WaitLinked waits until the node has a direct link to peer (the side that
// accepted a join installs its link on its own goroutine) or ctx ends.
func (n *Node) WaitLinked(ctx context.Context, peer string) error {
	up := make(chan struct{}, 1)
	cancel := n.Node.Subscribe(func(ev rt2rt.PeerEvent) {
		if ev.Peer == peer && ev.Up {
			select {
			case up <- struct{}{}:
			default:
			}
		}
	})
	defer cancel()
	if n.Linked(peer) {
		return nil
	}
	select {
	case <-up:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("no link to %s: %w", peer, ctx.Err())
	}
}

// Close stops everything, top down. Safe on a partly started node and twice.
func (n *Node) Close() error {
	var errs []error
	if n.Network != nil {
		errs = append(errs, n.Network.Close())
	}
	if n.Runtime != nil {
		errs = append(errs, n.Runtime.Close())
	}
	if n.flow != nil {
		errs = append(errs, n.flow.Close())
	}
	if n.tunnels != nil {
		errs = append(errs, n.tunnels.Close())
	}
	if n.Node != nil {
		errs = append(errs, n.Node.Close())
	}
	return errors.Join(errs...)
}
