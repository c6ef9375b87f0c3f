package token

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/tunnel"
)

// fastTiming keeps fault tests short; the rules are the same as DefaultTiming.
var fastTiming = Timing{BackoffMin: 2 * time.Millisecond, BackoffMax: 20 * time.Millisecond, RTOMin: 30 * time.Millisecond, RTOMax: 300 * time.Millisecond}

// memLink is one direction of an in-memory token tunnel with injected
// faults. Values are delivered in send order by one goroutine, like a
// tunnel over a link; while the link is down they are held (as a DOWN
// tunnel queues them) and flushed on re-join, and some in-flight ones are
// lost with the link.
type memLink struct {
	peer string
	to   *Flow
	back *memLink

	mu      sync.Mutex
	rng     *rand.Rand
	drop    float64
	dup     float64
	down    bool
	held    []any
	ch      chan any
	done    chan struct{}
	stopped sync.WaitGroup
	sent    atomic.Int64
}

func newMemLink(peer string, to *Flow, seed uint64) *memLink {
	l := &memLink{peer: peer, to: to, rng: rand.New(rand.NewPCG(seed, 99)), ch: make(chan any, 1024), done: make(chan struct{})}
	l.stopped.Add(1)
	go l.run()
	return l
}

func (l *memLink) Peer() string { return l.peer }

// Working is what a tunnel's state tells the flow: sends go out now.
func (l *memLink) Working() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return !l.down
}

