package tunnel

import (
	"fmt"
	"log/slog"
	"time"
)

// Defaults.
const (
	// DefaultQueueLimit bounds the values waiting for a tunnel to come up.
	DefaultQueueLimit = 4096
	// DefaultSetupTimeout bounds a TUNNEL_NEW; the node's own request timeout
	// (Calvin's 10 s) normally fires first.
	DefaultSetupTimeout = 15 * time.Second
	// DefaultSendTimeout bounds one queued value's hand-over to the node when
	// the queue is flushed in the background.
	DefaultSendTimeout = 10 * time.Second
	// DefaultMaxTunnelsPerPeer bounds the tunnels to one peer (one per type
	// at most anyway), DefaultMaxTunnels those of the manager, in any state
	// but terminated (a DOWN tunnel counts until destroyed).
	DefaultMaxTunnelsPerPeer = 64
	DefaultMaxTunnels        = 65536
)

// Observer is told when tunnels come up and go down, so that users can bridge
// the events to metrics or tracing. Methods run on the manager's callers'
// goroutines and must not block.
type Observer interface {
	TunnelUp(peer, typ, tunnelID string)
	// TunnelDown reports why the tunnel went down: ErrLinkLost (it will come
	// up again with the same id), ErrDestroyed, or ErrClosed.
	TunnelDown(peer, typ, tunnelID string, reason error)
}

// Option configures a Manager; options are validated by NewManager.
type Option func(*config) error

type config struct {
	logger       *slog.Logger
	observer     Observer
	queueLimit   int
	setupTimeout time.Duration
	sendTimeout  time.Duration
	maxPerPeer   int
	maxTunnels   int
}

func defaultConfig() config {
	return config{
		queueLimit:   DefaultQueueLimit,
		setupTimeout: DefaultSetupTimeout,
		sendTimeout:  DefaultSendTimeout,
		maxPerPeer:   DefaultMaxTunnelsPerPeer,
		maxTunnels:   DefaultMaxTunnels,
	}
}

// WithMaxTunnels bounds the tunnels per peer and in all (defaults
// DefaultMaxTunnelsPerPeer and DefaultMaxTunnels). A TUNNEL_NEW beyond
// either is answered 500 and logged; Open beyond either fails with
// ErrTooManyTunnels.
func WithMaxTunnels(perPeer, total int) Option {
	return func(c *config) error {
		if perPeer <= 0 || total <= 0 {
			return fmt.Errorf("%w: max tunnels %d per peer, %d in all", ErrInvalidOption, perPeer, total)
		}
		c.maxPerPeer, c.maxTunnels = perPeer, total
		return nil
	}
}

// WithLogger sets the structured logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidOption)
		}
		c.logger = l
		return nil
	}
}

// WithObserver registers an Observer for tunnel up and down events.
func WithObserver(o Observer) Option {
	return func(c *config) error {
		if o == nil {
			return fmt.Errorf("%w: nil observer", ErrInvalidOption)
		}
		c.observer = o
		return nil
	}
}

// WithQueueLimit bounds, per tunnel, the values that Send queues while the
// tunnel is not WORKING (default DefaultQueueLimit). Send fails with
// ErrQueueFull beyond it.
func WithQueueLimit(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("%w: queue limit %d", ErrInvalidOption, n)
		}
		c.queueLimit = n
		return nil
	}
}

// WithSetupTimeout bounds the TUNNEL_NEW exchange (default DefaultSetupTimeout).
func WithSetupTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: setup timeout %v", ErrInvalidOption, d)
		}
		c.setupTimeout = d
		return nil
	}
}

// WithSendTimeout bounds the background hand-over of one queued value to the
// node (default DefaultSendTimeout).
func WithSendTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: send timeout %v", ErrInvalidOption, d)
		}
		c.sendTimeout = d
		return nil
	}
}

type nopObserver struct{}

func (nopObserver) TunnelUp(string, string, string)          {}
func (nopObserver) TunnelDown(string, string, string, error) {}
