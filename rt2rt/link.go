package rt2rt

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/transport"
)

// link is one joined connection to a peer node.
type link struct {
	n         *Node
	peer      string
	conn      transport.Conn
	ser       wire.Serializer
	uri       string
	initiator bool
	upAt      time.Time

	rttBits  atomic.Uint64 // float64 seconds, Calvin's statistic (§2.6)
	lastRecv atomic.Int64  // unix nanoseconds of the last frame read
	sendErr  atomic.Bool   // a write failed: the link is likely dead
	carried  atomic.Bool   // a frame was read after the join: the link worked
	replaced atomic.Bool   // lost the duplicate rule; its loss is silent

	slab frameSlab // backing store of the frames handed to conn.Send

	// Owned by the read loop.
	badFrames tokenBucket // WithBadFrameLimit
	cutErr    error       // set when the peer is cut off
}

func newLink(n *Node, peer string, c transport.Conn, ser wire.Serializer, uri string, initiator bool, rtt time.Duration) *link {
	l := &link{n: n, peer: peer, conn: c, ser: ser, uri: uri, initiator: initiator, upAt: time.Now()}
	l.rttBits.Store(math.Float64bits(rtt.Seconds()))
	l.lastRecv.Store(time.Now().UnixNano())
	return l
}

func (l *link) rtt() time.Duration {
	return time.Duration(math.Float64frombits(l.rttBits.Load()) * float64(time.Second))
}

// observeRTT folds a request→reply sample in as Calvin does: (2*rtt+s)/3.
func (l *link) observeRTT(sample time.Duration) {
	for {
		old := l.rttBits.Load()
		v := (2*math.Float64frombits(old) + sample.Seconds()) / 3
		if l.rttBits.CompareAndSwap(old, math.Float64bits(v)) {
			return
		}
	}
}

// encodeBuf recycles encoder scratch space. The frame handed to Conn.Send is
// a right-sized copy because Send takes ownership of it.
var encodeBuf = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const maxPooledBuf = 64 << 10

// encodeFrame returns m encoded as a frame of its own (right-sized, so it
// can be held for long, as by sleep mode).
func encodeFrame(ser wire.Serializer, m wire.Message) ([]byte, error) {
	return encodeInto(ser, m, nil)
}

// encodeInto encodes m and copies the result into a frame from slab (nil:
// a fresh allocation).
func encodeInto(ser wire.Serializer, m wire.Message, slab *frameSlab) ([]byte, error) {
	bp := encodeBuf.Get().(*[]byte)
	b, err := ser.Encode((*bp)[:0], m)
	if err != nil {
		encodeBuf.Put(bp)
		return nil, err
	}
	if len(b) > transport.DefaultMaxFrameSize {
		encodeBuf.Put(bp)
		return nil, fmt.Errorf("%w: %d bytes", transport.ErrFrameTooLarge, len(b))
	}
	var frame []byte
	if slab != nil {
		frame = slab.copyOf(b)
	} else {
		frame = append([]byte(nil), b...)
	}
	if cap(b) <= maxPooledBuf {
		*bp = b[:0]
		encodeBuf.Put(bp)
	}
	return frame, nil
}

// Frames up to slabMaxFrame bytes are carved from shared chunks of
// slabSize: one allocation per chunk instead of one per frame. Each frame
// is a capacity-limited sub-slice written once, so Conn.Send owns it alone;
// a chunk is garbage once the writer has written its last frame.
const (
	slabSize     = 32 << 10
	slabMaxFrame = 1 << 10
)

type frameSlab struct {
	mu  sync.Mutex
	buf []byte
}

// copyOf returns a copy of b that the caller owns.
func (s *frameSlab) copyOf(b []byte) []byte {
	n := len(b)
	if n > slabMaxFrame {
		return append([]byte(nil), b...)
	}
	s.mu.Lock()
	if cap(s.buf)-len(s.buf) < n {
		s.buf = make([]byte, 0, slabSize)
	}
	off := len(s.buf)
	s.buf = s.buf[:off+n]
	f := s.buf[off : off+n : off+n]
	s.mu.Unlock()
	copy(f, b)
	return f
}

// encode encodes m with the link's coder into a frame for its Conn.
func (l *link) encode(m wire.Message) ([]byte, error) {
	return encodeInto(l.ser, m, &l.slab)
}

