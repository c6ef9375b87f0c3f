package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"

	"github.com/meshkit/meshkit/opaca"
)

// Client calls the Runtime Platform API (spec §5). It is safe for
// concurrent use. Close stops token renewal and open subscriptions.
type Client struct {
	*conn

	closeOnce sync.Once
	done      chan struct{}
	wg        sync.WaitGroup
	renewKick chan struct{}
}

// New returns a client of the platform at baseURL (default
// http://127.0.0.1:8000). The base URL may carry a path prefix.
func New(baseURL string, opts ...Option) (*Client, error) {
	base, o, err := buildOptions(baseURL, DefaultPlatformURL, opts)
	if err != nil {
		return nil, err
	}
	c := &Client{conn: newConn(base, o), done: make(chan struct{}), renewKick: make(chan struct{}, 1)}
	if o.renew {
		c.wg.Add(1)
		go c.renewLoop()
	}
	return c, nil
}

// BaseURL returns the normalised base URL.
func (c *Client) BaseURL() string { return c.base }

// Token returns the bearer token currently used.
func (c *Client) Token() string { return c.getToken() }

// SetToken replaces the bearer token (empty: send none).
func (c *Client) SetToken(tok string) {
	c.setToken(tok)
	c.kickRenewal()
}

func (c *Client) kickRenewal() {
	select {
	case c.renewKick <- struct{}{}:
	default:
	}
}

// Close stops background work. Safe to call more than once.
func (c *Client) Close() error {
	c.closeOnce.Do(func() { close(c.done) })
	c.wg.Wait()
	return nil
}

// Login posts credentials to /login, stores the returned token in the
// client and returns it.
func (c *Client) Login(ctx context.Context, username, password string) (string, error) {
	tok, err := c.doText(ctx, http.MethodPost, "/login", nil, opaca.Login{Username: username, Password: password}, callOptions{})
	if err != nil {
		return "", err
	}
	if tok == "" {
		return "", errEmptyToken
	}
	c.SetToken(tok)
	return tok, nil
}

// RenewToken fetches a fresh token for the current caller (GET /token),
// stores it and returns it.
func (c *Client) RenewToken(ctx context.Context) (string, error) {
	tok, err := c.doText(ctx, http.MethodGet, "/token", nil, nil, callOptions{})
	if err != nil {
		return "", err
	}
	if tok == "" {
		return "", errEmptyToken
	}
	c.setToken(tok)
	return tok, nil
}

// Info returns the platform's self-description.
func (c *Client) Info(ctx context.Context) (*opaca.RuntimePlatform, error) {
	var rp opaca.RuntimePlatform
	if err := c.doJSON(ctx, http.MethodGet, "/info", nil, nil, &rp, callOptions{}); err != nil {
		return nil, err
	}
	return &rp, nil
}

// Config returns the informative configuration map.
func (c *Client) Config(ctx context.Context) (map[string]any, error) {
	m := map[string]any{}
	if err := c.doJSON(ctx, http.MethodGet, "/config", nil, nil, &m, callOptions{}); err != nil {
		return nil, err
	}
	return m, nil
}

// History returns the recorded events, oldest first.
func (c *Client) History(ctx context.Context) ([]opaca.Event, error) {
	var ev []opaca.Event
	if err := c.doJSON(ctx, http.MethodGet, "/history", nil, nil, &ev, callOptions{}); err != nil {
		return nil, err
	}
	return ev, nil
}

// ActionsOpenAPI returns the raw OpenAPI document of all actions; format is
// "JSON" or "YAML" ("" for the server default).
func (c *Client) ActionsOpenAPI(ctx context.Context, format string) ([]byte, error) {
	q := url.Values{}
	if format != "" {
		q.Set("format", format)
	}
	return c.do(ctx, request{method: http.MethodGet, path: "/v3/api-docs/actions", query: q})
}

// Agents lists the agents of local containers, and with includeConnected
// those of connected platforms too.
func (c *Client) Agents(ctx context.Context, includeConnected bool) ([]opaca.AgentDescription, error) {
	q := url.Values{}
	if includeConnected {
		q.Set("includeConnected", "true")
	}
	var out []opaca.AgentDescription
	if err := c.doJSON(ctx, http.MethodGet, "/agents", q, nil, &out, callOptions{}); err != nil {
		return nil, err
	}
	return out, nil
}

