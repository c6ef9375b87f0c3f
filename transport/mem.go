package transport

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SchemeMem is the URI scheme of the in-process transport.
const SchemeMem = "mem"

// Errors of the in-process transport.
var (
	// ErrUnreachable: no listener under that name, or a partition in between.
	ErrUnreachable = errors.New("transport: peer unreachable")
	// ErrLinkCut is the cause of connections closed by MemNetwork.Cut and friends.
	ErrLinkCut = errors.New("transport: link cut")
	// ErrAddressInUse: a listener already has that name (or port).
	ErrAddressInUse = errors.New("transport: address in use")
)

// Faults describes how a MemNetwork mistreats frames. The zero value is a
// perfect link.
type Faults struct {
	// DropRate is the probability in [0, 1] that a sent frame silently
	// vanishes, as on a lossy link; Send still reports success.
	DropRate float64
	// Delay is added to every frame's delivery; frames keep their order.
	Delay time.Duration
	// Seed drives the drop decisions. Each direction of each connection has
	// its own generator seeded from Seed and the two names (and re-seeded
	// whenever the network's faults are changed), so a test that sends the
	// same frames sees the same drops on every run.
	Seed int64
}

func (f Faults) validate() error {
	if math.IsNaN(f.DropRate) || f.DropRate < 0 || f.DropRate > 1 {
		return fmt.Errorf("%w: drop rate %v not in [0, 1]", ErrInvalidOption, f.DropRate)
	}
	if f.Delay < 0 {
		return fmt.Errorf("%w: negative delay %v", ErrInvalidOption, f.Delay)
	}
	return nil
}

// linkKey names the unordered pair of two endpoint names.
type linkKey struct{ a, b string }

func makeLinkKey(a, b string) linkKey {
	a, b = memName(a), memName(b)
	if a > b {
		a, b = b, a
	}
	return linkKey{a, b}
}

// dirKey names one direction, from → to.
type dirKey struct{ from, to string }

// faultTable is an immutable snapshot; senders load it with one atomic read.
type faultTable struct {
	global   Faults
	links    map[linkKey]Faults
	directed map[dirKey]Faults
}

// lookup resolves the faults of frames sent from → to: the most specific
// setting wins.
func (t *faultTable) lookup(from, to string) Faults {
	if f, ok := t.directed[dirKey{from, to}]; ok {
		return f
	}
	if f, ok := t.links[makeLinkKey(from, to)]; ok {
		return f
	}
	return t.global
}

// MemNetwork is an in-process network of named listeners (mem://name) with
// fault injection for tests: drop, delay, cut and partition. Every method is
// safe for concurrent use.
type MemNetwork struct {
	faults atomic.Pointer[faultTable] // nil: no faults anywhere

	mu         sync.Mutex
	listeners  map[string]*memListener
	links      map[*memLink]struct{}
	partitions map[linkKey]struct{}
	isolated   map[string]struct{}
	nextID     int
}

// NewMemNetwork returns an empty network without faults.
func NewMemNetwork() *MemNetwork {
	return &MemNetwork{
		listeners:  make(map[string]*memListener),
		links:      make(map[*memLink]struct{}),
		partitions: make(map[linkKey]struct{}),
		isolated:   make(map[string]struct{}),
	}
}

var defaultMemNetwork = sync.OnceValue(NewMemNetwork)

// DefaultMemNetwork returns the network of the default registry.
func DefaultMemNetwork() *MemNetwork { return defaultMemNetwork() }

// memName strips an optional mem:// prefix and any query from a name.
func memName(s string) string {
	if len(s) >= len(SchemeMem)+3 && strings.EqualFold(s[:len(SchemeMem)+3], SchemeMem+"://") {
		s = s[len(SchemeMem)+3:]
	}
	s, _, _ = strings.Cut(s, "?")
	return s
}

func (n *MemNetwork) updateFaults(edit func(t *faultTable)) {
	n.mu.Lock()
	defer n.mu.Unlock()
	t := &faultTable{links: make(map[linkKey]Faults), directed: make(map[dirKey]Faults)}
	if old := n.faults.Load(); old != nil {
		t.global = old.global
		for k, v := range old.links {
			t.links[k] = v
		}
		for k, v := range old.directed {
			t.directed[k] = v
		}
	}
	edit(t)
	if t.global == (Faults{}) && len(t.links) == 0 && len(t.directed) == 0 {
		n.faults.Store(nil)
		return
	}
	n.faults.Store(t)
}

