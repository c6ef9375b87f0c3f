package actor_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/actor/std"
	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/transport"
)

// TestRepeatedActorNewGetsFirstOutcome: a source that lost the answer to
// its ACTOR_NEW sends it again; the destination, which created the actor
// the first time, answers 200 again instead of 400 for a duplicate, so the
// source does not restore a second copy. The same ACTOR_NEW from another
// node is still refused.
func TestRepeatedActorNewGetsFirstOutcome(t *testing.T) {
	mn := transport.NewMemNetwork()
	reg := netRegistry(t)
	a := restartable(t, mn, reg, "rep-a")
	b := restartable(t, mn, reg, "rep-b")
	c := restartable(t, mn, reg, "rep-c")
	defer func() { a.close(); b.close(); c.close() }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, n := range []*meshNode{a, c} {
		_, err := n.node.Join(ctx, "mem://rep-b")
		require.NoError(t, err)
	}
	id, err := a.rt.CreateActor(ctx, std.SinkType, map[string]any{"store_tokens": true, "quiet": true})
	require.NoError(t, err)
	state, err := a.rt.ExportState(ctx, id)
	require.NoError(t, err)
	msg := func() *wire.ActorNew {
		return &wire.ActorNew{State: wire.ActorNewState{ActorType: std.SinkType, ActorState: state,
			PrevConnections: map[string]any{"actor_id": id, "inports": map[string]any{}, "outports": map[string]any{}}}}
	}
	for i := range 3 {
		resp, err := a.node.Request(ctx, "rep-b", msg())
		require.NoError(t, err)
		assert.Equal(t, wire.StatusOK, resp.Status, "ACTOR_NEW #%d from the source", i+1)
	}
	assert.Equal(t, []string{id}, b.rt.ActorIDs())
	resp, err := c.node.Request(ctx, "rep-b", msg())
	require.NoError(t, err)
	assert.Equal(t, wire.StatusBadRequest, resp.Status, "the same actor sent by another node is a duplicate")
	_, ok := b.rt.Actor(id)
	assert.True(t, ok)
}
