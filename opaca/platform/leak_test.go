package platform

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/opaca"
)

// TestNoGoroutineLeak runs two connected platforms with containers and
// subscriptions, shuts them down and checks that the goroutine count
// returns to where it was.
func TestNoGoroutineLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		a := startPlatform(t)
		b := startPlatform(t)
		ctx := context.Background()
		a.deploy(t, "agentA")
		b.deploy(t, "agentB")
		_, err := a.c.Connect(ctx, opaca.ConnectionRequest{URL: b.url, ConnectBack: true})
		require.NoError(t, err)
		s, err := a.c.Subscribe(ctx, "/invoke")
		require.NoError(t, err)
		_, err = a.c.Invoke(ctx, "Add", "agentB", map[string]int{"x": 1, "y": 2})
		require.NoError(t, err)
		require.NoError(t, s.Close())
		for _, tp := range []*testPlatform{a, b} {
			_ = tp.c.Close()
			require.NoError(t, tp.Close())
			require.NoError(t, tp.Close())
		}
	}()
	require.Eventually(t, func() bool {
		// idle keep-alive connections of the shared test transports end on
		// their own; allow a small margin for runtime goroutines
		return runtime.NumGoroutine() <= before+2
	}, 10*time.Second, 20*time.Millisecond, "goroutines: before %d, now %d", before, runtime.NumGoroutine())
}
