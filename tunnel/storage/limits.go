package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
)

// Default limits of a MemStore. Peers write the registry (SET, APPEND,
// ADD_INDEX over the storage tunnel), so it is bounded by default. A Calvin
// node writes a few hundred records (its actor-type catalogue, its node,
// actors and ports), most of them shared, so these leave room for large
// meshes.
const (
	// DefaultMaxKeys bounds the keys of a MemStore: plain values, sets and
	// index entries together.
	DefaultMaxKeys = 100_000
	// DefaultMaxBytes bounds the estimated size of a MemStore's contents.
	DefaultMaxBytes = 64 << 20
)

// ErrStoreFull is returned by a MemStore write that would exceed its
// limits (WithMaxKeys, WithMaxBytes). The Server answers it with response
// 503; a Client's StatusError with status 503 matches it too. Nothing of
// the refused write is stored; deletes and removals always work.
var ErrStoreFull = errors.New("storage: store full")

// WithMaxKeys bounds the keys a MemStore holds, plain values, sets and
// index entries together (default DefaultMaxKeys). It applies to
// NewMemStoreWith and to the MemStore NewServer creates when WithStore is
// not given; NewServer refuses it next to WithStore rather than leave the
// given store unbounded by surprise. n must be at least 1.
func WithMaxKeys(n int) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: max keys %d", ErrInvalidOption, n)
		}
		o.maxKeys = n
		return nil
	}
}

// WithMaxBytes bounds the estimated memory a MemStore's keys, values, set
// members and index levels take (default DefaultMaxBytes). Every entry and
// member counts a fixed overhead besides its content, so a flood of tiny
// items is bounded too. It applies where WithMaxKeys does. n must be at
// least 1.
func WithMaxBytes(n int64) Option {
	return func(o *options) error {
		if n < 1 {
			return fmt.Errorf("%w: max bytes %d", ErrInvalidOption, n)
		}
		o.maxBytes = n
		return nil
	}
}

// Size estimate: content bytes plus a rough per-object overhead, so the
// limit tracks memory use without reflecting on the runtime's layout.
const (
	entryOverhead = 64 // a map entry with its key header and bookkeeping
	valueOverhead = 16 // an interface value
	itemOverhead  = 48 // a set member: interface, index entry, key string header
)

// keyCost is what one key of any namespace costs besides its contents.
func keyCost(key string) int64 { return entryOverhead + int64(len(key)) }

// levelsCost is what an index entry costs besides its members.
func levelsCost(k string, levels []string) int64 {
	n := keyCost(k)
	for _, l := range levels {
		n += valueOverhead + int64(len(l))
	}
	return n
}

// memberCost is what one set member costs: its identity key and its value.
func memberCost(itemKey string, v any) int64 {
	return itemOverhead + int64(len(itemKey)) + sizeOf(v)
}

// sizeOf estimates the memory a generic wire value takes.
func sizeOf(v any) int64 {
	switch x := v.(type) {
	case string:
		return valueOverhead + int64(len(x))
	case json.Number:
		return valueOverhead + int64(len(x))
	case []string:
		n := int64(24)
		for _, s := range x {
			n += valueOverhead + int64(len(s))
		}
		return n
	case []any:
		n := int64(24)
		for _, e := range x {
			n += sizeOf(e)
		}
		return n
	case map[string]any:
		n := int64(48)
		for k, e := range x {
			n += valueOverhead + int64(len(k)) + sizeOf(e)
		}
		return n
	case *big.Int:
		if x == nil {
			return valueOverhead + 8 // as the nil it is cloned to
		}
		return valueOverhead + 32 + int64(len(x.Bits()))*8
	}
	return valueOverhead + 8 // nil, bool, numbers
}

// memLimits are a MemStore's bounds and usage, guarded by MemStore.mu.
type memLimits struct {
	maxKeys  int
	maxBytes int64
	bytes    int64
}

// admit checks that a write adding newKeys keys and growing the contents
// by grow bytes stays within the limits; what is the key or index written.
// The message is formatted only on a refusal: admit runs on every write.
func (s *MemStore) admit(op string, key any, newKeys int, grow int64) error {
	if keys := s.keysLocked(); newKeys > 0 && keys+newKeys > s.lim.maxKeys {
		return fmt.Errorf("%w: %s %q: %d keys, limit %d", ErrStoreFull, op, key, keys, s.lim.maxKeys)
	}
	if grow > 0 && s.lim.bytes+grow > s.lim.maxBytes {
		return fmt.Errorf("%w: %s %q: %d more bytes on %d, limit %d", ErrStoreFull, op, key, grow, s.lim.bytes, s.lim.maxBytes)
	}
	return nil
}

func (s *MemStore) keysLocked() int { return len(s.values) + len(s.sets) + len(s.indexes) }

// Usage returns how many keys the store holds (plain values, sets and index
// entries) and the estimated size of its contents, the figures its limits
// apply to.
func (s *MemStore) Usage() (keys int, bytes int64) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.keysLocked(), s.lim.bytes
}
