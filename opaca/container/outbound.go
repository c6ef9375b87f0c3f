package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
)

// ErrNoPlatform is returned by outbound calls when PLATFORM_URL is empty
// and no platform client was configured.
var ErrNoPlatform = errors.New("container: no platform (PLATFORM_URL is empty)")

// PlatformClient is what a container needs from its platform; the
// *client.Client of package opaca/client implements it.
type PlatformClient interface {
	Invoke(ctx context.Context, action, agentID string, args any, opts ...client.CallOption) (json.RawMessage, error)
	Send(ctx context.Context, agentID string, msg opaca.Message, opts ...client.CallOption) error
	Broadcast(ctx context.Context, channel string, msg opaca.Message, opts ...client.CallOption) error
	GetStream(ctx context.Context, stream, agentID string, opts ...client.CallOption) (io.ReadCloser, error)
	PostStream(ctx context.Context, stream, agentID string, body io.Reader, opts ...client.CallOption) error
	NotifyContainer(ctx context.Context, containerID string) (bool, error)
}

// EventSource is implemented by platform clients that can subscribe to
// the platform's events (needed by WithEventSubscription).
type EventSource interface {
	Subscribe(ctx context.Context, topic string, opts ...client.SubscribeOption) (*client.Subscription, error)
}

// Outbound makes calls to the platform on behalf of an agent (spec §15.5).
// Every call carries the container's current token and its id as
// sender-id. Errors are the client's typed errors (client.StatusError,
// client.TransportError).
type Outbound struct {
	container *Container
	from      string
}

func (o *Outbound) client() (PlatformClient, error) {
	if o.container == nil || o.container.platform == nil {
		return nil, ErrNoPlatform
	}
	return o.container.platform, nil
}

// Invoke runs an action through the platform (on agentID when non-empty)
// and returns its JSON result.
func (o *Outbound) Invoke(ctx context.Context, action, agentID string, args any, opts ...client.CallOption) (json.RawMessage, error) {
	pc, err := o.client()
	if err != nil {
		return nil, err
	}
	return pc.Invoke(ctx, action, agentID, args, opts...)
}

// Send sends payload to an agent; replyTo is the sending agent's id.
func (o *Outbound) Send(ctx context.Context, agentID string, payload any, opts ...client.CallOption) error {
	pc, err := o.client()
	if err != nil {
		return err
	}
	msg, err := opaca.NewMessage(payload, o.from)
	if err != nil {
		return fmt.Errorf("container: send: %w", err)
	}
	return pc.Send(ctx, agentID, msg, opts...)
}

// Broadcast publishes payload on a channel through the platform.
func (o *Outbound) Broadcast(ctx context.Context, channel string, payload any, opts ...client.CallOption) error {
	pc, err := o.client()
	if err != nil {
		return err
	}
	msg, err := opaca.NewMessage(payload, o.from)
	if err != nil {
		return fmt.Errorf("container: broadcast: %w", err)
	}
	return pc.Broadcast(ctx, channel, msg, opts...)
}

// GetStream opens a GET stream through the platform; the caller closes it.
func (o *Outbound) GetStream(ctx context.Context, stream, agentID string, opts ...client.CallOption) (io.ReadCloser, error) {
	pc, err := o.client()
	if err != nil {
		return nil, err
	}
	return pc.GetStream(ctx, stream, agentID, opts...)
}

// PostStream sends body to a POST stream through the platform.
func (o *Outbound) PostStream(ctx context.Context, stream, agentID string, body io.Reader, opts ...client.CallOption) error {
	pc, err := o.client()
	if err != nil {
		return err
	}
	return pc.PostStream(ctx, stream, agentID, body, opts...)
}

// Notify asks the platform to refresh the container's description now.
func (o *Outbound) Notify(ctx context.Context) error {
	if o.container == nil {
		return ErrNoPlatform
	}
	return o.container.Notify(ctx)
}