// Agent looks an agent up; found is false on the platform's empty 200.
func (c *Client) Agent(ctx context.Context, agentID string) (agent *opaca.AgentDescription, found bool, err error) {
	var a opaca.AgentDescription
	found, err = c.getOptional(ctx, "/agents/"+esc(agentID), &a)
	if err != nil || !found {
		return nil, false, err
	}
	return &a, true, nil
}

// Send delivers a message to one agent.
func (c *Client) Send(ctx context.Context, agentID string, msg opaca.Message, opts ...CallOption) error {
	return c.doJSON(ctx, http.MethodPost, "/send/"+esc(agentID), nil, msg, nil, collect(opts))
}

// Broadcast publishes a message on a channel.
func (c *Client) Broadcast(ctx context.Context, channel string, msg opaca.Message, opts ...CallOption) error {
	return c.doJSON(ctx, http.MethodPost, "/broadcast/"+esc(channel), nil, msg, nil, collect(opts))
}

// Invoke runs an action (on agentID when non-empty) and returns its JSON
// result unchanged. args is marshalled (a json.RawMessage is sent as is;
// nil sends {}).
func (c *Client) Invoke(ctx context.Context, action, agentID string, args any, opts ...CallOption) (json.RawMessage, error) {
	return c.invoke(ctx, action, agentID, args, collect(opts))
}

// InvokeRaw posts a raw JSON body (nil or empty: {}) to
// /invoke/{action}[/{agentID}] with a pre-encoded query string such as
// "forward=false". It is the lean path platforms use to forward
// invocations: no argument encoding and no option values per call.
func (c *Client) InvokeRaw(ctx context.Context, action, agentID string, body []byte, rawQuery string) (json.RawMessage, error) {
	path := "/invoke/" + esc(action)
	if agentID != "" {
		path += "/" + esc(agentID)
	}
	if len(body) == 0 {
		body = []byte("{}")
	}
	res, err := c.do(ctx, request{method: http.MethodPost, path: path, body: bytes.NewReader(body), raw: rawQuery})
	if err != nil {
		return nil, err
	}
	return json.RawMessage(res), nil
}

// GetStream opens a GET stream; the caller closes it.
func (c *Client) GetStream(ctx context.Context, stream, agentID string, opts ...CallOption) (io.ReadCloser, error) {
	return c.getStream(ctx, stream, agentID, collect(opts))
}

// PostStream sends body to a POST stream.
func (c *Client) PostStream(ctx context.Context, stream, agentID string, body io.Reader, opts ...CallOption) error {
	return c.postStream(ctx, stream, agentID, body, collect(opts))
}

func timeoutQuery(timeoutSec int) url.Values {
	if timeoutSec == 0 {
		return nil
	}
	return url.Values{"timeout": {strconv.Itoa(timeoutSec)}}
}

// PostContainer starts a container and returns its id. timeoutSec 0 uses
// the platform's default start timeout.
func (c *Client) PostContainer(ctx context.Context, req opaca.PostAgentContainer, timeoutSec int) (string, error) {
	return c.doText(ctx, http.MethodPost, "/containers", timeoutQuery(timeoutSec), req, callOptions{})
}

// PutContainer replaces the running container of the same image name and
// returns the id of the new one.
func (c *Client) PutContainer(ctx context.Context, req opaca.PostAgentContainer, timeoutSec int) (string, error) {
	return c.doText(ctx, http.MethodPut, "/containers", timeoutQuery(timeoutSec), req, callOptions{})
}

// Containers lists the running containers.
func (c *Client) Containers(ctx context.Context) ([]opaca.AgentContainer, error) {
	var out []opaca.AgentContainer
	if err := c.doJSON(ctx, http.MethodGet, "/containers", nil, nil, &out, callOptions{}); err != nil {
		return nil, err
	}
	return out, nil
}

// Container looks a container up; found is false on the empty 200.
func (c *Client) Container(ctx context.Context, id string) (ac *opaca.AgentContainer, found bool, err error) {
	var a opaca.AgentContainer
	found, err = c.getOptional(ctx, "/containers/"+esc(id), &a)
	if err != nil || !found {
		return nil, false, err
	}
	return &a, true, nil
}

