package actor_test

import (
	"context"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/token"
)

// holder keeps a large managed blob and never consumes its inport, so its
// queued tokens travel with it.
type holder struct{ blob string }

func (h *holder) Actions() []actor.Action {
	return []actor.Action{{Name: "never", In: []string{"in"},
		Guard: func(*actor.Context, []token.Token) bool { return false },
		Fire:  func(*actor.Context, []token.Token, []token.Token) error { return nil }}}
}
func (h *holder) Managed() map[string]any { return map[string]any{"blob": h.blob} }
func (h *holder) Restore(_ *actor.Context, m map[string]any) error {
	h.blob, _ = m["blob"].(string)
	return nil
}

// BenchmarkMigration moves an actor with 1,000 queued tokens and a 1 MB
// managed attribute back and forth between two nodes over loopback TCP and
// reports the median and 99th percentile of one migration.
func BenchmarkMigration(b *testing.B) {
	a, c := twoNodes(b, true)
	// Both nodes share one registry.
	require.NoError(b, a.rt.Registry().Register(actor.Type{Name: "b.Holder", Inports: []string{"in"},
		PortProperties: map[string]map[string]any{"in": {"queue_length": int64(1024)}},
		New:            func() actor.Actor { return &holder{} }}))
	ctx := context.Background()
	id, err := a.rt.CreateActor(ctx, "b.Holder", nil)
	require.NoError(b, err)
	st, err := a.rt.ExportState(ctx, id)
	require.NoError(b, err)
	require.NoError(b, a.rt.DeleteActor(ctx, id))
	st["managed"] = map[string]any{"blob": strings.Repeat("x", 1<<20)}
	port := st["private"].(map[string]any)["inports"].(map[string]any)["in"].(map[string]any)
	pid := port["id"].(string)
	ring := make([]any, 1025)
	for i := range ring {
		ring[i] = map[string]any{"type": "Token", "data": int64(i)}
	}
	port["queue"] = map[string]any{"queuetype": "fanout_fifo", "N": int64(1025), "fifo": ring,
		"readers": []any{pid}, "write_pos": int64(1000), "read_pos": map[string]any{pid: int64(0)},
		"tentative_read_pos": map[string]any{pid: int64(0)}, "reader_offset": map[string]any{pid: int64(0)}}
	_, err = a.rt.ImportActor(ctx, "b.Holder", st)
	require.NoError(b, err)

	nodes := [2]*meshNode{a, c}
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		from, to := nodes[i%2], nodes[(i+1)%2]
		start := time.Now()
		require.NoError(b, from.net.Migrate(ctx, id, to.node.ID()))
		times = append(times, time.Since(start))
	}
	b.StopTimer()
	q, err := nodes[b.N%2].rt.PortState(pid)
	require.NoError(b, err)
	require.Equal(b, int64(1000), q["write_pos"], "the queued tokens travelled along")
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(times[len(times)*99/100].Microseconds())/1000, "p99-ms")
}
