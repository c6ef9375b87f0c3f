package token

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// calvinSender models Calvin's tunnel sender as spec §7.5 describes it
// (bulk and throttled modes, its ACK list, NACK backoff, no retransmission
// timer), to check that our receiver lets it recover where Calvin's own
// receiver makes it stall.
type calvinSender struct {
	q        *FIFO
	reader   string
	acked    []uint64
	bulk     bool
	backoff  time.Duration
	timeCont time.Time
}

func (c *calvinSender) communicate(now time.Time) []sendFrame {
	var out []sendFrame
	p, _ := c.q.Positions(c.reader)
	switch {
	case c.bulk:
		for {
			pos, tok, err := c.q.PeekPos(c.reader)
			if err != nil {
				break
			}
			out = append(out, sendFrame{pos: pos, seq: pos, tok: tok})
		}
	case p.Write > p.Tentative && p.Tentative == p.Read && !now.Before(c.timeCont):
		pos, tok, _ := c.q.PeekPos(c.reader)
		out = append(out, sendFrame{pos: pos, seq: pos, tok: tok})
		c.timeCont = now.Add(c.backoff)
	}
	return out
}

func (c *calvinSender) ack(n uint64) {
	p, _ := c.q.Positions(c.reader)
	c.bulk, c.backoff = true, 0
	if n < p.Tentative {
		c.acked = append(c.acked, n)
	}
	for {
		p, _ = c.q.Positions(c.reader)
		i := slices.Index(c.acked, p.Read)
		if i < 0 {
			return
		}
		_ = c.q.CommitTo(c.reader, p.Read+1)
		c.acked = slices.Delete(c.acked, i, i+1)
	}
}

func (c *calvinSender) nack(n uint64, now time.Time) {
	p, _ := c.q.Positions(c.reader)
	if c.bulk {
		c.timeCont = now
	}
	c.bulk = false
	if c.backoff < 100*time.Millisecond {
		c.backoff = 100 * time.Millisecond
	} else {
		c.backoff = min(2*c.backoff, time.Second)
	}
	if n < p.Tentative && n >= p.Read {
		c.acked = slices.DeleteFunc(c.acked, func(x uint64) bool { return x >= n })
		_ = c.q.Rewind(c.reader, n)
	}
}

// runCalvinSender streams total tokens from a calvinSender to rcv, losing the
// TOKEN with sequence number lose once, and reports how many arrived by the
// deadline. nackReceived switches the receiver to Calvin's gap rule.
func runCalvinSender(t *testing.T, total int, lose uint64, nackReceived bool) int {
	n, _, _ := runCalvinSenderOpts(t, total, lose, nackReceived, 0)
	return n
}

// runCalvinSenderOpts also lets the consumer read one token per consumeEvery
// (queue pressure) and reports the time taken and the Calvin sender's ACK
// list length at the end.
func runCalvinSenderOpts(t *testing.T, total int, lose uint64, nackReceived bool, consumeEvery time.Duration) (int, time.Duration, int) {
	out, _ := NewFIFO(DefaultQueueLength)
	in, _ := NewFIFO(DefaultQueueLength)
	in.AddReader("in")
	out.AddReader("in")
	snd := &calvinSender{q: out, reader: "in", bulk: true}
	rcv := &receiverCore{q: in}
	type msg struct {
		token bool
		seq   uint64
		tok   Token
		reply string
	}
	var toRcv, toSnd []msg
	lost := false
	delivered, produced := 0, 0
	start := time.Unix(0, 0)
	var now time.Duration
	for ; now < 30*time.Second; now += time.Millisecond {
		clock := start.Add(now)
		for produced < total && out.Write(New(int64(produced))) == nil {
			produced++
		}
		for _, f := range snd.communicate(clock) {
			if f.seq == lose && !lost {
				lost = true
				continue
			}
			toRcv = append(toRcv, msg{token: true, seq: f.seq, tok: f.tok})
		}
		for _, m := range toRcv {
			reply, seq, _ := rcv.onToken(m.seq, m.tok)
			if nackReceived && reply == ReplyNACK {
				seq = m.seq // Calvin NACKs the number it received
			}
			toSnd = append(toSnd, msg{seq: seq, reply: reply})
		}
		toRcv = toRcv[:0]
		for _, m := range toSnd {
			if m.reply == ReplyACK {
				snd.ack(m.seq)
			} else {
				snd.nack(m.seq, clock)
			}
		}
		toSnd = toSnd[:0]
		for {
			if consumeEvery > 0 && now%consumeEvery != 0 {
				break
			}
			tok, err := in.Read("in")
			if err != nil {
				break
			}
			require.Equal(t, New(int64(delivered)), tok)
			delivered++
			if seq, ok := rcv.resume(); ok {
				toSnd = append(toSnd, msg{seq: seq, reply: ReplyACK})
			}
			if consumeEvery > 0 {
				break
			}
		}
		if delivered == total {
			break
		}
	}
	return delivered, now, len(snd.acked)
}

// TestCalvinSenderRecoversWithOurReceiver: a lost TOKEN followed by more
// tokens. Our receiver NACKs the expected number, so Calvin's sender rewinds
// to the lost token and finishes; with Calvin's own rule (NACK the received
// number) the same sender stalls for good (spec §7.5, the case our rule
// exists for).
func TestCalvinSenderRecoversWithOurReceiver(t *testing.T) {
	assert.Equal(t, 40, runCalvinSender(t, 40, 5, false))
	assert.Less(t, runCalvinSender(t, 40, 5, true), 40, "the model reproduces Calvin's stall")
}

// TestCalvinSenderResumeSignal: with a slow consumer our receiver NACKs full
// queues and later sends the resume ACK (write_pos+ResumeAhead). Calvin's
// sender must take it as "back to bulk" without remembering the number (its
// ACK list would otherwise grow for ever) and must not wait out its backoff.
func TestCalvinSenderResumeSignal(t *testing.T) {
	n, took, list := runCalvinSenderOpts(t, 200, ^uint64(0), false, 5*time.Millisecond)
	require.Equal(t, 200, n)
	assert.Zero(t, list, "the resume ACK is never remembered")
	// 200 tokens at one per 5 ms take 1 s; 0.1 s backoffs per refill would
	// take several seconds.
	assert.Less(t, took, 1500*time.Millisecond)
}
