package platform

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/meshkit/meshkit/opaca/client"
	"github.com/meshkit/meshkit/opaca/platform/auth"
)

// Platform is an embeddable OPACA Runtime Platform. Its API is an
// http.Handler (Handler); Serve runs it on a listener. Start performs the
// start-up work (state restore, default images) once the API is reachable;
// Shutdown undoes it according to the session policy.
type Platform struct {
	cfg     config
	id      string
	started time.Time
	log     slogger

	signer  *auth.Signer
	users   *auth.Store
	history *eventLog
	ids     *idGen
	hub     *hub
	ports   *portAllocator
	saver   *saver

	inproc  *inProcessRunner
	process *processRunner
	adopted adoptedRunner
	docker  *dockerRunner

	transport    *http.Transport
	senderHeader []string // sender-id value of calls to containers, shared
	handler      http.Handler

	mu         sync.RWMutex
	containers []*containerEntry
	peers      []*peer
	pending    map[string]*pendingConnect
	seq        uint64

	ctx       context.Context // cancelled at shutdown; parent of background work
	cancel    context.CancelFunc
	bg        sync.WaitGroup
	srvMu     sync.Mutex
	servers   []*http.Server
	closeOnce sync.Once
	closeErr  error
	startOnce sync.Once
}

// New builds a platform. With no options it serves on its own at
// http://127.0.0.1:8000 without auth, persistence or Docker.
func New(opts ...Option) (*Platform, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.sessionPolicy == "" {
		if cfg.stateFile != "" {
			cfg.sessionPolicy = PolicyRestart
		} else {
			cfg.sessionPolicy = PolicyShutdown
		}
	}
	if cfg.stateFile == "" {
		cfg.sessionPolicy = PolicyShutdown
	}
	p := &Platform{cfg: cfg, id: uuid.NewString(), started: time.Now().UTC(), log: slogger{cfg.logger}, pending: map[string]*pendingConnect{}}
	key, kind, err := auth.DeriveKey(cfg.secret)
	if err != nil {
		return nil, err
	}
	switch kind {
	case auth.KeyRandom:
		p.log.Warn("no JWT secret configured: using a random key; tokens will not survive a restart")
	case auth.KeyHashed:
		p.log.Warn("JWT secret shorter than 32 bytes: using its SHA-256 hash as key")
	}
	if p.signer, err = auth.NewSigner(key, nil); err != nil {
		return nil, err
	}
	if p.users, err = auth.NewStore(cfg.bcryptCost, p.changed); err != nil {
		return nil, fmt.Errorf("platform: %w", err)
	}
	if cfg.requireAuth && cfg.adminPassword == "" {
		p.log.Warn("auth is required but the admin password is empty")
	}
	p.history = newEventLog(cfg.historySize)
	p.ids = newIDGen()
	p.hub = newHub(cfg.logger, cfg.pingInterval, cfg.subscriberQueue)
	p.ports = newPortAllocator(cfg.listenHost)
	publicHost := hostURL(cfg.publicURL)
	p.inproc = &inProcessRunner{host: cfg.listenHost, publicURL: publicHost, factories: cfg.inProcess, instances: map[string]*inProcessInstance{}}
	p.process = &processRunner{commands: cfg.processes, publicURL: publicHost, output: cfg.processOutput, procs: map[string]*childProcess{}}
	if cfg.docker != nil {
		d := *cfg.docker
		d.AlwaysPull = d.AlwaysPull || cfg.alwaysPull
		if p.docker, err = newDockerRunner(d, publicHost, p.id); err != nil {
			return nil, err
		}
		if isLoopbackURL(cfg.publicURL) {
			p.log.Warn("docker runner enabled but the public URL is a loopback address; containers cannot reach the platform", "url", cfg.publicURL)
		}
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 512
	t.MaxIdleConnsPerHost = 128
	t.ResponseHeaderTimeout = 0 // invocations may run long; contexts bound them
	t.DisableCompression = true // JSON between platforms is small; gzip costs more than it saves
	p.transport = t
	p.senderHeader = []string{cfg.publicURL}
	p.ctx, p.cancel = context.WithCancel(context.Background())
	if cfg.stateFile != "" {
		p.saver = newSaver(cfg.saveInterval, p.saveState, func(err error) { p.log.Error("saving state failed", "err", err) })
	}
	// the admin exists from the start; Start re-ensures it after a restore
	if _, err := p.users.Put(cfg.adminUser, cfg.adminPassword, auth.RoleAdmin, nil); err != nil {
		return nil, fmt.Errorf("platform: admin user: %w", err)
	}
	p.handler = p.routes()
	return p, nil
}

func isLoopbackURL(s string) bool {
	h := strings.TrimPrefix(strings.TrimPrefix(hostURL(s), "http://"), "https://")
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// ID returns the platformId (new for every process start).
func (p *Platform) ID() string { return p.id }

// BaseURL returns the platform's own base URL.
func (p *Platform) BaseURL() string { return p.cfg.publicURL }

// Handler returns the Runtime Platform API.
func (p *Platform) Handler() http.Handler { return p.handler }

// Serve serves the API on ln until Shutdown. It returns nil after a
// Shutdown.
func (p *Platform) Serve(ln net.Listener) error {
	srv := &http.Server{Handler: p.handler, ReadHeaderTimeout: p.cfg.timeouts.ReadHeader, IdleTimeout: p.cfg.timeouts.Idle}
	p.srvMu.Lock()
	if p.ctx.Err() != nil {
		p.srvMu.Unlock()
		_ = ln.Close()
		return ErrClosed
	}
	p.servers = append(p.servers, srv)
	p.srvMu.Unlock()
	err := srv.Serve(ln)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Start performs the start-up work once the API is reachable at the base
// URL: restore the state file (or deploy the default images), then a
// self-check of /info. Calling it twice does nothing the second time.
func (p *Platform) Start(ctx context.Context) error {
	var err error
	p.startOnce.Do(func() { err = p.start(ctx) })
	return err
}

func (p *Platform) start(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("platform: start: %w", err)
	}
	restored, err := p.restoreState(ctx)
	if err != nil {
		return err
	}
	if !restored || p.cfg.sessionPolicy == PolicyShutdown {
		p.deployDefaultImages(ctx)
	}
	p.selfCheck(ctx)
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("platform: start: %w", err)
	}
	return nil
}

func (p *Platform) selfCheck(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var opts []client.Option
	opts = append(opts, client.WithHTTPClient(&http.Client{Transport: p.transport}))
	if p.cfg.requireAuth {
		if tok, err := p.signer.Issue(p.cfg.adminUser, time.Minute); err == nil {
			opts = append(opts, client.WithToken(tok))
		}
	}
	c, err := client.New(p.cfg.publicURL, opts...)
	if err != nil {
		p.log.Warn("self-check failed", "err", err)
		return
	}
	defer c.Close()
	info, err := c.Info(ctx)
	if err != nil {
		p.log.Warn("self-check: own /info not reachable through the base URL", "url", p.cfg.publicURL, "err", err)
		return
	}
	if info.PlatformID != p.id {
		p.log.Warn("self-check: the base URL leads to another platform", "url", p.cfg.publicURL)
	}
}

// Shutdown stops the platform: containers per session policy, state saved,
// subscriptions closed, peers told when connections are not persisted.
// Safe to call twice.
func (p *Platform) Shutdown(ctx context.Context) error {
	p.closeOnce.Do(func() { p.closeErr = p.shutdown(ctx) })
	return p.closeErr
}

// Close is Shutdown with a 30 s limit.
func (p *Platform) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return p.Shutdown(ctx)
}

