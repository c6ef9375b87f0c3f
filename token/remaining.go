package token

import "fmt"

// Remaining returns the tokens reader id has not committed, as the
// remaining_tokens list of an EXHAUST disconnect (spec §7.8):
// [[position, {"type", "data"}], ...], positions as int64.
func (q *FIFO) Remaining(id string) ([]any, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	r := q.reader(id)
	if r == nil {
		return nil, fmt.Errorf("%w: %q", ErrUnknownReader, id)
	}
	out := make([]any, 0, q.writePos-r.read)
	for pos := r.read; pos < q.writePos; pos++ {
		out = append(out, []any{int64(pos), q.ring[pos%q.n].Encode()})
	}
	return out, nil
}

// AbsorbRemaining writes the tokens of a peer's remaining_tokens list into
// the queue at their positions (spec §7.8). Positions below the write
// position are tokens the queue already has and are skipped; a position
// beyond it (a gap) or a full queue stops with an error, reporting how many
// tokens were written so far. Malformed entries are errors too.
func (q *FIFO) AbsorbRemaining(list any) (int, error) {
	entries, ok := list.([]any)
	if !ok {
		if list == nil {
			return 0, nil
		}
		return 0, fmt.Errorf("%w: remaining tokens: %T is not a list", ErrBadQueueState, list)
	}
	written := 0
	for i, e := range entries {
		pair, ok := e.([]any)
		if !ok || len(pair) != 2 {
			return written, fmt.Errorf("%w: remaining token %d is not a [position, token] pair", ErrBadQueueState, i)
		}
		pos, err := position(pair[0])
		if err != nil {
			return written, fmt.Errorf("%w: remaining token %d: position %v", ErrBadQueueState, i, err)
		}
		tok, err := Decode(pair[1])
		if err != nil {
			return written, fmt.Errorf("%w: remaining token %d: %v", ErrBadQueueState, i, err)
		}
		stored, next, err := q.WriteAt(pos, tok)
		switch {
		case err != nil:
			return written, fmt.Errorf("remaining token at %d: %w", pos, err)
		case stored:
			written++
		case pos > next:
			return written, fmt.Errorf("%w: remaining token at %d, queue expects %d", ErrBadPosition, pos, next)
		}
	}
	return written, nil
}
