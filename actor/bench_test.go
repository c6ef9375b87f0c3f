package actor_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/actor/std"
	"github.com/meshkit/meshkit/token"
)

// counter sink for benchmarks: counts tokens and closes done at the target.
type benchSink struct {
	n      *atomic.Int64
	target int64
	done   chan struct{}
}

func (s *benchSink) Actions() []actor.Action {
	return []actor.Action{{Name: "take", In: []string{"in"},
		Fire: func(*actor.Context, []token.Token, []token.Token) error {
			if s.n.Add(1) == s.target {
				close(s.done)
			}
			return nil
		}}}
}

type benchSource struct{ left int64 }

func (s *benchSource) Actions() []actor.Action {
	tok := token.New(int64(7))
	return []actor.Action{{Name: "emit", Out: []string{"out"},
		Guard: func(*actor.Context, []token.Token) bool { return s.left > 0 },
		Fire: func(_ *actor.Context, _, out []token.Token) error {
			s.left--
			out[0] = tok
			return nil
		}}}
}

func benchLocal(b *testing.B, queueLength, stages int) {
	var n atomic.Int64
	done := make(chan struct{})
	total := int64(b.N)
	props := map[string]map[string]any{"out": {"queue_length": queueLength}, "in": {"queue_length": queueLength}}
	reg, err := actor.NewRegistry(
		actor.Type{Name: "b.Source", Outports: []string{"out"}, PortProperties: props,
			New: func() actor.Actor { return &benchSource{left: total} }},
		actor.Type{Name: "b.Pass", Inports: []string{"in"}, Outports: []string{"out"}, PortProperties: props,
			New: func() actor.Actor { return double{} }},
		actor.Type{Name: "b.Sink", Inports: []string{"in"}, PortProperties: props,
			New: func() actor.Actor { return &benchSink{n: &n, target: total, done: done} }},
	)
	require.NoError(b, err)
	rt, err := actor.NewRuntime(actor.WithRegistry(reg))
	require.NoError(b, err)
	defer rt.Close()
	ctx := context.Background()
	src, err := rt.CreateActor(ctx, "b.Source", nil)
	require.NoError(b, err)
	prev := src
	for range stages {
		p, err := rt.CreateActor(ctx, "b.Pass", nil)
		require.NoError(b, err)
		op, _ := rt.PortID(prev, actor.Out, "out")
		ip, _ := rt.PortID(p, actor.In, "in")
		require.NoError(b, rt.Connect(ctx, op, ip))
		prev = p
	}
	snk, err := rt.CreateActor(ctx, "b.Sink", nil)
	require.NoError(b, err)
	op, _ := rt.PortID(prev, actor.Out, "out")
	ip, _ := rt.PortID(snk, actor.In, "in")
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	require.NoError(b, rt.Connect(ctx, op, ip))
	<-done
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "tokens/s")
}

// BenchmarkLocalConnection: source → sink on one runtime, per token.
func BenchmarkLocalConnection(b *testing.B) {
	for _, ql := range []int{4, 64, 1024} {
		b.Run(fmt.Sprintf("queue=%d", ql), func(b *testing.B) { benchLocal(b, ql, 0) })
	}
}

// BenchmarkLocalPipeline: source → 3 × pass-through → sink.
func BenchmarkLocalPipeline(b *testing.B) {
	b.Run("queue=1024", func(b *testing.B) { benchLocal(b, 1024, 3) })
}

func rssBytes() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseUint(f[1], 10, 64)
	return pages * uint64(os.Getpagesize())
}

// BenchmarkIdleActors creates 100,000 idle std.Identity actors (two ports
// each, never connected) and reports the heap and resident memory they take.
func BenchmarkIdleActors(b *testing.B) {
	const count = 100_000
	reg, err := std.NewRegistry()
	require.NoError(b, err)
	for range b.N {
		runtime.GC()
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		rssBefore := rssBytes()
		rt, err := actor.NewRuntime(actor.WithRegistry(reg), actor.WithMaxActors(count))
		require.NoError(b, err)
		ctx := context.Background()
		start := time.Now()
		for range count {
			_, err := rt.CreateActor(ctx, std.IdentityType, nil)
			require.NoError(b, err)
		}
		el := time.Since(start)
		runtime.GC()
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		rss := rssBytes()
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/count, "heap-bytes/actor")
		b.ReportMetric(float64(rss)/(1<<20), "rss-MB")
		b.ReportMetric(float64(rss-rssBefore)/count, "rss-bytes/actor")
		b.ReportMetric(float64(el.Nanoseconds())/count, "ns/create")
		require.Len(b, rt.ActorIDs(), count)
		require.NoError(b, rt.Close())
	}
}
