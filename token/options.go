package token

import (
	"fmt"
	"log/slog"
	"time"
)

// Event describes one token-flow event for an Observer.
type Event struct {
	Peer       string // peer node id
	PortID     string // local port id
	PeerPortID string // peer port id
	Seq        uint64 // sequence number on the wire
}

// Observer is told about the token flow, so that users can count or trace it
// without the library depending on a metrics system. Methods are called on
// the flow's goroutines and must return quickly.
type Observer interface {
	// TokenSent: a TOKEN went out for the first time.
	TokenSent(e Event)
	// TokenRetransmitted: a TOKEN went out again (after a NACK, a timeout or
	// a link loss).
	TokenRetransmitted(e Event)
	// TokenAcked: an ACK committed tokens up to and including e.Seq.
	TokenAcked(e Event)
	// TokenNacked: a NACK rewound the sender to e.Seq.
	TokenNacked(e Event)
	// TokenReceived: a TOKEN arrived and was answered with reply (ACK, NACK
	// or ABORT; empty when the flow stayed silent).
	TokenReceived(e Event, reply string)
}

// NopObserver ignores every event; embed it to implement only some methods.
type NopObserver struct{}

func (NopObserver) TokenSent(Event)             {}
func (NopObserver) TokenRetransmitted(Event)    {}
func (NopObserver) TokenAcked(Event)            {}
func (NopObserver) TokenNacked(Event)           {}
func (NopObserver) TokenReceived(Event, string) {}

// Option configures a Flow.
type Option func(*config) error

type config struct {
	log         *slog.Logger
	obs         Observer
	timing      Timing
	portKnown   func(portID string) bool
	sendTimeout time.Duration
}

// DefaultSendTimeout bounds how long the flow waits for one batch of sends
// to a peer (see WithSendTimeout).
const DefaultSendTimeout = 250 * time.Millisecond

func defaultConfig() config {
	return config{log: slog.New(slog.DiscardHandler), obs: NopObserver{}, timing: DefaultTiming, sendTimeout: DefaultSendTimeout}
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidConfig)
		}
		c.log = l
		return nil
	}
}

// WithObserver sets the observer (default: none).
func WithObserver(o Observer) Option {
	return func(c *config) error {
		if o == nil {
			return fmt.Errorf("%w: nil observer", ErrInvalidConfig)
		}
		c.obs = o
		return nil
	}
}

// WithTiming replaces DefaultTiming (NACK backoff and retransmission timer).
// Spec §7.5 fixes the backoff so that a Calvin peer sees Calvin's timing;
// change it only for tests or closed meshkit networks.
func WithTiming(t Timing) Option {
	return func(c *config) error {
		if t.BackoffMin <= 0 || t.BackoffMax < t.BackoffMin || t.RTOMin <= 0 || t.RTOMax < t.RTOMin {
			return fmt.Errorf("%w: timing %+v", ErrInvalidConfig, t)
		}
		c.timing = t
		return nil
	}
}

// WithPortLookup tells the flow which local ports exist. A TOKEN for a port
// that does not exist is answered ABORT; one for an existing port without a
// connection to the sender is dropped silently (spec §7.4). By default a
// port exists when it has a registered receiver.
func WithPortLookup(exists func(portID string) bool) Option {
	return func(c *config) error {
		if exists == nil {
			return fmt.Errorf("%w: nil port lookup", ErrInvalidConfig)
		}
		c.portKnown = exists
		return nil
	}
}

// WithSendTimeout bounds how long one batch of sends to a peer may block (on
// link back-pressure, or on a re-join the node starts inside a send). Frames
// not sent in time count as unsent and are retried; replies are dropped (the
// sender resends and gets a fresh one).
func WithSendTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("%w: send timeout %v", ErrInvalidConfig, d)
		}
		c.sendTimeout = d
		return nil
	}
}
