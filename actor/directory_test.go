package actor_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/actor/std"
	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/tunnel/storage"
)

func TestDirectoryRecordsAndLookups(t *testing.T) {
	a, b := twoNodes(t, false)
	// One registry store shared by both nodes (as if A were the registry).
	client, err := storage.NewLocalClient(storage.NewMemStore())
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	dir, err := actor.NewDirectory(client)
	require.NoError(t, err)
	for _, n := range []*meshNode{a, b} {
		_ = n.net.Close()
		n.net, err = actor.NewNetwork(n.rt, n.node, n.mgr, n.flow, actor.WithLocator(dir), actor.WithRecorder(dir),
			actor.WithNetworkLogger(quiet()))
		require.NoError(t, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	cnt, err := a.rt.CreateActor(ctx, std.CounterType, map[string]any{"name": "app:cnt"})
	require.NoError(t, err)
	snk, err := b.rt.CreateActor(ctx, std.SinkType, map[string]any{"name": "app:snk", "store_tokens": true, "quiet": true})
	require.NoError(t, err)
	require.NoError(t, a.net.Publish(ctx, cnt))
	require.NoError(t, b.net.Publish(ctx, snk))
	node, err := dir.ActorNode(ctx, cnt)
	require.NoError(t, err)
	assert.Equal(t, a.node.ID(), node)
	cp, _ := a.rt.PortID(cnt, actor.Out, "integer")
	sp, _ := b.rt.PortID(snk, actor.In, "token")
	node, err = dir.PortNode(ctx, sp)
	require.NoError(t, err)
	assert.Equal(t, b.node.ID(), node)

	// PORT_REMOTE_CONNECT: A is asked to connect its outport to a port it
	// finds through the registry.
	assert.Equal(t, 200, request(t, b, a, &wire.PortRemoteConnect{PortID: cp, PeerPortID: sp}).Status)
	require.Eventually(t, func() bool { return len(sinkTokens(t, b.rt, snk)) > 5 }, 10*time.Second, time.Millisecond)

	// Migration writes the new home.
	require.NoError(t, b.net.Migrate(ctx, snk, a.node.ID()))
	node, err = dir.ActorNode(ctx, snk)
	require.NoError(t, err)
	assert.Equal(t, a.node.ID(), node)
	rec, err := client.LookupPort(ctx, sp)
	require.NoError(t, err)
	assert.Equal(t, a.node.ID(), rec.NodeID)
	assert.True(t, rec.Connected)
	got := sinkTokens(t, a.rt, snk)
	require.Eventually(t, func() bool { return len(sinkTokens(t, a.rt, snk)) > len(got)+5 }, 10*time.Second, time.Millisecond)
	got = sinkTokens(t, a.rt, snk)
	assert.Equal(t, ints(int64(len(got)), 1), got)

	// APP_DESTROY deletes the records of what it destroyed.
	resp := request(t, b, a, &wire.AppDestroy{AppUUID: "app", ActorUUIDs: []string{snk}})
	require.Equal(t, 200, resp.Status)
	require.Eventually(t, func() bool {
		_, err := client.LookupActor(ctx, snk)
		return err != nil
	}, 10*time.Second, time.Millisecond)
	_, err = client.LookupPort(ctx, sp)
	assert.Error(t, err)
}

func TestNetworkDestroyAppAcrossNodes(t *testing.T) {
	a, b := twoNodes(t, false)
	client, err := storage.NewLocalClient(storage.NewMemStore())
	require.NoError(t, err)
	t.Cleanup(func() { _ = client.Close() })
	dir, err := actor.NewDirectory(client)
	require.NoError(t, err)
	_ = a.net.Close()
	a.net, err = actor.NewNetwork(a.rt, a.node, a.mgr, a.flow, actor.WithLocator(dir), actor.WithRecorder(dir))
	require.NoError(t, err)
	ctx := context.Background()
	x, err := a.rt.CreateActor(ctx, std.SinkType, nil)
	require.NoError(t, err)
	y, err := b.rt.CreateActor(ctx, std.SinkType, nil)
	require.NoError(t, err)
	require.NoError(t, dir.Publish(ctx, b.node.ID(), mustInfo(t, b.rt, y)))
	missing, err := a.net.DestroyApp(ctx, "app", []string{x, y, "nowhere"})
	require.NoError(t, err)
	assert.Equal(t, []string{"nowhere"}, missing)
	assert.Empty(t, a.rt.ActorIDs())
	assert.Empty(t, b.rt.ActorIDs(), "B got APP_DESTROY for its actor")
}

func mustInfo(t *testing.T, rt *actor.Runtime, id string) actor.Info {
	t.Helper()
	info, ok := rt.Actor(id)
	require.True(t, ok)
	return info
}
