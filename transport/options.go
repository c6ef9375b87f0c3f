package transport

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"
)

// DefaultSendQueue is the default number of frames a connection queues for
// its writer before Send blocks.
const DefaultSendQueue = 1024

// DefaultDialTimeout bounds a dial (TCP connect plus TLS or WebSocket
// handshake) when the caller's context has no earlier deadline. Accepted
// connections get the same bound for their handshake.
const DefaultDialTimeout = 10 * time.Second

// ErrInvalidOption is wrapped by the errors of constructors given a bad option.
var ErrInvalidOption = errors.New("transport: invalid option")

// Option configures a Registry or one of the transports.
type Option func(*config) error

type config struct {
	maxFrameSize int
	tlsConfig    *tls.Config
	sendQueue    int
	logger       *slog.Logger
	memNet       *MemNetwork
	dialTimeout  time.Duration
}

func newConfig(opts []Option) (config, error) {
	c := config{
		maxFrameSize: DefaultMaxFrameSize,
		sendQueue:    DefaultSendQueue,
		logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
		dialTimeout:  DefaultDialTimeout,
	}
	for _, o := range opts {
		if o == nil {
			return config{}, fmt.Errorf("%w: nil option", ErrInvalidOption)
		}
		if err := o(&c); err != nil {
			return config{}, err
		}
	}
	return c, nil
}

// WithMaxFrameSize sets the largest payload sent or accepted, in bytes
// (default DefaultMaxFrameSize, Calvin's 20 MiB). A Send of a longer frame
// fails locally with ErrFrameTooLarge; a peer announcing one is disconnected.
func WithMaxFrameSize(n int) Option {
	return func(c *config) error {
		if n <= 0 || uint64(n) > maxWireFrameSize {
			return fmt.Errorf("%w: max frame size %d not in 1..%d", ErrInvalidOption, n, uint64(maxWireFrameSize))
		}
		c.maxFrameSize = n
		return nil
	}
}

// WithTLS runs calvinip (and wss) over TLS with cfg, cloned. Listeners need
// cfg.Certificates; for Calvin's mutual TLS set ClientAuth to
// tls.RequireAndVerifyClientCert with ClientCAs, and give dialers
// Certificates and RootCAs. A dialer without ServerName verifies the host of
// the URI.
func WithTLS(cfg *tls.Config) Option {
	return func(c *config) error {
		if cfg == nil {
			return fmt.Errorf("%w: nil TLS config", ErrInvalidOption)
		}
		c.tlsConfig = cfg.Clone()
		return nil
	}
}

// WithSendQueue sets how many frames a connection buffers for its writer
// before Send blocks (default DefaultSendQueue). The same bound applies to
// received frames a ws connection holds for Recv and to a mem connection's
// inbox, so a slow reader slows its sender down instead of growing memory.
func WithSendQueue(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("%w: send queue length %d must be positive", ErrInvalidOption, n)
		}
		c.sendQueue = n
		return nil
	}
}

// WithLogger sets the logger for connection failures (peers breaking
// framing, failed handshakes). The default discards.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidOption)
		}
		c.logger = l
		return nil
	}
}

// WithMemNetwork makes the mem transport use n instead of the package's
// default network, so that tests can run isolated networks side by side.
func WithMemNetwork(n *MemNetwork) Option {
	return func(c *config) error {
		if n == nil {
			return fmt.Errorf("%w: nil MemNetwork", ErrInvalidOption)
		}
		c.memNet = n
		return nil
	}
}

// WithDialTimeout bounds dials and handshakes (default DefaultDialTimeout).
func WithDialTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: dial timeout %v must be positive", ErrInvalidOption, d)
		}
		c.dialTimeout = d
		return nil
	}
}
