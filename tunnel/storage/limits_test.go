package storage

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/transport"
	"github.com/meshkit/meshkit/tunnel"
)

func TestMemStoreLimitOptions(t *testing.T) {
	for name, o := range map[string]Option{
		"keys 0": WithMaxKeys(0), "keys -1": WithMaxKeys(-1), "bytes 0": WithMaxBytes(0), "bytes -1": WithMaxBytes(-1),
	} {
		_, err := NewMemStoreWith(o)
		assert.ErrorIs(t, err, ErrInvalidOption, name)
		_, err = NewLocalClient(NewMemStore(), o)
		assert.ErrorIs(t, err, ErrInvalidOption, name)
	}
	s, err := NewMemStoreWith(WithMaxKeys(7), WithMaxBytes(1<<10), WithLogger(quiet()))
	require.NoError(t, err)
	assert.Equal(t, memLimits{maxKeys: 7, maxBytes: 1 << 10}, s.lim)
	assert.Equal(t, memLimits{maxKeys: DefaultMaxKeys, maxBytes: DefaultMaxBytes}, NewMemStore().lim)

	// A limit next to WithStore would be silently ignored: refused.
	m := manager(t, memNode(t, transport.NewMemNetwork(), "limits-options"))
	_, err = NewServer(m, WithStore(NewMemStore()), WithMaxKeys(3))
	assert.ErrorIs(t, err, ErrInvalidOption)
	srv, err := NewServer(m, WithMaxKeys(3), WithMaxBytes(1<<12), WithLogger(quiet()))
	require.NoError(t, err)
	defer func() { _ = srv.Close() }()
	ms, ok := srv.Store().(*MemStore)
	require.True(t, ok)
	assert.Equal(t, memLimits{maxKeys: 3, maxBytes: 1 << 12}, ms.lim)
}

func TestMemStoreMaxKeys(t *testing.T) {
	ctx := context.Background()
	s, err := NewMemStoreWith(WithMaxKeys(3))
	require.NoError(t, err)
	require.NoError(t, s.Set(ctx, "v1", "x"))
	require.NoError(t, s.Append(ctx, "s1", []any{"a"}))
	require.NoError(t, s.AddIndex(ctx, []string{"node", "x"}, []any{"n1"}))
	keys, _ := s.Usage()
	assert.Equal(t, 3, keys)

	for name, err := range map[string]error{
		"set":       s.Set(ctx, "v2", "x"),
		"append":    s.Append(ctx, "s2", []any{"a"}),
		"add index": s.AddIndex(ctx, []string{"node", "y"}, []any{"n1"}),
	} {
		if assert.ErrorIs(t, err, ErrStoreFull, name) {
			assert.Contains(t, err.Error(), "limit 3", name)
		}
	}
	_, err = s.Get(ctx, "v2")
	assert.ErrorIs(t, err, ErrNotFound, "a refused SET stores nothing")
	l, _ := s.GetIndex(ctx, []string{"node"})
	assert.Equal(t, []any{"n1"}, l)

	// Existing keys keep working.
	require.NoError(t, s.Set(ctx, "v1", "overwritten"))
	require.NoError(t, s.Append(ctx, "s1", []any{"b"}))
	require.NoError(t, s.AddIndex(ctx, []string{"node", "x"}, []any{"n2"}))
	// Deleting frees a key.
	require.NoError(t, s.Remove(ctx, "s1", []any{"a", "b"}))
	require.NoError(t, s.Set(ctx, "v2", "x"))
}

