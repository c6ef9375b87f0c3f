package token

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/tunnel"
)

// Link is the flow's view of the token tunnel to one peer node.
// *tunnel.Tunnel implements it.
type Link interface {
	// Peer returns the peer node id.
	Peer() string
	// Send sends one sub-message (*wire.Token or *wire.TokenReply) as a
	// TUNNEL_DATA; on a tunnel that is down it is queued and starts a re-join.
	Send(ctx context.Context, value any) error
}

var _ Link = (*tunnel.Tunnel)(nil)

type pairKey struct{ local, remote string }

// Flow runs the TOKEN / TOKEN_REPLY protocol of a node: it is the handler of
// the "token" tunnel type and holds one Sender per remote outport connection
// and one Receiver per remote inport connection. Per peer node one goroutine
// sends that peer's tokens and replies, so nothing blocks the tunnel reader.
type Flow struct {
	cfg    config
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.RWMutex
	closed    bool
	peers     map[string]*peerState
	senders   map[pairKey]*Sender   // (local outport, peer inport)
	receivers map[pairKey]*Receiver // (local inport, peer outport)
	inports   map[string]int        // receivers per local inport id
}

// NewFlow returns a Flow. Register it with a tunnel manager (Register) or
// feed it links and values yourself (LinkUp, LinkDown, Deliver).
func NewFlow(opts ...Option) (*Flow, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil option", ErrInvalidConfig)
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Flow{
		cfg: cfg, ctx: ctx, cancel: cancel,
		peers:     map[string]*peerState{},
		senders:   map[pairKey]*Sender{},
		receivers: map[pairKey]*Receiver{},
		inports:   map[string]int{},
	}, nil
}

// Register makes the flow the handler of the "token" tunnel type.
func (f *Flow) Register(m *tunnel.Manager) error {
	return m.RegisterType(wire.TunnelTypeToken, f)
}

// Close stops every sender and receiver and the flow's goroutines. Queues
// keep their positions (unacknowledged tokens are cancelled back into the
// FIFO). Safe to call twice.
func (f *Flow) Close() error {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil
	}
	f.closed = true
	senders := make([]*Sender, 0, len(f.senders))
	for _, s := range f.senders {
		senders = append(senders, s)
	}
	f.senders = map[pairKey]*Sender{}
	f.receivers = map[pairKey]*Receiver{}
	f.inports = map[string]int{}
	f.mu.Unlock()
	for _, s := range senders {
		s.detach()
	}
	f.cancel()
	f.wg.Wait()
	return nil
}

// peerLocked returns the state of a peer node, starting its sending goroutine
// on first use. f.mu must be held for writing.
func (f *Flow) peerLocked(id string) *peerState {
	p := f.peers[id]
	if p == nil {
		p = &peerState{id: id, f: f, wake: make(chan struct{}, 1), senders: map[*Sender]struct{}{}}
		f.peers[id] = p
		f.wg.Add(1)
		go p.run()
	}
	return p
}

// SenderConfig attaches an outport's queue to a remote inport.
type SenderConfig struct {
	Peer       string // peer node id
	PortID     string // local outport id
	PeerPortID string // peer inport id; it is the FIFO reader of this connection
	Queue      *FIFO  // the outport queue
	// OnCredit is called (on a flow goroutine, must not block) when
	// acknowledgements free slots in Queue: the producing actor may fire.
	OnCredit func()
	// OnPeerLost is called when the peer answered ABORT (ErrAborted) or the
	// token tunnel was destroyed (ErrLinkGone). Sending pauses; look the
	// peer port up, reconnect and call AddSender again (or Resume).
	OnPeerLost func(err error)
}

// AddSender starts sending Queue's tokens for reader PeerPortID to the peer
// inport. Unacknowledged tokens are sent again with their old sequence
// numbers (positions are kept, spec §7.8). A sender already attached to the
// same port pair is replaced, as PORT_CONNECT replaces a connection.
func (f *Flow) AddSender(cfg SenderConfig) (*Sender, error) {
	if cfg.Peer == "" || cfg.PortID == "" || cfg.PeerPortID == "" || cfg.Queue == nil {
		return nil, fmt.Errorf("%w: sender needs peer, port ids and queue", ErrInvalidConfig)
	}
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return nil, ErrClosed
	}
	key := pairKey{cfg.PortID, cfg.PeerPortID}
	old := f.senders[key]
	p := f.peerLocked(cfg.Peer)
	s := &Sender{f: f, peer: p, cfg: cfg, core: newSenderCore(cfg.Queue, cfg.PeerPortID, f.cfg.timing)}
	f.senders[key] = s
	f.mu.Unlock()
	if old != nil {
		old.detach()
	}
	p.mu.Lock()
	p.senders[s] = struct{}{}
	up := p.link != nil && p.up
	p.mu.Unlock()
	if !up {
		// No working tunnel yet: send one token to start a re-join if the
		// tunnel is down; everything follows once it is up.
		s.mu.Lock()
		s.core.linkDown(time.Now())
		s.mu.Unlock()
	}
	p.markDirty(s)
	return s, nil
}

