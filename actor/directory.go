package actor

import (
	"context"
	"errors"
	"fmt"

	"github.com/meshkit/meshkit/tunnel/storage"
)

// Recorder publishes where actors and ports live, as Calvin's `actor-<id>`
// and `port-<id>` registry records (spec §6.2, §9.3).
type Recorder interface {
	Publish(ctx context.Context, nodeID string, info Info) error
	Unpublish(ctx context.Context, info Info) error
}

// Directory is a Locator and Recorder over the registry's storage client.
type Directory struct {
	c *storage.Client
}

// NewDirectory returns a Directory using the storage client c.
func NewDirectory(c *storage.Client) (*Directory, error) {
	if c == nil {
		return nil, fmt.Errorf("%w: nil storage client", ErrBadOption)
	}
	return &Directory{c: c}, nil
}

// ActorNode returns the node id of actor-<id>.
func (d *Directory) ActorNode(ctx context.Context, actorID string) (string, error) {
	r, err := d.c.LookupActor(ctx, actorID)
	if err != nil {
		return "", err
	}
	if r.NodeID == "" {
		return "", fmt.Errorf("%w: actor %q has no node", ErrUnknownActor, actorID)
	}
	return r.NodeID, nil
}

// PortNode returns the node id of port-<id>.
func (d *Directory) PortNode(ctx context.Context, portID string) (string, error) {
	r, err := d.c.LookupPort(ctx, portID)
	if err != nil {
		return "", err
	}
	if r.NodeID == "" {
		return "", fmt.Errorf("%w: port %q has no node", ErrUnknownPort, portID)
	}
	return r.NodeID, nil
}

// Publish writes actor-<id> and one port-<id> per port with nodeID.
func (d *Directory) Publish(ctx context.Context, nodeID string, info Info) error {
	rec := &storage.ActorRecord{ID: info.ID, Name: info.Name, Type: info.Type, NodeID: nodeID, IsShadow: info.Shadow}
	for _, p := range info.Inports {
		rec.InPorts = append(rec.InPorts, storage.PortRef{ID: p.ID, Name: p.Name})
	}
	for _, p := range info.Outports {
		rec.OutPorts = append(rec.OutPorts, storage.PortRef{ID: p.ID, Name: p.Name})
	}
	errs := []error{d.c.SetActor(ctx, rec)}
	for _, p := range append(append([]PortInfo{}, info.Inports...), info.Outports...) {
		pr := &storage.PortRecord{ID: p.ID, Name: p.Name, NodeID: nodeID, ActorID: info.ID,
			Properties: p.Properties, Connected: len(p.Peers) > 0}
		for i, peer := range p.Peers {
			node := "" // remote peers are found through their own port record
			if p.Local[i] {
				node = nodeID
			}
			pr.Peers = append(pr.Peers, storage.PortPeer{NodeID: node, PortID: peer})
		}
		errs = append(errs, d.c.SetPort(ctx, pr))
	}
	return errors.Join(errs...)
}

// Unpublish deletes actor-<id> and the port records.
func (d *Directory) Unpublish(ctx context.Context, info Info) error {
	// Ports first, the actor record last: whoever sees the actor gone
	// finds no stale port record of it either.
	var errs []error
	for _, p := range append(append([]PortInfo{}, info.Inports...), info.Outports...) {
		errs = append(errs, d.c.Delete(ctx, storage.PrefixPort+p.ID))
	}
	errs = append(errs, d.c.Delete(ctx, storage.PrefixActor+info.ID))
	return errors.Join(errs...)
}
