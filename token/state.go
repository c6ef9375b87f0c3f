package token

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
)

// QueueTypeNone is the queue state of a port that was never connected.
const QueueTypeNone = "none"

// Queue is a port queue whose state can travel inside a migrated actor
// (spec §10.3): a *FIFO, or an *OpaqueQueue for the queue types Go keeps
// without running them.
type Queue interface {
	QueueType() string
	// State returns the queue state in Calvin's layout.
	State() map[string]any
}

// OpaqueQueue keeps a queue state the library does not run (the dispatch and
// collect queues of spec §7.7, and "none") so that it can be handed back
// unchanged, as a shadow actor must.
type OpaqueQueue struct {
	typ   string
	state map[string]any
}

// QueueType returns the stored queuetype.
func (o *OpaqueQueue) QueueType() string { return o.typ }

// State returns the state exactly as imported.
func (o *OpaqueQueue) State() map[string]any { return o.state }

// NoneState returns the state of a port without a queue: {"queuetype": "none"}.
func NoneState() map[string]any { return map[string]any{"queuetype": QueueTypeNone} }

// ImportQueue decodes a port's queue state: fanout_fifo becomes a running
// *FIFO, every other queuetype (collect:*, dispatch:*, none) an *OpaqueQueue.
func ImportQueue(state any) (Queue, error) {
	m, ok := state.(map[string]any)
	if !ok {
		return nil, stateErr("", "%T is not a map", state)
	}
	typ, ok := m["queuetype"].(string)
	if !ok {
		// Calvin's fanout_fifo defaults a missing queuetype.
		if _, has := m["queuetype"]; has {
			return nil, stateErr("queuetype", "not a string")
		}
		typ = QueueTypeFIFO
	}
	if typ == QueueTypeFIFO {
		return ImportFIFO(m)
	}
	if typ != QueueTypeNone {
		if err := checkPerPeerQueue(m); err != nil {
			return nil, err
		}
	}
	return &OpaqueQueue{typ: typ, state: m}, nil
}

// checkPerPeerQueue makes sure a dispatch or collect state at least has the
// shape of §7.7 (N and a map of rings), so garbage is refused early.
func checkPerPeerQueue(m map[string]any) error {
	if _, err := position(m["N"]); err != nil {
		return stateErr("N", "%v", err)
	}
	if _, ok := m["fifo"].(map[string]any); !ok {
		return stateErr("fifo", "want a map of rings per peer, got %T", m["fifo"])
	}
	return nil
}

// ImportFIFO rebuilds a fanout_fifo from its state (spec §7.6). reader_offset
// is optional (constrained omits it). The state is checked for consistency:
// every reader has positions with read <= tentative <= write_pos, and no
// reader is more than N-1 behind.
func ImportFIFO(m map[string]any) (*FIFO, error) {
	if typ, has := m["queuetype"]; has && typ != QueueTypeFIFO {
		return nil, stateErr("queuetype", "%v is not %s", typ, QueueTypeFIFO)
	}
	n, err := position(m["N"])
	if err != nil {
		return nil, stateErr("N", "%v", err)
	}
	if n < 2 || n > maxQueueLength+1 {
		return nil, stateErr("N", "%d outside [2, %d]", n, maxQueueLength+1)
	}
	ring, ok := m["fifo"].([]any)
	if !ok {
		return nil, stateErr("fifo", "want a list, got %T", m["fifo"])
	}
	if uint64(len(ring)) != n {
		return nil, stateErr("fifo", "%d slots for N=%d", len(ring), n)
	}
	q := &FIFO{n: n, ring: make([]Token, n)}
	for i, v := range ring {
		t, err := Decode(v)
		if err != nil {
			return nil, stateErr("fifo", "slot %d: %v", i, err)
		}
		q.ring[i] = t
	}
	if q.writePos, err = position(m["write_pos"]); err != nil {
		return nil, stateErr("write_pos", "%v", err)
	}
	readers, ok := m["readers"].([]any)
	if !ok {
		return nil, stateErr("readers", "want a list, got %T", m["readers"])
	}
	readPos, ok := m["read_pos"].(map[string]any)
	if !ok {
		return nil, stateErr("read_pos", "want a map, got %T", m["read_pos"])
	}
	tentPos, ok := m["tentative_read_pos"].(map[string]any)
	if !ok {
		return nil, stateErr("tentative_read_pos", "want a map, got %T", m["tentative_read_pos"])
	}
	var offsets map[string]any
	if v, has := m["reader_offset"]; has && v != nil {
		if offsets, ok = v.(map[string]any); !ok {
			return nil, stateErr("reader_offset", "want a map, got %T", v)
		}
	}
	for _, rv := range readers {
		id, ok := rv.(string)
		if !ok {
			return nil, stateErr("readers", "reader id %T is not a string", rv)
		}
		if q.reader(id) != nil {
			return nil, stateErr("readers", "duplicate reader %q", id)
		}
		r := fifoReader{id: id}
		if r.read, err = position(readPos[id]); err != nil {
			return nil, stateErr("read_pos", "reader %q: %v", id, err)
		}
		if r.tentative, err = position(tentPos[id]); err != nil {
			return nil, stateErr("tentative_read_pos", "reader %q: %v", id, err)
		}
		if ov, has := offsets[id]; has {
			if r.offset, err = position(ov); err != nil {
				return nil, stateErr("reader_offset", "reader %q: %v", id, err)
			}
		}
		if r.read > r.tentative || r.tentative > q.writePos {
			return nil, stateErr("tentative_read_pos", "reader %q: need read %d <= tentative %d <= write_pos %d", id, r.read, r.tentative, q.writePos)
		}
		if q.writePos-r.read > n-1 {
			return nil, stateErr("read_pos", "reader %q is %d behind, ring holds %d", id, q.writePos-r.read, n-1)
		}
		if r.offset > r.read {
			return nil, stateErr("reader_offset", "reader %q: offset %d beyond read_pos %d", id, r.offset, r.read)
		}
		q.readers = append(q.readers, r)
	}
	if len(q.readers) == 0 {
		// Nobody is owed the stored tokens; without this a queue written past
		// N-1 would count as full for ever.
		q.floor = q.writePos
	}
	return q, nil
}