func (l *memLink) Send(ctx context.Context, v any) error {
	l.mu.Lock()
	if l.down {
		if len(l.held) >= 64 {
			l.mu.Unlock()
			return tunnel.ErrQueueFull
		}
		l.held = append(l.held, v)
		l.mu.Unlock()
		return nil
	}
	drop := l.rng.Float64() < l.drop
	dup := l.rng.Float64() < l.dup
	l.mu.Unlock()
	l.sent.Add(1)
	if drop {
		return nil
	}
	for range 1 + btoi(dup) {
		select {
		case l.ch <- v:
		case <-ctx.Done():
			return ctx.Err()
		case <-l.done:
			return tunnel.ErrTerminated
		}
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (l *memLink) run() {
	defer l.stopped.Done()
	for {
		select {
		case v := <-l.ch:
			l.to.Deliver(l.back, v)
		case <-l.done:
			return
		}
	}
}

func (l *memLink) setFaults(drop, dup float64) {
	l.mu.Lock()
	l.drop, l.dup = drop, dup
	l.mu.Unlock()
}

// cut takes the link down: values in flight are lost, later sends are held.
func (l *memLink) cut() {
	l.mu.Lock()
	l.down = true
	l.mu.Unlock()
	for {
		select {
		case <-l.ch:
			continue
		default:
		}
		return
	}
}

// rejoin brings the link back and flushes what was held, in order.
func (l *memLink) rejoin() {
	l.mu.Lock()
	l.down = false
	held := l.held
	l.held = nil
	l.mu.Unlock()
	for _, v := range held {
		select {
		case l.ch <- v:
		case <-l.done:
			return
		}
	}
}

func (l *memLink) close() {
	close(l.done)
	l.stopped.Wait()
}

// pair is two flows joined by memLinks: node "A" sends, node "B" receives.
type pair struct {
	a, b     *Flow
	ab, ba   *memLink // ab: A's link to B
	out, in  *FIFO
	snd      *Sender
	rcv      *Receiver
	credit   chan struct{}
	data     chan struct{}
	observed *countingObserver
}

type countingObserver struct {
	sent, retrans, acked, nacked, received atomic.Int64
}

func (o *countingObserver) TokenSent(Event)          { o.sent.Add(1) }
func (o *countingObserver) TokenRetransmitted(Event) { o.retrans.Add(1) }
func (o *countingObserver) TokenAcked(Event)         { o.acked.Add(1) }
func (o *countingObserver) TokenNacked(Event)        { o.nacked.Add(1) }
func (o *countingObserver) TokenReceived(Event, string) {
	o.received.Add(1)
}

func newPair(t testing.TB, seed uint64, outLen, inLen int, opts ...Option) *pair {
	t.Helper()
	obs := &countingObserver{}
	a, err := NewFlow(append([]Option{WithObserver(obs)}, opts...)...)
	require.NoError(t, err)
	b, err := NewFlow(opts...)
	require.NoError(t, err)
	p := &pair{a: a, b: b, observed: obs, credit: make(chan struct{}, 1), data: make(chan struct{}, 1)}
	p.ab = newMemLink("B", b, seed)
	p.ba = newMemLink("A", a, seed+1)
	p.ab.back, p.ba.back = p.ba, p.ab
	p.out, err = NewFIFO(outLen)
	require.NoError(t, err)
	p.in, err = NewFIFO(inLen)
	require.NoError(t, err)
	p.rcv, err = b.AddReceiver(ReceiverConfig{Peer: "A", PortID: "in", PeerPortID: "out", Queue: p.in, OnData: signal(p.data)})
	require.NoError(t, err)
	a.LinkUp(p.ab)
	b.LinkUp(p.ba)
	p.snd, err = a.AddSender(SenderConfig{Peer: "B", PortID: "out", PeerPortID: "in", Queue: p.out, OnCredit: signal(p.credit)})
	require.NoError(t, err)
	return p
}

func signal(ch chan struct{}) func() {
	return func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (p *pair) cut() {
	p.ab.cut()
	p.ba.cut()
	p.a.LinkDown(p.ab, tunnel.ErrLinkLost)
	p.b.LinkDown(p.ba, tunnel.ErrLinkLost)
}

func (p *pair) rejoin() {
	p.ab.rejoin()
	p.ba.rejoin()
	p.a.LinkUp(p.ab)
	p.b.LinkUp(p.ba)
}

func (p *pair) close() {
	_ = p.a.Close()
	_ = p.b.Close()
	p.ab.close()
	p.ba.close()
}

// produce writes n tokens as credit allows; it returns when all are written.
func (p *pair) produce(ctx context.Context, n int) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := 0; i < n; {
		if p.out.Write(New(int64(i))) == nil {
			i++
			p.snd.Notify()
			continue
		}
		select {
		case <-p.credit:
		case <-tick.C:
			// The credit signal is edge-triggered; re-check the queue now and then.
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// consume reads n tokens, checking order and exactly-once delivery. slow, if
// set, decides before each read whether to pause (queue pressure).
func (p *pair) consume(ctx context.Context, n int, slow func() time.Duration) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for i := 0; i < n; {
		tok, err := p.in.Read("in")
		if err == nil {
			if tok != New(int64(i)) {
				return fmt.Errorf("token %d: got %v (duplicate, loss or reorder)", i, tok)
			}
			i++
			p.rcv.Notify()
			if slow != nil {
				if d := slow(); d > 0 {
					time.Sleep(d) // the consumer is slow; this is load, not synchronisation
				}
			}
			continue
		}
		select {
		case <-p.data:
		case <-tick.C:
		case <-ctx.Done():
			return fmt.Errorf("stalled after %d tokens: %w", i, ctx.Err())
		}
	}
	return nil
}

func TestFlowCleanStream(t *testing.T) {
	p := newPair(t, 1, DefaultQueueLength, DefaultQueueLength, WithTiming(fastTiming))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const n = 2000
	errc := make(chan error, 1)
	go func() { errc <- p.produce(ctx, n) }()
	require.NoError(t, p.consume(ctx, n, nil))
	require.NoError(t, <-errc)
	require.Eventually(t, func() bool { return p.snd.Stats().Read == n }, 5*time.Second, time.Millisecond)
	st := p.snd.Stats()
	assert.Equal(t, uint64(n), st.Sent)
	assert.Equal(t, uint64(n), st.Acked)
	assert.Equal(t, int64(n), p.observed.sent.Load())
	p.close()
	requireNoFlowGoroutines(t)
}

// TestFlowProperty: real flows over fault-injecting in-memory links with
// loss, duplication, link cuts (in-flight frames lost, later ones held and
// flushed after the re-join) and a slow consumer. Every token must arrive
// exactly once and in order, and the stream must finish.
func TestFlowProperty(t *testing.T) {
	seeds := 12
	if testing.Short() {
		seeds = 4
	}
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 2))
			drop, dup := rng.Float64()*0.1, rng.Float64()*0.1
			cuts := rng.IntN(2) == 0
			slowP := rng.Float64() * 0.3
			p := newPair(t, seed, 1+rng.IntN(6), 1+rng.IntN(6), WithTiming(fastTiming))
			defer p.close()
			p.ab.setFaults(drop, dup)
			p.ba.setFaults(drop, dup)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			const n = 400
			var crng sync.Mutex
			slow := func() time.Duration {
				crng.Lock()
				defer crng.Unlock()
				if rng.Float64() < slowP {
					return time.Duration(rng.IntN(300)) * time.Microsecond
				}
				return 0
			}
			stop := make(chan struct{})
			var wg sync.WaitGroup
			if cuts {
				wg.Add(1)
				go func() {
					defer wg.Done()
					tick := time.NewTicker(40 * time.Millisecond)
					defer tick.Stop()
					for {
						select {
						case <-stop:
							return
						case <-tick.C:
						}
						p.cut()
						select {
						case <-stop:
						case <-time.After(5 * time.Millisecond):
						}
						p.rejoin()
					}
				}()
			}
			errc := make(chan error, 1)
			go func() { errc <- p.produce(ctx, n) }()
			err := p.consume(ctx, n, slow)
			close(stop)
			wg.Wait()
			require.NoError(t, err, "drop %.2f dup %.2f cuts %v", drop, dup, cuts)
			require.NoError(t, <-errc)
			// Nothing extra arrives later either.
			p.ab.setFaults(0, 0)
			p.ba.setFaults(0, 0)
			require.Eventually(t, func() bool { return p.snd.Stats().Read == n }, 10*time.Second, time.Millisecond)
			assert.Equal(t, uint64(n), p.in.WritePos())
		})
	}
}

