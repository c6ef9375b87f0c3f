package container

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/meshkit/meshkit/opaca"
)

// Defaults of the container.
const (
	DefaultInvokeTimeout = 30 * time.Second
	DefaultMaxBodySize   = 16 << 20
	notifyTimeout        = 10 * time.Second
)

// Option configures a Container.
type Option func(*config) error

type config struct {
	vars           map[string]string
	logger         *slog.Logger
	invokeTimeout  time.Duration
	startDelay     time.Duration
	login          LoginHandler
	platform       PlatformClient
	httpClient     *http.Client
	subscribe      bool
	autoNotify     bool
	maxBody        int64
	timeouts       opaca.ServerTimeouts
	validatorOpts  []opaca.ValidatorOption
	observer       Observer
	subscribeRetry time.Duration
	closers        []io.Closer
}

// WithEnv takes the environment from vars instead of the process
// environment (in-process hosting, spec §8.7).
func WithEnv(vars map[string]string) Option {
	return func(c *config) error {
		if vars == nil {
			vars = map[string]string{}
		}
		c.vars = vars
		return nil
	}
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return errors.New("container: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithInvokeTimeout sets the default invoke timeout (default 30 s; 0
// disables it). A positive ?timeout= of a request wins.
func WithInvokeTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("container: negative invoke timeout %v", d)
		}
		c.invokeTimeout = d
		return nil
	}
}

// WithStartDelay makes the API answer 503 until d after New (the sample
// container's start-up delay, spec §17.5).
func WithStartDelay(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("container: negative start delay %v", d)
		}
		c.startDelay = d
		return nil
	}
}

// WithLoginHandler enables container login (spec §15.8).
func WithLoginHandler(h LoginHandler) Option {
	return func(c *config) error {
		if h == nil {
			return errors.New("container: nil login handler")
		}
		c.login = h
		return nil
	}
}

// WithPlatformClient sets the client for outbound calls instead of one
// built from PLATFORM_URL and TOKEN. If it also implements EventSource,
// event subscription uses it.
func WithPlatformClient(p PlatformClient) Option {
	return func(c *config) error {
		if p == nil {
			return errors.New("container: nil platform client")
		}
		c.platform = p
		return nil
	}
}

// WithHTTPClient sets the HTTP client of the platform client built from
// PLATFORM_URL.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error {
		if hc == nil {
			return errors.New("container: nil HTTP client")
		}
		c.httpClient = hc
		return nil
	}
}

// WithEventSubscription subscribes to the platform's /invoke events and
// delivers them to the agents' event handlers (spec §15.7).
func WithEventSubscription() Option {
	return func(c *config) error { c.subscribe = true; return nil }
}

// WithSubscribeRetry sets the first pause between subscription attempts
// (default 1 s, doubling to 30 s).
func WithSubscribeRetry(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("container: subscribe retry must be positive, got %v", d)
		}
		c.subscribeRetry = d
		return nil
	}
}

// WithoutAutoNotify stops the container from notifying its platform after
// changes to its agents.
func WithoutAutoNotify() Option {
	return func(c *config) error { c.autoNotify = false; return nil }
}

// WithMaxBodySize limits JSON request bodies (default 16 MiB; stream
// bodies are not limited).
func WithMaxBodySize(n int64) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("container: max body size must be positive, got %d", n)
		}
		c.maxBody = n
		return nil
	}
}

// Server timeouts against slow or idle clients (see WithServerTimeouts).
const (
	DefaultReadHeaderTimeout = opaca.DefaultReadHeaderTimeout
	DefaultBodyReadTimeout   = opaca.DefaultBodyReadTimeout
	DefaultIdleTimeout       = opaca.DefaultIdleTimeout
)

// WithServerTimeouts bounds how long a client may take to send its request
// headers (readHeader, used by Serve and ListenAndServe), to send a JSON
// request body (readBody, enforced by the handler on send, broadcast,
// invoke and login, also when the container is mounted in another server)
// and how long a keep-alive connection may stay idle (idle, used by
// Serve). Zero keeps the default (10 s, 30 s, 120 s); negative is an
// error. There is no whole-request ReadTimeout: it would also cut off
// POST stream uploads, whose bodies are not bounded.
func WithServerTimeouts(readHeader, readBody, idle time.Duration) Option {
	return func(c *config) error {
		t, err := c.timeouts.With(readHeader, readBody, idle)
		if err != nil {
			return fmt.Errorf("container: %w", err)
		}
		c.timeouts = t
		return nil
	}
}

// WithValidatorOptions configures the argument validator (e.g. schema
// fetching for definitionsByUrl).
func WithValidatorOptions(opts ...opaca.ValidatorOption) Option {
	return func(c *config) error {
		c.validatorOpts = append(c.validatorOpts, opts...)
		return nil
	}
}

// WithObserver reports invocations to o.
func WithObserver(o Observer) Option {
	return func(c *config) error {
		if o == nil {
			return errors.New("container: nil observer")
		}
		c.observer = o
		return nil
	}
}

// WithCloser closes c when the container shuts down (after its servers
// and loops), e.g. helper servers that live as long as the container.
func WithCloser(cl io.Closer) Option {
	return func(c *config) error {
		if cl == nil {
			return errors.New("container: nil closer")
		}
		c.closers = append(c.closers, cl)
		return nil
	}
}

// Observer sees finished invocations; it must be fast and safe for
// concurrent use (bridge it to metrics or tracing).
type Observer interface {
	Invoked(agentID, action string, status int, d time.Duration)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(agentID, action string, status int, d time.Duration)

// Invoked implements Observer.
func (f ObserverFunc) Invoked(agentID, action string, status int, d time.Duration) {
	f(agentID, action, status, d)
}

// ChangeOption modifies one change of agents, actions or streams.
type ChangeOption func(*change)

type change struct{ notify bool }

// WithoutNotify applies a change without notifying the platform.
func WithoutNotify() ChangeOption { return func(c *change) { c.notify = false } }

func applyChange(opts []ChangeOption) change {
	ch := change{notify: true}
	for _, o := range opts {
		if o != nil {
			o(&ch)
		}
	}
	return ch
}
