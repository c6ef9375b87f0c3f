package mesh_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/actor/std"
	"github.com/meshkit/meshkit/examples/bridge/mesh"
	"github.com/meshkit/meshkit/internal/leakcheck"
)

func TestTwoNodesFlowAndMigrate(t *testing.T) {
	leakcheck.NoNewGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	a, err := mesh.Start(ctx, "calvinip://127.0.0.1:0", nil, nil)
	require.NoError(t, err)
	b, err := mesh.Start(ctx, "calvinip://127.0.0.1:0", []string{a.URI()}, nil)
	require.NoError(t, err)
	require.NoError(t, a.WaitLinked(ctx, b.ID()), "A sees the link B opened")
	assert.True(t, b.Linked(a.ID()))
	assert.Regexp(t, `^calvinip://127\.0\.0\.1:\d+$`, a.URI())

	// a sink on A fed from a timer on B, then migrated to B
	src, err := b.Runtime.CreateActor(ctx, std.CountTimerType, map[string]any{"sleep": 0.002, "steps": int64(50)})
	require.NoError(t, err)
	snk, err := a.Runtime.CreateActor(ctx, std.SinkType, map[string]any{"store_tokens": true, "quiet": true})
	require.NoError(t, err)
	op, _ := b.Runtime.PortID(src, actor.Out, "integer")
	ip, _ := a.Runtime.PortID(snk, actor.In, "token")
	require.NoError(t, a.Network.ConnectRemote(ctx, ip, b.ID(), op))
	require.NoError(t, a.Network.Migrate(ctx, snk, b.ID()))
	require.Eventually(t, func() bool {
		v, err := b.Runtime.Report(ctx, snk, nil)
		return err == nil && len(v.([]any)) == 50
	}, 10*time.Second, 5*time.Millisecond)
	v, _ := b.Runtime.Report(ctx, snk, nil)
	for i, tok := range v.([]any) {
		require.EqualValues(t, i+1, tok)
	}

	require.NoError(t, b.Close())
	require.NoError(t, b.Close(), "twice")
	require.NoError(t, a.Close())
}

func TestStartErrors(t *testing.T) {
	leakcheck.NoNewGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := mesh.Start(ctx, "bogus://x", nil, nil)
	assert.Error(t, err)
	// nothing listens there: the join fails and the started parts stop
	ln, err := mesh.Start(ctx, "calvinip://127.0.0.1:0", nil, nil)
	require.NoError(t, err)
	dead := ln.URI()
	require.NoError(t, ln.Close())
	_, err = mesh.Start(ctx, "calvinip://127.0.0.1:0", []string{dead}, nil)
	assert.Error(t, err)

	a, err := mesh.Start(ctx, "calvinip://127.0.0.1:0", nil, nil)
	require.NoError(t, err)
	defer a.Close()
	short, cancelShort := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancelShort()
	assert.ErrorIs(t, a.WaitLinked(short, "no-such-peer"), context.DeadlineExceeded)
}