func TestFlowRecoversAfterCutPromptly(t *testing.T) {
	// An RTO of 30 s: only the link events can make this fast.
	slow := DefaultTiming
	slow.RTOMin, slow.RTOMax = 30*time.Second, time.Minute
	p := newPair(t, 7, DefaultQueueLength, DefaultQueueLength, WithTiming(slow))
	defer p.close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, p.out.Write(New(int64(0))))
	p.snd.Notify()
	require.NoError(t, p.consume(ctx, 1, nil))
	require.Eventually(t, func() bool { return p.snd.Stats().Read == 1 }, 5*time.Second, time.Millisecond)
	p.cut()
	// Written while the link is down: at most a probe goes out, and it is held.
	for i := 1; i <= 4; i++ {
		require.NoError(t, p.out.Write(New(int64(i))))
	}
	p.snd.Notify()
	p.rejoin()
	start := time.Now()
	got := make(chan error, 1)
	go func() {
		c := &pair{in: p.in, rcv: p.rcv, data: p.data}
		for i := 1; i <= 4; {
			tok, err := c.in.Read("in")
			if err != nil {
				select {
				case <-c.data:
				case <-ctx.Done():
					got <- ctx.Err()
					return
				}
				continue
			}
			if tok != New(int64(i)) {
				got <- fmt.Errorf("got %v want %d", tok, i)
				return
			}
			i++
			c.rcv.Notify()
		}
		got <- nil
	}()
	require.NoError(t, <-got)
	assert.Less(t, time.Since(start), 15*time.Second, "resent on re-join, not after the 30 s RTO")
}

func TestFlowFullReceiverResumeNoSpin(t *testing.T) {
	// A NACK backoff of 20 s: a sender waiting it out would need 20 s per
	// refill; the resume signal makes it immediate.
	slow := DefaultTiming
	slow.BackoffMin, slow.BackoffMax = 20*time.Second, 20*time.Second
	p := newPair(t, 9, DefaultQueueLength, 2, WithTiming(slow))
	defer p.close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i := range 4 {
		require.NoError(t, p.out.Write(New(int64(i))))
	}
	p.snd.Notify()
	require.Eventually(t, func() bool { return p.in.Free() == 0 && p.snd.Stats().Nacked > 0 }, 5*time.Second, time.Millisecond)
	sentBefore := p.ab.sent.Load()
	// The receiver is full and nobody consumes: the sender must not spin.
	time.Sleep(50 * time.Millisecond) // observe idleness over an interval; not synchronisation
	assert.LessOrEqual(t, p.ab.sent.Load()-sentBefore, int64(1), "no sending while the receiver is full")
	start := time.Now()
	require.NoError(t, p.consume(ctx, 4, nil))
	assert.Less(t, time.Since(start), 10*time.Second, "resume signal, not the 20 s backoff")
}

