package storage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"sync"
)

// Sentinel errors of the storage package.
var (
	// ErrNotFound is returned by Get for a key that has no plain value.
	ErrNotFound = errors.New("storage: key not found")
	// ErrBadRequest marks a malformed storage request (missing key, value not a list, ...).
	ErrBadRequest = errors.New("storage: bad request")
	// ErrClosed is returned by a Client or Server after Close.
	ErrClosed = errors.New("storage: closed")
	// ErrTimeout is returned when a registry request got no reply in time.
	ErrTimeout = errors.New("storage: request timed out")
)

// StatusError is a non-success status returned by a remote registry.
type StatusError struct {
	Cmd    string // storage command, e.g. "GET"
	Key    string // key or joined index levels; empty when the command has none
	Status int    // CalvinResponse status, e.g. 404
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("storage: %s %q: status %d", e.Cmd, e.Key, e.Status)
}

// Is makes a 404 match ErrNotFound, a 400 ErrBadRequest and a 503
// ErrStoreFull (a meshkit registry answers 503 only for a full store).
func (e *StatusError) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.Status == 404
	case ErrBadRequest:
		return e.Status == 400
	case ErrStoreFull:
		return e.Status == 503
	}
	return false
}

// Store is the registry's backing store. Values are generic wire values
// (nil, bool, string, int64, uint64, *big.Int, float64, []any,
// map[string]any); implementations must treat them as immutable or copy them.
//
// Plain values (Get/Set/Delete) and sets (Append/Remove/GetConcat) live in
// separate namespaces, as in Calvin's local storage. Index entries are sets
// keyed by their level list.
type Store interface {
	// Get returns the plain value under key, or an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) (any, error)
	// Set stores value under key, replacing any previous value.
	Set(ctx context.Context, key string, value any) error
	// Delete removes the plain value under key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// Append adds items to the set under key.
	Append(ctx context.Context, key string, items []any) error
	// Remove removes items from the set under key.
	Remove(ctx context.Context, key string, items []any) error
	// GetConcat returns the set under key as a list (empty, never an error, when missing).
	GetConcat(ctx context.Context, key string) ([]any, error)
	// AddIndex adds items to the index set stored at exactly these levels.
	AddIndex(ctx context.Context, index []string, items []any) error
	// RemoveIndex removes items from the index set at exactly these levels.
	RemoveIndex(ctx context.Context, index []string, items []any) error
	// GetIndex returns the union of the index sets at every level list that
	// starts with index (whole levels compared).
	GetIndex(ctx context.Context, index []string) ([]any, error)
}

// MemStore is the in-memory Store with the semantics of Calvin's
// storage_type = "local". Sets keep insertion order so that replies are
// deterministic. The zero value is not usable; use NewMemStore.
//
// A MemStore is bounded (WithMaxKeys, WithMaxBytes): a write that would
// exceed a limit fails with ErrStoreFull and changes nothing.
type MemStore struct {
	mu      sync.RWMutex
	values  map[string]any
	sets    map[string]*orderedSet
	indexes map[string]*indexEntry // keyed by the encoded level list
	lim     memLimits
}

type indexEntry struct {
	levels []string
	set    *orderedSet
}

// NewMemStore returns an empty in-memory store with the default limits
// (DefaultMaxKeys, DefaultMaxBytes).
func NewMemStore() *MemStore { return newMemStore(0, 0) }

// NewMemStoreWith returns an empty in-memory store with the limits set by
// WithMaxKeys and WithMaxBytes; other options are ignored.
func NewMemStoreWith(opts ...Option) (*MemStore, error) {
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	return newMemStore(o.maxKeys, o.maxBytes), nil
}

// newMemStore uses the default for a zero limit.
func newMemStore(maxKeys int, maxBytes int64) *MemStore {
	if maxKeys == 0 {
		maxKeys = DefaultMaxKeys
	}
	if maxBytes == 0 {
		maxBytes = DefaultMaxBytes
	}
	return &MemStore{
		values:  make(map[string]any),
		sets:    make(map[string]*orderedSet),
		indexes: make(map[string]*indexEntry),
		lim:     memLimits{maxKeys: maxKeys, maxBytes: maxBytes},
	}
}

