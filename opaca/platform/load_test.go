package platform

import (
	"context"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
	"github.com/meshkit/meshkit/opaca/sample"
)

// loadConfig shapes a mixed load: clients goroutines, each doing perClient
// requests that rotate through invoke, send and broadcast; every subEvery-th
// client also holds a /subscribe websocket (topic /invoke) for the whole
// run and drains its events.
type loadConfig struct {
	clients   int
	perClient int
	subEvery  int
}

type loadResult struct {
	requests  int
	errors    int
	firstErr  error
	events    int64
	elapsed   time.Duration
	latencies []time.Duration // sorted
}

func (r loadResult) perSecond() float64 { return float64(r.requests) / r.elapsed.Seconds() }

func (r loadResult) quantile(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	return r.latencies[min(len(r.latencies)-1, int(q*float64(len(r.latencies))))]
}

// loadPlatform starts a platform with auth on and the SDK sample container
// in-process, and returns it with an admin token.
func loadPlatform(t testing.TB) (*testPlatform, string) {
	tp := startPlatform(t, WithRequireAuth(true), WithInProcessImage(sample.ImageName, sampleFactory),
		WithEventHistorySize(50), WithSubscriberQueue(1024))
	tok, err := tp.signer.Issue("admin", time.Hour)
	require.NoError(t, err)
	c, err := client.New(tp.url, client.WithToken(tok), client.WithHTTPClient(&http.Client{Transport: newTransport()}))
	require.NoError(t, err)
	defer c.Close()
	_, err = c.PostContainer(context.Background(), samplePost(), 0)
	require.NoError(t, err)
	return tp, tok
}

// connectionCap keeps the load's connections (two descriptors each, both
// ends being in this process) well inside the descriptor limit.
func connectionCap() int {
	limit := openFileLimit()
	return max(16, min(256, (limit-256)/4))
}

func runLoad(t testing.TB, tp *testPlatform, tok string, cfg loadConfig) loadResult {
	t.Helper()
	tr := newTransport()
	tr.MaxConnsPerHost = connectionCap()
	tr.MaxIdleConnsPerHost = tr.MaxConnsPerHost
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		res      loadResult
		events   atomic.Int64
		subsUp   sync.WaitGroup
		stopSubs = make(chan struct{})
		subsDone sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		res.errors++
		if res.firstErr == nil {
			res.firstErr = err
		}
		mu.Unlock()
	}
	// subscribers first, so they see the load
	for i := 0; i < cfg.clients; i += cfg.subEvery {
		subsUp.Add(1)
		subsDone.Add(1)
		go func() {
			defer subsDone.Done()
			c, err := client.New(tp.url, client.WithToken(tok), client.WithHTTPClient(hc))
			if err != nil {
				fail(err)
				subsUp.Done()
				return
			}
			defer c.Close()
			s, err := c.Subscribe(ctx, "/invoke", client.NoReconnect())
			subsUp.Done()
			if err != nil {
				fail(fmt.Errorf("subscribe: %w", err))
				return
			}
			for {
				select {
				case _, ok := <-s.Events():
					if !ok {
						fail(fmt.Errorf("subscription ended early: %v", s.Err()))
						return
					}
					events.Add(1)
				case <-stopSubs:
					_ = s.Close()
					return
				}
			}
		}()
	}
	subsUp.Wait()

	start := time.Now()
	lat := make([][]time.Duration, cfg.clients)
	for i := 0; i < cfg.clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := client.New(tp.url, client.WithToken(tok), client.WithHTTPClient(hc), client.WithSenderID(fmt.Sprintf("client-%d", i)))
			if err != nil {
				fail(err)
				return
			}
			defer c.Close()
			mine := make([]time.Duration, 0, cfg.perClient)
			for j := 0; j < cfg.perClient; j++ {
				t0 := time.Now()
				var err error
				switch (i + j) % 4 {
				case 0, 1:
					var out []byte
					out, err = c.Invoke(ctx, "Add", "sample1", map[string]int{"x": i, "y": j})
					if err == nil && string(out) != fmt.Sprint(i+j) {
						err = fmt.Errorf("Add(%d,%d) = %s", i, j, out)
					}
				case 2:
					err = c.Send(ctx, "sample1", opaca.Message{Payload: []byte(`"hello"`), ReplyTo: ""})
				case 3:
					err = c.Broadcast(ctx, "topic", opaca.Message{Payload: []byte(`{"n":1}`)})
				}
				if err != nil {
					fail(err)
					continue
				}
				mine = append(mine, time.Since(t0))
			}
			lat[i] = mine
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	close(stopSubs)
	subsDone.Wait()
	for _, l := range lat {
		res.latencies = append(res.latencies, l...)
		res.requests += len(l)
	}
	slices.Sort(res.latencies)
	res.events = events.Load()
	return res
}