func TestFlowAbortUnknownPortAndSilence(t *testing.T) {
	f, err := NewFlow()
	require.NoError(t, err)
	defer f.Close()
	got := make(chan any, 4)
	l := &captureLink{peer: "P", ch: got}
	f.LinkUp(l)
	// Unknown inport: ABORT echoing ids and number.
	f.Deliver(l, &wire.Token{PortID: "po", PeerPortID: "nope", SequenceNbr: 7, Token: New(1).Payload()})
	rep := (<-got).(*wire.TokenReply)
	assert.Equal(t, "po", rep.PortID)
	assert.Equal(t, "nope", rep.PeerPortID)
	assert.Equal(t, uint64(7), rep.SequenceNbr)
	assert.Equal(t, ReplyABORT, rep.Value)

	// Known inport, other peer outport: silence.
	q, _ := NewFIFO(4)
	r, err := f.AddReceiver(ReceiverConfig{Peer: "P", PortID: "in", PeerPortID: "out", Queue: q})
	require.NoError(t, err)
	f.Deliver(l, &wire.Token{PortID: "other", PeerPortID: "in", SequenceNbr: 0, Token: New(1).Payload()})
	// Connected pair: ACK.
	f.Deliver(l, &wire.Token{PortID: "out", PeerPortID: "in", SequenceNbr: 0, Token: New(1).Payload()})
	rep = (<-got).(*wire.TokenReply)
	assert.Equal(t, "out", rep.PortID, "the silent one produced nothing before this")
	assert.Equal(t, ReplyACK, rep.Value)
	require.NoError(t, r.Close())
	require.NoError(t, r.Close())
	f.Deliver(l, &wire.Token{PortID: "out", PeerPortID: "in", SequenceNbr: 1, Token: New(1).Payload()})
	rep = (<-got).(*wire.TokenReply)
	assert.Equal(t, ReplyABORT, rep.Value, "no receiver left for the port")
}

func TestFlowSenderAbortPausesAndResumes(t *testing.T) {
	f, err := NewFlow()
	require.NoError(t, err)
	defer f.Close()
	got := make(chan any, 16)
	l := &captureLink{peer: "P", ch: got}
	f.LinkUp(l)
	q, _ := NewFIFO(4)
	lost := make(chan error, 1)
	s, err := f.AddSender(SenderConfig{Peer: "P", PortID: "out", PeerPortID: "in", Queue: q, OnPeerLost: func(err error) { lost <- err }})
	require.NoError(t, err)
	require.NoError(t, q.Write(New("x")))
	s.Notify()
	tok := (<-got).(*wire.Token)
	assert.Equal(t, uint64(0), tok.SequenceNbr)
	assert.Equal(t, "out", tok.PortID)
	assert.Equal(t, "in", tok.PeerPortID)
	f.Deliver(l, &wire.TokenReply{PortID: "out", PeerPortID: "in", SequenceNbr: 0, Value: ReplyABORT})
	require.ErrorIs(t, <-lost, ErrAborted)
	st := s.Stats()
	assert.Equal(t, st.Read, st.Tentative, "aborted tokens are back in the queue")
	s.Resume()
	tok = (<-got).(*wire.Token)
	assert.Equal(t, uint64(0), tok.SequenceNbr, "same number after resume")
	// A reply from another peer for the same pair is ignored.
	other := &captureLink{peer: "Q", ch: make(chan any, 1)}
	f.Deliver(other, &wire.TokenReply{PortID: "out", PeerPortID: "in", SequenceNbr: 0, Value: ReplyACK})
	assert.Equal(t, uint64(0), s.Stats().Read)
	f.Deliver(l, &wire.TokenReply{PortID: "out", PeerPortID: "in", SequenceNbr: 0, Value: ReplyACK})
	assert.Equal(t, uint64(1), s.Stats().Read)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close())
}

func TestFlowTunnelDestroyedReportsPeerLost(t *testing.T) {
	f, err := NewFlow()
	require.NoError(t, err)
	defer f.Close()
	l := &captureLink{peer: "P", ch: make(chan any, 16)}
	f.LinkUp(l)
	q, _ := NewFIFO(4)
	lost := make(chan error, 1)
	_, err = f.AddSender(SenderConfig{Peer: "P", PortID: "out", PeerPortID: "in", Queue: q, OnPeerLost: func(err error) { lost <- err }})
	require.NoError(t, err)
	f.LinkDown(l, tunnel.ErrDestroyed)
	require.ErrorIs(t, <-lost, ErrLinkGone)
}

