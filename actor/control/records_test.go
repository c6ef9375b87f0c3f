package control

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/actor/std"
	"github.com/meshkit/meshkit/tunnel/storage"
)

func TestRecordsLifecycle(t *testing.T) {
	_, err := NewRecords(nil, nil)
	require.ErrorIs(t, err, ErrInvalidOption)

	// Counted inside Eventually, like the check at the end, so that the
	// goroutines of Eventually itself count both times.
	before := 0
	require.Eventually(t, func() bool { before = runtime.NumGoroutine(); return true }, time.Second, time.Millisecond)
	store := storage.NewMemStore()
	reg, err := storage.NewLocalClient(store)
	require.NoError(t, err)
	r, err := NewRecords(reg, nil)
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, r.Flush(ctx), "not attached: nothing to wait for")

	types, err := std.NewRegistry()
	require.NoError(t, err)
	rt, err := actor.NewRuntime(actor.WithRegistry(types), actor.WithObserver(r), actor.WithNodeID("n1"))
	require.NoError(t, err)
	r.Attach(rt)
	r.Attach(rt) // a second Attach is ignored

	// Creation writes actor- and port- records through the observer.
	id, err := rt.CreateActor(ctx, "std.Identity", map[string]any{"name": "i"})
	require.NoError(t, err)
	require.NoError(t, r.Flush(ctx))
	v, err := store.Get(ctx, storage.PrefixActor+id)
	require.NoError(t, err)
	rec, err := storage.ParseActorRecord(id, v)
	require.NoError(t, err)
	assert.Equal(t, "n1", rec.NodeID)
	assert.Equal(t, "std.Identity", rec.Type)
	require.Len(t, rec.InPorts, 1)
	require.Len(t, rec.OutPorts, 1)
	pv, err := store.Get(ctx, storage.PrefixPort+rec.InPorts[0].ID)
	require.NoError(t, err)
	pr, err := storage.ParsePortRecord(rec.InPorts[0].ID, pv)
	require.NoError(t, err)
	assert.Equal(t, id, pr.ActorID)
	assert.False(t, pr.Connected)

	node, err := Locator{Registry: reg}.ActorNode(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "n1", node)
	node, err = Locator{Registry: reg}.PortNode(ctx, rec.OutPorts[0].ID)
	require.NoError(t, err)
	assert.Equal(t, "n1", node)
	_, err = Locator{Registry: reg}.ActorNode(ctx, "nope")
	assert.ErrorIs(t, err, storage.ErrNotFound)
	_, err = Locator{Registry: reg}.PortNode(ctx, "nope")
	assert.ErrorIs(t, err, storage.ErrNotFound)
	require.NoError(t, store.Set(ctx, storage.PrefixActor+"bad", "not a map"))
	_, err = Locator{Registry: reg}.ActorNode(ctx, "bad")
	assert.Error(t, err)
	require.NoError(t, store.Set(ctx, storage.PrefixPort+"nonode", map[string]any{"name": "x"}))
	_, err = Locator{Registry: reg}.PortNode(ctx, "nonode")
	assert.ErrorIs(t, err, storage.ErrNotFound)

	// A remote peer's node comes from the hint, else from its port record.
	r.PeerNode("remote-port", "n2")
	p, _ := rt.Port(rec.InPorts[0].ID)
	p.Peers, p.Local = []string{"remote-port", rec.OutPorts[0].ID}, []bool{false, true}
	got := r.portRecord(ctx, "n1", p)
	assert.Equal(t, []storage.PortPeer{{NodeID: "n2", PortID: "remote-port"}, {NodeID: "n1", PortID: rec.OutPorts[0].ID}}, got.Peers)
	assert.True(t, got.Connected)

	// As an actor.Recorder: Unpublish deletes the records, Publish writes
	// them again, both before they return.
	info, ok := rt.Actor(id)
	require.True(t, ok)
	require.NoError(t, r.Unpublish(ctx, info))
	_, err = store.Get(ctx, storage.PrefixActor+id)
	assert.ErrorIs(t, err, storage.ErrNotFound)
	_, err = store.Get(ctx, storage.PrefixPort+rec.OutPorts[0].ID)
	assert.ErrorIs(t, err, storage.ErrNotFound)
	require.NoError(t, r.Publish(ctx, "n1", info))
	_, err = store.Get(ctx, storage.PrefixPort+rec.OutPorts[0].ID)
	require.NoError(t, err)
	require.NoError(t, r.Sync(ctx, id, "not-here"))

	// Deletion removes both records; leaving by migration would keep them.
	require.NoError(t, rt.DeleteActor(ctx, id))
	require.NoError(t, r.Flush(ctx))
	_, err = store.Get(ctx, storage.PrefixActor+id)
	assert.ErrorIs(t, err, storage.ErrNotFound)
	_, err = store.Get(ctx, storage.PrefixPort+rec.InPorts[0].ID)
	assert.ErrorIs(t, err, storage.ErrNotFound)
	r.ActorDeleted("kept", true)
	r.ActorMigrated("gone", "n2", nil)
	require.NoError(t, r.Flush(ctx))

	require.NoError(t, rt.Close())
	require.NoError(t, r.Close())
	require.NoError(t, r.Close(), "safe twice")
	r.ActorCreated("late", "x", false) // ignored after Close
	require.NoError(t, r.Flush(ctx))
	assert.Eventually(t, func() bool { return runtime.NumGoroutine() <= before }, 5*time.Second, 10*time.Millisecond,
		"no goroutine left behind")
}
