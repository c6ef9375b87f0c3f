package container

import (
	"time"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
)

const maxSubscribeRetry = 30 * time.Second

// subscribeLoop keeps a subscription to the platform's /invoke events
// while the container runs, reconnecting with backoff (spec §15.7).
func (c *Container) subscribeLoop(es EventSource) {
	defer c.wg.Done()
	wait := c.cfg.subscribeRetry
	for c.ctx.Err() == nil {
		sub, err := es.Subscribe(c.ctx, "/invoke", client.NoReconnect())
		if err != nil {
			c.log.Warn("container: event subscription failed", "err", err, "retry", wait)
			if !c.pause(wait) {
				return
			}
			wait = min(wait*2, maxSubscribeRetry)
			continue
		}
		wait = c.cfg.subscribeRetry
		for ev := range sub.Events() {
			c.dispatchEvent(ev)
		}
		_ = sub.Close()
		if !c.pause(wait) {
			return
		}
	}
}

func (c *Container) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-c.ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// dispatchEvent hands an event to every agent's handler for the invoked
// action.
func (c *Container) dispatchEvent(ev opaca.Event) {
	name, ok := ev.InvokedAction()
	if !ok {
		return
	}
	for _, a := range c.snapshot() {
		if h := a.eventHandler(name); h != nil {
			_ = safeRun(func() error { h(c.ctx, ev); return nil })
		}
	}
}

// DeliverEvent hands an event to the agents as if it came from the
// subscription (for platforms that host the container in-process and
// push events themselves).
func (c *Container) DeliverEvent(ev opaca.Event) { c.dispatchEvent(ev) }