var _ Store = (*MemStore)(nil)

// Get implements Store.
func (s *MemStore) Get(_ context.Context, key string) (any, error) {
	s.mu.RLock()
	v, ok := s.values[key]
	s.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrNotFound, key)
	}
	return cloneValue(v), nil
}

// Set implements Store. It fails with ErrStoreFull when a new key or a
// larger value would exceed the store's limits.
func (s *MemStore) Set(_ context.Context, key string, value any) error {
	value = cloneValue(value)
	size := sizeOf(value)
	s.mu.Lock()
	defer s.mu.Unlock()
	grow, newKeys := keyCost(key)+size, 1
	if old, ok := s.values[key]; ok {
		grow, newKeys = size-sizeOf(old), 0
	}
	if err := s.admit("SET", key, newKeys, grow); err != nil {
		return err
	}
	s.values[key] = value
	s.lim.bytes += grow
	return nil
}

// Delete implements Store.
func (s *MemStore) Delete(_ context.Context, key string) error {
	s.mu.Lock()
	if old, ok := s.values[key]; ok {
		delete(s.values, key)
		s.lim.bytes -= keyCost(key) + sizeOf(old)
	}
	s.mu.Unlock()
	return nil
}

// Append implements Store. It fails with ErrStoreFull, adding nothing,
// when a new key or the new members would exceed the store's limits.
func (s *MemStore) Append(_ context.Context, key string, items []any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	set := s.sets[key]
	grow, newKeys := int64(0), 0
	if set == nil {
		set = newOrderedSet()
		grow, newKeys = keyCost(key), 1
	}
	grow += set.addCost(items)
	if err := s.admit("APPEND", key, newKeys, grow); err != nil {
		return err
	}
	s.sets[key] = set
	set.add(items)
	s.lim.bytes += grow
	return nil
}

// Remove implements Store.
func (s *MemStore) Remove(_ context.Context, key string, items []any) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if set := s.sets[key]; set != nil {
		s.lim.bytes -= set.remove(items)
		if set.len() == 0 {
			delete(s.sets, key)
			s.lim.bytes -= keyCost(key)
		}
	}
	return nil
}

// GetConcat implements Store.
func (s *MemStore) GetConcat(_ context.Context, key string) ([]any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := []any{}
	if set := s.sets[key]; set != nil {
		out = set.appendTo(out)
	}
	return out, nil
}

// AddIndex implements Store. It fails with ErrStoreFull, adding nothing,
// when a new index entry or the new members would exceed the store's
// limits.
func (s *MemStore) AddIndex(_ context.Context, index []string, items []any) error {
	k := levelsKey(index)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.indexes[k]
	grow, newKeys := int64(0), 0
	if e == nil {
		e = &indexEntry{levels: append([]string(nil), index...), set: newOrderedSet()}
		grow, newKeys = levelsCost(k, index), 1
	}
	grow += e.set.addCost(items)
	if err := s.admit("ADD_INDEX", index, newKeys, grow); err != nil {
		return err
	}
	s.indexes[k] = e
	e.set.add(items)
	s.lim.bytes += grow
	return nil
}

// RemoveIndex implements Store.
func (s *MemStore) RemoveIndex(_ context.Context, index []string, items []any) error {
	k := levelsKey(index)
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.indexes[k]; e != nil {
		s.lim.bytes -= e.set.remove(items)
		if e.set.len() == 0 {
			delete(s.indexes, k)
			s.lim.bytes -= levelsCost(k, e.levels)
		}
	}
	return nil
}

// GetIndex implements Store. It scans all index entries; registries hold a
// few hundred of them, so a trie would not pay for itself.
func (s *MemStore) GetIndex(_ context.Context, index []string) ([]any, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	union := newOrderedSet()
	for _, e := range s.indexes {
		if hasLevelPrefix(e.levels, index) {
			union.addSet(e.set)
		}
	}
	return union.appendTo([]any{}), nil
}

func hasLevelPrefix(levels, prefix []string) bool {
	if len(prefix) > len(levels) {
		return false
	}
	for i, p := range prefix {
		if levels[i] != p {
			return false
		}
	}
	return true
}

