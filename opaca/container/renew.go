package container

import (
	"context"
	"time"

	"github.com/meshkit/meshkit/opaca/client"
)

// Token renewal (spec §15.6): at half the token's lifetime, and at the
// latest every 9 h (the reference container's interval); failures are
// retried with a doubling pause.
const (
	renewMaxInterval = 9 * time.Hour
	renewFirstRetry  = time.Second
	renewMaxRetry    = 30 * time.Minute
	renewCallTimeout = 30 * time.Second
)

// renewLoop renews the outbound token of cl until the container shuts
// down. Incoming requests are still checked against the original TOKEN.
func (c *Container) renewLoop(cl *client.Client) {
	defer c.wg.Done()
	failures, renewed := 0, false
	for {
		now := time.Now()
		wait := min(client.RenewAt(cl.Token(), now).Sub(now), renewMaxInterval)
		if renewed {
			// a fresh token that already looks half-expired (clock skew)
			// must not make the loop hammer the platform
			wait = max(wait, renewFirstRetry)
		}
		if failures > 0 {
			wait = min(renewFirstRetry<<min(failures-1, 20), renewMaxRetry)
		}
		if !c.pause(max(wait, 0)) {
			return
		}
		ctx, cancel := context.WithTimeout(c.ctx, renewCallTimeout)
		_, err := cl.RenewToken(ctx)
		cancel()
		if err == nil {
			failures, renewed = 0, true
			continue
		}
		if c.ctx.Err() != nil {
			return
		}
		failures++
		// never log the token itself
		c.log.Warn("container: token renewal failed", "container", c.env.ContainerID, "attempt", failures, "err", err)
	}
}
