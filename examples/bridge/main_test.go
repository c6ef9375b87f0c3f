package main

import (
	"bufio"
	"context"
	"io"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/actor/std"
	"github.com/meshkit/meshkit/examples/bridge/bridgeagent"
	"github.com/meshkit/meshkit/internal/leakcheck"
	"github.com/meshkit/meshkit/opaca/client"
)

var (
	readyNode     = regexp.MustCompile(`^ready node=([0-9a-f-]{36}) listen=(calvinip://127\.0\.0\.1:\d+)$`)
	readyPlatform = regexp.MustCompile(`^ready platform=(http://127\.0\.0\.1:\d+) agent=(\S+)$`)
)

// program is one in-process run of the bridge.
type program struct {
	nodeID, listen, platform, agent string
	done                            chan error
}

// start runs the program with args on loopback ports and waits for its
// ready lines; it is stopped by cancelling ctx.
func start(t *testing.T, ctx context.Context, args ...string) *program {
	t.Helper()
	r, w := io.Pipe()
	p := &program{done: make(chan error, 1)}
	go func() {
		err := run(ctx, w, append([]string{"-listen", "calvinip://127.0.0.1:0", "-platform", "127.0.0.1:0"}, args...))
		_ = w.CloseWithError(io.EOF)
		p.done <- err
	}()
	lines := bufio.NewScanner(r)
	require.True(t, lines.Scan(), "first ready line")
	m := readyNode.FindStringSubmatch(lines.Text())
	require.NotNil(t, m, lines.Text())
	p.nodeID, p.listen = m[1], m[2]
	require.True(t, lines.Scan(), "second ready line")
	m = readyPlatform.FindStringSubmatch(lines.Text())
	require.NotNil(t, m, lines.Text())
	p.platform, p.agent = m[1], m[2]
	go func() { _, _ = io.Copy(io.Discard, r) }() // nothing else is printed; keep the pipe open
	return p
}

func TestRunServesTheBridgeUntilCancelled(t *testing.T) {
	leakcheck.NoNewGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ctxA, stopA := context.WithCancel(ctx)
	defer stopA()
	a := start(t, ctxA)
	assert.Equal(t, "calvin", a.agent)
	ctxB, stopB := context.WithCancel(ctx)
	defer stopB()
	b := start(t, ctxB, "-join", a.listen, "-agent", "calvin-b")
	assert.Equal(t, "calvin-b", b.agent)

	api, err := client.New(b.platform)
	require.NoError(t, err)
	defer api.Close()
	// B joined A: A is its peer
	n, err := client.InvokeAs[bridgeagent.NodeInfo](ctx, api, "Nodes", "calvin-b", nil)
	require.NoError(t, err)
	assert.Equal(t, b.nodeID, n.ID)
	require.Len(t, n.Peers, 1)
	assert.Equal(t, a.nodeID, n.Peers[0].ID)

	// a sink created through B's bridge migrates to A; A's bridge sees it
	c, err := client.InvokeAs[bridgeagent.Created](ctx, api, "CreateActor", "calvin-b",
		map[string]any{"type": std.SinkType, "name": "main:snk"})
	require.NoError(t, err)
	_, err = client.InvokeAs[bridgeagent.Migrated](ctx, api, "Migrate", "calvin-b", map[string]any{"actor": c.ID, "node": a.nodeID})
	require.NoError(t, err)
	apiA, err := client.New(a.platform)
	require.NoError(t, err)
	defer apiA.Close()
	actors, err := client.InvokeAs[[]bridgeagent.ActorInfo](ctx, apiA, "Actors", "calvin", nil)
	require.NoError(t, err)
	require.Len(t, actors, 1)
	assert.Equal(t, c.ID, actors[0].ID)
	assert.Equal(t, "main:snk", actors[0].Name)

	stopB()
	require.NoError(t, <-b.done)
	stopA()
	require.NoError(t, <-a.done)
}

func TestRunArguments(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"extra"}, {"-listen", "bogus://x"}, {"-platform", "not an address"}} {
		var out strings.Builder
		assert.Error(t, run(context.Background(), &out, append([]string{"-listen", "calvinip://127.0.0.1:0"}, args...)), "%q", args)
		assert.Empty(t, out.String(), "%q", args)
	}
	assert.NoError(t, run(context.Background(), &strings.Builder{}, []string{"-h"}))
}
