package token

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var testTiming = DefaultTiming

type simMsg struct {
	at    time.Duration // delivery time
	token bool          // TOKEN (to the receiver) or TOKEN_REPLY (to the sender)
	seq   uint64
	tok   Token
	reply string
}

type simFaults struct {
	drop, dup float64       // per message
	jitter    time.Duration // random extra delay: reorders
	cutEvery  time.Duration // mean time between link cuts; 0: never
	stale     float64       // share of in-flight messages that survive a cut and arrive after it
	consume   float64       // chance per ms that the consumer reads at all (queue pressure)
	burst     int           // tokens the consumer reads at most per ms; 0: 1 to 3
}

type simResult struct {
	done      bool
	elapsed   time.Duration
	delivered int
	sent      int
}

// simulate drives a senderCore and a receiverCore over a lossy fake link with
// a fake clock, all decisions drawn from one seeded generator, so a failing
// seed replays exactly. It fails t on any out-of-order or duplicate delivery.
func simulate(t *testing.T, seed uint64, total int, qlen int, f simFaults, faultsFor time.Duration) simResult {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	out, err := NewFIFO(qlen)
	require.NoError(t, err)
	in, err := NewFIFO(DefaultQueueLength)
	require.NoError(t, err)
	in.AddReader("in")
	snd := newSenderCore(out, "in", testTiming)
	rcv := &receiverCore{q: in}

	start := time.Unix(1000, 0)
	var now time.Duration
	const step = time.Millisecond
	latency := 200 * time.Microsecond
	var net []simMsg
	linkUp := true
	var downUntil, nextCut time.Duration
	if f.cutEvery > 0 {
		nextCut = time.Duration(rng.Int64N(int64(2 * f.cutEvery)))
	}
	faulty := func() bool { return now < faultsFor }
	send := func(m simMsg) {
		if faulty() && rng.Float64() < f.drop {
			return
		}
		m.at = now + latency
		if faulty() && f.jitter > 0 {
			m.at += time.Duration(rng.Int64N(int64(f.jitter)))
		}
		if !linkUp {
			// Queued in the tunnel until the re-join.
			m.at = max(m.at, downUntil+latency)
		}
		net = append(net, m)
		if faulty() && rng.Float64() < f.dup {
			d := m
			d.at += time.Duration(rng.Int64N(int64(time.Millisecond)))
			net = append(net, d)
		}
	}
	produced, delivered, sent := 0, 0, 0
	dirty := true
	limit := 600 * time.Second
	for ; now < limit; now += step {
		clock := start.Add(now)
		// Link cuts: in-flight frames are lost except a few stale ones that
		// turn up after the re-join.
		if faulty() && f.cutEvery > 0 && linkUp && now >= nextCut {
			linkUp = false
			downUntil = now + time.Duration(1+rng.IntN(50))*time.Millisecond
			kept := net[:0]
			for _, m := range net {
				if rng.Float64() < f.stale {
					m.at = downUntil + time.Duration(rng.Int64N(int64(5*time.Millisecond)))
					kept = append(kept, m)
				}
			}
			net = kept
			snd.linkDown(clock)
			dirty = true
		}
		if !linkUp && now >= downUntil {
			linkUp = true
			nextCut = now + time.Duration(rng.Int64N(int64(2*f.cutEvery)))
			snd.linkUp()
			dirty = true
		}
		// Producer: the source fires whenever its outport has room.
		for produced < total && out.Write(New(int64(produced))) == nil {
			produced++
			dirty = true
		}
		// Deliver due messages in order of arrival time; the link keeps send
		// order, only jitter and stale frames reorder.
		slices.SortStableFunc(net, func(a, b simMsg) int { return cmp.Compare(a.at, b.at) })
		var due []simMsg
		rest := net[:0]
		for _, m := range net {
			if m.at <= now {
				due = append(due, m)
			} else {
				rest = append(rest, m)
			}
		}
		net = rest
		for _, m := range due {
			if m.token {
				reply, rseq, _ := rcv.onToken(m.seq, m.tok)
				send(simMsg{seq: rseq, reply: reply})
				continue
			}
			switch m.reply {
			case ReplyACK:
				snd.onAck(m.seq, clock)
			case ReplyNACK:
				snd.onNack(m.seq, clock)
			}
			dirty = true
		}
		// Consumer under pressure.
		if !faulty() || rng.Float64() < f.consume {
			burst := f.burst
			if burst == 0 {
				burst = 1 + rng.IntN(3)
			}
			for range burst {
				tok, err := in.Read("in")
				if err != nil {
					break
				}
				require.Equal(t, New(int64(delivered)), tok, "seed %d: out of order or duplicate at %v", seed, now)
				delivered++
			}
			if seq, ok := rcv.resume(); ok {
				send(simMsg{seq: seq, reply: ReplyACK})
			}
		}
		if delivered == total {
			return simResult{done: true, elapsed: now, delivered: delivered, sent: sent}
		}
		// The sender runs on events and on its own timers only.
		if w := snd.wake(); !w.IsZero() && !clock.Before(w) {
			dirty = true
		}
		if dirty {
			dirty = false
			for _, fr := range snd.collect(clock, nil) {
				sent++
				send(simMsg{token: true, seq: fr.seq, tok: fr.tok})
			}
		}
	}
	return simResult{elapsed: now, delivered: delivered, sent: sent}
}