// settled measures goroutines and live heap after GC.
// Two collections, so that sync.Pool contents (kept for one cycle in the
// victim cache) are gone too.
func settled() (goroutines int, heap uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return runtime.NumGoroutine(), ms.HeapAlloc
}

const (
	goroutineMargin = 5
	heapMargin      = 4 << 20
)

// TestLoadThousandClients: 1,000 concurrent clients (one in ten also
// subscribed to /invoke over a websocket) invoke, send and broadcast
// against a platform with auth on and the sample container in-process.
// No request fails, no subscription breaks, and once the load is over the
// goroutine count and the live heap return to where they were.
func TestLoadThousandClients(t *testing.T) {
	if testing.Short() {
		t.Skip("load test")
	}
	tp, tok := loadPlatform(t)
	// one warm-up round so pools and caches exist before the baseline
	runLoad(t, tp, tok, loadConfig{clients: 10, perClient: 4, subEvery: 5})
	g0, h0 := settled()

	res := runLoad(t, tp, tok, loadConfig{clients: 1000, perClient: 4, subEvery: 10})
	require.Zero(t, res.errors, "first error: %v", res.firstErr)
	require.Equal(t, 4000, res.requests)
	t.Logf("%d requests in %v: %.0f req/s, p50 %v, p99 %v, %d events pushed", res.requests, res.elapsed.Round(time.Millisecond),
		res.perSecond(), res.quantile(0.5), res.quantile(0.99), res.events)

	var g1 int
	var h1 uint64
	require.Eventually(t, func() bool {
		g1, h1 = settled()
		return g1 <= g0+goroutineMargin && h1 <= h0+heapMargin
	}, 15*time.Second, 50*time.Millisecond, "goroutines %d → %d, heap %d → %d", g0, g1, h0, h1)
	t.Logf("goroutines %d → %d, heap %d KiB → %d KiB", g0, g1, h0>>10, h1>>10)
}

// BenchmarkMixedLoad is the heavier run of the load test: b.N requests over
// 1,000 clients (at least one each). Figures: requests/s, p99 latency, and
// goroutines and live heap before and after.
//
//	go test -run '^$' -bench MixedLoad -benchtime 20000x ./opaca/platform
func BenchmarkMixedLoad(b *testing.B) {
	tp, tok := loadPlatform(b)
	runLoad(b, tp, tok, loadConfig{clients: 10, perClient: 4, subEvery: 5})
	g0, h0 := settled()
	const clients = 1000
	b.ResetTimer()
	res := runLoad(b, tp, tok, loadConfig{clients: clients, perClient: max(1, b.N/clients), subEvery: 10})
	b.StopTimer()
	if res.errors > 0 {
		b.Fatalf("%d errors, first: %v", res.errors, res.firstErr)
	}
	var g1 int
	var h1 uint64
	deadline := time.Now().Add(15 * time.Second)
	for {
		g1, h1 = settled()
		if g1 <= g0+goroutineMargin || time.Now().After(deadline) {
			break
		}
		runtime.Gosched()
	}
	b.ReportMetric(res.perSecond(), "req/s")
	b.ReportMetric(float64(res.quantile(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(res.quantile(0.5).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(g0), "goroutines-before")
	b.ReportMetric(float64(g1), "goroutines-after")
	b.ReportMetric(float64(int64(h1)-int64(h0))/1024, "heap-growth-KiB")
	b.ReportMetric(0, "ns/op")
	if g1 > g0+goroutineMargin {
		b.Errorf("goroutines %d → %d", g0, g1)
	}
}
