package main

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/actor/control"
	"github.com/meshkit/meshkit/rt2rt"
	"github.com/meshkit/meshkit/tunnel/storage"
)

// TestRegistryIndexes: a registry master publishes its record, its name
// index and one capability index per capability (§6.2, §11.11), and
// deletes them on a clean stop; a lateRegistry holds writes until its
// client is set.
func TestRegistryIndexes(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	node, err := rt2rt.NewNode(rt2rt.WithLogger(log))
	require.NoError(t, err)
	defer node.Close()
	o, err := parseFlags([]string{"-name", "nodeA"}, io.Discard)
	require.NoError(t, err)
	st, err := newStack(node, o, io.Discard, log)
	require.NoError(t, err)
	defer st.close()
	rec := &storage.NodeRecord{ID: node.ID(), URIs: node.URIs(), Capabilities: st.rt.Capabilities(),
		Attributes: storage.NodeAttributes{Public: map[string]any{}, IndexedPublic: []string{storage.NodeNameIndex("", "", "", "", "nodeA")}}}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	require.NoError(t, st.startRegistry(ctx, o, rec, &wg))
	c := st.reg.client()
	require.NotNil(t, c)
	for _, capability := range []string{"io.stdout", "sys.schedule", "sys.timer.once", "sys.timer.repeating"} {
		ids, err := c.NodesWithCapability(ctx, capability)
		require.NoError(t, err)
		assert.Equal(t, []string{node.ID()}, ids, capability)
	}
	ids, err := c.GetIndex(ctx, storage.IndexLevels(storage.NodeNameIndex("", "", "", "", "nodeA"), storage.AttributeRootLevels))
	require.NoError(t, err)
	assert.Equal(t, []any{node.ID()}, ids)

	st.cleanUp(ctx, control.ShutdownClean, rec)
	_, err = c.Get(ctx, storage.PrefixNode+node.ID())
	assert.ErrorIs(t, err, storage.ErrNotFound)
	ids, err = c.GetIndex(ctx, storage.CapabilityIndex("io.stdout"))
	require.NoError(t, err)
	assert.Empty(t, ids)
}

func TestLateRegistry(t *testing.T) {
	ctx := context.Background()
	var l lateRegistry
	_, err := l.Get(ctx, "k")
	assert.ErrorIs(t, err, storage.ErrNotFound)
	require.NoError(t, l.Set(ctx, "k", "v1"))
	require.NoError(t, l.Set(ctx, "k", "v2"))
	require.NoError(t, l.Set(ctx, "gone", "x"))
	require.NoError(t, l.Delete(ctx, "gone"))
	store := storage.NewMemStore()
	c, err := storage.NewLocalClient(store)
	require.NoError(t, err)
	l.set(ctx, c, slog.New(slog.DiscardHandler))
	v, err := l.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, "v2", v, "buffered writes are applied in order")
	_, err = store.Get(ctx, "gone")
	assert.ErrorIs(t, err, storage.ErrNotFound)
	require.NoError(t, l.Set(ctx, "k", "v3"))
	v, _ = store.Get(ctx, "k")
	assert.Equal(t, "v3", v)
}
