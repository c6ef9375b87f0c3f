package container

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
)

// Errors of local calls; they carry the status the API answers with.
var (
	ErrAgentNotFound  = fmt.Errorf("%w: agent", opaca.ErrNotFound)
	ErrActionNotFound = fmt.Errorf("%w: action", opaca.ErrNotFound)
	ErrStreamNotFound = fmt.Errorf("%w: stream", opaca.ErrNotFound)
	ErrDuplicateAgent = errors.New("container: agent id already in use")
	ErrClosed         = errors.New("container: closed")
	// ErrTimeout is wrapped by the error of an invocation that ran out of
	// time (answered 500, spec §4.3).
	ErrTimeout = errors.New("action timed out")
)

// Container is an OPACA agent container. It is an http.Handler serving
// the Agent Container API; it is safe for concurrent use.
type Container struct {
	cfg       config
	log       *slog.Logger
	image     opaca.AgentContainerImage
	env       Env
	apiPort   int
	arguments opaca.Arguments
	started   opaca.Time
	validator *opaca.Validator
	platform  PlatformClient
	ownClient *client.Client // built from PLATFORM_URL; closed on shutdown
	mux       *http.ServeMux

	mu     sync.RWMutex
	agents []*Agent

	ready chan struct{}
	// infoRead is set once the platform has read the container's
	// description; until then a notify would only earn a 404, and the
	// platform's first read already sees every change.
	infoRead   atomic.Bool
	readyTimer *time.Timer

	ctx    context.Context // cancelled on shutdown: running actions, loops
	cancel context.CancelFunc
	wg     sync.WaitGroup

	notifyKick chan struct{}

	runMu   sync.Mutex
	running map[uint64]context.CancelCauseFunc // nil after shutdown
	runSeq  uint64

	srvMu   sync.Mutex
	servers map[*http.Server]struct{}
	closed  bool
	once    sync.Once
}

// LoadImage reads an image description from a JSON file.
func LoadImage(path string) (opaca.AgentContainerImage, error) {
	var img opaca.AgentContainerImage
	b, err := os.ReadFile(path)
	if err != nil {
		return img, fmt.Errorf("container: %w", err)
	}
	if err := opaca.DecodeStrict(b, &img); err != nil {
		return img, fmt.Errorf("container: image %s: %w", path, err)
	}
	return img, nil
}

