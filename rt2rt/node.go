package rt2rt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/meshkit/meshkit/transport"
)

// Node is one RT2RT runtime: it listens, joins peers, keeps one link per peer
// and carries requests, replies and fire-and-forget messages over them. Its
// methods are safe for concurrent use.
type Node struct {
	// Ownership: mu guards every map below it; the handler table is
	// copy-on-write; subscribers belong to the event dispatcher (events.go).
	id     string
	cfg    config
	log    *slog.Logger
	obs    Observer
	tr     *transport.Registry
	sers   *serializers
	ctx    context.Context // cancelled by Close; parent of all node work
	cancel context.CancelFunc

	listeners []transport.Listener
	uris      []string

	resolver atomic.Pointer[resolverBox]
	handlers atomic.Pointer[map[string]Handler]
	hmu      sync.Mutex // serialises writers of handlers

	shutting  atomic.Bool
	hooksMu   sync.Mutex
	hooks     map[int]func(context.Context)
	nextHook  int
	closeOnce sync.Once
	closeErr  error
	lnOnce    sync.Once
	lnErr     error

	mu         sync.Mutex
	closed     bool
	links      map[string]*link     // peer id -> current link
	routes     map[string]string    // target id -> id of the peer to route through
	known      map[string][]string  // peer id -> URIs it was joined at
	dialing    map[string]*dialCall // peer id -> re-join in progress
	backoff    map[string]*backoffState
	linkUp     chan struct{}       // closed and replaced whenever a link is installed
	pending    map[string]*pending // msg_uuid -> waiting request
	pendingPer map[string]int      // target id -> its entries in pending
	drained    chan struct{}       // closed when pending becomes empty (Shutdown)
	conns      map[transport.Conn]struct{}
	forwarders map[string]*forwarder // target id -> queue waiting for a link
	fwdHeld    int                   // messages in all forwarder queues
	sleepers   map[string]*sleeper   // peer id -> messages held in sleep mode
	nSleepers  atomic.Int32          // len(sleepers), read without the lock
	sleepBytes int                   // frames held by all sleepers

	handshakes atomic.Int32 // incoming joins in progress
	joins      joinLimiter  // WithJoinRateLimit

	events *eventQueue
	wg     sync.WaitGroup // every goroutine but the event dispatcher
}

type resolverBox struct{ r Resolver }

