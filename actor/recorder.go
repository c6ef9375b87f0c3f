package actor

import "context"

// Recorder publishes where actors and ports live, as Calvin's `actor-<id>`
// and `port-<id>` registry records (spec §6.2, §9.3). control.Records is
// the registry-backed one.
type Recorder interface {
	Publish(ctx context.Context, nodeID string, info Info) error
	Unpublish(ctx context.Context, info Info) error
}
