package rt2rt

import (
	"fmt"
	"net/url"
	"sync"
	"time"
)

// tokenBucket is a rate limiter: up to burst events at once, refilled at
// rate per second. The zero value starts full.
type tokenBucket struct {
	tokens float64
	last   time.Time
}

func (b *tokenBucket) take(now time.Time, burst int, rate float64) bool {
	if b.last.IsZero() {
		b.tokens = float64(burst)
	} else {
		b.tokens = min(float64(burst), b.tokens+now.Sub(b.last).Seconds()*rate)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// full reports whether the bucket would be full at now (it can be forgotten).
func (b *tokenBucket) full(now time.Time, burst int, rate float64) bool {
	return b.tokens+now.Sub(b.last).Seconds()*rate >= float64(burst)
}

// maxJoinHosts bounds the hosts the join limiter remembers.
const maxJoinHosts = 4096

// joinLimiter applies WithJoinRateLimit per remote host.
type joinLimiter struct {
	mu    sync.Mutex
	burst int
	rate  float64
	hosts map[string]*tokenBucket
}

func (j *joinLimiter) allow(remoteURI string, now time.Time) bool {
	if j.burst == 0 {
		return true
	}
	host := remoteURI
	if u, err := url.Parse(remoteURI); err == nil && u.Hostname() != "" {
		host = u.Hostname()
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	b := j.hosts[host]
	if b == nil {
		if j.hosts == nil {
			j.hosts = map[string]*tokenBucket{}
		}
		if len(j.hosts) >= maxJoinHosts {
			// Forget hosts that are back to a full bucket; if all are busy
			// (a spread-out flood) start afresh rather than grow.
			for h, hb := range j.hosts {
				if hb.full(now, j.burst, j.rate) {
					delete(j.hosts, h)
				}
			}
			if len(j.hosts) >= maxJoinHosts {
				clear(j.hosts)
			}
		}
		b = &tokenBucket{}
		j.hosts[host] = b
	}
	return b.take(now, j.burst, j.rate)
}

// bad logs and drops an invalid frame from l's peer and counts it against
// WithBadFrameLimit. It runs on l's read loop only.
func (n *Node) bad(l *link, cmd string, reason error) {
	n.drop(l, cmd, reason)
	n.strike(l, reason)
}

// strike counts an invalid frame from l's peer; a peer beyond the limit is
// marked to be cut off (its read loop closes the link after this frame).
func (n *Node) strike(l *link, reason error) {
	if l == nil || n.cfg.badFrameBurst == 0 || l.cutErr != nil {
		return
	}
	if !l.badFrames.take(time.Now(), n.cfg.badFrameBurst, n.cfg.badFrameRate) {
		l.cutErr = fmt.Errorf("%w (burst %d, %v/s); last: %w", ErrPeerCutOff, n.cfg.badFrameBurst, n.cfg.badFrameRate, reason)
		n.log.Warn("peer cut off", "peer", l.peer, "err", l.cutErr)
	}
}

// linksFullFor reports whether an incoming join of peer must be refused by
// WithMaxLinks: the node is at the limit and peer is not linked already.
func (n *Node) linksFullFor(peer string) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	_, linked := n.links[peer]
	return !linked && len(n.links) >= n.cfg.maxLinks
}