// State exports the queue in Calvin's layout (spec §7.6): queuetype, N, fifo
// (the whole ring, slot p mod N for position p), readers, write_pos and the
// per-reader read_pos, tentative_read_pos and reader_offset maps. Integers are
// int64. Token data is shared, not copied.
func (q *FIFO) State() map[string]any {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stateLocked(false)
}

// MigrationState is State with every tentative read cancelled in the export
// (tentative_read_pos = read_pos), which spec §7.8 requires when an outport
// leaves with its actor: the destination must resend unacknowledged tokens.
// The live queue is not changed.
func (q *FIFO) MigrationState() map[string]any {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.stateLocked(true)
}

func (q *FIFO) stateLocked(cancel bool) map[string]any {
	ring := make([]any, len(q.ring))
	for i, t := range q.ring {
		ring[i] = t.Encode()
	}
	readers := make([]any, len(q.readers))
	read := make(map[string]any, len(q.readers))
	tent := make(map[string]any, len(q.readers))
	off := make(map[string]any, len(q.readers))
	for i, r := range q.readers {
		readers[i] = r.id
		read[r.id] = int64(r.read)
		if cancel {
			tent[r.id] = int64(r.read)
		} else {
			tent[r.id] = int64(r.tentative)
		}
		off[r.id] = int64(r.offset)
	}
	return map[string]any{
		"queuetype":          QueueTypeFIFO,
		"N":                  int64(q.n),
		"fifo":               ring,
		"readers":            readers,
		"write_pos":          int64(q.writePos),
		"read_pos":           read,
		"tentative_read_pos": tent,
		"reader_offset":      off,
	}
}

// position converts a generic integer from either coder (or from a test's
// json.Number) into a non-negative position below 2^63.
func position(v any) (uint64, error) {
	switch x := v.(type) {
	case int64:
		if x < 0 {
			return 0, fmt.Errorf("negative %d", x)
		}
		return uint64(x), nil
	case int:
		if x < 0 {
			return 0, fmt.Errorf("negative %d", x)
		}
		return uint64(x), nil
	case uint64:
		if x > math.MaxInt64 {
			return 0, fmt.Errorf("%d too large", x)
		}
		return x, nil
	case int32:
		return position(int64(x))
	case uint32:
		return uint64(x), nil
	case float64:
		// Liberal: an integral float is accepted, anything else is not a position.
		if x < 0 || x != math.Trunc(x) || x >= math.MaxInt64 {
			return 0, fmt.Errorf("%v is not a position", x)
		}
		return uint64(x), nil
	case *big.Int:
		if x == nil || x.Sign() < 0 || !x.IsInt64() {
			return 0, fmt.Errorf("%v is not a position", x)
		}
		return uint64(x.Int64()), nil
	case json.Number:
		u, err := strconv.ParseUint(string(x), 10, 63)
		if err != nil {
			return 0, fmt.Errorf("%q is not a position", string(x))
		}
		return u, nil
	case nil:
		return 0, fmt.Errorf("missing")
	default:
		return 0, fmt.Errorf("%T is not an integer", v)
	}
}