// ReceiverConfig attaches an inport's queue to a remote outport.
type ReceiverConfig struct {
	Peer       string // peer node id
	PortID     string // local inport id; it is the FIFO reader
	PeerPortID string // peer outport id
	Queue      *FIFO  // the inport queue
	// OnData is called (on a flow goroutine, must not block) after a token
	// was stored in Queue: the consuming actor may fire.
	OnData func()
}

// AddReceiver accepts TOKENs from the peer outport into Queue. A receiver
// already attached to the same port pair is replaced; the queue keeps its
// positions, so a resent token is ACKed as a duplicate.
func (f *Flow) AddReceiver(cfg ReceiverConfig) (*Receiver, error) {
	if cfg.Peer == "" || cfg.PortID == "" || cfg.PeerPortID == "" || cfg.Queue == nil {
		return nil, fmt.Errorf("%w: receiver needs peer, port ids and queue", ErrInvalidConfig)
	}
	cfg.Queue.AddReader(cfg.PortID)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil, ErrClosed
	}
	key := pairKey{cfg.PortID, cfg.PeerPortID}
	if old := f.receivers[key]; old != nil {
		old.closed.Store(true)
	} else {
		f.inports[cfg.PortID]++
	}
	r := &Receiver{f: f, peer: f.peerLocked(cfg.Peer), cfg: cfg, core: receiverCore{q: cfg.Queue}}
	f.receivers[key] = r
	return r, nil
}

// LinkUp tells the flow that the token tunnel to l.Peer() is working (first
// set-up or after a re-join). Every sender to that peer resends its
// unacknowledged tokens at once.
func (f *Flow) LinkUp(l Link) {
	f.mu.Lock()
	if f.closed {
		f.mu.Unlock()
		return
	}
	p := f.peerLocked(l.Peer())
	f.mu.Unlock()
	p.mu.Lock()
	p.link, p.up = l, true
	senders := p.senderList()
	p.mu.Unlock()
	f.cfg.log.Debug("token link up", "peer", p.id, "senders", len(senders))
	for _, s := range senders {
		s.mu.Lock()
		s.core.linkUp()
		s.mu.Unlock()
		p.markDirty(s)
	}
}

// LinkDown tells the flow that the token tunnel l stopped working. With
// tunnel.ErrLinkLost the tunnel comes back after a re-join: senders go back
// to their first unacknowledged token and send only it, which starts the
// re-join. Any other reason means the tunnel is gone: senders pause and
// report ErrLinkGone through OnPeerLost.
func (f *Flow) LinkDown(l Link, reason error) {
	f.mu.RLock()
	p := f.peers[l.Peer()]
	f.mu.RUnlock()
	if p == nil {
		return
	}
	p.mu.Lock()
	if p.link != l {
		p.mu.Unlock()
		return
	}
	lost := errors.Is(reason, tunnel.ErrLinkLost)
	f.cfg.log.Debug("token link down", "peer", p.id, "reason", reason)
	p.up = false
	if !lost {
		p.link = nil
	}
	senders := p.senderList()
	p.mu.Unlock()
	now := time.Now()
	for _, s := range senders {
		s.mu.Lock()
		s.core.linkDown(now)
		s.mu.Unlock()
		if lost {
			p.markDirty(s)
		} else if s.cfg.OnPeerLost != nil {
			s.cfg.OnPeerLost(fmt.Errorf("%w: %v", ErrLinkGone, reason))
		}
	}
}

// Deliver handles one TUNNEL_DATA value that arrived on l: a TOKEN for a
// local inport or a TOKEN_REPLY for a local outport. Other values are
// ignored, as Calvin does. Bad frames are logged and dropped.
func (f *Flow) Deliver(l Link, value any) {
	switch m := value.(type) {
	case *wire.Token:
		f.onToken(l, m)
	case *wire.TokenReply:
		f.onReply(l, m)
	default:
		f.cfg.log.Debug("token tunnel: ignoring value", "peer", l.Peer(), "type", fmt.Sprintf("%T", value))
	}
}

