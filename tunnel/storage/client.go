package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/tunnel"
)

// Client reads and writes a Calvin registry. A remote client (NewClient)
// sends every operation over a storage tunnel to the registry node, as a
// Calvin node with storage_type = "proxy" does; a local client
// (NewLocalClient) is the registry itself and works on a Store directly.
//
// Remote requests are answered within the client's timeout (default 10 s)
// or fail with ErrTimeout; a request in flight when the link was lost is
// sent again, which re-joins the registry. A request that failed may still
// reach the registry later (it may be queued on a tunnel that is down);
// every storage command is idempotent, so this only delays its effect.
type Client struct {
	mgr      *tunnel.Manager // nil for a local client
	registry string          // registry node id (remote)
	store    Store           // local client
	ep       *endpoint
	log      *slog.Logger
	opts     options
	ctx      context.Context
	stop     context.CancelFunc

	mu      sync.Mutex
	pending map[string]*call
	closed  bool

	// write-behind (WithWriteBehind), guarded by mu
	backlog   []*wire.StorageRequest
	sending   bool
	idle      chan struct{} // closed while the backlog is empty and nothing is being sent
	retryBase time.Duration
	wg        sync.WaitGroup
}

// ErrQueueFull is returned by a write-behind Client whose backlog is full.
var ErrQueueFull = errors.New("storage: write-behind queue full")

type call struct {
	ch     chan *wire.TunnelReply // buffered 1
	resend chan struct{}          // buffered 1
}

// NewClient returns a client of the registry served by node registry,
// reached over m's node. The node must be able to reach it (linked already,
// or resolvable).
func NewClient(m *tunnel.Manager, registry string, opts ...Option) (*Client, error) {
	if m == nil || registry == "" {
		return nil, fmt.Errorf("%w: nil manager or empty registry id", ErrInvalidOption)
	}
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	ep, err := endpointFor(m, o.logger)
	if err != nil {
		return nil, err
	}
	c := newClient(o)
	c.mgr, c.registry, c.ep = m, registry, ep
	c.log = o.logger.With("node", m.NodeID(), "registry", registry, "component", "storage-client")
	ep.attachClient(c)
	return c, nil
}

// NewLocalClient returns a client working directly on st: the node is its
// own registry (share st with the node's Server).
func NewLocalClient(st Store, opts ...Option) (*Client, error) {
	if st == nil {
		return nil, fmt.Errorf("%w: nil store", ErrInvalidOption)
	}
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	c := newClient(o)
	c.store = st
	c.log = o.logger.With("component", "storage-client", "local", true)
	return c, nil
}

func newClient(o options) *Client {
	ctx, cancel := context.WithCancel(context.Background())
	idle := make(chan struct{})
	close(idle)
	return &Client{
		opts: o, ctx: ctx, stop: cancel,
		pending:   map[string]*call{},
		idle:      idle,
		retryBase: 500 * time.Millisecond,
	}
}

// Local reports whether the client works on a local store.
func (c *Client) Local() bool { return c.store != nil }

// Registry returns the registry node id ("" for a local client).
func (c *Client) Registry() string { return c.registry }

// Close fails requests in progress with ErrClosed and drops writes still
// queued by WithWriteBehind (call Flush first to send them). Safe to call
// twice. The storage tunnel itself belongs to the manager and stays.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	if n := len(c.backlog); n > 0 {
		c.log.Warn("registry writes dropped on close", "count", n)
	}
	c.mu.Unlock()
	c.stop()
	c.wg.Wait()
	if c.ep != nil {
		c.ep.detachClient(c)
	}
	return nil
}

// Flush waits until every write queued by WithWriteBehind has been sent
// and answered (or given up on); it returns at once without write-behind.
func (c *Client) Flush(ctx context.Context) error {
	c.mu.Lock()
	idle := c.idle
	c.mu.Unlock()
	select {
	case <-idle:
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed && len(c.backlog) > 0 {
			return ErrClosed // the rest was dropped
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("storage: flush: %w", ctx.Err())
	case <-c.ctx.Done():
		return ErrClosed
	}
}

// queueWrite appends req to the write-behind backlog.
func (c *Client) queueWrite(req *wire.StorageRequest) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	if len(c.backlog) >= c.opts.writeBehind {
		return fmt.Errorf("%w: %d writes waiting", ErrQueueFull, len(c.backlog))
	}
	c.backlog = append(c.backlog, req)
	if !c.sending {
		c.sending = true
		c.idle = make(chan struct{})
		c.wg.Add(1)
		go c.sendBacklog()
	}
	return nil
}