// DeleteContainer stops a container; false when it was unknown.
func (c *Client) DeleteContainer(ctx context.Context, id string) (bool, error) {
	return c.doBool(ctx, http.MethodDelete, "/containers/"+esc(id), nil, "", callOptions{})
}

// ContainerLogin logs the caller in to a container and returns the
// container-login token.
func (c *Client) ContainerLogin(ctx context.Context, id, username, password string) (string, error) {
	return c.doText(ctx, http.MethodPost, "/containers/login/"+esc(id), nil, opaca.Login{Username: username, Password: password}, callOptions{})
}

// ContainerLogout logs the caller out of a container.
func (c *Client) ContainerLogout(ctx context.Context, id string) (bool, error) {
	return c.doBool(ctx, http.MethodPost, "/containers/logout/"+esc(id), nil, "", callOptions{})
}

// NotifyContainer asks the platform to refresh a container's description
// (the id is sent as raw text, as the Kotlin container does).
func (c *Client) NotifyContainer(ctx context.Context, id string) (bool, error) {
	return c.doBool(ctx, http.MethodPost, "/containers/notify", nil, id, callOptions{})
}

// Connections lists the base URLs of connected platforms.
func (c *Client) Connections(ctx context.Context) ([]string, error) {
	var out []string
	if err := c.doJSON(ctx, http.MethodGet, "/connections", nil, nil, &out, callOptions{}); err != nil {
		return nil, err
	}
	return out, nil
}

// Connect asks the platform to connect to another one.
func (c *Client) Connect(ctx context.Context, req opaca.ConnectionRequest) (bool, error) {
	return c.doBool(ctx, http.MethodPost, "/connections", req, "", callOptions{})
}

// Disconnect asks the platform to drop a connection (DELETE with body).
func (c *Client) Disconnect(ctx context.Context, req opaca.ConnectionRequest) (bool, error) {
	return c.doBool(ctx, http.MethodDelete, "/connections", req, "", callOptions{})
}

// NotifyConnection asks the platform to refresh a connected platform.
func (c *Client) NotifyConnection(ctx context.Context, peerURL string) (bool, error) {
	return c.doBool(ctx, http.MethodPost, "/connections/notify", nil, peerURL, callOptions{})
}

// Users lists all users (public view).
func (c *Client) Users(ctx context.Context) ([]opaca.User, error) {
	var out []opaca.User
	if err := c.doJSON(ctx, http.MethodGet, "/users", nil, nil, &out, callOptions{}); err != nil {
		return nil, err
	}
	return out, nil
}

// User returns one user (public view).
func (c *Client) User(ctx context.Context, username string) (*opaca.User, error) {
	var u opaca.User
	if err := c.doJSON(ctx, http.MethodGet, "/users/"+esc(username), nil, nil, &u, callOptions{}); err != nil {
		return nil, err
	}
	return &u, nil
}

// CreateUser adds a user.
func (c *Client) CreateUser(ctx context.Context, u opaca.User) (*opaca.User, error) {
	var out opaca.User
	if err := c.doJSON(ctx, http.MethodPost, "/users", nil, u, &out, callOptions{}); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateUser changes a user; zero fields of u are left unchanged.
func (c *Client) UpdateUser(ctx context.Context, username string, u opaca.User) (*opaca.User, error) {
	var out opaca.User
	if err := c.doJSON(ctx, http.MethodPut, "/users/"+esc(username), nil, u, &out, callOptions{}); err != nil {
		return nil, err
	}
	return &out, nil
}

// DeleteUser removes a user; false when unknown.
func (c *Client) DeleteUser(ctx context.Context, username string) (bool, error) {
	return c.doBool(ctx, http.MethodDelete, "/users/"+esc(username), nil, "", callOptions{})
}

// InvokeAs invokes an action and decodes the result into T.
func InvokeAs[T any](ctx context.Context, c *Client, action, agentID string, args any, opts ...CallOption) (T, error) {
	var out T
	raw, err := c.Invoke(ctx, action, agentID, args, opts...)
	if err != nil {
		return out, err
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return out, fmt.Errorf("opaca client: decode result of %s: %w", action, err)
	}
	return out, nil
}