// levelsKey encodes a level list unambiguously (levels may contain any byte).
func levelsKey(levels []string) string {
	b := make([]byte, 0, 64)
	for _, l := range levels {
		b = strconv.AppendInt(b, int64(len(l)), 10)
		b = append(b, ':')
		b = append(b, l...)
	}
	return string(b)
}

// orderedSet is a set of generic values that remembers insertion order.
type orderedSet struct {
	index map[string]int // item key -> position in items
	items []any
	keys  []string
}

func newOrderedSet() *orderedSet { return &orderedSet{index: make(map[string]int)} }

func (s *orderedSet) len() int { return len(s.items) }

// addCost is what add(items) would add to the store's size: the members
// not in the set yet, each counted once.
func (s *orderedSet) addCost(items []any) int64 {
	var n int64
	var seen map[string]bool
	for _, it := range items {
		k := itemKey(it)
		if _, ok := s.index[k]; ok || seen[k] {
			continue
		}
		if seen == nil {
			seen = map[string]bool{}
		}
		seen[k] = true
		n += memberCost(k, it)
	}
	return n
}

func (s *orderedSet) add(items []any) {
	for _, it := range items {
		k := itemKey(it)
		if _, ok := s.index[k]; ok {
			continue
		}
		s.index[k] = len(s.items)
		s.items = append(s.items, cloneValue(it))
		s.keys = append(s.keys, k)
	}
}

func (s *orderedSet) addSet(o *orderedSet) {
	for i, it := range o.items {
		k := o.keys[i]
		if _, ok := s.index[k]; ok {
			continue
		}
		s.index[k] = len(s.items)
		s.items = append(s.items, it)
		s.keys = append(s.keys, k)
	}
}

// remove removes items and returns the size they took (memberCost).
func (s *orderedSet) remove(items []any) (freed int64) {
	removed := false
	for _, it := range items {
		k := itemKey(it)
		if i, ok := s.index[k]; ok {
			delete(s.index, k)
			freed += memberCost(k, s.items[i])
			removed = true
		}
	}
	if !removed {
		return 0
	}
	// Compact in one pass so that removing many items stays linear.
	n := 0
	for i, k := range s.keys {
		if _, ok := s.index[k]; !ok {
			continue
		}
		s.items[n], s.keys[n] = s.items[i], k
		s.index[k] = n
		n++
	}
	clear(s.items[n:])
	s.items, s.keys = s.items[:n], s.keys[:n]
	return freed
}

func (s *orderedSet) appendTo(dst []any) []any {
	for _, it := range s.items {
		dst = append(dst, cloneValue(it))
	}
	return dst
}

// itemKey is the identity of a set member. Integers compare by value whatever
// their Go type (int64 5 and uint64 5 are the same member, as in Python).
func itemKey(v any) string {
	switch x := v.(type) {
	case nil:
		return "n"
	case string:
		return "s" + x
	case bool:
		if x {
			return "bt"
		}
		return "bf"
	case int:
		return "i" + strconv.FormatInt(int64(x), 10)
	case int64:
		return "i" + strconv.FormatInt(x, 10)
	case int32:
		return "i" + strconv.FormatInt(int64(x), 10)
	case uint64:
		return "i" + strconv.FormatUint(x, 10)
	case uint32:
		return "i" + strconv.FormatUint(uint64(x), 10)
	case *big.Int:
		if x == nil {
			return "n"
		}
		return "i" + x.String()
	case float64:
		return "f" + strconv.FormatFloat(x, 'g', -1, 64)
	case json.Number:
		return "i" + x.String()
	}
	// Lists and maps cannot be set members in Calvin (unhashable); accept them
	// by a canonical encoding rather than fail.
	if b, err := json.Marshal(v); err == nil {
		return "j" + string(b)
	}
	return fmt.Sprintf("x%#v", v)
}

// cloneValue deep-copies the mutable generic containers so the store never
// shares them with callers.
func cloneValue(v any) any {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = cloneValue(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = cloneValue(e)
		}
		return out
	case []string:
		return append([]string(nil), x...)
	case *big.Int:
		if x == nil {
			return nil
		}
		return new(big.Int).Set(x)
	}
	return v
}
