package main

import (
	"context"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/internal/leakcheck"
)

// The expected output, line by line; the groups are checked below.
var want = []string{
	`^calvin: node A ([0-9a-f-]{36}) listens on calvinip://127\.0\.0\.1:\d+$`,
	`^calvin: node B ([0-9a-f-]{36}) listens on calvinip://127\.0\.0\.1:\d+, joined A$`,
	`^calvin: flow std\.CountTimer on A -> test\.Sink on B$`,
	`^calvin: the sink on B has (\d+) tokens$`,
	`^calvin: sink migrated B -> A; it has (\d+) tokens$`,
	`^calvin: sink migrated A -> B; it has (\d+) tokens$`,
	`^calvin: sink sequence 1\.\.(\d+), unbroken$`,
	`^opaca: platform at http://127\.0\.0\.1:\d+$`,
	`^opaca: containers started: sample-agent-container-image, quickstart-greeter, meshkit-bridge \(5 agents\)$`,
	`^opaca: sample1 Add\(x=17, y=25\) = 42$`,
	`^opaca: greeter Hello\(name=meshkit\) = "Hello, meshkit!"$`,
	`^bridge: Migrate\(sink -> A\) through the platform: the actors on A are now \["quickstart:snk" "quickstart:src"\]$`,
	`^bridge: stream Tokens: tokens \[(\d+) (\d+) (\d+)\] arriving at the sink on A$`,
	`^done: the sink on A reports (\d+) tokens, 1\.\.(\d+), unbroken across 3 migrations$`,
}

func TestRunShowsEveryStepAndAnUnbrokenSequence(t *testing.T) {
	leakcheck.NoNewGoroutines(t)
	var out strings.Builder
	// A guard against a hang, not a speed check.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, run(ctx, &out, nil))

	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	require.Len(t, lines, len(want), out.String())
	groups := make([][]int, len(want))
	for i, re := range want {
		m := regexp.MustCompile(re).FindStringSubmatch(lines[i])
		require.NotNil(t, m, "line %d: %q does not match %s", i, lines[i], re)
		for _, g := range m[1:] {
			if n, err := strconv.Atoi(g); err == nil {
				groups[i] = append(groups[i], n)
			}
		}
	}
	idA := regexp.MustCompile(want[0]).FindStringSubmatch(lines[0])[1]
	idB := regexp.MustCompile(want[1]).FindStringSubmatch(lines[1])[1]
	assert.NotEqual(t, idA, idB)

	// the sink keeps receiving across both migrations
	onB, onA, back, seq := groups[3][0], groups[4][0], groups[5][0], groups[6][0]
	assert.GreaterOrEqual(t, onB, 10)
	assert.GreaterOrEqual(t, onA, onB+10)
	assert.GreaterOrEqual(t, back, onA+10)
	assert.GreaterOrEqual(t, seq, back)
	// the streamed tokens are consecutive and come after the check on B
	s := groups[12]
	assert.Equal(t, []int{s[0], s[0] + 1, s[0] + 2}, s)
	assert.Greater(t, s[0], seq)
	// the final report covers them, 1..n
	n, upTo := groups[13][0], groups[13][1]
	assert.Equal(t, n, upTo)
	assert.GreaterOrEqual(t, n, s[2])
}

func TestRunArguments(t *testing.T) {
	for _, args := range [][]string{{"-nope"}, {"extra"}, {"-timeout", "x"}} {
		var out strings.Builder
		assert.Error(t, run(context.Background(), &out, args), "%q", args)
		assert.Empty(t, out.String(), "%q", args)
	}
	assert.NoError(t, run(context.Background(), &strings.Builder{}, []string{"-h"}))
}

func TestRunFailsClearlyWhenCancelled(t *testing.T) {
	leakcheck.NoNewGoroutines(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := run(ctx, &strings.Builder{}, nil)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestRunFailsWhenOutOfTime(t *testing.T) {
	leakcheck.NoNewGoroutines(t)
	var out strings.Builder
	err := run(context.Background(), &out, []string{"-timeout", "300ms"})
	require.Error(t, err)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.NotContains(t, out.String(), "done:")
}

func TestUnbroken(t *testing.T) {
	assert.NoError(t, unbroken([]int64{1, 2, 3}))
	assert.ErrorContains(t, unbroken([]int64{1, 3}), "position 1: got 3, want 2")
	assert.ErrorContains(t, unbroken([]int64{1, 2, 2}), "position 2: got 2, want 3")
	assert.Error(t, unbroken(nil))
}