// NewNode validates the options, binds the listeners and starts serving.
func NewNode(opts ...Option) (*Node, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil option", ErrInvalidOption)
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.id == "" {
		cfg.id = uuid.NewString()
	}
	if cfg.listen == nil {
		cfg.listen = []string{DefaultListenURI}
	}
	if cfg.logger == nil {
		cfg.logger = slog.Default()
	}
	if cfg.observer == nil {
		cfg.observer = NopObserver{}
	}
	if cfg.staleAfter == 0 {
		cfg.staleAfter = 3 * cfg.requestTimeout
	}
	sers, err := newSerializers(cfg.serRegistry, cfg.serializers)
	if err != nil {
		return nil, err
	}
	if cfg.transport == nil {
		// The node's logger also reports framing errors of its connections.
		cfg.transport, err = transport.NewRegistry(transport.WithLogger(cfg.logger))
		if err != nil {
			return nil, fmt.Errorf("rt2rt: default transport: %w", err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	n := &Node{
		id:         cfg.id,
		cfg:        cfg,
		log:        cfg.logger.With("node", cfg.id),
		obs:        cfg.observer,
		tr:         cfg.transport,
		sers:       sers,
		ctx:        ctx,
		cancel:     cancel,
		hooks:      map[int]func(context.Context){},
		links:      map[string]*link{},
		routes:     map[string]string{},
		known:      map[string][]string{},
		dialing:    map[string]*dialCall{},
		backoff:    map[string]*backoffState{},
		linkUp:     make(chan struct{}),
		pending:    map[string]*pending{},
		pendingPer: map[string]int{},
		conns:      map[transport.Conn]struct{}{},
		forwarders: map[string]*forwarder{},
		sleepers:   map[string]*sleeper{},
	}
	empty := map[string]Handler{}
	n.handlers.Store(&empty)
	if cfg.resolver != nil {
		n.resolver.Store(&resolverBox{cfg.resolver})
	}
	n.events = newEventQueue(n.obs)
	n.joins.burst, n.joins.rate = cfg.joinBurst, cfg.joinRate

	for _, uri := range cfg.listen {
		ln, err := n.tr.Listen(ctx, uri)
		if err != nil {
			for _, l := range n.listeners {
				_ = l.Close()
			}
			cancel()
			n.events.stop()
			return nil, fmt.Errorf("rt2rt: listen %s: %w", uri, err)
		}
		n.listeners = append(n.listeners, ln)
		n.uris = append(n.uris, ln.URI())
	}
	for _, ln := range n.listeners {
		n.wg.Add(1)
		go n.acceptLoop(ln)
	}
	n.log.Debug("rt2rt node started", "uris", n.uris, "serializers", n.sers.names())
	return n, nil
}

// ID returns the node id.
func (n *Node) ID() string { return n.id }

// URIs returns the bound listen URIs (ports resolved), in WithListen order.
func (n *Node) URIs() []string { return append([]string(nil), n.uris...) }

// Serializers returns the serializer priority list.
func (n *Node) Serializers() []string { return n.sers.names() }

// SetResolver replaces the resolver used for re-joins and forwarding; the
// storage tunnel calls it once the registry is reachable. nil removes it.
func (n *Node) SetResolver(r Resolver) {
	if r == nil {
		n.resolver.Store(nil)
		return
	}
	n.resolver.Store(&resolverBox{r})
}

// SetRoute makes messages for target go over the link to via, with
// to_rt_uuid still naming target: Calvin's routing link for nodes behind a
// proxy (§3.8). An empty via removes the route.
func (n *Node) SetRoute(target, via string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if via == "" || via == target {
		delete(n.routes, target)
		return
	}
	n.routes[target] = via
}

// PeerInfo describes one linked or routed peer.
type PeerInfo struct {
	ID         string
	URI        string // the URI dialled, or the connection's remote address
	Serializer string
	RTT        time.Duration
	Initiator  bool   // this node opened the connection
	Via        string // non-empty for a routed peer: the link it is reached through
}

// Peers lists the linked peers and, after them, routed peers whose proxy is
// linked, each sorted by id.
func (n *Node) Peers() []PeerInfo {
	n.mu.Lock()
	out := make([]PeerInfo, 0, len(n.links)+len(n.routes))
	for id, l := range n.links {
		out = append(out, PeerInfo{ID: id, URI: l.uri, Serializer: l.ser.Name(), RTT: l.rtt(), Initiator: l.initiator})
	}
	routed := make([]PeerInfo, 0, len(n.routes))
	for target, via := range n.routes {
		if _, direct := n.links[target]; direct {
			continue
		}
		if l := n.links[via]; l != nil {
			routed = append(routed, PeerInfo{ID: target, URI: l.uri, Serializer: l.ser.Name(), RTT: l.rtt(), Via: via})
		}
	}
	n.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	sort.Slice(routed, func(i, j int) bool { return routed[i].ID < routed[j].ID })
	return append(out, routed...)
}

// Handler serves one incoming command. It runs on the link's reader
// goroutine in arrival order and must not block: slow work belongs in a
// goroutine that calls in.Reply when done.
type Handler func(ctx context.Context, in *Incoming)

// Handle registers h for cmd, replacing any earlier handler; a nil h removes
// it (the node's default answer applies again).
func (n *Node) Handle(cmd string, h Handler) {
	n.hmu.Lock()
	defer n.hmu.Unlock()
	old := *n.handlers.Load()
	next := make(map[string]Handler, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	if h == nil {
		delete(next, cmd)
	} else {
		next[cmd] = h
	}
	n.handlers.Store(&next)
}

// Subscribe calls f for every link up and link down, in order, from one
// goroutine (f must not block for long, and must not call Close or
// Shutdown, which wait for that goroutine). The returned function cancels
// the subscription.
func (n *Node) Subscribe(f func(PeerEvent)) (cancel func()) {
	return n.events.subscribe(f)
}

// OnShutdown registers f to run during Shutdown, after the node has started
// answering as §4.7 says and before links close (actors are evacuated here).
func (n *Node) OnShutdown(f func(ctx context.Context)) (cancel func()) {
	n.hooksMu.Lock()
	defer n.hooksMu.Unlock()
	id := n.nextHook
	n.nextHook++
	n.hooks[id] = f
	return func() {
		n.hooksMu.Lock()
		defer n.hooksMu.Unlock()
		delete(n.hooks, id)
	}
}

// ShuttingDown reports whether Shutdown or Close has started.
func (n *Node) ShuttingDown() bool { return n.shutting.Load() }

// Shutdown stops the node gracefully: it stops accepting connections,
// answers the commands of §4.7 with their fixed status while the OnShutdown
// hooks run and outstanding requests finish, then closes. If ctx ends first
// the node is closed anyway and ctx's error is returned.
func (n *Node) Shutdown(ctx context.Context) error {
	if n.shutting.Swap(true) {
		// Already shutting down or closed: just make sure it ends.
		return n.Close()
	}
	n.closeListeners()
	n.hooksMu.Lock()
	hooks := make([]func(context.Context), 0, len(n.hooks))
	ids := make([]int, 0, len(n.hooks))
	for id := range n.hooks {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		hooks = append(hooks, n.hooks[id])
	}
	n.hooksMu.Unlock()
	for _, h := range hooks {
		h(ctx)
	}

	n.mu.Lock()
	var wait chan struct{}
	if len(n.pending) > 0 {
		if n.drained == nil {
			n.drained = make(chan struct{})
		}
		wait = n.drained
	}
	n.mu.Unlock()
	var err error
	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if cerr := n.Close(); err == nil {
		err = cerr
	}
	return err
}

// Close closes listeners and links at once, fails pending requests with
// ErrClosed and waits for every goroutine of the node. Safe to call twice.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.shutting.Store(true)
		n.mu.Lock()
		n.closed = true
		conns := make([]transport.Conn, 0, len(n.conns))
		for c := range n.conns {
			conns = append(conns, c)
		}
		for id, p := range n.pending {
			p.finish(result{err: ErrClosed})
			n.delPendingLocked(id, p)
		}
		n.notifyDrainedLocked()
		n.mu.Unlock()

		n.cancel()
		err := n.closeListeners()
		for _, c := range conns {
			_ = c.Close()
		}
		n.wg.Wait()
		n.events.stop()
		n.closeErr = err
	})
	return n.closeErr
}

// closeListeners closes the listeners once (Shutdown, then Close).
func (n *Node) closeListeners() error {
	n.lnOnce.Do(func() {
		var errs []error
		for _, ln := range n.listeners {
			if err := ln.Close(); err != nil && !errors.Is(err, transport.ErrClosed) {
				errs = append(errs, err)
			}
		}
		n.lnErr = errors.Join(errs...)
	})
	return n.lnErr
}

// trackConn registers c so Close can close it; false if the node is closed.
func (n *Node) trackConn(c transport.Conn) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return false
	}
	n.conns[c] = struct{}{}
	return true
}