// checkToken refuses TOKENs Calvin could not handle either (no reply then).
func checkToken(m *wire.Token) error {
	var err error
	switch {
	case m.PortID == "" || m.PeerPortID == "":
		err = fmt.Errorf("%w: missing port ids", ErrBadFrame)
	// A missing key decodes as the zero value, so only zero values need the
	// (slower) presence check.
	case hasWrongType(&m.SubEnvelope, "sequencenbr") || (m.SequenceNbr == 0 && decoded(&m.SubEnvelope) && !m.Has("sequencenbr")):
		err = fmt.Errorf("%w: sequencenbr missing or not a non-negative integer", ErrBadFrame)
	case hasWrongType(&m.SubEnvelope, "token") || (m.Token.Type == "" && m.Token.Data == nil && decoded(&m.SubEnvelope) && !m.Has("token")):
		err = fmt.Errorf("%w: token missing or not a map", ErrBadFrame)
	}
	if err != nil {
		return &FrameError{PortID: m.PortID, PeerPortID: m.PeerPortID, Err: err}
	}
	return nil
}

// decoded tells a message that came off the wire (it always has a cmd key)
// from one built in memory.
func decoded(e *wire.SubEnvelope) bool { return e.Has("cmd") }

// hasWrongType: the wire decoder leaves a known key whose value has the wrong
// type in Extra.
func hasWrongType(e *wire.SubEnvelope, key string) bool {
	_, ok := e.Extra[key]
	return ok
}

func (f *Flow) onToken(l Link, m *wire.Token) {
	if err := checkToken(m); err != nil {
		f.cfg.log.Warn("token tunnel: dropping bad TOKEN", "peer", l.Peer(), "err", err)
		return
	}
	ev := Event{Peer: l.Peer(), PortID: m.PeerPortID, PeerPortID: m.PortID, Seq: m.SequenceNbr}
	f.mu.RLock()
	r := f.receivers[pairKey{m.PeerPortID, m.PortID}]
	known := f.inports[m.PeerPortID] > 0
	if f.cfg.portKnown != nil {
		known = f.cfg.portKnown(m.PeerPortID)
	}
	p := f.peers[l.Peer()]
	f.mu.RUnlock()
	absent := func() {
		if known {
			// Port present, connection absent: Calvin stays silent (§7.4).
			f.cfg.obs.TokenReceived(ev, "")
			return
		}
		f.cfg.obs.TokenReceived(ev, ReplyABORT)
		f.reply(l, p, m, m.SequenceNbr, ReplyABORT)
	}
	if r == nil || r.peer.id != l.Peer() || r.closed.Load() {
		absent()
		return
	}
	r.mu.Lock()
	// Checked again under r.mu, which Close takes: once Close has returned
	// (and the queue may have been exported with a migrating actor), no
	// token is stored and ACKed here any more.
	if r.closed.Load() {
		r.mu.Unlock()
		absent()
		return
	}
	reply, seq, stored := r.core.onToken(m.SequenceNbr, FromPayload(m.Token))
	r.mu.Unlock()
	f.cfg.obs.TokenReceived(ev, reply)
	f.reply(l, r.peer, m, seq, reply)
	if stored && r.cfg.OnData != nil {
		r.cfg.OnData()
	}
}

// reply queues a TOKEN_REPLY echoing the TOKEN's port ids exactly (§7.1).
func (f *Flow) reply(l Link, p *peerState, m *wire.Token, seq uint64, value string) {
	rep := &wire.TokenReply{
		SubEnvelope: wire.SubEnvelope{Cmd: wire.SubTokenReply},
		PortID:      m.PortID, PeerPortID: m.PeerPortID, SequenceNbr: seq, Value: value,
	}
	if p == nil {
		f.mu.Lock()
		if f.closed {
			f.mu.Unlock()
			return
		}
		p = f.peerLocked(l.Peer())
		f.mu.Unlock()
	}
	p.queueReply(l, rep)
}

