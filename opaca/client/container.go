package client

import (
	"context"
	"encoding/json"
	"io"
	"net/http"

	"github.com/meshkit/meshkit/opaca"
)

// ContainerClient calls the Agent Container API (spec §4) of one container.
// The platform uses it for its local containers; tools and tests may call
// containers directly. It is safe for concurrent use.
type ContainerClient struct {
	*conn
}

// NewContainer returns a client of the container at baseURL (default
// http://127.0.0.1:8082). WithToken sets the container token the container
// checks; WithContainerLoginToken a default ContainerLoginToken header.
func NewContainer(baseURL string, opts ...Option) (*ContainerClient, error) {
	base, o, err := buildOptions(baseURL, DefaultContainerURL, opts)
	if err != nil {
		return nil, err
	}
	return &ContainerClient{conn: newConn(base, o)}, nil
}

// BaseURL returns the normalised base URL.
func (c *ContainerClient) BaseURL() string { return c.base }

// Info returns the container's self-description.
func (c *ContainerClient) Info(ctx context.Context) (*opaca.AgentContainer, error) {
	var ac opaca.AgentContainer
	if err := c.doJSON(ctx, http.MethodGet, "/info", nil, nil, &ac, callOptions{}); err != nil {
		return nil, err
	}
	return &ac, nil
}

// InfoRaw returns the raw /info body (the platform decodes it itself to
// tell malformed documents from unreachable containers).
func (c *ContainerClient) InfoRaw(ctx context.Context) ([]byte, error) {
	return c.do(ctx, request{method: http.MethodGet, path: "/info"})
}

// Agents lists the container's agents.
func (c *ContainerClient) Agents(ctx context.Context) ([]opaca.AgentDescription, error) {
	var out []opaca.AgentDescription
	if err := c.doJSON(ctx, http.MethodGet, "/agents", nil, nil, &out, callOptions{}); err != nil {
		return nil, err
	}
	return out, nil
}

// Agent returns one agent; found is false on 404 or an empty answer.
func (c *ContainerClient) Agent(ctx context.Context, agentID string) (agent *opaca.AgentDescription, found bool, err error) {
	var a opaca.AgentDescription
	found, err = c.getOptional(ctx, "/agents/"+esc(agentID), &a)
	if StatusCode(err) == http.StatusNotFound {
		return nil, false, nil
	}
	if err != nil || !found {
		return nil, false, err
	}
	return &a, true, nil
}

// Send delivers a message to an agent of the container.
func (c *ContainerClient) Send(ctx context.Context, agentID string, msg opaca.Message, opts ...CallOption) error {
	return c.doJSON(ctx, http.MethodPost, "/send/"+esc(agentID), nil, msg, nil, collect(opts))
}

// Broadcast publishes a message on a channel of the container.
func (c *ContainerClient) Broadcast(ctx context.Context, channel string, msg opaca.Message, opts ...CallOption) error {
	return c.doJSON(ctx, http.MethodPost, "/broadcast/"+esc(channel), nil, msg, nil, collect(opts))
}

// Invoke runs an action and returns its raw JSON result.
func (c *ContainerClient) Invoke(ctx context.Context, action, agentID string, args any, opts ...CallOption) (json.RawMessage, error) {
	return c.invoke(ctx, action, agentID, args, collect(opts))
}

// GetStream opens a GET stream; the caller closes it.
func (c *ContainerClient) GetStream(ctx context.Context, stream, agentID string, opts ...CallOption) (io.ReadCloser, error) {
	return c.getStream(ctx, stream, agentID, collect(opts))
}

// PostStream sends body to a POST stream.
func (c *ContainerClient) PostStream(ctx context.Context, stream, agentID string, body io.Reader, opts ...CallOption) error {
	return c.postStream(ctx, stream, agentID, body, collect(opts))
}

// Login logs in to the container and returns the container-login token
// (quotes stripped: Python containers quote it).
func (c *ContainerClient) Login(ctx context.Context, username, password string) (string, error) {
	return c.doText(ctx, http.MethodPost, "/login", nil, opaca.Login{Username: username, Password: password}, callOptions{})
}

// Logout ends the container login of token.
func (c *ContainerClient) Logout(ctx context.Context, token string) (bool, error) {
	return c.doBool(ctx, http.MethodPost, "/logout", nil, "", callOptions{loginToken: token})
}