func TestMemStoreMaxBytes(t *testing.T) {
	ctx := context.Background()
	s, err := NewMemStoreWith(WithMaxBytes(2000))
	require.NoError(t, err)
	require.NoError(t, s.Set(ctx, "small", "v"))
	_, before := s.Usage()

	err = s.Set(ctx, "big", strings.Repeat("x", 2000))
	require.ErrorIs(t, err, ErrStoreFull)
	assert.Contains(t, err.Error(), `"big"`)
	_, err = s.Get(ctx, "big")
	assert.ErrorIs(t, err, ErrNotFound)
	err = s.Set(ctx, "small", strings.Repeat("x", 2000))
	require.ErrorIs(t, err, ErrStoreFull, "overwriting with a larger value counts too")
	v, _ := s.Get(ctx, "small")
	assert.Equal(t, "v", v)

	// Many tiny members are bounded by their overhead; a refused batch
	// adds none of its items.
	require.NoError(t, s.Append(ctx, "set", []any{"a"}))
	batch := make([]any, 100)
	for i := range batch {
		batch[i] = int64(i)
	}
	require.ErrorIs(t, s.Append(ctx, "set", batch), ErrStoreFull)
	require.ErrorIs(t, s.AddIndex(ctx, []string{"i"}, batch), ErrStoreFull)
	l, _ := s.GetConcat(ctx, "set")
	assert.Equal(t, []any{"a"}, l)
	l, _ = s.GetIndex(ctx, []string{"i"})
	assert.Empty(t, l)
	keys, used := s.Usage()
	assert.Equal(t, 2, keys)
	assert.LessOrEqual(t, used, int64(2000))
	assert.Greater(t, used, before)

	// Deleting frees room.
	require.NoError(t, s.Delete(ctx, "small"))
	require.NoError(t, s.Remove(ctx, "set", []any{"a"}))
	require.NoError(t, s.Set(ctx, "big", strings.Repeat("x", 1500)))
}

// TestMemStoreUsageBalances checks that the accounting does not drift:
// after undoing every write the store is back to zero.
func TestMemStoreUsageBalances(t *testing.T) {
	ctx := context.Background()
	s := NewMemStore()
	nested := map[string]any{"uris": []any{"calvinip://x", nil}, "n": big.NewInt(1), "f": 1.5, "ok": true}
	require.NoError(t, s.Set(ctx, "a", nested))
	require.NoError(t, s.Set(ctx, "a", "shorter"))
	require.NoError(t, s.Set(ctx, "b", []string{"x", "y"}))
	require.NoError(t, s.Set(ctx, "c", (*big.Int)(nil)))
	require.NoError(t, s.Append(ctx, "s", []any{"a", "a", int64(5), uint64(5), nested, (*big.Int)(nil)}))
	require.NoError(t, s.Append(ctx, "s", []any{big.NewInt(5), "b"}))
	require.NoError(t, s.AddIndex(ctx, []string{"node/capabilities/x"}, []any{"n1", "n2"}))
	require.NoError(t, s.AddIndex(ctx, []string{"node", "attr", ""}, []any{"n1"}))
	keys, used := s.Usage()
	assert.Equal(t, 6, keys)
	assert.Positive(t, used)

	require.NoError(t, s.Remove(ctx, "s", []any{"a", uint64(5), "missing"}))
	require.NoError(t, s.Remove(ctx, "s", []any{"b", nested, nil}))
	require.NoError(t, s.RemoveIndex(ctx, []string{"node/capabilities/x"}, []any{"n1", "n2", "n3"}))
	require.NoError(t, s.RemoveIndex(ctx, []string{"node", "attr", ""}, []any{"n1"}))
	for _, k := range []string{"a", "b", "c", "missing"} {
		require.NoError(t, s.Delete(ctx, k))
	}
	keys, used = s.Usage()
	assert.Equal(t, 0, keys)
	assert.Equal(t, int64(0), used)
}