func (n *Node) untrackConn(c transport.Conn) {
	n.mu.Lock()
	delete(n.conns, c)
	n.mu.Unlock()
}

func (n *Node) acceptLoop(ln transport.Listener) {
	defer n.wg.Done()
	delay := time.Duration(0)
	for {
		c, err := ln.Accept(n.ctx)
		if err != nil {
			if n.ctx.Err() != nil || n.shutting.Load() || errors.Is(err, transport.ErrClosed) {
				return
			}
			// A failed accept (e.g. a broken TLS handshake) must not end
			// the listener; back off so a persistent error cannot spin.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			n.log.Warn("rt2rt accept failed", "listener", ln.URI(), "err", err, "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-n.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		delay = 0
		if !n.joins.allow(c.RemoteURI(), time.Now()) {
			// Debug only: a connection flood must not become a log flood.
			n.log.Debug("join rate limit exceeded; connection refused", "remote", c.RemoteURI())
			n.obs.JoinFailed(c.RemoteURI(), &JoinError{URI: c.RemoteURI(), Err: ErrJoinRateLimited})
			_ = c.Close()
			continue
		}
		if n.handshakes.Add(1) > maxHandshakes {
			// A flood of silent connections must not grow without bound.
			n.handshakes.Add(-1)
			n.log.Warn("too many joins in progress; connection refused", "remote", c.RemoteURI())
			_ = c.Close()
			continue
		}
		if !n.trackConn(c) {
			n.handshakes.Add(-1)
			_ = c.Close()
			return
		}
		n.wg.Add(1)
		go func() {
			defer n.handshakes.Add(-1)
			n.respond(c)
		}()
	}
}