// sendBacklog sends queued writes in order, retrying one that could not
// reach the registry after a growing delay.
func (c *Client) sendBacklog() {
	defer c.wg.Done()
	attempt := 0
	for {
		c.mu.Lock()
		if len(c.backlog) == 0 || c.closed {
			c.sending = false
			close(c.idle)
			c.mu.Unlock()
			return
		}
		req := c.backlog[0]
		c.mu.Unlock()

		r, err := c.do(c.ctx, req)
		if err == nil {
			err = status(req, r)
		}
		var se *StatusError
		switch {
		case err == nil || errors.As(err, &se):
			if se != nil {
				c.log.Warn("queued registry write refused", "cmd", req.Cmd, "err", err)
			}
			attempt = 0
			c.mu.Lock()
			c.backlog[0] = nil
			c.backlog = c.backlog[1:]
			c.mu.Unlock()
			continue
		case errors.Is(err, ErrClosed) || c.ctx.Err() != nil:
			continue // the loop head sees closed
		}
		attempt++
		delay := min(time.Duration(attempt)*c.retryBase, 10*time.Second)
		c.log.Debug("registry unreachable; queued writes kept", "cmd", req.Cmd, "retry_in", delay, "err", err)
		timer := time.NewTimer(delay)
		select {
		case <-timer.C:
		case <-c.ctx.Done():
			timer.Stop()
		}
	}
}

// tunnelUp is a no-op: requests are sent again as soon as the tunnel goes
// down (see tunnelDown), and the tunnel queues them until it is back.
func (c *Client) tunnelUp(*tunnel.Tunnel) {}

// tunnelDown makes pending requests send again: on a DOWN tunnel the value
// is queued and its hand-over re-joins the registry; on a destroyed one the
// next Open builds a fresh tunnel (or fails when the manager is closed).
// A request can thus reach the registry twice; every storage command is
// idempotent and the second REPLY is dropped.
func (c *Client) tunnelDown(t *tunnel.Tunnel, _ error) {
	if t.Peer() != c.registry {
		return
	}
	c.mu.Lock()
	c.signalLocked()
	c.mu.Unlock()
}

func (c *Client) signalLocked() {
	for _, cl := range c.pending {
		select {
		case cl.resend <- struct{}{}:
		default:
		}
	}
}

// deliver hands a REPLY to the request it answers; false if it is not ours.
func (c *Client) deliver(t *tunnel.Tunnel, r *wire.TunnelReply) bool {
	if t.Peer() != c.registry {
		return false
	}
	c.mu.Lock()
	cl := c.pending[r.MsgUUID]
	delete(c.pending, r.MsgUUID)
	c.mu.Unlock()
	if cl == nil {
		return false
	}
	cl.ch <- r
	return true
}

// do runs one request and returns its REPLY.
func (c *Client) do(ctx context.Context, req *wire.StorageRequest) (*wire.TunnelReply, error) {
	req.MsgUUID = uuid.NewString()
	if c.store != nil {
		if err := c.ctx.Err(); err != nil {
			return nil, ErrClosed
		}
		return Execute(ctx, c.store, req), nil
	}
	cl := &call{ch: make(chan *wire.TunnelReply, 1), resend: make(chan struct{}, 1)}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	c.pending[req.MsgUUID] = cl
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.pending, req.MsgUUID)
		c.mu.Unlock()
	}()

	for {
		t, err := c.mgr.Open(ctx, c.registry, TunnelType)
		if err != nil {
			return nil, fmt.Errorf("storage: %s %s: %w", req.Cmd, describe(req), err)
		}
		if err := t.Send(ctx, req); err != nil {
			return nil, fmt.Errorf("storage: %s %s: %w", req.Cmd, describe(req), err)
		}
		timer := time.NewTimer(c.opts.timeout)
		select {
		case r := <-cl.ch:
			timer.Stop()
			return r, nil
		case <-cl.resend:
			timer.Stop()
			c.log.Debug("storage request sent again after the tunnel came back", "cmd", req.Cmd, "msg_uuid", req.MsgUUID)
		case <-timer.C:
			return nil, fmt.Errorf("%w: %s %s after %v", ErrTimeout, req.Cmd, describe(req), c.opts.timeout)
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("storage: %s %s: %w", req.Cmd, describe(req), ctx.Err())
		case <-c.ctx.Done():
			timer.Stop()
			return nil, ErrClosed
		}
	}
}