// send encodes m with the link's coder and queues it.
func (l *link) send(ctx context.Context, m wire.Message) error {
	frame, err := l.encode(m)
	if err != nil {
		return fmt.Errorf("%w: encode %s: %w", ErrInvalidMessage, m.Header().Cmd, err)
	}
	return l.sendFrame(ctx, frame)
}

func (l *link) sendFrame(ctx context.Context, frame []byte) error {
	err := l.conn.Send(ctx, frame)
	if err != nil && !errors.Is(err, transport.ErrFrameTooLarge) && ctx.Err() == nil {
		l.sendErr.Store(true)
	}
	return err
}

// readLoop runs for the link's lifetime, handing frames to the receive path.
func (l *link) readLoop() {
	n := l.n
	defer n.wg.Done()
	// Recv without a cancellable context reads straight from the socket
	// (no per-frame deadline bookkeeping); Close unblocks it.
	ctx := context.Background()
	recv := l.conn.Recv
	borrowed := false
	if b, ok := l.conn.(transport.Borrower); ok && decodesWithoutAliasing(l.ser) {
		// Frames are decoded into copies and then dropped: reading them in
		// place saves an allocation and a copy per frame. receive copies
		// a frame it keeps (forwarding).
		recv, borrowed = b.RecvBorrowed, true
	}
	for {
		payload, err := recv(ctx)
		if err != nil {
			n.linkLost(l, err)
			return
		}
		l.lastRecv.Store(time.Now().UnixNano())
		if !l.carried.Load() {
			l.carried.Store(true)
		}
		n.receive(l, payload, borrowed)
		if l.cutErr != nil {
			_ = l.conn.Close()
			n.linkLost(l, l.cutErr)
			return
		}
	}
}

// decodesWithoutAliasing reports whether ser is known to return messages
// that share no memory with the payload (the built-in coders copy every
// string); a user's coder might not.
func decodesWithoutAliasing(ser wire.Serializer) bool {
	switch ser.(type) {
	case wire.JSONSerializer, *wire.JSONSerializer, wire.MsgpackSerializer, *wire.MsgpackSerializer:
		return true
	}
	return false
}

// install adds a freshly joined link to the table, applying the §2.8
// duplicate rule. It reports whether the new link was kept; a losing
// connection is closed (once its JOIN_REPLY is written when this node is
// responder), a replaced link is retired without losing frames.
//
// first, when not nil, is the responder's JOIN_REPLY: it is queued on the
// connection before the link becomes visible in the table, so it is the
// first frame the peer reads, and the link is in the table before the
// peer can have read it (Calvin's responder considers the link up once the
// reply is sent): when the peer's Join returns, both sides can send. The
// error reports a JOIN_REPLY that could not be queued.
func (n *Node) install(l *link, first []byte) (bool, error) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		n.dropConn(l.conn)
		return false, nil
	}
	if first != nil {
		// A fresh connection has room for one frame: noWait never blocks
		// while the lock is held.
		if err := l.conn.Send(noWait, first); err != nil {
			n.mu.Unlock()
			n.dropConn(l.conn)
			if errors.Is(err, context.Canceled) {
				err = transport.ErrQueueFull
			}
			return false, err
		}
	}
	old := n.links[l.peer]
	keepNew := true
	_, sleeping := n.sleepers[l.peer]
	if old != nil && !sleeping { // a sleeping peer's new connection replaces the old one (§2.8)
		// Higher id's initiated connection wins: as initiator the new one
		// wins when own > peer; as responder when own < peer.
		keepNew = l.initiator == (n.id > l.peer)
		if !keepNew && n.looksDead(old) {
			keepNew = true
		}
	}
	if !keepNew {
		n.mu.Unlock()
		n.log.Debug("duplicate connection closed (§2.8)", "peer", l.peer, "initiator", l.initiator)
		if l.initiator {
			n.dropConn(l.conn)
		} else {
			n.closeAfterFlush(l.conn) // the JOIN_REPLY goes out first
		}
		return false, nil
	}
	if sleeping {
		n.flushSleeperLocked(l) // releases the lock while sending
		if n.closed {
			n.mu.Unlock()
			n.dropConn(l.conn)
			return false, nil
		}
		old = n.links[l.peer]
	}
	n.links[l.peer] = l
	// Wake re-joins waiting out a backoff: the peer is linked now.
	close(n.linkUp)
	n.linkUp = make(chan struct{})
	if l.initiator {
		n.rememberLocked(l.peer, l.uri)
	}
	n.wg.Add(1)
	if old == nil {
		n.events.push(PeerEvent{Peer: l.peer, Up: true, URI: l.uri})
	}
	n.mu.Unlock()
	go l.readLoop()

	if old != nil {
		old.replaced.Store(true)
		n.obs.LinkReplaced(l.peer)
		n.log.Debug("link replaced by duplicate connection (§2.8)", "peer", l.peer, "initiator", l.initiator)
		n.retire(old)
	}
	return true, nil
}