func TestCoreCleanLink(t *testing.T) {
	r := simulate(t, 1, 1000, DefaultQueueLength, simFaults{burst: 100}, 0)
	require.True(t, r.done, "delivered %d", r.delivered)
	assert.Equal(t, 1000, r.sent, "no retransmissions on a clean link")
}

// TestCoreProperty: random loss, duplication, reordering, link cuts with
// stale frames crossing the re-join, and a slow consumer. Every token must
// arrive exactly once and in order, and the stream must finish once the
// faults stop (no stall). Replay a failure with its seed.
func TestCoreProperty(t *testing.T) {
	seeds := 60
	if testing.Short() {
		seeds = 15
	}
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		rng := rand.New(rand.NewPCG(seed, 1))
		f := simFaults{
			drop:     rng.Float64() * 0.3,
			dup:      rng.Float64() * 0.2,
			jitter:   time.Duration(rng.IntN(5)) * time.Millisecond,
			cutEvery: time.Duration(rng.IntN(3)) * 150 * time.Millisecond,
			stale:    rng.Float64() * 0.5,
			consume:  0.05 + rng.Float64()*0.9,
		}
		qlen := 1 + rng.IntN(8)
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
			r := simulate(t, seed, 400, qlen, f, 2*time.Second)
			require.True(t, r.done, "stalled: delivered %d/400 by %v with %+v qlen %d", r.delivered, r.elapsed, f, qlen)
			// Once the faults stop, recovery is bounded by one maximal RTO
			// plus the backoff, not by luck.
			assert.Less(t, r.elapsed, 2*time.Second+testTiming.RTOMax+10*time.Second)
		})
	}
}

// TestCoreFullReceiverResumes: with a slow consumer and no loss, the resume
// signal keeps the sender from waiting out Calvin's NACK backoff.
func TestCoreFullReceiverResumes(t *testing.T) {
	r := simulate(t, 3, 300, DefaultQueueLength, simFaults{consume: 0.3}, time.Hour)
	require.True(t, r.done)
	// 300 tokens consumed at ~0.6 tokens/ms take about 0.5 s; with 0.1 s
	// NACK backoffs as the steady state they would take many seconds.
	assert.Less(t, r.elapsed, 3*time.Second, "elapsed %v", r.elapsed)
}

func TestSenderCoreRules(t *testing.T) {
	now := time.Unix(0, 0)
	q, err := NewFIFO(4)
	require.NoError(t, err)
	s := newSenderCore(q, "peer", testTiming)
	for i := range 4 {
		require.NoError(t, q.Write(New(i)))
	}
	fr := s.collect(now, nil)
	require.Len(t, fr, 4, "bulk mode sends the whole window")
	assert.Equal(t, uint64(0), fr[0].seq)

	// NACK(2): go back to 2, throttled, backoff 0.1 s.
	require.True(t, s.onNack(2, now))
	assert.False(t, s.onNack(3, now), "NACK at or above tentative is ignored")
	assert.Empty(t, s.collect(now, nil), "throttled waits until everything sent is acknowledged")
	// ACK(1) commits 0 and 1 (cumulative) and returns to bulk.
	res := s.onAck(1, now)
	assert.Equal(t, uint64(2), res.committed)
	assert.True(t, res.resumed)
	fr = s.collect(now, nil)
	require.Len(t, fr, 2)
	assert.True(t, fr[0].retrans)
	assert.Equal(t, uint64(2), fr[0].seq)

	// NACK while a backoff runs doubles it; after expiry it starts again.
	require.True(t, s.onNack(2, now))
	assert.Equal(t, 100*time.Millisecond, s.backoff)
	assert.Empty(t, s.collect(now.Add(50*time.Millisecond), nil))
	fr = s.collect(now.Add(100*time.Millisecond), nil)
	require.Len(t, fr, 1, "one token alone after the backoff")
	require.True(t, s.onNack(2, now.Add(150*time.Millisecond)))
	assert.Equal(t, 100*time.Millisecond, s.backoff, "the previous backoff had expired")
	s.onAck(1+ResumeAhead, now.Add(150*time.Millisecond))
	require.Len(t, s.collect(now.Add(150*time.Millisecond), nil), 2)
	require.True(t, s.onNack(3, now.Add(160*time.Millisecond)))
	require.True(t, s.onNack(2, now.Add(200*time.Millisecond)))
	assert.Equal(t, 200*time.Millisecond, s.backoff, "doubled: NACK during a running backoff")
	assert.Equal(t, now.Add(400*time.Millisecond), s.wake())
	require.Len(t, s.collect(now.Add(400*time.Millisecond), nil), 1)
	require.True(t, s.onNack(2, now.Add(2*time.Second)))
	assert.Equal(t, 100*time.Millisecond, s.backoff)

	// An ACK far ahead (the resume signal) changes only the mode.
	res = s.onAck(2+ResumeAhead, now.Add(2*time.Second))
	assert.Zero(t, res.committed)
	assert.True(t, res.resumed)
	p, _ := q.Positions("peer")
	assert.Equal(t, uint64(2), p.Read)

	// A stray NACK below read_pos is ignored (Calvin would rewind below it).
	assert.False(t, s.onNack(0, now))
}

