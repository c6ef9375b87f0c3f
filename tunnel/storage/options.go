package storage

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults.
const (
	// DefaultTimeout bounds one registry request attempt (§6.2: 10 s).
	DefaultTimeout = 10 * time.Second
	// DefaultMaxPending bounds the requests a Server queues per tunnel.
	DefaultMaxPending = 65536
)

// ErrInvalidOption reports an invalid option given to NewServer or NewClient.
var ErrInvalidOption = errors.New("storage: invalid option")

// Option configures a Server or a Client. Options that do not apply to the
// value being built are ignored.
type Option func(*options) error

type options struct {
	store      Store
	logger     *slog.Logger
	timeout    time.Duration
	maxPending int
}

func buildOptions(opts []Option) (options, error) {
	o := options{timeout: DefaultTimeout, maxPending: DefaultMaxPending}
	for _, f := range opts {
		if f == nil {
			return o, fmt.Errorf("%w: nil option", ErrInvalidOption)
		}
		if err := f(&o); err != nil {
			return o, err
		}
	}
	if o.logger == nil {
		o.logger = slog.Default()
	}
	return o, nil
}

// WithStore sets the Server's store (default: a new MemStore).
func WithStore(s Store) Option {
	return func(o *options) error {
		if s == nil {
			return fmt.Errorf("%w: nil store", ErrInvalidOption)
		}
		o.store = s
		return nil
	}
}

// WithLogger sets the structured logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidOption)
		}
		o.logger = l
		return nil
	}
}

// WithTimeout bounds how long a Client waits for the reply to one request
// attempt (default 10 s). The caller's ctx may end it sooner.
func WithTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d <= 0 {
			return fmt.Errorf("%w: timeout %v", ErrInvalidOption, d)
		}
		o.timeout = d
		return nil
	}
}

// WithMaxPending bounds the requests a Server queues per tunnel before it
// drops new ones (their clients time out).
func WithMaxPending(n int) Option {
	return func(o *options) error {
		if n <= 0 {
			return fmt.Errorf("%w: max pending %d", ErrInvalidOption, n)
		}
		o.maxPending = n
		return nil
	}
}
