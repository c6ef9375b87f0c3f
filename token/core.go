package token

import (
	"math"
	"time"
)

// Reply values of TOKEN_REPLY (spec §7.1).
const (
	ReplyACK   = "ACK"
	ReplyNACK  = "NACK"
	ReplyABORT = "ABORT"
)

// ResumeAhead is how far beyond its write position a receiver puts the
// sequence number of a resume signal. After it NACKed a token because its
// queue was full, a meshkit receiver tells the sender that space is free
// again with an ACK for write_pos+ResumeAhead. Every sender's tentative
// position is at most its window beyond the receiver's write position, so
// the number is never one the sender has sent: Calvin's sender (and ours)
// ignores it for bookkeeping but, as for every ACK, leaves throttled mode,
// clears its NACK backoff and sends at once (spec §7.5). Without it a full
// receiver would be polled every 0.1-1 s.
const ResumeAhead = 1 << 30

// Timing is the sender's clock policy. The zero value is not valid; use
// DefaultTiming.
type Timing struct {
	// BackoffMin and BackoffMax bound Calvin's NACK backoff: BackoffMin after
	// a NACK, doubling while NACKs keep arriving during a running backoff.
	BackoffMin, BackoffMax time.Duration
	// RTOMin and RTOMax bound the retransmission timer: RTOMin after progress,
	// doubling on each expiry without progress.
	RTOMin, RTOMax time.Duration
}

// DefaultTiming is spec §7.5: backoff 0.1 s to 1 s, RTO 5 s to 60 s.
var DefaultTiming = Timing{
	BackoffMin: 100 * time.Millisecond, BackoffMax: time.Second,
	RTOMin: 5 * time.Second, RTOMax: 60 * time.Second,
}

// sendFrame is one TOKEN the sender core wants on the wire.
type sendFrame struct {
	pos, seq uint64
	tok      Token
	retrans  bool
}

// senderCore is the per-connection sender state machine of spec §7.5,
// without goroutines or timers so that it can be driven step by step (and
// replayed) by tests. The FIFO holds read_pos (first unacknowledged) and
// tentative (next to send) for reader peerPort; the core adds the mode,
// backoff and retransmission timer. Callers serialise access.
type senderCore struct {
	q        *FIFO
	reader   string // the peer inport id: the FIFO reader of this connection
	timing   Timing
	maxSent  uint64 // one past the highest position ever sent: tells retransmissions
	sentAny  bool
	throttle bool
	// backoffUntil is when a throttled sender may send again; backoff the
	// length of the running (or last) period.
	backoff      time.Duration
	backoffUntil time.Time
	rto          time.Duration
	rtoDeadline  time.Time // zero when nothing is outstanding
	paused       bool      // after ABORT: nothing is sent until resumed
}

func newSenderCore(q *FIFO, reader string, timing Timing) *senderCore {
	q.AddReader(reader)
	_ = q.Cancel(reader) // unacknowledged tokens go out again with the same numbers
	return &senderCore{q: q, reader: reader, timing: timing, rto: timing.RTOMin}
}

// collect appends the frames to send now to out and returns it.
func (s *senderCore) collect(now time.Time, out []sendFrame) []sendFrame {
	if s.paused {
		return out
	}
	p, err := s.q.Positions(s.reader)
	if err != nil {
		return out
	}
	if p.Tentative > p.Read && !s.rtoDeadline.IsZero() && !now.Before(s.rtoDeadline) {
		// No answer for a whole RTO: probe with the first unacknowledged token.
		_ = s.q.Rewind(s.reader, p.Read)
		p.Tentative = p.Read
		s.throttle = true
		s.backoffUntil = time.Time{}
		s.rto = min(2*s.rto, s.timing.RTOMax)
		s.rtoDeadline = time.Time{}
	}
	if s.throttle {
		if p.Tentative != p.Read || now.Before(s.backoffUntil) {
			return out
		}
		return s.peek(now, out, 1)
	}
	return s.peek(now, out, math.MaxInt)
}

func (s *senderCore) peek(now time.Time, out []sendFrame, limit int) []sendFrame {
	n := len(out)
	var offset uint64
	if p, err := s.q.Positions(s.reader); err == nil {
		offset = p.Offset
	}
	for range limit {
		pos, tok, err := s.q.PeekPos(s.reader)
		if err != nil {
			break
		}
		f := sendFrame{pos: pos, seq: pos - offset, tok: tok, retrans: s.sentAny && pos < s.maxSent}
		if !s.sentAny || pos >= s.maxSent {
			s.maxSent, s.sentAny = pos+1, true
		}
		out = append(out, f)
	}
	if len(out) > n && s.rtoDeadline.IsZero() {
		s.rtoDeadline = now.Add(s.rto)
	}
	return out
}

// unsent gives back a frame the link refused: the position was not sent, so
// it must not stay tentatively read (spec §15.2). The sender then retries
// after a backoff, one token at a time.
func (s *senderCore) unsent(pos uint64, now time.Time) {
	p, err := s.q.Positions(s.reader)
	if err != nil || pos < p.Read || pos > p.Tentative {
		return
	}
	_ = s.q.Rewind(s.reader, pos)
	if pos == p.Read {
		s.rtoDeadline = time.Time{}
	}
	s.throttle = true
	if s.backoff < s.timing.BackoffMin {
		s.backoff = s.timing.BackoffMin
	} else {
		s.backoff = min(2*s.backoff, s.timing.BackoffMax)
	}
	s.backoffUntil = now.Add(s.backoff)
}