func describe(req *wire.StorageRequest) string {
	if req.Key != "" {
		return fmt.Sprintf("%q", req.Key)
	}
	return fmt.Sprintf("%q", req.Index)
}

// status checks a reply that carries a CalvinResponse.
func status(req *wire.StorageRequest, r *wire.TunnelReply) error {
	if r.Response == nil || r.Response.Success() {
		return nil
	}
	key := req.Key
	if key == "" {
		key = strings.Join(req.Index, "/")
	}
	return &StatusError{Cmd: req.Cmd, Key: key, Status: r.Response.Status}
}

func (c *Client) write(ctx context.Context, req *wire.StorageRequest) error {
	if c.store == nil && c.opts.writeBehind > 0 {
		return c.queueWrite(req)
	}
	r, err := c.do(ctx, req)
	if err != nil {
		return err
	}
	return status(req, r)
}

func (c *Client) list(ctx context.Context, req *wire.StorageRequest) ([]any, error) {
	r, err := c.do(ctx, req)
	if err != nil {
		return nil, err
	}
	if err := status(req, r); err != nil {
		return nil, err
	}
	if r.Value == nil {
		return []any{}, nil
	}
	l, ok := r.Value.([]any)
	if !ok {
		return nil, fmt.Errorf("%w: %s reply value is %T, not a list", ErrBadRequest, req.Cmd, r.Value)
	}
	return l, nil
}

func storageReq(cmd string) *wire.StorageRequest {
	return &wire.StorageRequest{SubEnvelope: wire.SubEnvelope{Cmd: cmd}}
}

// Get reads the plain value under key. A missing key is an error matching
// ErrNotFound.
func (c *Client) Get(ctx context.Context, key string) (any, error) {
	req := storageReq(wire.StorageGet)
	req.Key = key
	r, err := c.do(ctx, req)
	if err != nil {
		return nil, err
	}
	if r.Response != nil {
		if err := status(req, r); err != nil {
			return nil, err
		}
	}
	return r.Value, nil
}

// Set stores value under key.
func (c *Client) Set(ctx context.Context, key string, value any) error {
	req := storageReq(wire.StorageSet)
	req.Key, req.Value = key, value
	return c.write(ctx, req)
}

// Delete removes the plain value under key (a missing key is no error).
func (c *Client) Delete(ctx context.Context, key string) error {
	req := storageReq(wire.StorageDelete)
	req.Key = key
	return c.write(ctx, req)
}

// Append adds items to the set under key.
func (c *Client) Append(ctx context.Context, key string, items []any) error {
	req := storageReq(wire.StorageAppend)
	req.Key, req.Value = key, nonNil(items)
	return c.write(ctx, req)
}

// Remove removes items from the set under key.
func (c *Client) Remove(ctx context.Context, key string, items []any) error {
	req := storageReq(wire.StorageRemove)
	req.Key, req.Value = key, nonNil(items)
	return c.write(ctx, req)
}

// GetConcat reads the set under key as a list (empty when missing).
func (c *Client) GetConcat(ctx context.Context, key string) ([]any, error) {
	req := storageReq(wire.StorageGetConcat)
	req.Key = key
	return c.list(ctx, req)
}

// AddIndex adds items to the index set at exactly the levels index (see
// IndexLevels for how Calvin splits an index path).
func (c *Client) AddIndex(ctx context.Context, index []string, items []any) error {
	req := storageReq(wire.StorageAddIndex)
	req.Prefix, req.Index, req.Value = IndexPrefix, nonNilStrings(index), nonNil(items)
	return c.write(ctx, req)
}

// RemoveIndex removes items from the index set at exactly the levels index.
func (c *Client) RemoveIndex(ctx context.Context, index []string, items []any) error {
	req := storageReq(wire.StorageRemoveIndex)
	req.Prefix, req.Index, req.Value = IndexPrefix, nonNilStrings(index), nonNil(items)
	return c.write(ctx, req)
}

// GetIndex returns the union of the index sets at index and every level
// list below it.
func (c *Client) GetIndex(ctx context.Context, index []string) ([]any, error) {
	req := storageReq(wire.StorageGetIndex)
	req.Prefix, req.Index = IndexPrefix, nonNilStrings(index)
	return c.list(ctx, req)
}