func (p *Platform) shutdown(ctx context.Context) error {
	var errs []error
	if p.saver != nil {
		// save first and then stop saving: what follows (closing peers,
		// stopping containers) must not erase them from the state file
		if err := p.saver.stop(); err != nil {
			errs = append(errs, err)
		}
	}
	persistConns := p.cfg.stateFile != ""
	p.mu.Lock()
	peers := p.peers
	p.peers = nil
	p.mu.Unlock()
	var wg sync.WaitGroup
	for _, pe := range peers {
		pe.stop()
		if !persistConns {
			wg.Add(1)
			go func(pe *peer) {
				defer wg.Done()
				p.tellPeerToDrop(pe)
			}(pe)
		}
	}
	wg.Wait()
	keepRunning := p.cfg.sessionPolicy == PolicyReconnect
	p.mu.Lock()
	entries := p.containers
	if p.cfg.sessionPolicy == PolicyShutdown {
		p.containers = nil
	}
	p.mu.Unlock()
	for _, e := range entries {
		if keepRunning && e.runner.Kind() != KindInProcess && e.runner.Kind() != KindProcess {
			continue
		}
		if err := e.runner.Stop(ctx, e.handle); err != nil {
			errs = append(errs, err)
		}
		p.ports.release(e.hostPorts()...)
	}
	p.cancel()
	p.hub.close()
	p.srvMu.Lock()
	servers := p.servers
	p.servers = nil
	p.srvMu.Unlock()
	for _, s := range servers {
		if err := s.Shutdown(ctx); err != nil {
			_ = s.Close()
		}
	}
	p.bg.Wait()
	p.transport.CloseIdleConnections()
	return errors.Join(errs...)
}

// changed schedules a state save.
func (p *Platform) changed() {
	if p.saver != nil {
		p.saver.mark()
	}
}

// httpClient is used for all outbound calls; it never follows redirects.
func (p *Platform) httpClient() *http.Client {
	return &http.Client{Transport: p.transport}
}
