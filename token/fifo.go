package token

import (
	"fmt"
	"sync"
)

// DefaultQueueLength is the default port queue_length (spec §7.4, §8.2). The
// ring has one slot more, which always stays empty.
const DefaultQueueLength = 4

// QueueTypeFIFO is the queuetype of the default queue.
const QueueTypeFIFO = "fanout_fifo"

// maxQueueLength bounds rings so that a hostile queue_length or imported N
// cannot make us allocate without limit.
const maxQueueLength = 1 << 20

type fifoReader struct {
	id        string
	read      uint64 // first position not yet committed (consumed or acknowledged)
	tentative uint64 // next position to peek (>= read)
	offset    uint64 // subtracted from positions to get sequence numbers
}

// FIFO is Calvin's fanout_fifo (spec §7.6): a ring of N = queue_length+1
// slots addressed by absolute stream positions, with one or more readers that
// each see every token. A reader peeks tentatively and later commits or
// cancels; the token flow uses this for sent-but-unacknowledged tokens.
//
// A FIFO is safe for concurrent use: typically the actor scheduler writes or
// reads one end while the token flow works the other.
type FIFO struct {
	mu       sync.Mutex
	ring     []Token
	n        uint64
	writePos uint64
	readers  []fifoReader
	// floor is the lowest position still owed to a reader when there is no
	// reader at all (after the last one was removed); it keeps free-space
	// arithmetic sound and is where the next reader starts.
	floor uint64
}

// NewFIFO returns an empty FIFO holding up to queueLength tokens. Every slot
// starts as Token(0), as in Calvin.
func NewFIFO(queueLength int) (*FIFO, error) {
	if queueLength < 1 || queueLength > maxQueueLength {
		return nil, fmt.Errorf("%w: got %d", ErrBadQueueLength, queueLength)
	}
	q := &FIFO{n: uint64(queueLength) + 1}
	q.ring = make([]Token, q.n)
	for i := range q.ring {
		q.ring[i] = New(int64(0))
	}
	return q, nil
}

// QueueType returns "fanout_fifo".
func (q *FIFO) QueueType() string { return QueueTypeFIFO }

// Capacity is the number of tokens the queue can hold (queue_length = N-1).
func (q *FIFO) Capacity() int { return int(q.n - 1) }

func (q *FIFO) reader(id string) *fifoReader {
	for i := range q.readers {
		if q.readers[i].id == id {
			return &q.readers[i]
		}
	}
	return nil
}

func (q *FIFO) minRead() uint64 {
	if len(q.readers) == 0 {
		return q.floor
	}
	m := q.readers[0].read
	for i := 1; i < len(q.readers); i++ {
		if q.readers[i].read < m {
			m = q.readers[i].read
		}
	}
	return m
}

func (q *FIFO) free() int { return int(q.n - 1 - (q.writePos - q.minRead())) }

// Free returns the number of tokens that can be written now.
func (q *FIFO) Free() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.free()
}

// Len returns the number of stored tokens the slowest reader has not committed.
func (q *FIFO) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return int(q.writePos - q.minRead())
}

// WritePos returns the number of tokens ever written (the next write position).
func (q *FIFO) WritePos() uint64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.writePos
}

// Write appends t; it fails with ErrQueueFull when no slot is free.
func (q *FIFO) Write(t Token) error {
	q.mu.Lock()
	if q.free() <= 0 {
		q.mu.Unlock()
		return ErrQueueFull
	}
	q.ring[q.writePos%q.n] = t
	q.writePos++
	q.mu.Unlock()
	return nil
}

// WriteAt writes t only if pos is the next write position. It reports whether
// the token was stored; with stored false, next is the write position the
// queue expects. A full queue returns ErrQueueFull (and next).
func (q *FIFO) WriteAt(pos uint64, t Token) (stored bool, next uint64, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if pos != q.writePos {
		return false, q.writePos, nil
	}
	if q.free() <= 0 {
		return false, q.writePos, ErrQueueFull
	}
	q.ring[q.writePos%q.n] = t
	q.writePos++
	return true, q.writePos, nil
}

// AddReader adds a reader. A new reader starts at the oldest position still
// stored and counts its sequence numbers from 0 there (reader_offset), as
// Calvin does for a reader added later; on a fresh queue that is position 0
// with offset 0. Adding an existing reader changes nothing.
func (q *FIFO) AddReader(id string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.reader(id) != nil {
		return
	}
	start := q.minRead()
	q.readers = append(q.readers, fifoReader{id: id, read: start, tentative: start, offset: start})
}

// RemoveReader drops a reader and its positions.
func (q *FIFO) RemoveReader(id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for i := range q.readers {
		if q.readers[i].id == id {
			if len(q.readers) == 1 {
				q.floor = q.readers[i].read
			}
			q.readers = append(q.readers[:i], q.readers[i+1:]...)
			return nil
		}
	}
	return fmt.Errorf("%w: %q", ErrUnknownReader, id)
}

// Readers returns the reader ids in order of addition.
func (q *FIFO) Readers() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	ids := make([]string, len(q.readers))
	for i, r := range q.readers {
		ids[i] = r.id
	}
	return ids
}

// HasReader reports whether id reads this queue.
func (q *FIFO) HasReader(id string) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.reader(id) != nil
}

// Positions is one reader's view of the queue.
type Positions struct {
	Read      uint64 // first uncommitted position
	Tentative uint64 // next position to peek
	Offset    uint64 // sequence number = position - Offset
	Write     uint64 // the queue's write position
}