// wake returns when collect next has something to do on its own (an RTO or
// a backoff expiry), or the zero time.
func (s *senderCore) wake() time.Time {
	if s.paused {
		return time.Time{}
	}
	p, err := s.q.Positions(s.reader)
	if err != nil {
		return time.Time{}
	}
	var t time.Time
	if p.Tentative > p.Read {
		t = s.rtoDeadline
	}
	if s.throttle && p.Tentative == p.Read && p.Write > p.Tentative && !s.backoffUntil.IsZero() {
		if t.IsZero() || s.backoffUntil.Before(t) {
			t = s.backoffUntil
		}
	}
	return t
}

// seqToPos converts a sequence number into a position; ok is false when the
// number cannot be a position of this reader (so it is ignored).
func (s *senderCore) seqToPos(seq uint64, p Positions) (uint64, bool) {
	if seq > math.MaxUint64-p.Offset {
		return 0, false
	}
	return seq + p.Offset, true
}

// ackResult says what an ACK did.
type ackResult struct {
	committed uint64 // how many positions the ACK committed
	resumed   bool   // it ended throttled mode
}

// onAck handles ACK(seq). Every ACK ends throttled mode and clears the
// backoff, as in Calvin. An ACK for a position that was sent and is not yet
// committed commits everything up to it: a receiver ACKs n only once its
// write position is past n, so every earlier token is stored too. A lost ACK
// therefore never holds the window, Calvin's out-of-order bookkeeping bugs
// cannot arise, and a late ACK for a token sent before a rewind still
// counts. Anything else (duplicates, the resume signal) only changes mode.
func (s *senderCore) onAck(seq uint64, now time.Time) ackResult {
	res := ackResult{resumed: s.throttle}
	s.throttle = false
	s.backoff = 0
	s.backoffUntil = time.Time{}
	p, err := s.q.Positions(s.reader)
	if err != nil {
		return res
	}
	pos, ok := s.seqToPos(seq, p)
	if !ok || pos < p.Read || !s.sentAny || pos >= s.maxSent {
		return res
	}
	if s.q.commitThrough(s.reader, pos+1) != nil {
		return res
	}
	res.committed = pos + 1 - p.Read
	s.rto = s.timing.RTOMin
	if pos+1 < p.Tentative {
		s.rtoDeadline = now.Add(s.rto)
	} else {
		s.rtoDeadline = time.Time{}
	}
	return res
}

// onNack handles NACK(seq): go back to seq and send one token at a time
// after Calvin's backoff. A NACK outside [read, tentative) is ignored. It
// reports whether the sender rewound.
func (s *senderCore) onNack(seq uint64, now time.Time) bool {
	p, err := s.q.Positions(s.reader)
	if err != nil {
		return false
	}
	pos, ok := s.seqToPos(seq, p)
	if !ok || pos < p.Read || pos >= p.Tentative {
		return false
	}
	_ = s.q.Rewind(s.reader, pos)
	s.throttle = true
	if !s.backoffUntil.IsZero() && now.Before(s.backoffUntil) {
		s.backoff = min(2*s.backoff, s.timing.BackoffMax)
	} else {
		s.backoff = s.timing.BackoffMin
	}
	s.backoffUntil = now.Add(s.backoff)
	// The peer answered: restart the timer for what is still outstanding.
	if pos > p.Read {
		s.rtoDeadline = now.Add(s.rto)
	} else {
		s.rtoDeadline = time.Time{}
	}
	return true
}

// linkDown: in-flight tokens are lost with the link. Go back to the first
// unacknowledged token and send it alone: on a tunnel that is down the send
// is queued and starts the re-join.
func (s *senderCore) linkDown(now time.Time) {
	_ = s.q.Cancel(s.reader)
	s.throttle = true
	s.backoffUntil = time.Time{}
	s.rtoDeadline = time.Time{}
}

// linkUp: resend everything unacknowledged at once (the receiver ACKs the
// ones it has as duplicates).
func (s *senderCore) linkUp() {
	_ = s.q.Cancel(s.reader)
	s.throttle = false
	s.backoff = 0
	s.backoffUntil = time.Time{}
	s.rto = s.timing.RTOMin
	s.rtoDeadline = time.Time{}
}

// abort pauses the connection: the peer port is not on that node (spec §7.5).
func (s *senderCore) abort() {
	_ = s.q.Cancel(s.reader)
	s.paused = true
	s.rtoDeadline = time.Time{}
}

func (s *senderCore) resume() {
	s.paused = false
	s.linkUp()
}

// receiverCore applies the receiver table of spec §7.4 to one inport queue.
type receiverCore struct {
	q          *FIFO
	nackedFull bool // a NACK for a full queue is waiting for its resume
}

// onToken stores or rejects one TOKEN and returns the TOKEN_REPLY value and
// sequence number to answer with.
func (r *receiverCore) onToken(seq uint64, tok Token) (reply string, replySeq uint64, stored bool) {
	ok, next, err := r.q.WriteAt(seq, tok)
	switch {
	case ok:
		return ReplyACK, seq, true
	case err != nil: // full
		r.nackedFull = true
		return ReplyNACK, seq, false
	case seq < next: // duplicate: we have it
		return ReplyACK, seq, false
	default: // gap: ask for the expected token, so any sender can rewind to it
		return ReplyNACK, next, false
	}
}

// resume reports whether a resume signal is due (the queue NACKed for being
// full and has space again) and its sequence number.
func (r *receiverCore) resume() (uint64, bool) {
	if !r.nackedFull || r.q.Free() == 0 {
		return 0, false
	}
	r.nackedFull = false
	return r.q.WritePos() + ResumeAhead, true
}