func TestSenderCoreRTO(t *testing.T) {
	now := time.Unix(0, 0)
	q, _ := NewFIFO(4)
	s := newSenderCore(q, "peer", testTiming)
	require.NoError(t, q.Write(New("a")))
	require.NoError(t, q.Write(New("b")))
	require.Len(t, s.collect(now, nil), 2)
	assert.Equal(t, now.Add(5*time.Second), s.wake())
	assert.Empty(t, s.collect(now.Add(4*time.Second), nil))
	fr := s.collect(now.Add(5*time.Second), nil)
	require.Len(t, fr, 1, "probe with the first unacknowledged token")
	assert.Equal(t, uint64(0), fr[0].seq)
	assert.True(t, fr[0].retrans)
	assert.Equal(t, now.Add(15*time.Second), s.wake(), "RTO doubled")
	s.onAck(0, now.Add(6*time.Second))
	fr = s.collect(now.Add(6*time.Second), nil)
	require.Len(t, fr, 1)
	assert.Equal(t, uint64(1), fr[0].seq)
	assert.Equal(t, now.Add(11*time.Second), s.wake(), "RTO back to the minimum after progress")
}

func TestSenderCoreOffsetAndAbort(t *testing.T) {
	now := time.Unix(0, 0)
	q, _ := NewFIFO(4)
	q.AddReader("first")
	for i := range 3 {
		require.NoError(t, q.Write(New(i)))
	}
	_, _ = q.Read("first")
	s := newSenderCore(q, "late", testTiming) // added later: offset 1
	fr := s.collect(now, nil)
	require.Len(t, fr, 2)
	assert.Equal(t, uint64(0), fr[0].seq, "sequence numbers count from the reader's offset")
	assert.Equal(t, uint64(1), fr[0].pos)
	s.onAck(1, now)
	p, _ := q.Positions("late")
	assert.Equal(t, uint64(3), p.Read)
	assert.Zero(t, s.onAck(^uint64(0), now).committed, "no overflow on huge numbers")

	require.NoError(t, q.Write(New(3)))
	s.abort()
	assert.Empty(t, s.collect(now, nil), "paused after ABORT")
	assert.True(t, s.wake().IsZero())
	s.resume()
	assert.Len(t, s.collect(now, nil), 1)
}

func TestReceiverCoreTable(t *testing.T) {
	q, _ := NewFIFO(2)
	q.AddReader("in")
	r := &receiverCore{q: q}
	reply, seq, stored := r.onToken(0, New("a"))
	assert.Equal(t, []any{ReplyACK, uint64(0), true}, []any{reply, seq, stored})
	reply, seq, stored = r.onToken(0, New("a"))
	assert.Equal(t, []any{ReplyACK, uint64(0), false}, []any{reply, seq, stored}, "duplicate: ACK and drop")
	reply, seq, _ = r.onToken(5, New("f"))
	assert.Equal(t, []any{ReplyNACK, uint64(1)}, []any{reply, seq}, "gap: NACK the expected number")
	_, _, stored = r.onToken(1, New("b"))
	assert.True(t, stored)
	_, ok := r.resume()
	assert.False(t, ok, "no resume without a full NACK")
	reply, seq, stored = r.onToken(2, New("c"))
	assert.Equal(t, []any{ReplyNACK, uint64(2), false}, []any{reply, seq, stored}, "full: NACK")
	_, ok = r.resume()
	assert.False(t, ok, "still full")
	_, _ = q.Read("in")
	rs, ok := r.resume()
	require.True(t, ok)
	assert.Equal(t, uint64(2+ResumeAhead), rs)
	_, ok = r.resume()
	assert.False(t, ok, "one resume per full episode")
}
