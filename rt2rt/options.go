package rt2rt

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/transport"
)

// Defaults, chosen to match Calvin where Calvin has a value.
const (
	// DefaultListenURI binds an OS-chosen port on loopback.
	DefaultListenURI = "calvinip://127.0.0.1:0"
	// DefaultRequestTimeout is Calvin's per-request timer (§3.6).
	DefaultRequestTimeout = 10 * time.Second
	// DefaultJoinTimeout bounds a handshake: a silent peer is dropped after it.
	DefaultJoinTimeout = 5 * time.Second
	// DefaultReplacedLinkGrace is how long a link that lost the duplicate
	// rule (§2.8) must have been quiet before it is closed, so frames
	// already in flight on it still arrive (Calvin closes after 3 s).
	DefaultReplacedLinkGrace = 3 * time.Second
	// maxRetireGraces bounds how many grace periods a replaced link that
	// keeps receiving may stay open.
	maxRetireGraces = 20
	// flushTimeout bounds the wait for a last JOIN_REPLY to be written
	// before its connection is closed.
	flushTimeout = time.Second
	// maxJoinAttempts is how many invalid first frames a responder answers
	// before it gives up on the connection (§2.3 allows closing).
	maxJoinAttempts = 8
	// maxHandshakes bounds the incoming joins in progress at once.
	maxHandshakes = 1024

	// DefaultMaxLinks bounds the links of a node; further incoming joins
	// are refused (JOIN_REPLY with a null id, then close).
	DefaultMaxLinks = 1024
	// DefaultMaxPending bounds the requests waiting for a REPLY in the
	// whole node, DefaultMaxPendingPerPeer those addressed to one node;
	// Request beyond them fails at once with ErrTooManyRequests.
	DefaultMaxPending        = 65536
	DefaultMaxPendingPerPeer = 4096
	// DefaultBadFrameBurst and DefaultBadFrameRate bound the invalid frames
	// (undecodable, without to_rt_uuid, unknown command, for another node
	// while forwarding is off) a link may carry: a token bucket of this
	// size refilled at this rate per second. A peer that empties it is cut
	// off (ErrPeerCutOff).
	DefaultBadFrameBurst = 100
	DefaultBadFrameRate  = 10.0
	// DefaultJoinBurst and DefaultJoinRate bound the incoming connections
	// accepted per remote host: a token bucket of this size refilled at
	// this rate per second. Connections beyond it are closed at once.
	DefaultJoinBurst = 256
	DefaultJoinRate  = 64.0
)

// JoinValidator decides whether a peer may join. A non-nil error rejects the
// join with a JOIN_REPLY whose id is null.
type JoinValidator func(peerID string, req *wire.JoinRequest) error

// Resolver finds the RT2RT URIs of a node the node has no link to, for
// re-joins and forwarding. The storage tunnel supplies one backed by the
// registry's node-<id> records.
type Resolver interface {
	Resolve(ctx context.Context, nodeID string) ([]string, error)
}

// ResolverFunc adapts a function to Resolver.
type ResolverFunc func(ctx context.Context, nodeID string) ([]string, error)

// Resolve calls f.
func (f ResolverFunc) Resolve(ctx context.Context, nodeID string) ([]string, error) {
	return f(ctx, nodeID)
}

// Option configures a Node. Options are validated by NewNode.
type Option func(*config) error

type config struct {
	id             string
	listen         []string
	serializers    []string
	serRegistry    *wire.Registry
	transport      *transport.Registry
	logger         *slog.Logger
	observer       Observer
	validator      JoinValidator
	joinTimeout    time.Duration
	requestTimeout time.Duration
	forwarding     bool
	resolver       Resolver
	staleAfter     time.Duration
	replaceGrace   time.Duration

	maxLinks          int
	maxPending        int
	maxPendingPerPeer int
	badFrameBurst     int
	badFrameRate      float64
	joinBurst         int
	joinRate          float64
}

func defaultConfig() config {
	return config{
		forwarding:     true,
		joinTimeout:    DefaultJoinTimeout,
		requestTimeout: DefaultRequestTimeout,
		replaceGrace:   DefaultReplacedLinkGrace,

		maxLinks:          DefaultMaxLinks,
		maxPending:        DefaultMaxPending,
		maxPendingPerPeer: DefaultMaxPendingPerPeer,
		badFrameBurst:     DefaultBadFrameBurst,
		badFrameRate:      DefaultBadFrameRate,
		joinBurst:         DefaultJoinBurst,
		joinRate:          DefaultJoinRate,
	}
}

// WithID sets the node id (default: a fresh lowercase uuid4). Ids are opaque.
func WithID(id string) Option {
	return func(c *config) error {
		if id == "" {
			return fmt.Errorf("%w: empty node id", ErrInvalidOption)
		}
		c.id = id
		return nil
	}
}

// WithListen sets the URIs to listen on (default calvinip://127.0.0.1:0).
// Calling it with no URI makes a node that only dials.
func WithListen(uris ...string) Option {
	return func(c *config) error {
		for _, u := range uris {
			if u == "" {
				return fmt.Errorf("%w: empty listen URI", ErrInvalidOption)
			}
		}
		c.listen = append([]string{}, uris...)
		if c.listen == nil {
			c.listen = []string{}
		}
		return nil
	}
}

// WithSerializers sets the serializer priority list (default json, msgpack).
// As responder the first entry the initiator also offers wins (§2.4); as
// initiator the list is what is offered.
func WithSerializers(names ...string) Option {
	return func(c *config) error {
		if len(names) == 0 {
			return fmt.Errorf("%w: no serializer", ErrInvalidOption)
		}
		c.serializers = append([]string(nil), names...)
		return nil
	}
}