func (f *Flow) onReply(l Link, m *wire.TokenReply) {
	f.mu.RLock()
	s := f.senders[pairKey{m.PortID, m.PeerPortID}]
	f.mu.RUnlock()
	if s == nil || s.peer.id != l.Peer() || s.closed.Load() {
		return // a late reply for a connection that moved or ended
	}
	if hasWrongType(&m.SubEnvelope, "sequencenbr") || (m.SequenceNbr == 0 && decoded(&m.SubEnvelope) && !m.Has("sequencenbr")) {
		f.cfg.log.Warn("token tunnel: dropping TOKEN_REPLY without a valid sequencenbr", "peer", l.Peer(), "port", m.PortID)
		return
	}
	ev := Event{Peer: l.Peer(), PortID: m.PortID, PeerPortID: m.PeerPortID, Seq: m.SequenceNbr}
	now := time.Now()
	switch m.Value {
	case ReplyACK:
		s.mu.Lock()
		res := s.core.onAck(m.SequenceNbr, now)
		more := s.core.q.Available(s.core.reader) > 0
		wake := s.core.wake()
		s.mu.Unlock()
		s.armTimer(wake)
		if res.committed > 0 {
			s.acked.Add(res.committed)
			f.cfg.obs.TokenAcked(ev)
			if s.cfg.OnCredit != nil {
				s.cfg.OnCredit()
			}
		}
		if more || res.resumed {
			s.peer.markDirty(s)
		}
	case ReplyNACK:
		s.mu.Lock()
		rewound := s.core.onNack(m.SequenceNbr, now)
		wake := s.core.wake()
		s.mu.Unlock()
		if rewound {
			s.nacked.Add(1)
			f.cfg.obs.TokenNacked(ev)
			s.armTimer(wake)
		}
	case ReplyABORT:
		s.mu.Lock()
		s.core.abort()
		s.mu.Unlock()
		f.cfg.log.Info("token tunnel: peer port aborted", "peer", l.Peer(), "port", m.PortID, "peer_port", m.PeerPortID)
		if s.cfg.OnPeerLost != nil {
			s.cfg.OnPeerLost(fmt.Errorf("%w: port %s on %s", ErrAborted, m.PeerPortID, l.Peer()))
		}
	default:
		f.cfg.log.Debug("token tunnel: unknown TOKEN_REPLY value", "peer", l.Peer(), "value", m.Value)
	}
}

// Accept implements tunnel.TypeHandler: every token tunnel is accepted
// while the flow is open.
func (f *Flow) Accept(peer, tunnelID string) error {
	f.mu.RLock()
	defer f.mu.RUnlock()
	if f.closed {
		return ErrClosed
	}
	return nil
}

// Up implements tunnel.TypeHandler.
func (f *Flow) Up(t *tunnel.Tunnel) { f.LinkUp(t) }

// Down implements tunnel.TypeHandler.
func (f *Flow) Down(t *tunnel.Tunnel, reason error) { f.LinkDown(t, reason) }

// Data implements tunnel.TypeHandler.
func (f *Flow) Data(t *tunnel.Tunnel, value any) { f.Deliver(t, value) }

var _ tunnel.TypeHandler = (*Flow)(nil)

// SenderStats are a sender's counters and positions.
type SenderStats struct {
	Sent, Retransmitted, Acked, Nacked uint64 // Acked counts committed tokens
	Read, Tentative, Write             uint64 // FIFO positions of the connection
}

// Sender sends one outport queue's tokens to one remote inport.
type Sender struct {
	f      *Flow
	peer   *peerState
	cfg    SenderConfig
	closed atomic.Bool

	mu      sync.Mutex
	core    *senderCore
	timer   *time.Timer
	timerAt time.Time

	queued bool // in peer.dirty; guarded by peer.mu

	sent, retrans, acked, nacked atomic.Uint64
}

// Notify tells the sender that tokens were written to its queue. Call it
// after the producing actor fired; it never blocks.
func (s *Sender) Notify() { s.peer.markDirty(s) }

// Resume restarts a sender paused by ABORT, from its first unacknowledged token.
func (s *Sender) Resume() {
	s.mu.Lock()
	s.core.resume()
	s.mu.Unlock()
	s.peer.markDirty(s)
}

// Stats returns the sender's counters and positions.
func (s *Sender) Stats() SenderStats {
	st := SenderStats{Sent: s.sent.Load(), Retransmitted: s.retrans.Load(), Acked: s.acked.Load(), Nacked: s.nacked.Load()}
	if p, err := s.cfg.Queue.Positions(s.cfg.PeerPortID); err == nil {
		st.Read, st.Tentative, st.Write = p.Read, p.Tentative, p.Write
	}
	return st
}