// retire closes a replaced link without losing what is in flight on it:
// once the peer has stopped sending on it (nothing read for the grace
// period; the peer switched to the new link too) and what this node had
// queued on it is written. maxRetireGraces bounds a link that never
// goes quiet.
func (n *Node) retire(old *link) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return
	}
	n.wg.Add(1)
	n.mu.Unlock()
	grace := n.cfg.replaceGrace
	go func() {
		defer n.wg.Done()
		giveUp := time.Now().Add(maxRetireGraces * max(grace, time.Millisecond))
		t := time.NewTimer(grace)
		defer t.Stop()
		for {
			quiet := time.Since(time.Unix(0, old.lastRecv.Load()))
			if quiet >= grace || time.Now().After(giveUp) {
				break
			}
			t.Reset(grace - quiet)
			select {
			case <-t.C:
			case <-n.ctx.Done():
				return // Close closes the connection
			}
		}
		ctx, cancel := context.WithTimeout(n.ctx, flushTimeout)
		defer cancel()
		_ = transport.Flush(ctx, old.conn)
		n.dropConn(old.conn)
	}()
}

// looksDead: a write failed, or nothing arrived for a long time.
func (n *Node) looksDead(l *link) bool {
	if l.sendErr.Load() {
		return true
	}
	return time.Since(time.Unix(0, l.lastRecv.Load())) > n.cfg.staleAfter
}

// closeAfterFlush closes c once what is queued on it has been written
// (bounded by flushTimeout); Close interrupts it.
func (n *Node) closeAfterFlush(c transport.Conn) {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return // Close closes every tracked connection
	}
	n.wg.Add(1)
	n.mu.Unlock()
	go func() {
		defer n.wg.Done()
		ctx, cancel := context.WithTimeout(n.ctx, flushTimeout)
		defer cancel()
		_ = transport.Flush(ctx, c)
		n.dropConn(c)
	}()
}

func (n *Node) dropConn(c transport.Conn) {
	_ = c.Close()
	n.untrackConn(c)
}

// linkLost removes l if it is still the peer's link and fails the requests
// waiting on it (§2.9). A replaced link goes silently.
func (n *Node) linkLost(l *link, err error) {
	_ = l.conn.Close()
	n.mu.Lock()
	delete(n.conns, l.conn)
	current := n.links[l.peer] == l
	_, sleeping := n.sleepers[l.peer]
	if current {
		delete(n.links, l.peer)
		for id, p := range n.pending {
			// A sleeping peer answers after it comes back; its requests
			// wait for their timeout.
			if p.via == l.peer && !sleeping {
				p.finish(result{err: ErrLinkDown})
				n.delPendingLocked(id, p)
			}
		}
		n.notifyDrainedLocked()
		if l.carried.Load() || time.Since(l.upAt) >= time.Second {
			// The link worked: whatever cut it, the peer was alive, so
			// the next re-join is immediate however short it lived.
			delete(n.backoff, l.peer)
		} else {
			// Died before the peer sent anything: space out re-joins.
			n.bumpBackoffLocked(l.peer)
		}
	}
	if current {
		if n.closed {
			err = nil
		}
		// Pushed under the lock, like install's Up: a re-join installing
		// the next link right after the lock is released must not get
		// its Up queued before this Down (subscribers would see the peer
		// down while it is linked).
		n.events.push(PeerEvent{Peer: l.peer, URI: l.uri, Err: err})
	}
	n.mu.Unlock()
	if !current {
		return
	}
	if err != nil {
		n.log.Info("link down", "peer", l.peer, "err", err)
	} else {
		n.log.Debug("link closed", "peer", l.peer)
	}
}

// rememberLocked keeps a URI a peer was reached at, most recent first.
func (n *Node) rememberLocked(peer, uri string) {
	if uri == "" {
		return
	}
	old := n.known[peer]
	next := make([]string, 0, len(old)+1)
	next = append(next, uri)
	for _, u := range old {
		if u != uri && len(next) < 4 {
			next = append(next, u)
		}
	}
	n.known[peer] = next
}
