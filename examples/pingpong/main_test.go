package main

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/internal/leakcheck"
	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
)

func TestRunPrintsEveryRoundAndSummary(t *testing.T) {
	leakcheck.NoNewGoroutines(t)
	var out strings.Builder
	// A guard against a hang, not a speed check.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, run(ctx, &out, []string{"-rounds", "5"}))

	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, 3+5+1, out.String())
	assert.Regexp(t, `^platform A at http://127\.0\.0\.1:\d+ hosts agent "ping"$`, lines[0])
	assert.Regexp(t, `^platform B at http://127\.0\.0\.1:\d+ hosts agent "pong"$`, lines[1])
	assert.NotEqual(t, lines[0][len("platform A at "):], lines[1][len("platform B at "):])
	assert.Equal(t, "platforms A and B connected", lines[2])
	for r := 1; r <= 5; r++ {
		how := `broadcast on "pingpong"`
		if r%2 == 0 {
			how = "message to pong"
		}
		want := fmt.Sprintf("round %d: ping -> pong by %s (hits %d), pong -> ping by invoking Pong(round=%d, hits=%d)",
			r, how, 2*r-1, r, 2*r)
		assert.Equal(t, want, lines[2+r])
	}
	assert.Equal(t, "done: 5 rounds, 10 hits; pong got 3 broadcasts and 2 messages; "+
		"A forwarded 5 calls to B and B forwarded 5 calls to A", lines[8])
}

func TestRunArguments(t *testing.T) {
	for _, args := range [][]string{{"-rounds", "0"}, {"-rounds", "x"}, {"-nope"}, {"extra"}} {
		var out strings.Builder
		assert.Error(t, run(context.Background(), &out, args), "%q", args)
		assert.Empty(t, out.String(), "%q", args)
	}
	assert.NoError(t, run(context.Background(), &strings.Builder{}, []string{"-h"}))
}