// Close detaches the sender (a TEMPORARY disconnect): unacknowledged tokens
// go back into the queue to be resent by the next sender of this pair. The
// reader stays in the queue. Safe to call twice.
func (s *Sender) Close() error {
	f := s.f
	f.mu.Lock()
	key := pairKey{s.cfg.PortID, s.cfg.PeerPortID}
	if f.senders[key] == s {
		delete(f.senders, key)
	}
	f.mu.Unlock()
	s.detach()
	return nil
}

func (s *Sender) detach() {
	if s.closed.Swap(true) {
		return
	}
	s.peer.mu.Lock()
	delete(s.peer.senders, s)
	s.peer.mu.Unlock()
	s.mu.Lock()
	_ = s.core.q.Cancel(s.core.reader)
	if s.timer != nil {
		s.timer.Stop()
	}
	s.mu.Unlock()
}

// armTimer makes sure the sender is woken at w (an RTO or backoff expiry).
// It only moves the timer earlier; a timer that fires early just finds
// nothing to do and is armed again.
func (s *Sender) armTimer(w time.Time) {
	if w.IsZero() || s.closed.Load() {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.timerAt.IsZero() && !w.Before(s.timerAt) {
		return
	}
	s.timerAt = w
	d := time.Until(w)
	if s.timer == nil {
		s.timer = time.AfterFunc(d, s.fire)
	} else {
		s.timer.Reset(d)
	}
}

func (s *Sender) fire() {
	s.mu.Lock()
	s.timerAt = time.Time{}
	s.mu.Unlock()
	s.peer.markDirty(s)
}

// Receiver accepts one remote outport's tokens into an inport queue.
type Receiver struct {
	f      *Flow
	peer   *peerState
	cfg    ReceiverConfig
	closed atomic.Bool

	mu   sync.Mutex
	core receiverCore
}

// Notify tells the receiver that the consuming actor took tokens from its
// queue. If the receiver had refused a token for a full queue, it now sends
// the resume signal (see ResumeAhead). Cheap when nothing is due.
func (r *Receiver) Notify() {
	r.mu.Lock()
	seq, ok := r.core.resume()
	r.mu.Unlock()
	if !ok || r.closed.Load() {
		return
	}
	r.peer.queueReply(nil, &wire.TokenReply{
		SubEnvelope: wire.SubEnvelope{Cmd: wire.SubTokenReply},
		PortID:      r.cfg.PeerPortID, PeerPortID: r.cfg.PortID, SequenceNbr: seq, Value: ReplyACK,
	})
}

// Close detaches the receiver; later TOKENs for the pair get no reply (or
// ABORT once the port has no receiver at all). Safe to call twice.
func (r *Receiver) Close() error {
	// Set under r.mu so that a TOKEN being stored right now finishes first:
	// after Close no token is written to the queue or acknowledged (onToken
	// re-checks closed under r.mu).
	r.mu.Lock()
	already := r.closed.Swap(true)
	r.mu.Unlock()
	if already {
		return nil
	}
	f := r.f
	f.mu.Lock()
	key := pairKey{r.cfg.PortID, r.cfg.PeerPortID}
	if f.receivers[key] == r {
		delete(f.receivers, key)
		if f.inports[r.cfg.PortID]--; f.inports[r.cfg.PortID] <= 0 {
			delete(f.inports, r.cfg.PortID)
		}
	}
	f.mu.Unlock()
	return nil
}

// peerState is everything the flow sends to one peer node, and the
// goroutine that sends it.
type peerState struct {
	id   string
	f    *Flow
	wake chan struct{}

	mu      sync.Mutex
	link    Link
	up      bool
	senders map[*Sender]struct{}
	dirty   []*Sender
	replies []pendingReply
}

type pendingReply struct {
	link Link // the link the TOKEN came in on; nil: the current one
	rep  *wire.TokenReply
}

func (p *peerState) senderList() []*Sender {
	out := make([]*Sender, 0, len(p.senders))
	for s := range p.senders {
		out = append(out, s)
	}
	return out
}

func (p *peerState) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *peerState) markDirty(s *Sender) {
	p.mu.Lock()
	if !s.queued {
		s.queued = true
		p.dirty = append(p.dirty, s)
	}
	p.mu.Unlock()
	p.signal()
}

func (p *peerState) queueReply(l Link, rep *wire.TokenReply) {
	p.mu.Lock()
	p.replies = append(p.replies, pendingReply{link: l, rep: rep})
	p.mu.Unlock()
	p.signal()
}