func nonNil(items []any) []any {
	if items == nil {
		return []any{}
	}
	return items
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// RegisterNode writes node-<id> and the node's index entries (its
// indexed_public attribute paths and one node/capabilities/<c> entry per
// capability), as a Calvin node does at start (§6.2 "Registry records").
func (c *Client) RegisterNode(ctx context.Context, rec *NodeRecord) error {
	if rec == nil || rec.ID == "" {
		return fmt.Errorf("%w: node record without id", ErrBadRequest)
	}
	if err := c.Set(ctx, PrefixNode+rec.ID, rec.Value()); err != nil {
		return err
	}
	return c.nodeIndexes(ctx, rec, c.AddIndex)
}

// UnregisterNode deletes node-<id> and removes the node's index entries, as
// a Calvin node does when it stops.
func (c *Client) UnregisterNode(ctx context.Context, rec *NodeRecord) error {
	if rec == nil || rec.ID == "" {
		return fmt.Errorf("%w: node record without id", ErrBadRequest)
	}
	if err := c.nodeIndexes(ctx, rec, c.RemoveIndex); err != nil {
		return err
	}
	return c.Delete(ctx, PrefixNode+rec.ID)
}

func (c *Client) nodeIndexes(ctx context.Context, rec *NodeRecord, op func(context.Context, []string, []any) error) error {
	for _, p := range rec.Attributes.IndexedPublic {
		if err := op(ctx, IndexLevels(p, AttributeRootLevels), []any{rec.ID}); err != nil {
			return err
		}
	}
	for _, capability := range rec.Capabilities {
		if err := op(ctx, CapabilityIndex(capability), []any{rec.ID}); err != nil {
			return err
		}
	}
	return nil
}

// LookupNode reads node-<id>.
func (c *Client) LookupNode(ctx context.Context, id string) (*NodeRecord, error) {
	v, err := c.Get(ctx, PrefixNode+id)
	if err != nil {
		return nil, err
	}
	return ParseNodeRecord(id, v)
}

// LookupActor reads actor-<id>.
func (c *Client) LookupActor(ctx context.Context, id string) (*ActorRecord, error) {
	v, err := c.Get(ctx, PrefixActor+id)
	if err != nil {
		return nil, err
	}
	return ParseActorRecord(id, v)
}

// LookupPort reads port-<id>.
func (c *Client) LookupPort(ctx context.Context, id string) (*PortRecord, error) {
	v, err := c.Get(ctx, PrefixPort+id)
	if err != nil {
		return nil, err
	}
	return ParsePortRecord(id, v)
}

// SetActor writes actor-<id>.
func (c *Client) SetActor(ctx context.Context, rec *ActorRecord) error {
	if rec == nil || rec.ID == "" {
		return fmt.Errorf("%w: actor record without id", ErrBadRequest)
	}
	return c.Set(ctx, PrefixActor+rec.ID, rec.Value())
}

// SetPort writes port-<id>.
func (c *Client) SetPort(ctx context.Context, rec *PortRecord) error {
	if rec == nil || rec.ID == "" {
		return fmt.Errorf("%w: port record without id", ErrBadRequest)
	}
	return c.Set(ctx, PrefixPort+rec.ID, rec.Value())
}

// NodesWithCapability lists the ids of the nodes indexed under capability.
func (c *Client) NodesWithCapability(ctx context.Context, capability string) ([]string, error) {
	l, err := c.GetIndex(ctx, CapabilityIndex(capability))
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(l))
	for _, e := range l {
		if s, ok := e.(string); ok {
			out = append(out, s)
		}
	}
	return out, nil
}

// Resolve implements rt2rt.Resolver: the RT2RT URIs of node-<id>. Install
// it with (*rt2rt.Node).SetResolver so that re-joins and forwarding find
// peers through the registry. The registry node itself cannot be resolved
// through itself.
func (c *Client) Resolve(ctx context.Context, nodeID string) ([]string, error) {
	if c.store == nil && nodeID == c.registry {
		return nil, fmt.Errorf("%w: the registry %s cannot be resolved through itself", ErrNotFound, nodeID)
	}
	rec, err := c.LookupNode(ctx, nodeID)
	if err != nil {
		return nil, err
	}
	if len(rec.URIs) == 0 {
		if rec.Proxy != "" {
			return nil, fmt.Errorf("%w: node %s is reached through proxy %s", ErrNotFound, nodeID, rec.Proxy)
		}
		return nil, fmt.Errorf("%w: node %s has no URIs", ErrNotFound, nodeID)
	}
	return rec.URIs, nil
}