func TestFlowDropsBadFrames(t *testing.T) {
	f, err := NewFlow()
	require.NoError(t, err)
	defer f.Close()
	got := make(chan any, 4)
	l := &captureLink{peer: "P", ch: got}
	f.LinkUp(l)
	q, _ := NewFIFO(4)
	_, err = f.AddReceiver(ReceiverConfig{Peer: "P", PortID: "in", PeerPortID: "out", Queue: q})
	require.NoError(t, err)
	ser := wire.JSON
	for _, raw := range []string{
		`{"cmd":"TUNNEL_DATA","tunnel_id":"t","from_rt_uuid":"P","to_rt_uuid":"me","value":{"cmd":"TOKEN","port_id":"out","peer_port_id":"in","sequencenbr":-1,"token":{"type":"Token","data":1}}}`,
		`{"cmd":"TUNNEL_DATA","tunnel_id":"t","from_rt_uuid":"P","to_rt_uuid":"me","value":{"cmd":"TOKEN","port_id":"out","peer_port_id":"in","token":{"type":"Token","data":1}}}`,
		`{"cmd":"TUNNEL_DATA","tunnel_id":"t","from_rt_uuid":"P","to_rt_uuid":"me","value":{"cmd":"TOKEN","port_id":"out","peer_port_id":"in","sequencenbr":0,"token":"x"}}`,
		`{"cmd":"TUNNEL_DATA","tunnel_id":"t","from_rt_uuid":"P","to_rt_uuid":"me","value":{"cmd":"TOKEN","peer_port_id":"in","sequencenbr":0,"token":{"type":"Token","data":1}}}`,
		`{"cmd":"TUNNEL_DATA","tunnel_id":"t","from_rt_uuid":"P","to_rt_uuid":"me","value":{"cmd":"SOMETHING"}}`,
		`{"cmd":"TUNNEL_DATA","tunnel_id":"t","from_rt_uuid":"P","to_rt_uuid":"me","value":"junk"}`,
	} {
		m, err := ser.Decode([]byte(raw))
		require.NoError(t, err)
		f.Deliver(l, m.(*wire.TunnelData).Value)
	}
	assert.Equal(t, uint64(0), q.WritePos())
	// A good one after the bad ones is handled.
	m, err := ser.Decode([]byte(`{"cmd":"TUNNEL_DATA","tunnel_id":"t","from_rt_uuid":"P","to_rt_uuid":"me","value":{"cmd":"TOKEN","port_id":"out","peer_port_id":"in","sequencenbr":0,"token":{"type":"Token","data":1}}}`))
	require.NoError(t, err)
	f.Deliver(l, m.(*wire.TunnelData).Value)
	rep := (<-got).(*wire.TokenReply)
	assert.Equal(t, ReplyACK, rep.Value)
	assert.Empty(t, got, "bad frames were not answered")
}

func TestNewFlowValidatesOptions(t *testing.T) {
	for _, o := range []Option{nil, WithLogger(nil), WithSendTimeout(0), WithObserver(nil), WithPortLookup(nil), WithTiming(Timing{}),
		WithTiming(Timing{BackoffMin: 2, BackoffMax: 1, RTOMin: 1, RTOMax: 1})} {
		_, err := NewFlow(o)
		assert.ErrorIs(t, err, ErrInvalidConfig)
	}
	f, err := NewFlow()
	require.NoError(t, err)
	_, err = f.AddSender(SenderConfig{Peer: "P"})
	assert.ErrorIs(t, err, ErrInvalidConfig)
	_, err = f.AddReceiver(ReceiverConfig{Peer: "P"})
	assert.ErrorIs(t, err, ErrInvalidConfig)
	require.NoError(t, f.Close())
	require.NoError(t, f.Close())
	q, _ := NewFIFO(1)
	_, err = f.AddSender(SenderConfig{Peer: "P", PortID: "a", PeerPortID: "b", Queue: q})
	assert.ErrorIs(t, err, ErrClosed)
	assert.ErrorIs(t, f.Accept("P", "t"), ErrClosed)
}

// requireNoFlowGoroutines fails when a goroutine of this package (a peer
// sender, a timer callback) is still running.
func requireNoFlowGoroutines(t *testing.T) {
	t.Helper()
	var dump string
	ok := assert.Eventually(t, func() bool {
		buf := make([]byte, 1<<20)
		dump = string(buf[:runtime.Stack(buf, true)])
		for _, g := range strings.Split(dump, "\n\n") {
			if strings.Contains(g, "token.(*peerState)") || strings.Contains(g, "token.(*Sender)") || strings.Contains(g, "token.(*memLink)") {
				return false
			}
		}
		return true
	}, 5*time.Second, 5*time.Millisecond)
	if !ok {
		t.Fatalf("goroutines left behind:\n%s", dump)
	}
}

type captureLink struct {
	peer string
	ch   chan any
}

func (c *captureLink) Peer() string { return c.peer }
func (c *captureLink) Send(ctx context.Context, v any) error {
	select {
	case c.ch <- v:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

var _ = errors.Is