// SetFaults sets the faults of every link that has no faults of its own.
func (n *MemNetwork) SetFaults(f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	n.updateFaults(func(t *faultTable) { t.global = f })
	return nil
}

// SetLinkFaults sets the faults of the links between names a and b (both
// directions, given as "name" or "mem://name"), overriding SetFaults.
func (n *MemNetwork) SetLinkFaults(a, b string, f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	n.updateFaults(func(t *faultTable) { t.links[makeLinkKey(a, b)] = f })
	return nil
}

// SetDirectedFaults sets the faults of frames sent from one name to another
// only (an asymmetric link), overriding SetLinkFaults and SetFaults.
func (n *MemNetwork) SetDirectedFaults(from, to string, f Faults) error {
	if err := f.validate(); err != nil {
		return err
	}
	n.updateFaults(func(t *faultTable) { t.directed[dirKey{memName(from), memName(to)}] = f })
	return nil
}

// ClearFaults removes all drop and delay faults (not partitions).
func (n *MemNetwork) ClearFaults() {
	n.updateFaults(func(t *faultTable) {
		t.global = Faults{}
		clear(t.links)
		clear(t.directed)
	})
}

// cutWhere closes the links selected by match and reports how many.
func (n *MemNetwork) cutWhere(match func(l *memLink) bool) int {
	n.mu.Lock()
	var cut []*memLink
	for l := range n.links {
		if match(l) {
			cut = append(cut, l)
		}
	}
	n.mu.Unlock()
	for _, l := range cut {
		l.close(nil, ErrLinkCut)
	}
	return len(cut)
}

// Cut closes every live connection to or from name now, as if the cables
// were pulled: frames in flight are lost and both ends see ErrClosed with
// cause ErrLinkCut. New dials succeed again at once. It returns the number
// of connections cut.
func (n *MemNetwork) Cut(name string) int {
	name = memName(name)
	return n.cutWhere(func(l *memLink) bool { return l.dialer == name || l.listener == name })
}

// CutLink closes every live connection between names a and b.
func (n *MemNetwork) CutLink(a, b string) int {
	k := makeLinkKey(a, b)
	return n.cutWhere(func(l *memLink) bool { return makeLinkKey(l.dialer, l.listener) == k })
}

// CutAll closes every live connection of the network.
func (n *MemNetwork) CutAll() int {
	return n.cutWhere(func(*memLink) bool { return true })
}

// Partition cuts the links between a and b and makes dials between them
// fail with ErrUnreachable until Heal.
func (n *MemNetwork) Partition(a, b string) {
	n.mu.Lock()
	n.partitions[makeLinkKey(a, b)] = struct{}{}
	n.mu.Unlock()
	n.CutLink(a, b)
}

// Heal lets a and b dial each other again.
func (n *MemNetwork) Heal(a, b string) {
	n.mu.Lock()
	delete(n.partitions, makeLinkKey(a, b))
	n.mu.Unlock()
}

// Isolate cuts every link of name and refuses its dials, both ways, with
// every other name until Rejoin (a node whose network cable is out).
func (n *MemNetwork) Isolate(name string) {
	n.mu.Lock()
	n.isolated[memName(name)] = struct{}{}
	n.mu.Unlock()
	n.Cut(name)
}

// Rejoin ends Isolate for name.
func (n *MemNetwork) Rejoin(name string) {
	n.mu.Lock()
	delete(n.isolated, memName(name))
	n.mu.Unlock()
}

// HealAll removes every partition and isolation.
func (n *MemNetwork) HealAll() {
	n.mu.Lock()
	clear(n.partitions)
	clear(n.isolated)
	n.mu.Unlock()
}

// blockedLocked reports why from may not dial to, or "". Called with mu held.
func (n *MemNetwork) blockedLocked(from, to string) string {
	if _, ok := n.partitions[makeLinkKey(from, to)]; ok {
		return "partitioned from " + from
	}
	for _, name := range []string{from, to} {
		if _, ok := n.isolated[name]; ok {
			return name + " is isolated"
		}
	}
	return ""
}

// Conns reports the number of live connections (each counted once).
func (n *MemNetwork) Conns() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.links)
}

func (n *MemNetwork) uniqueName(prefix string) string {
	n.nextID++
	return prefix + strconv.Itoa(n.nextID)
}

// MemTransport serves mem://name URIs on a MemNetwork.
//
// When it dials, it names its own end after its first open listener, so a
// node listening on mem://a that dials mem://b makes a link "a"–"b" that
// Cut, CutLink, Partition and SetLinkFaults can address. A dial URI may
// name the local end explicitly as mem://b?from=a. Simulated nodes should
// therefore each have their own Registry (or MemTransport) on the shared
// network.
type MemTransport struct {
	cfg config
	net *MemNetwork

	mu    sync.Mutex
	names []string // names of this transport's open listeners, oldest first
}