func TestRunStopsWhenCancelled(t *testing.T) {
	leakcheck.NoNewGoroutines(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := run(ctx, &strings.Builder{}, nil)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestRunTimesOut(t *testing.T) {
	leakcheck.NoNewGoroutines(t)
	// far too short to set up two platforms: run must give up and clean up
	err := run(context.Background(), &strings.Builder{}, []string{"-timeout", "1ms"})
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

// call is one request recorded in a platform's /history: its CALL event,
// the receivers of its FORWARD events and whether it succeeded.
type call struct {
	route, sender string
	receivers     []string
	ok            bool
}

func calls(t *testing.T, c *client.Client) []call {
	t.Helper()
	events, err := c.History(context.Background())
	require.NoError(t, err)
	var out []call
	index := map[string]int{}
	for _, ev := range events {
		switch ev.EventType {
		case opaca.EventCall:
			index[ev.ID] = len(out)
			out = append(out, call{route: ev.Route, sender: ev.SenderID})
		case opaca.EventForward:
			i, ok := index[ev.RelatedID]
			require.True(t, ok, "forward of an unknown call: %+v", ev)
			out[i].receivers = append(out[i].receivers, strings.TrimSuffix(ev.Receiver, "/"))
		case opaca.EventSuccess:
			out[index[ev.RelatedID]].ok = true
		}
	}
	return out
}

// only keeps the calls of the given routes.
func only(cs []call, routes ...string) []call {
	var out []call
	for _, c := range cs {
		for _, r := range routes {
			if c.route == r {
				out = append(out, c)
			}
		}
	}
	return out
}

// TestBallsCrossTheConnection checks with the platforms' own records, not the
// program's output, that every ball went from A to B and back.
func TestBallsCrossTheConnection(t *testing.T) {
	leakcheck.NoNewGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out strings.Builder
	g, err := setup(ctx, &out, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer func() { assert.NoError(t, g.close()) }()
	require.NoError(t, g.play(ctx, &out, 4))

	aURL, bURL := g.a.p.BaseURL(), g.b.p.BaseURL()
	conns, err := g.a.api.Connections(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{bURL}, conns)
	conns, err = g.b.api.Connections(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{aURL}, conns)

	containerOf := func(n *node) (id, url string) {
		cs, err := n.api.Containers(ctx)
		require.NoError(t, err)
		require.Len(t, cs, 1)
		cn := cs[0].Connectivity
		require.NotNil(t, cn)
		return cs[0].ContainerID, fmt.Sprintf("%s:%d", cn.PublicURL, cn.APIPortMapping)
	}
	pingID, pingURL := containerOf(g.a)
	pongID, pongURL := containerOf(g.b)

	serves := []string{"POST /broadcast/pingpong", "POST /send/pong", "POST /broadcast/pingpong", "POST /send/pong"}
	const ret = "POST /invoke/Pong/ping"
	routes := []string{serves[0], serves[1], ret}

	// Platform A: ping's serves, forwarded to B (broadcasts also reach A's
	// own container, which has no listener), and pong's returns from B,
	// handed to the ping container.
	aCalls := only(calls(t, g.a.api), routes...)
	require.Len(t, aCalls, 8, "%+v", aCalls)
	for r := 1; r <= 4; r++ {
		serve, back := aCalls[2*r-2], aCalls[2*r-1]
		assert.Equal(t, serves[r-1], serve.route, "round %d", r)
		assert.Equal(t, pingID, serve.sender, "round %d", r)
		assert.True(t, serve.ok, "round %d", r)
		if r%2 == 1 {
			assert.ElementsMatch(t, []string{pingURL, bURL}, serve.receivers, "round %d", r)
		} else {
			assert.Equal(t, []string{bURL}, serve.receivers, "round %d", r)
		}
		assert.Equal(t, call{route: ret, sender: bURL, receivers: []string{pingURL}, ok: true}, back, "round %d", r)
	}

	// Platform B: the serves arrive from A and go to the pong container;
	// pong's returns, made while a serve is still being handled, are
	// forwarded to A.
	bCalls := only(calls(t, g.b.api), routes...)
	require.Len(t, bCalls, 8, "%+v", bCalls)
	for r := 1; r <= 4; r++ {
		serve, back := bCalls[2*r-2], bCalls[2*r-1]
		assert.Equal(t, call{route: serves[r-1], sender: aURL, receivers: []string{pongURL}, ok: true}, serve, "round %d", r)
		assert.Equal(t, call{route: ret, sender: pongID, receivers: []string{aURL}, ok: true}, back, "round %d", r)
	}

	// pong's own count, asked locally on B and through A.
	for _, n := range []*node{g.b, g.a} {
		count, err := client.InvokeAs[pongCount](ctx, n.api, "Count", "pong", nil)
		require.NoError(t, err)
		assert.Equal(t, pongCount{Broadcasts: 2, Messages: 2}, count, "via %s", n.name)
	}
	assert.Regexp(t, regexp.MustCompile(`(?m)^round 4: `), out.String())
}

// TestPlayRefusesAStrayBall: a ball ping did not serve fills its return slot,
// so the next real return is refused and the round fails instead of being
// counted twice.
func TestPlayRefusesAStrayBall(t *testing.T) {
	leakcheck.NoNewGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	g, err := setup(ctx, &strings.Builder{}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer func() { assert.NoError(t, g.close()) }()

	_, err = g.b.api.Invoke(ctx, "Pong", "ping", ball{Round: 7, Hits: 1})
	require.NoError(t, err, "forwarded from B to A")
	_, err = g.b.api.Invoke(ctx, "Pong", "ping", ball{Round: 7, Hits: 1})
	require.Error(t, err, "second return before the first was taken")

	var out strings.Builder
	err = g.play(ctx, &out, 1)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "round 1")
	assert.Empty(t, out.String())
}

func TestPlayStopsWhenCancelled(t *testing.T) {
	leakcheck.NoNewGoroutines(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	g, err := setup(ctx, &strings.Builder{}, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	defer func() { assert.NoError(t, g.close()) }()

	playCtx, stop := context.WithCancel(ctx)
	stop()
	var out strings.Builder
	assert.ErrorIs(t, g.play(playCtx, &out, 3), context.Canceled)
	assert.Empty(t, out.String())
}