// run sends replies and tokens for one peer until the flow closes.
func (p *peerState) run() {
	defer p.f.wg.Done()
	var (
		dirty   []*Sender
		replies []pendingReply
		frames  []sendFrame
		bc      batchContext
	)
	defer bc.stop()
	for {
		select {
		case <-p.wake:
		case <-p.f.ctx.Done():
			return
		}
		p.mu.Lock()
		dirty, p.dirty = p.dirty, dirty[:0]
		replies, p.replies = p.replies, replies[:0]
		for _, s := range dirty {
			s.queued = false
		}
		link := p.link
		p.mu.Unlock()

		ctx := bc.get(p.f.ctx, p.f.cfg.sendTimeout)
		for i, r := range replies {
			l := r.link
			if l == nil {
				l = link
			}
			// A reply on a tunnel that is down would only wait in its queue
			// (and make the tunnel re-join from this side) and go out stale;
			// the sender resends and gets a fresh one.
			if l != nil && linkWorking(l) {
				if err := l.Send(ctx, r.rep); err != nil {
					p.f.cfg.log.Debug("token tunnel: reply not sent", "peer", p.id, "err", err)
				}
			}
			replies[i] = pendingReply{}
		}
		for i, s := range dirty {
			dirty[i] = nil
			if link == nil || s.closed.Load() {
				continue // LinkUp marks every sender dirty again
			}
			frames = p.sendFor(ctx, link, s, frames[:0])
		}
	}
}

// batchContext bounds how long a send may block (a link that died under a
// tunnel still marked working makes the node try a re-join inside Send); a
// frame that times out counts as unsent. The context is reused while at
// least half its time is left, which keeps timer allocations off the
// per-token path.
type batchContext struct {
	ctx     context.Context
	cancel  context.CancelFunc
	renewAt time.Time
}

func (b *batchContext) get(parent context.Context, timeout time.Duration) context.Context {
	if now := time.Now(); b.ctx == nil || now.After(b.renewAt) {
		b.stop()
		b.ctx, b.cancel = context.WithTimeout(parent, timeout)
		b.renewAt = now.Add(timeout / 2)
	}
	return b.ctx
}

func (b *batchContext) stop() {
	if b.cancel != nil {
		b.cancel()
	}
}

// linkWorking reports whether sends on l go out now rather than into a
// queue for later.
func linkWorking(l Link) bool {
	switch t := l.(type) {
	case *tunnel.Tunnel:
		return t.State() == tunnel.StateWorking
	case interface{ Working() bool }:
		return t.Working()
	}
	return true
}

// sendFor collects and sends the frames of one sender.
func (p *peerState) sendFor(ctx context.Context, link Link, s *Sender, frames []sendFrame) []sendFrame {
	now := time.Now()
	s.mu.Lock()
	frames = s.core.collect(now, frames)
	if len(frames) > 1 && !linkWorking(link) {
		// The tunnel went down before its Down event reached us: one token
		// starts the re-join, the rest would only queue up.
		s.core.unsent(frames[1].pos, now)
		frames = frames[:1]
	}
	wake := s.core.wake()
	s.mu.Unlock()
	s.armTimer(wake)
	obs := p.f.cfg.obs
	for _, fr := range frames {
		err := link.Send(ctx, &wire.Token{
			SubEnvelope: wire.SubEnvelope{Cmd: wire.SubToken},
			PortID:      s.cfg.PortID, PeerPortID: s.cfg.PeerPortID,
			SequenceNbr: fr.seq, Token: fr.tok.Payload(),
		})
		if err != nil {
			p.f.cfg.log.Debug("token tunnel: token not sent", "peer", p.id, "port", s.cfg.PortID, "seq", fr.seq, "err", err)
			s.mu.Lock()
			s.core.unsent(fr.pos, time.Now())
			wake := s.core.wake()
			s.mu.Unlock()
			if errors.Is(err, tunnel.ErrTerminated) {
				// The tunnel is gone for good (destroyed while down, or its
				// manager closed): stop using it and tell the senders.
				p.f.LinkDown(link, err)
				break
			}
			s.armTimer(wake)
			break
		}
		ev := Event{Peer: p.id, PortID: s.cfg.PortID, PeerPortID: s.cfg.PeerPortID, Seq: fr.seq}
		if fr.retrans {
			s.retrans.Add(1)
			obs.TokenRetransmitted(ev)
		} else {
			s.sent.Add(1)
			obs.TokenSent(ev)
		}
	}
	return frames
}
