package platform

import (
	"context"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
	"github.com/meshkit/meshkit/opaca/sample"
)

const benchClients = 16

// invoker is the call both sides of a comparison make.
type invoker func(ctx context.Context) error

// throughput runs n invocations spread over benchClients goroutines and
// returns invocations per second.
func throughput(b *testing.B, n int, call invoker) float64 {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	ctx := context.Background()
	start := time.Now()
	for w := 0; w < benchClients; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(n) {
				if err := call(ctx); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	return float64(n) / time.Since(start).Seconds()
}

var benchArgs = map[string]int{"x": 20, "y": 22}

// compare measures direct and indirect invocation in short alternating
// rounds of the same benchmark, so both see the same machine load, and
// reports both rates (total calls / total time) and their ratio.
func compare(b *testing.B, direct, indirect invoker, name string) {
	// warm up connection pools on both paths
	throughput(b, 2*benchClients, direct)
	throughput(b, 2*benchClients, indirect)
	b.ResetTimer()
	var dTime, iTime float64
	remaining := b.N
	for remaining > 0 {
		n := min(remaining, 250)
		dTime += float64(n) / throughput(b, n, direct)
		iTime += float64(n) / throughput(b, n, indirect)
		remaining -= n
	}
	b.StopTimer()
	d, i := float64(b.N)/dTime, float64(b.N)/iTime
	b.ReportMetric(d, "direct-invokes/s")
	b.ReportMetric(i, name+"-invokes/s")
	b.ReportMetric(i/d, "ratio")
}

func BenchmarkInvokeThroughPlatform(b *testing.B) {
	tp := startPlatform(b)
	id := tp.deploy(b, "agent1")
	e := tp.container(id)
	cc, err := client.NewContainer(e.url, client.WithHTTPClient(&http.Client{Transport: newTransport()}))
	require.NoError(b, err)
	direct := func(ctx context.Context) error {
		_, err := cc.Invoke(ctx, "Add", "agent1", benchArgs)
		return err
	}
	viaPlatform := func(ctx context.Context) error {
		_, err := tp.c.Invoke(ctx, "Add", "agent1", benchArgs)
		return err
	}
	compare(b, direct, viaPlatform, "platform")
}

func BenchmarkInvokeForwarded(b *testing.B) {
	a := startPlatform(b)
	p2 := startPlatform(b)
	id := p2.deploy(b, "agentB")
	ok, err := a.c.Connect(context.Background(), opaca.ConnectionRequest{URL: p2.url, ConnectBack: true})
	require.NoError(b, err)
	require.True(b, ok)
	cc, err := client.NewContainer(p2.container(id).url, client.WithHTTPClient(&http.Client{Transport: newTransport()}))
	require.NoError(b, err)
	direct := func(ctx context.Context) error {
		_, err := cc.Invoke(ctx, "Add", "agentB", benchArgs)
		return err
	}
	forwarded := func(ctx context.Context) error {
		_, err := a.c.Invoke(ctx, "Add", "agentB", benchArgs)
		return err
	}
	compare(b, direct, forwarded, "forwarded")
}

// sampleFactory hosts the real SDK sample container in-process.
func sampleFactory(env map[string]string) (InProcessContainer, error) {
	return sample.New(sample.WithEnv(env), sample.WithStartDelay(0), sample.WithoutHelpers())
}

func samplePost() opaca.PostAgentContainer {
	img := sample.Image()
	img.Requires = nil
	img.ExtraPorts = nil
	img.APIPort = fakeAPIPort + 1000
	return opaca.PostAgentContainer{Image: img, Arguments: opaca.Arguments{"username": "u", "password": "p"}}
}

// BenchmarkInvokeSDKContainer compares invoking Add on the SDK's sample
// container directly and through the platform.
func BenchmarkInvokeSDKContainer(b *testing.B) {
	tp := startPlatform(b, WithInProcessImage(sample.Image().ImageName, sampleFactory))
	id, err := tp.c.PostContainer(context.Background(), samplePost(), 0)
	require.NoError(b, err)
	cc, err := client.NewContainer(tp.container(id).url, client.WithHTTPClient(&http.Client{Transport: newTransport()}))
	require.NoError(b, err)
	direct := func(ctx context.Context) error {
		_, err := cc.Invoke(ctx, "Add", "sample1", benchArgs)
		return err
	}
	viaPlatform := func(ctx context.Context) error {
		_, err := tp.c.Invoke(ctx, "Add", "sample1", benchArgs)
		return err
	}
	compare(b, direct, viaPlatform, "platform")
}
