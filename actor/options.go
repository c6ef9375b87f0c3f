package actor

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"

	"github.com/google/uuid"
)

// Option configures a Runtime.
type Option func(*config) error

type config struct {
	nodeID  string
	reg     *Registry
	log     *slog.Logger
	obs     Observer
	workers int
	stdout  io.Writer
	caps    []string
	burst   int

	maxActors    int
	maxPortConns int
}

// WithNodeID sets the id of the node the runtime belongs to (default: a new UUID).
func WithNodeID(id string) Option {
	return func(c *config) error {
		if id == "" {
			return fmt.Errorf("%w: empty node id", ErrBadOption)
		}
		c.nodeID = id
		return nil
	}
}

// WithRegistry sets the actor types the runtime can create (default: none).
func WithRegistry(r *Registry) Option {
	return func(c *config) error {
		if r == nil {
			return fmt.Errorf("%w: nil registry", ErrBadOption)
		}
		c.reg = r
		return nil
	}
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrBadOption)
		}
		c.log = l
		return nil
	}
}

// WithObserver sets the life-cycle observer.
func WithObserver(o Observer) Option {
	return func(c *config) error {
		if o == nil {
			return fmt.Errorf("%w: nil observer", ErrBadOption)
		}
		c.obs = o
		return nil
	}
}

// WithWorkers sets the number of goroutines that fire actors (default GOMAXPROCS).
func WithWorkers(n int) Option {
	return func(c *config) error {
		if n < 1 || n > 4096 {
			return fmt.Errorf("%w: workers %d not in [1, 4096]", ErrBadOption, n)
		}
		c.workers = n
		return nil
	}
}

// WithStdout sets where io.stdout objects write (default os.Stdout).
func WithStdout(w io.Writer) Option {
	return func(c *config) error {
		if w == nil {
			return fmt.Errorf("%w: nil stdout", ErrBadOption)
		}
		c.stdout = w
		return nil
	}
}

// WithCapabilities replaces the capabilities the runtime offers (default:
// Capabilities()). Types requiring others cannot be created and arrive as
// shadow actors.
func WithCapabilities(caps ...string) Option {
	return func(c *config) error {
		c.caps = append([]string(nil), caps...)
		return nil
	}
}

// WithBurst bounds how many firings one actor gets before a worker moves on
// to the next ready actor (default 256), which keeps scheduling fair.
func WithBurst(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("%w: burst %d < 1", ErrBadOption, n)
		}
		c.burst = n
		return nil
	}
}

// WithMaxActors bounds the actors the runtime hosts, shadows and actors
// being created or arriving included (default DefaultMaxActors, 100000).
// Over the limit CreateActor and ImportActor fail with ErrTooManyActors and
// an ACTOR_NEW is answered 503, so the migrating side keeps its actor.
// n must be at least 1.
func WithMaxActors(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("%w: max actors %d < 1", ErrBadOption, n)
		}
		c.maxActors = n
		return nil
	}
}

// WithMaxPortConnections bounds the connections of one port (default
// DefaultMaxPortConnections, 256): for an outport, the peer ports its queue
// keeps a reader for, which outlive temporary disconnects. A new connection
// over the limit fails with ErrTooManyConnections (Connect, or
// Network.ConnectRemote for its local port) and a PORT_CONNECT is answered
// 503; reconnecting a known pair always works. n must be at least 1.
func WithMaxPortConnections(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("%w: max port connections %d < 1", ErrBadOption, n)
		}
		c.maxPortConns = n
		return nil
	}
}

func newConfig(opts []Option) (*config, error) {
	c := &config{
		log:     slog.New(slog.DiscardHandler),
		obs:     NopObserver{},
		workers: runtime.GOMAXPROCS(0),
		stdout:  os.Stdout,
		caps:    Capabilities(),
		burst:   256,

		maxActors:    DefaultMaxActors,
		maxPortConns: DefaultMaxPortConnections,
	}
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil option", ErrBadOption)
		}
		if err := o(c); err != nil {
			return nil, err
		}
	}
	if c.nodeID == "" {
		c.nodeID = uuid.NewString()
	}
	if c.reg == nil {
		c.reg = &Registry{}
	}
	return c, nil
}