func TestExecuteStoreFullAnswers503(t *testing.T) {
	ctx := context.Background()
	s, err := NewMemStoreWith(WithMaxKeys(1))
	require.NoError(t, err)
	require.NoError(t, s.Set(ctx, "kept", "v"))
	for _, req := range []*wire.StorageRequest{
		{SubEnvelope: wire.SubEnvelope{Cmd: wire.StorageSet, MsgUUID: "m1"}, Key: "new", Value: "v"},
		{SubEnvelope: wire.SubEnvelope{Cmd: wire.StorageAppend, MsgUUID: "m2"}, Key: "new", Value: []any{"a"}},
		{SubEnvelope: wire.SubEnvelope{Cmd: wire.StorageAddIndex, MsgUUID: "m3"}, Prefix: "index-", Index: []string{"x"}, Value: []any{"a"}},
	} {
		r := Execute(ctx, s, req)
		require.NotNil(t, r, req.Cmd)
		assert.Equal(t, wire.SubReply, r.Cmd)
		assert.Equal(t, req.MsgUUID, r.MsgUUID)
		assert.Equal(t, req.Key, r.Key, "key-based commands echo the key")
		require.NotNil(t, r.Response, req.Cmd)
		assert.Equal(t, wire.StatusServiceUnavailable, r.Response.Status, req.Cmd)
		assert.Nil(t, r.Value)
	}
	r := Execute(ctx, s, &wire.StorageRequest{SubEnvelope: wire.SubEnvelope{Cmd: wire.StorageGet, MsgUUID: "m4"}, Key: "kept"})
	assert.Equal(t, "v", r.Value, "reads keep working")

	// The local client sees the same refusal as a remote one.
	c, err := NewLocalClient(s)
	require.NoError(t, err)
	defer func() { _ = c.Close() }()
	err = c.Set(ctx, "new", "v")
	require.ErrorIs(t, err, ErrStoreFull)
	var se *StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 503, se.Status)
	assert.NotErrorIs(t, &StatusError{Status: 500}, ErrStoreFull)
}

// TestServerStoreFloodOverWire has a peer flood a registry node with SETs
// over the storage tunnel: past the limit each write gets response 503,
// the tunnel stays up, and another peer keeps reading and writing the
// keys there are.
func TestServerStoreFloodOverWire(t *testing.T) {
	const limit = 20
	net := transport.NewMemNetwork()
	reg := memNode(t, net, "flood-registry")
	flooder, honest := memNode(t, net, "flood-flooder"), memNode(t, net, "flood-honest")
	regM := manager(t, reg)
	srv, err := NewServer(regM, WithMaxKeys(limit), WithLogger(quiet()))
	require.NoError(t, err)
	t.Cleanup(func() { _ = srv.Close() })
	fc, err := NewClient(manager(t, flooder), reg.ID(), WithLogger(quiet()), WithTimeout(5*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { _ = fc.Close() })
	hc, err := NewClient(manager(t, honest), reg.ID(), WithLogger(quiet()), WithTimeout(5*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { _ = hc.Close() })
	join(t, flooder, reg)
	join(t, honest, reg)
	ctx := ctx10s(t)

	require.NoError(t, hc.Set(ctx, "node-honest", map[string]any{"uris": []any{"mem://flood-honest"}}))
	stored, refused := 0, 0
	for i := range limit + 10 {
		err := fc.Set(ctx, fmt.Sprintf("flood-%d", i), strings.Repeat("x", 100))
		if err == nil {
			stored++
			continue
		}
		require.ErrorIs(t, err, ErrStoreFull, "write %d", i)
		var se *StatusError
		require.ErrorAs(t, err, &se)
		assert.Equal(t, wire.StatusServiceUnavailable, se.Status)
		refused++
	}
	assert.Equal(t, limit-1, stored)
	assert.Equal(t, 11, refused)
	keys, _ := srv.Store().(*MemStore).Usage()
	assert.Equal(t, limit, keys)

	// The link and the tunnel survive the refusals.
	tu, ok := regM.Lookup(flooder.ID(), TunnelType)
	require.True(t, ok)
	assert.Equal(t, tunnel.StateWorking, tu.State())
	assert.True(t, linked(reg, flooder.ID()))

	// The other peer keeps working with the keys there are.
	v, err := hc.Get(ctx, "node-honest")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"uris": []any{"mem://flood-honest"}}, v)
	require.NoError(t, hc.Set(ctx, "node-honest", map[string]any{"uris": []any{"mem://moved"}}))
	require.ErrorIs(t, hc.Append(ctx, "new-set", []any{"a"}), ErrStoreFull)
	require.NoError(t, fc.Delete(ctx, "flood-0"))
	require.NoError(t, hc.Append(ctx, "new-set", []any{"a"}))
	l, err := fc.GetConcat(ctx, "new-set")
	require.NoError(t, err)
	assert.Equal(t, []any{"a"}, l, "the flooder's link still answers")
}
