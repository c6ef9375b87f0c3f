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
	store       Store
	logger      *slog.Logger
	timeout     time.Duration
	maxPending  int
	writeBehind int
	maxKeys     int   // MemStore limits; 0 = default
	maxBytes    int64 // MemStore limits; 0 = default
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

// WithWriteBehind makes a remote Client's writes (Set, Delete, Append,
// Remove, AddIndex, RemoveIndex and the record writers) return as soon as
// they are queued, up to limit of them: one goroutine sends them in order,
// and while the registry cannot be reached it keeps them and retries with
// a growing delay (0.5 s per failed attempt, at most 10 s), as a Calvin
// proxy-storage node does at start (§6.2). Reads still go to the registry
// and do not see writes not yet sent; Flush waits for them.
func WithWriteBehind(limit int) Option {
	return func(o *options) error {
		if limit <= 0 {
			return fmt.Errorf("%w: write-behind limit %d", ErrInvalidOption, limit)
		}
		o.writeBehind = limit
		return nil
	}
}