// New creates a container for image. Without options it reads its
// environment from the process (CONTAINER_ID, PLATFORM_URL, TOKEN, OWNER,
// PORT_MAPPING, API_PORT and the image parameters).
func New(image opaca.AgentContainerImage, opts ...Option) (*Container, error) {
	cfg := config{
		logger:         slog.New(slog.DiscardHandler),
		invokeTimeout:  DefaultInvokeTimeout,
		autoNotify:     true,
		maxBody:        DefaultMaxBodySize,
		timeouts:       opaca.DefaultServerTimeouts(),
		subscribeRetry: time.Second,
	}
	for _, o := range opts {
		if o == nil {
			return nil, errors.New("container: nil option")
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if err := image.Check(); err != nil {
		return nil, fmt.Errorf("container: image: %w", err)
	}
	env, err := newEnv(cfg.vars)
	if err != nil {
		return nil, err
	}
	port, err := env.apiPort(image)
	if err != nil {
		return nil, err
	}
	v, err := opaca.NewImageValidator(image, append([]opaca.ValidatorOption{opaca.WithValidatorLogger(cfg.logger)}, cfg.validatorOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("container: %w", err)
	}
	if p := v.Problems(); len(p) > 0 {
		return nil, fmt.Errorf("container: image definitions: %w", errors.Join(p...))
	}
	c := &Container{
		cfg: cfg, log: cfg.logger, image: image, env: env, apiPort: port,
		started: opaca.Now(), validator: v, platform: cfg.platform,
		ready: make(chan struct{}), notifyKick: make(chan struct{}, 1),
		servers: map[*http.Server]struct{}{},
		running: map[uint64]context.CancelCauseFunc{},
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.arguments = opaca.Arguments{}
	for _, p := range image.Parameters {
		if p.Confidential {
			continue
		}
		if val, ok := env.Lookup(p.Name); ok {
			c.arguments[p.Name] = val
		} else if def, ok := p.DefaultString(); ok {
			c.arguments[p.Name] = def
		}
	}
	if c.platform == nil && env.PlatformURL != "" {
		copts := []client.Option{client.WithToken(env.Token), client.WithSenderID(env.ContainerID), client.WithLogger(cfg.logger)}
		if cfg.httpClient != nil {
			copts = append(copts, client.WithHTTPClient(cfg.httpClient))
		}
		cl, err := client.New(env.PlatformURL, copts...)
		if err != nil {
			return nil, fmt.Errorf("container: platform client: %w", err)
		}
		c.platform, c.ownClient = cl, cl
		if env.Token != "" {
			c.wg.Add(1)
			go c.renewLoop(cl)
		}
	}
	c.mux = c.routes()
	if cfg.startDelay > 0 {
		c.readyTimer = time.AfterFunc(cfg.startDelay, c.becomeReady)
	} else {
		c.becomeReady()
	}
	return c, nil
}

// becomeReady opens the API and starts the background loops.
func (c *Container) becomeReady() {
	c.srvMu.Lock()
	defer c.srvMu.Unlock()
	if c.closed {
		return
	}
	close(c.ready)
	if c.platform != nil && c.cfg.autoNotify {
		c.wg.Add(1)
		go c.notifyLoop()
	}
	if c.cfg.subscribe && c.platform != nil {
		if es, ok := c.platform.(EventSource); ok {
			c.wg.Add(1)
			go c.subscribeLoop(es)
		} else {
			c.log.Warn("container: platform client cannot subscribe to events")
		}
	}
}

// Ready is closed once the API answers (after the start delay).
func (c *Container) Ready() <-chan struct{} { return c.ready }

// Image returns the image description.
func (c *Container) Image() opaca.AgentContainerImage { return c.image }

// Env returns the container's environment.
func (c *Container) Env() Env { return c.env }

// APIPort returns the port the API should listen on (API_PORT or the
// image's apiPort).
func (c *Container) APIPort() int { return c.apiPort }

// Validator returns the argument validator built from the image.
func (c *Container) Validator() *opaca.Validator { return c.validator }

// Info returns the container's self-description (GET /info).
func (c *Container) Info() opaca.AgentContainer {
	c.infoRead.Store(true)
	return opaca.AgentContainer{
		ContainerID:  c.env.ContainerID,
		Image:        c.image,
		Arguments:    maps.Clone(c.arguments),
		Agents:       c.Agents(),
		Owner:        c.env.Owner,
		RunningSince: c.started,
	}
}

// Agents describes the registered agents in registration order.
func (c *Container) Agents() []opaca.AgentDescription {
	c.mu.RLock()
	agents := append([]*Agent(nil), c.agents...)
	c.mu.RUnlock()
	out := make([]opaca.AgentDescription, len(agents))
	for i, a := range agents {
		out[i] = a.Description()
	}
	return out
}

// Agent returns the agent with the given id.
func (c *Container) Agent(id string) (*Agent, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, a := range c.agents {
		if a.id == id {
			return a, true
		}
	}
	return nil, false
}

// AddAgent registers an agent; its id must be unused and it must not
// belong to another container.
func (c *Container) AddAgent(a *Agent, opts ...ChangeOption) error {
	if a == nil {
		return errors.New("container: nil agent")
	}
	c.mu.Lock()
	for _, other := range c.agents {
		if other.id == a.id {
			c.mu.Unlock()
			return fmt.Errorf("%w: %q", ErrDuplicateAgent, a.id)
		}
	}
	a.mu.Lock()
	if a.container != nil {
		a.mu.Unlock()
		c.mu.Unlock()
		return fmt.Errorf("container: agent %q already belongs to a container", a.id)
	}
	a.container = c
	a.mu.Unlock()
	c.agents = append(c.agents, a)
	c.mu.Unlock()
	c.changed(opts)
	return nil
}

// RemoveAgent removes an agent; it reports whether it was registered.
func (c *Container) RemoveAgent(id string, opts ...ChangeOption) bool {
	c.mu.Lock()
	var removed *Agent
	for i, a := range c.agents {
		if a.id == id {
			removed = a
			c.agents = append(c.agents[:i:i], c.agents[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
	if removed == nil {
		return false
	}
	removed.mu.Lock()
	removed.container = nil
	removed.mu.Unlock()
	c.changed(opts)
	return true
}

func (c *Container) snapshot() []*Agent {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return append([]*Agent(nil), c.agents...)
}

// findAction resolves an invocation target: the named agent, or the first
// agent in registration order that offers the action.
func (c *Container) findAction(name, agentID string) (*Agent, *action, error) {
	if agentID != "" {
		a, ok := c.Agent(agentID)
		if !ok {
			return nil, nil, fmt.Errorf("%w %q not found", ErrAgentNotFound, agentID)
		}
		act := a.findAction(name)
		if act == nil {
			return nil, nil, fmt.Errorf("%w %q not found for agent %q", ErrActionNotFound, name, agentID)
		}
		return a, act, nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, a := range c.agents {
		if act := a.findAction(name); act != nil {
			return a, act, nil
		}
	}
	return nil, nil, fmt.Errorf("%w %q not found", ErrActionNotFound, name)
}

func (c *Container) findStream(name, agentID string) (*Agent, *stream, error) {
	if agentID != "" {
		a, ok := c.Agent(agentID)
		if !ok {
			return nil, nil, fmt.Errorf("%w %q not found", ErrAgentNotFound, agentID)
		}
		s := a.findStream(name)
		if s == nil {
			return nil, nil, fmt.Errorf("%w %q not found for agent %q", ErrStreamNotFound, name, agentID)
		}
		return a, s, nil
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, a := range c.agents {
		if s := a.findStream(name); s != nil {
			return a, s, nil
		}
	}
	return nil, nil, fmt.Errorf("%w %q not found", ErrStreamNotFound, name)
}

// InvokeOptions tune a local invocation.
type InvokeOptions struct {
	// Timeout overrides the container's default invoke timeout when > 0.
	Timeout time.Duration
	// LoginToken is the caller's container-login token.
	LoginToken string
}

// Invoke runs an action locally, exactly as POST /invoke would: the body
// (a JSON object; empty means {}) is validated against the parameters,
// defaults are filled in, and the handler runs with the timeout. The
// result is JSON. Errors carry their status (opaca.HTTPStatus).
func (c *Container) Invoke(ctx context.Context, actionName, agentID string, body []byte, o InvokeOptions) (json.RawMessage, error) {
	a, act, err := c.findAction(actionName, agentID)
	if err != nil {
		return nil, err
	}
	return c.run(ctx, a, act, body, o)
}

func (c *Container) run(ctx context.Context, a *Agent, act *action, body []byte, o InvokeOptions) (json.RawMessage, error) {
	args, err := decodeArgs(body)
	if err != nil {
		return nil, err
	}
	if err := c.validator.ValidateArguments(ctx, act.desc.Parameters, args); err != nil {
		return nil, err
	}
	filled := false
	for name, def := range act.defaults {
		if _, ok := args[name]; !ok {
			args[name] = def
			filled = true
		}
	}
	inv := &Invocation{Action: act.desc.Name, Agent: a, Args: args, LoginToken: o.LoginToken}
	if !filled && len(body) > 0 {
		inv.body = body
	}
	if inv.LoginToken != "" && c.cfg.login != nil {
		inv.Login, _ = c.cfg.login.Lookup(inv.LoginToken)
	}
	timeout := c.cfg.invokeTimeout
	if o.Timeout > 0 {
		timeout = o.Timeout
	}
	ctx, cancel := c.actionContext(ctx, timeout)
	defer cancel()
	ctx = context.WithValue(ctx, invocationKey{}, inv)
	res, err := safeCall(func() (any, error) { return act.handler(ctx, inv) })
	if err == nil && ctx.Err() != nil && errors.Is(context.Cause(ctx), ErrTimeout) {
		err = context.Cause(ctx)
	}
	if err != nil {
		ctxErr := errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout)
		switch cause := context.Cause(ctx); {
		case ctxErr && errors.Is(cause, ErrTimeout):
			return nil, fmt.Errorf("action %q of agent %q: %w after %v", act.desc.Name, a.id, ErrTimeout, timeout)
		case ctxErr && errors.Is(cause, ErrClosed):
			return nil, fmt.Errorf("action %q of agent %q: %w", act.desc.Name, a.id, ErrClosed)
		}
		return nil, err
	}
	return marshalResult(res)
}

// actionContext derives the context of an action: cancelled by the
// caller, by the timeout (cause ErrTimeout) and by shutdown (cause
// ErrClosed). One cancelCtx and one timer per call keep the hot path
// cheap; shutdown finds running calls in c.running.
func (c *Container) actionContext(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancelCause(ctx)
	var t *time.Timer
	if timeout > 0 {
		t = time.AfterFunc(timeout, func() { cancel(ErrTimeout) })
	}
	id := c.track(cancel)
	return ctx, func() {
		if t != nil {
			t.Stop()
		}
		c.untrack(id)
		cancel(context.Canceled)
	}
}

func (c *Container) track(cancel context.CancelCauseFunc) uint64 {
	c.runMu.Lock()
	defer c.runMu.Unlock()
	if c.running == nil {
		cancel(ErrClosed) // shut down already
		return 0
	}
	c.runSeq++
	c.running[c.runSeq] = cancel
	return c.runSeq
}

func (c *Container) untrack(id uint64) {
	c.runMu.Lock()
	delete(c.running, id)
	c.runMu.Unlock()
}

// cancelRunning cancels every running call and refuses new ones.
func (c *Container) cancelRunning() {
	c.runMu.Lock()
	running := c.running
	c.running = nil
	c.runMu.Unlock()
	for _, cancel := range running {
		cancel(ErrClosed)
	}
}

func decodeArgs(body []byte) (map[string]json.RawMessage, error) {
	if len(body) == 0 {
		return map[string]json.RawMessage{}, nil
	}
	args, err := opaca.ObjectMembers(body)
	if err != nil || args == nil {
		return nil, &opaca.ArgumentError{Reason: "body is not a JSON object"}
	}
	return args, nil
}

func marshalResult(res any) (json.RawMessage, error) {
	switch r := res.(type) {
	case nil:
		return json.RawMessage("null"), nil
	case json.RawMessage:
		if len(r) == 0 {
			return json.RawMessage("null"), nil
		}
		if !json.Valid(r) {
			return nil, errors.New("action returned invalid JSON")
		}
		return r, nil
	}
	b, err := json.Marshal(res)
	if err != nil {
		return nil, fmt.Errorf("encoding result: %w", err)
	}
	return b, nil
}

// safeCall runs f and turns a panic into an error (spec §15.9).
func safeCall(f func() (any, error)) (res any, err error) {
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, fmt.Errorf("action panicked: %v", r)
		}
	}()
	return f()
}

func safeRun(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return f()
}

// Send delivers a message to one agent of the container.
func (c *Container) Send(ctx context.Context, agentID string, msg opaca.Message) error {
	a, ok := c.Agent(agentID)
	if !ok {
		return fmt.Errorf("%w %q not found", ErrAgentNotFound, agentID)
	}
	if h := a.messageHandler(); h != nil {
		return safeRun(func() error { return h(ctx, msg) })
	}
	return nil
}

// Broadcast delivers a message to every agent listening on channel; it
// returns the handlers' errors joined.
func (c *Container) Broadcast(ctx context.Context, channel string, msg opaca.Message) error {
	var errs []error
	for _, a := range c.snapshot() {
		if h := a.channelHandler(channel); h != nil {
			if err := safeRun(func() error { return h(ctx, msg) }); err != nil {
				errs = append(errs, fmt.Errorf("agent %q: %w", a.id, err))
			}
		}
	}
	return errors.Join(errs...)
}

// Notify asks the platform to refresh this container's description now
// (POST /containers/notify).
func (c *Container) Notify(ctx context.Context) error {
	if c.platform == nil {
		return ErrNoPlatform
	}
	_, err := c.platform.NotifyContainer(ctx, c.env.ContainerID)
	return err
}

// changed is called after every change of agents, actions or streams.
func (c *Container) changed(opts []ChangeOption) {
	if c == nil || !applyChange(opts).notify {
		return
	}
	if !c.infoRead.Load() {
		return
	}
	select {
	case <-c.ready:
	default:
		return // the platform reads /info once the API is up anyway
	}
	select {
	case c.notifyKick <- struct{}{}:
	default: // a notify is already pending: coalesce
	}
}

// notifyLoop sends at most one notify at a time; changes during a call
// leave one pending kick, so they cause exactly one more call.
func (c *Container) notifyLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.ctx.Done():
			return
		case <-c.notifyKick:
		}
		ctx, cancel := context.WithTimeout(c.ctx, notifyTimeout)
		err := c.Notify(ctx)
		cancel()
		if err != nil && c.ctx.Err() == nil {
			c.log.Warn("container: notify failed", "container", c.env.ContainerID, "err", err)
		}
	}
}

// DefaultAddr is the listen address: ":<API_PORT or apiPort>".
func (c *Container) DefaultAddr() string { return ":" + strconv.Itoa(c.apiPort) }

// Serve serves the API on l until Shutdown; it returns nil after a clean
// shutdown.
func (c *Container) Serve(l net.Listener) error {
	srv := &http.Server{Handler: c, ReadHeaderTimeout: c.cfg.timeouts.ReadHeader, IdleTimeout: c.cfg.timeouts.Idle}
	c.srvMu.Lock()
	if c.closed {
		c.srvMu.Unlock()
		_ = l.Close()
		return ErrClosed
	}
	c.servers[srv] = struct{}{}
	c.srvMu.Unlock()
	err := srv.Serve(l)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// ListenAndServe listens on addr (DefaultAddr when empty) and serves the
// API until Shutdown.
func (c *Container) ListenAndServe(addr string) error {
	if addr == "" {
		addr = c.DefaultAddr()
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("container: %w", err)
	}
	return c.Serve(l)
}

// Shutdown stops the servers gracefully (until ctx ends), cancels running
// actions' contexts, stops notify and event subscription, and closes the
// platform client. Safe to call more than once.
func (c *Container) Shutdown(ctx context.Context) error {
	var err error
	c.once.Do(func() {
		c.srvMu.Lock()
		c.closed = true
		servers := c.servers
		c.servers = nil
		c.srvMu.Unlock()
		if c.readyTimer != nil {
			c.readyTimer.Stop()
		}
		c.cancel()
		c.cancelRunning()
		var errs []error
		for srv := range servers {
			if e := srv.Shutdown(ctx); e != nil {
				_ = srv.Close()
				errs = append(errs, e)
			}
		}
		c.wg.Wait()
		if c.ownClient != nil {
			errs = append(errs, c.ownClient.Close())
		}
		for _, cl := range c.cfg.closers {
			errs = append(errs, cl.Close())
		}
		err = errors.Join(errs...)
	})
	return err
}

// Close shuts down with a 5 s grace period.
func (c *Container) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return c.Shutdown(ctx)
}