func newMemTransport(cfg config) *MemTransport {
	n := cfg.memNet
	if n == nil {
		n = DefaultMemNetwork()
	}
	return &MemTransport{cfg: cfg, net: n}
}

// NewMemTransport returns the mem transport configured by opts.
func NewMemTransport(opts ...Option) (*MemTransport, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return newMemTransport(cfg), nil
}

// Network returns the network the transport uses.
func (t *MemTransport) Network() *MemNetwork { return t.net }

// Schemes returns ["mem"].
func (t *MemTransport) Schemes() []string { return []string{SchemeMem} }

// parseMemURI returns the name and the optional from= name of a mem URI.
func parseMemURI(uri string) (name, from string, err error) {
	rest, ok := strings.CutPrefix(uri, SchemeMem+"://")
	if !ok {
		return "", "", fmt.Errorf("%w: %q: want mem://name", ErrInvalidURI, uri)
	}
	rest, query, _ := strings.Cut(rest, "?")
	if strings.ContainsAny(rest, "/# \t\r\n") {
		return "", "", fmt.Errorf("%w: %q: bad name", ErrInvalidURI, uri)
	}
	if query != "" {
		v, err := url.ParseQuery(query)
		if err != nil {
			return "", "", fmt.Errorf("%w: %q: %w", ErrInvalidURI, uri, err)
		}
		from = memName(v.Get("from"))
	}
	return rest, from, nil
}

// Listen registers a listener under the URI's name; mem:// or
// mem://default picks a unique name.
func (t *MemTransport) Listen(ctx context.Context, uri string) (Listener, error) {
	name, _, err := parseMemURI(uri)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	n := t.net
	n.mu.Lock()
	if name == "" || name == "default" {
		for name == "" || name == "default" || n.listeners[name] != nil {
			name = n.uniqueName("auto-")
		}
	}
	if n.listeners[name] != nil {
		n.mu.Unlock()
		return nil, fmt.Errorf("transport: listen %s: %w", uri, ErrAddressInUse)
	}
	l := &memListener{
		t:       t,
		name:    name,
		uri:     SchemeMem + "://" + name,
		backlog: make(chan *memConn, 64),
		done:    make(chan struct{}),
	}
	n.listeners[name] = l
	n.mu.Unlock()

	t.mu.Lock()
	t.names = append(t.names, name)
	t.mu.Unlock()
	return l, nil
}

// localName picks the name of this transport's end of a new link.
func (t *MemTransport) localName() string {
	t.mu.Lock()
	if len(t.names) > 0 {
		name := t.names[0]
		t.mu.Unlock()
		return name
	}
	t.mu.Unlock()
	t.net.mu.Lock()
	defer t.net.mu.Unlock()
	return t.net.uniqueName("anon-")
}

// Dial connects to the listener named by uri.
func (t *MemTransport) Dial(ctx context.Context, uri string) (Conn, error) {
	name, from, err := parseMemURI(uri)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf("%w: %q: missing name", ErrInvalidURI, uri)
	}
	if from == "" {
		from = t.localName()
	}
	n := t.net
	n.mu.Lock()
	l := n.listeners[name]
	why := n.blockedLocked(from, name)
	if l == nil && why == "" {
		why = "no listener"
	}
	if why != "" {
		n.mu.Unlock()
		return nil, fmt.Errorf("transport: dial %s: %w: %s", uri, ErrUnreachable, why)
	}
	link := newMemLink(n, from, name, &t.cfg, &l.t.cfg)
	n.links[link] = struct{}{}
	n.mu.Unlock()

	select {
	case l.backlog <- link.listenerEnd:
		select {
		case <-l.done:
			// Close may have drained the backlog before we got in.
			l.drain()
			if link.dialerEnd.inbox.isClosed() {
				return nil, fmt.Errorf("transport: dial %s: %w: listener closed", uri, ErrUnreachable)
			}
		default:
		}
		return link.dialerEnd, nil
	case <-l.done:
		link.close(nil, ErrUnreachable)
		return nil, fmt.Errorf("transport: dial %s: %w: listener closed", uri, ErrUnreachable)
	case <-ctx.Done():
		link.close(nil, ctx.Err())
		return nil, ctx.Err()
	}
}