// Positions returns the positions of reader id.
func (q *FIFO) Positions(id string) (Positions, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := q.reader(id)
	if r == nil {
		return Positions{}, fmt.Errorf("%w: %q", ErrUnknownReader, id)
	}
	return Positions{Read: r.read, Tentative: r.tentative, Offset: r.offset, Write: q.writePos}, nil
}

// Available returns how many tokens reader id can still peek.
func (q *FIFO) Available(id string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := q.reader(id)
	if r == nil {
		return 0
	}
	return int(q.writePos - r.tentative)
}

// Peek returns the token at the reader's tentative position and advances it.
func (q *FIFO) Peek(id string) (Token, error) {
	_, t, err := q.PeekPos(id)
	return t, err
}

// PeekPos is Peek that also returns the token's absolute position.
func (q *FIFO) PeekPos(id string) (uint64, Token, error) {
	q.mu.Lock()
	r := q.reader(id)
	if r == nil {
		q.mu.Unlock()
		return 0, Token{}, fmt.Errorf("%w: %q", ErrUnknownReader, id)
	}
	if r.tentative >= q.writePos {
		q.mu.Unlock()
		return 0, Token{}, ErrQueueEmpty
	}
	pos := r.tentative
	t := q.ring[pos%q.n]
	r.tentative++
	q.mu.Unlock()
	return pos, t, nil
}

// Commit makes every peeked token of the reader consumed (read = tentative).
func (q *FIFO) Commit(id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := q.reader(id)
	if r == nil {
		return fmt.Errorf("%w: %q", ErrUnknownReader, id)
	}
	r.read = r.tentative
	return nil
}

// Cancel returns every peeked but uncommitted token (tentative = read).
func (q *FIFO) Cancel(id string) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := q.reader(id)
	if r == nil {
		return fmt.Errorf("%w: %q", ErrUnknownReader, id)
	}
	r.tentative = r.read
	return nil
}

// CancelAll cancels the tentative reads of every reader.
func (q *FIFO) CancelAll() {
	q.mu.Lock()
	for i := range q.readers {
		q.readers[i].tentative = q.readers[i].read
	}
	q.mu.Unlock()
}

// Read peeks and commits one token at once, the way an actor consumes its inport.
func (q *FIFO) Read(id string) (Token, error) {
	q.mu.Lock()
	r := q.reader(id)
	if r == nil {
		q.mu.Unlock()
		return Token{}, fmt.Errorf("%w: %q", ErrUnknownReader, id)
	}
	if r.read >= q.writePos {
		q.mu.Unlock()
		return Token{}, ErrQueueEmpty
	}
	t := q.ring[r.read%q.n]
	r.read++
	r.tentative = r.read
	q.mu.Unlock()
	return t, nil
}

// CommitTo commits the reader up to (not including) pos, which must lie in
// [read, tentative]. The token flow uses it when acknowledgements arrive.
func (q *FIFO) CommitTo(id string, pos uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := q.reader(id)
	if r == nil {
		return fmt.Errorf("%w: %q", ErrUnknownReader, id)
	}
	if pos < r.read || pos > r.tentative {
		return fmt.Errorf("%w: commit to %d outside [%d, %d] for %q", ErrBadPosition, pos, r.read, r.tentative, id)
	}
	r.read = pos
	return nil
}

// commitThrough commits the reader up to pos, which may lie beyond its
// tentative position (an acknowledgement for a token sent before a rewind);
// tentative then moves up to pos as well.
func (q *FIFO) commitThrough(id string, pos uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := q.reader(id)
	if r == nil {
		return fmt.Errorf("%w: %q", ErrUnknownReader, id)
	}
	if pos < r.read || pos > q.writePos {
		return fmt.Errorf("%w: commit to %d outside [%d, %d] for %q", ErrBadPosition, pos, r.read, q.writePos, id)
	}
	r.read = pos
	r.tentative = max(r.tentative, pos)
	return nil
}

// Rewind moves the reader's tentative position back to pos, which must lie in
// [read, tentative]; the tokens from pos on will be peeked again (go-back-N).
func (q *FIFO) Rewind(id string, pos uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := q.reader(id)
	if r == nil {
		return fmt.Errorf("%w: %q", ErrUnknownReader, id)
	}
	if pos < r.read || pos > r.tentative {
		return fmt.Errorf("%w: rewind to %d outside [%d, %d] for %q", ErrBadPosition, pos, r.read, r.tentative, id)
	}
	r.tentative = pos
	return nil
}

// Move transfers as many tokens as fit from reader id of src into dst and
// returns how many moved. It is the whole of a local connection between two
// actors on one node: positions continue in both queues, so a connection can
// switch between local and remote without renumbering.
func Move(dst, src *FIFO, id string) (int, error) {
	if dst == src {
		return 0, fmt.Errorf("%w: move within one queue", ErrBadPosition)
	}
	// Lock order: src then dst. A queue is never both the source and the
	// destination of two concurrent moves in opposite directions (an outport
	// queue is only ever a source, an inport queue only a destination).
	src.mu.Lock()
	defer src.mu.Unlock()
	r := src.reader(id)
	if r == nil {
		return 0, fmt.Errorf("%w: %q", ErrUnknownReader, id)
	}
	dst.mu.Lock()
	defer dst.mu.Unlock()
	moved := 0
	for r.read < src.writePos && dst.free() > 0 {
		dst.ring[dst.writePos%dst.n] = src.ring[r.read%src.n]
		dst.writePos++
		r.read++
		moved++
	}
	r.tentative = r.read
	return moved, nil
}