// WithSerializerRegistry uses reg for coders and, unless WithSerializers is
// also given, for the priority order.
func WithSerializerRegistry(reg *wire.Registry) Option {
	return func(c *config) error {
		if reg == nil {
			return fmt.Errorf("%w: nil serializer registry", ErrInvalidOption)
		}
		c.serRegistry = reg
		return nil
	}
}

// WithTransport sets the transport registry used to dial and listen (tests
// inject one bound to an in-memory network).
func WithTransport(reg *transport.Registry) Option {
	return func(c *config) error {
		if reg == nil {
			return fmt.Errorf("%w: nil transport registry", ErrInvalidOption)
		}
		c.transport = reg
		return nil
	}
}

// WithLogger sets the structured logger (default: slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidOption)
		}
		c.logger = l
		return nil
	}
}

// WithObserver registers an Observer for the node's important events.
func WithObserver(o Observer) Option {
	return func(c *config) error {
		if o == nil {
			return fmt.Errorf("%w: nil observer", ErrInvalidOption)
		}
		c.observer = o
		return nil
	}
}

// WithJoinValidator installs a check run on every incoming JOIN_REQUEST.
func WithJoinValidator(v JoinValidator) Option {
	return func(c *config) error {
		if v == nil {
			return fmt.Errorf("%w: nil join validator", ErrInvalidOption)
		}
		c.validator = v
		return nil
	}
}

// WithJoinTimeout bounds the handshake in both roles (default 5 s).
func WithJoinTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: join timeout %v", ErrInvalidOption, d)
		}
		c.joinTimeout = d
		return nil
	}
}

// WithRequestTimeout sets the per-request timeout (default 10 s, Calvin's).
// It also bounds the automatic re-join done by Request and Send.
func WithRequestTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: request timeout %v", ErrInvalidOption, d)
		}
		c.requestTimeout = d
		return nil
	}
}

// WithForwarding switches relaying of messages addressed to other nodes
// (§3.8, default on; proxied constrained peers depend on it).
func WithForwarding(on bool) Option {
	return func(c *config) error {
		c.forwarding = on
		return nil
	}
}

// WithResolver sets how URIs of unlinked nodes are found. URIs remembered
// from earlier joins are always tried first.
func WithResolver(r Resolver) Option {
	return func(c *config) error {
		if r == nil {
			return fmt.Errorf("%w: nil resolver", ErrInvalidOption)
		}
		c.resolver = r
		return nil
	}
}

// WithStaleLinkAfter sets how long a link may stay silent before a fresh
// duplicate connection from its peer replaces it even where the §2.8 rule
// would keep the old one (default: three request timeouts). This is how a
// node recovers from a half-open connection the peer already gave up.
func WithStaleLinkAfter(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: stale link duration %v", ErrInvalidOption, d)
		}
		c.staleAfter = d
		return nil
	}
}

// WithReplacedLinkGrace sets how long the losing connection of a duplicate
// pair (§2.8) must have been quiet after the new link took over before it is
// closed, so that frames already in flight on it are delivered (default
// 3 s, Calvin's delay).
func WithReplacedLinkGrace(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("%w: replaced link grace %v", ErrInvalidOption, d)
		}
		c.replaceGrace = d
		return nil
	}
}

// WithMaxLinks bounds the node's links (default DefaultMaxLinks). An
// incoming JOIN_REQUEST from a peer that is not linked yet is refused with a
// JOIN_REPLY whose id is null, and the connection is closed. Joins this
// node starts are not limited.
func WithMaxLinks(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("%w: max links %d", ErrInvalidOption, n)
		}
		c.maxLinks = n
		return nil
	}
}

// WithMaxPendingRequests bounds the requests waiting for a REPLY: total in
// the node and per addressed node (defaults DefaultMaxPending and
// DefaultMaxPendingPerPeer). Request beyond either fails at once with an
// error wrapping ErrTooManyRequests, so that a peer that never answers
// cannot make the node hold unbounded state.
func WithMaxPendingRequests(total, perPeer int) Option {
	return func(c *config) error {
		if total <= 0 || perPeer <= 0 {
			return fmt.Errorf("%w: max pending requests %d/%d", ErrInvalidOption, total, perPeer)
		}
		c.maxPending, c.maxPendingPerPeer = total, perPeer
		return nil
	}
}

// WithBadFrameLimit sets how many invalid frames a link may carry: burst at
// once, refilled at perSecond (defaults DefaultBadFrameBurst and
// DefaultBadFrameRate). Each invalid frame is still logged and dropped; a
// peer beyond the limit is cut off (the link closes with ErrPeerCutOff).
// burst 0 switches the limit off.
func WithBadFrameLimit(burst int, perSecond float64) Option {
	return func(c *config) error {
		if burst < 0 || perSecond < 0 {
			return fmt.Errorf("%w: bad frame limit %d, %v/s", ErrInvalidOption, burst, perSecond)
		}
		c.badFrameBurst, c.badFrameRate = burst, perSecond
		return nil
	}
}

// WithJoinRateLimit bounds the connections accepted per remote host: burst
// at once, refilled at perSecond (defaults DefaultJoinBurst and
// DefaultJoinRate). Connections beyond it are closed before the handshake.
// burst 0 switches the limit off.
func WithJoinRateLimit(burst int, perSecond float64) Option {
	return func(c *config) error {
		if burst < 0 || perSecond < 0 {
			return fmt.Errorf("%w: join rate limit %d, %v/s", ErrInvalidOption, burst, perSecond)
		}
		c.joinBurst, c.joinRate = burst, perSecond
		return nil
	}
}