type memListener struct {
	t       *MemTransport
	name    string
	uri     string
	backlog chan *memConn
	done    chan struct{}
	once    sync.Once
}

func (l *memListener) URI() string { return l.uri }

func (l *memListener) Accept(ctx context.Context) (Conn, error) {
	select {
	case c := <-l.backlog:
		return c, nil
	case <-l.done:
		return nil, fmt.Errorf("%w: listener %s", ErrClosed, l.uri)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close unregisters the name; accepted connections stay up, pending ones
// are refused.
func (l *memListener) Close() error {
	l.once.Do(func() {
		n := l.t.net
		n.mu.Lock()
		if n.listeners[l.name] == l {
			delete(n.listeners, l.name)
		}
		close(l.done)
		n.mu.Unlock()

		l.t.mu.Lock()
		for i, name := range l.t.names {
			if name == l.name {
				l.t.names = append(l.t.names[:i], l.t.names[i+1:]...)
				break
			}
		}
		l.t.mu.Unlock()
		l.drain()
	})
	return nil
}

// drain refuses the connections waiting in the backlog.
func (l *memListener) drain() {
	for {
		select {
		case c := <-l.backlog:
			c.link.close(nil, ErrUnreachable)
		default:
			return
		}
	}
}

// memLink is one connection: two ends, each writing into the other's inbox.
type memLink struct {
	net                    *MemNetwork
	dialer, listener       string
	dialerEnd, listenerEnd *memConn
	once                   sync.Once
}

func newMemLink(n *MemNetwork, dialer, listener string, dialCfg, listenCfg *config) *memLink {
	l := &memLink{net: n, dialer: dialer, listener: listener}
	l.dialerEnd = newMemConn(l, dialer, listener, dialCfg)
	l.listenerEnd = newMemConn(l, listener, dialer, listenCfg)
	l.dialerEnd.peer = l.listenerEnd
	l.listenerEnd.peer = l.dialerEnd
	return l
}

// close tears the link down once. by is the end whose Close started it
// (nil for a cut); the other end may still read what had arrived unless
// cause is a failure.
func (l *memLink) close(by *memConn, cause error) {
	l.once.Do(func() {
		l.net.mu.Lock()
		delete(l.net.links, l)
		l.net.mu.Unlock()
		for _, c := range []*memConn{l.dialerEnd, l.listenerEnd} {
			myCause, drain := cause, false
			if by != nil && c != by {
				myCause, drain = errors.New("closed by peer"), true
			}
			c.mu.Lock()
			c.cause = myCause
			c.mu.Unlock()
			c.dead.Store(!drain)
			c.inbox.close(closedErr(c.remote, myCause), drain)
			c.stopDelay()
		}
	})
}

// memConn is one end of a memLink.
type memConn struct {
	link                  *memLink
	peer                  *memConn
	localName, remoteName string
	local, remote         string
	maxFrame              int
	inbox                 *boundedQueue[[]byte]

	// reader side (single Recv goroutine)
	rb recvBatch

	mu    sync.Mutex
	cause error
	dead  atomic.Bool // closed locally or cut: Recv stops at once

	// sender side faults, under fmu
	fmu       sync.Mutex
	ftab      *faultTable
	faults    Faults
	rng       *rand.Rand
	delayQ    *boundedQueue[delayedFrame]
	delayStop context.CancelFunc
	delayDone chan struct{}
	pending   atomic.Int64 // frames in the delay line, not yet delivered
	delivered flushTracker // count of delay-line frames delivered
}

type delayedFrame struct {
	due   time.Time
	frame []byte
}

func newMemConn(l *memLink, local, remote string, cfg *config) *memConn {
	return &memConn{
		link:       l,
		localName:  local,
		remoteName: remote,
		local:      SchemeMem + "://" + local,
		remote:     SchemeMem + "://" + remote,
		maxFrame:   cfg.maxFrameSize,
		inbox:      newBoundedQueue[[]byte](cfg.sendQueue),
	}
}

func (c *memConn) LocalURI() string  { return c.local }
func (c *memConn) RemoteURI() string { return c.remote }

func (c *memConn) closedErr() error {
	c.mu.Lock()
	cause := c.cause
	c.mu.Unlock()
	return closedErr(c.remote, cause)
}

// Send hands frame to the peer's inbox, through the fault injector when the
// network has faults.
func (c *memConn) Send(ctx context.Context, frame []byte) error {
	if len(frame) > c.maxFrame {
		return fmt.Errorf("transport: send to %s: %w", c.remote, errFrameTooLarge(uint64(len(frame)), c.maxFrame))
	}
	if c.inbox.isClosed() {
		return c.closedErr()
	}
	tab := c.link.net.faults.Load()
	if tab == nil && c.pending.Load() == 0 {
		return c.deliver(ctx, frame)
	}
	c.fmu.Lock()
	f := c.currentFaults(tab)
	if f.DropRate > 0 && c.rng.Float64() < f.DropRate {
		c.fmu.Unlock()
		return nil
	}
	if f.Delay == 0 && c.pending.Load() == 0 {
		c.fmu.Unlock()
		return c.deliver(ctx, frame)
	}
	q := c.startDelay()
	c.pending.Add(1)
	c.fmu.Unlock()
	if err := q.push(ctx, delayedFrame{due: time.Now().Add(f.Delay), frame: frame}); err != nil {
		c.pending.Add(-1)
		return err
	}
	return nil
}

// Flush waits until every delayed frame queued before the call reached the
// peer's inbox; undelayed frames are there when Send returns.
func (c *memConn) Flush(ctx context.Context) error {
	if c.dead.Load() {
		return c.closedErr()
	}
	c.fmu.Lock()
	q := c.delayQ
	c.fmu.Unlock()
	if q == nil {
		return nil
	}
	return c.delivered.wait(ctx, q.pushedCount(), q.done, c.closedErr, nil)
}

func (c *memConn) deliver(ctx context.Context, frame []byte) error {
	err := c.peer.inbox.push(ctx, frame)
	if err != nil && ctx.Err() == nil {
		return c.closedErr()
	}
	return err
}

// currentFaults resolves the faults of this link, reseeding the drop
// generator when the table changed. Called with fmu held.
func (c *memConn) currentFaults(tab *faultTable) Faults {
	if tab == c.ftab && c.rng != nil {
		return c.faults
	}
	c.ftab = tab
	c.faults = Faults{}
	if tab != nil {
		c.faults = tab.lookup(c.localName, c.remoteName)
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(c.localName + "\x00" + c.remoteName))
	c.rng = rand.New(rand.NewPCG(uint64(c.faults.Seed), h.Sum64()))
	return c.faults
}

// startDelay returns the delay line, starting its goroutine on first use.
// Called with fmu held.
func (c *memConn) startDelay() *boundedQueue[delayedFrame] {
	if c.delayQ != nil {
		return c.delayQ
	}
	ctx, cancel := context.WithCancel(context.Background())
	c.delayQ = newBoundedQueue[delayedFrame](c.inbox.limit)
	c.delayStop = cancel
	c.delayDone = make(chan struct{})
	if c.inbox.isClosed() {
		// Closed meanwhile: the goroutine would never be stopped.
		cancel()
		c.delayQ.close(c.closedErr(), false)
		close(c.delayDone)
		return c.delayQ
	}
	go c.delayLoop(ctx, c.delayQ)
	return c.delayQ
}

// delayLoop delivers delayed frames in order once they are due. pending
// drops only after delivery, so a Send that finds it zero cannot overtake.
func (c *memConn) delayLoop(ctx context.Context, q *boundedQueue[delayedFrame]) {
	defer close(c.delayDone)
	var batch []delayedFrame
	var delivered uint64
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		if err := q.wait(ctx); err != nil {
			return
		}
		batch = q.take(batch)
		for i, d := range batch {
			if wait := time.Until(d.due); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-ctx.Done():
					timer.Stop()
					return
				}
			}
			if err := c.peer.inbox.push(ctx, d.frame); err != nil {
				return
			}
			batch[i] = delayedFrame{}
			c.pending.Add(-1)
			delivered++
			c.delivered.publish(delivered)
		}
		batch = batch[:0]
	}
}

func (c *memConn) stopDelay() {
	c.fmu.Lock()
	defer c.fmu.Unlock()
	if c.delayQ != nil {
		c.delayStop()
		c.delayQ.close(c.closedErr(), false)
	}
}

// Recv returns the next frame from the inbox, serving a swapped-out batch
// without locking.
func (c *memConn) Recv(ctx context.Context) ([]byte, error) {
	f, closed, err := c.rb.recv(ctx, c.inbox, &c.dead)
	if closed {
		return nil, c.closedErr()
	}
	return f, err
}

// Close closes both ends; the peer still reads frames that had arrived.
func (c *memConn) Close() error {
	c.link.close(c, nil)
	c.fmu.Lock()
	done := c.delayDone
	c.fmu.Unlock()
	if done != nil {
		<-done
	}
	return nil
}
