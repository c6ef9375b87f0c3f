package sample

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/container"
)

// ImageName is the image name of the sample container.
const ImageName = "sample-agent-container-image"

// AgentType is the type of the sample agents.
const AgentType = "de.gtarc.opaca.sample.SampleAgent"

// StartDelay is how long the API stays unavailable after start (§17.5).
const StartDelay = 2 * time.Second

//go:embed image.json
var imageJSON []byte

// Image returns the sample's image description (spec §17.1).
func Image() opaca.AgentContainerImage {
	var img opaca.AgentContainerImage
	if err := opaca.DecodeStrict(imageJSON, &img); err != nil {
		// The file is part of the package and covered by tests.
		panic("sample: embedded image.json is invalid: " + err.Error())
	}
	return img
}

// Option configures the sample container.
type Option func(*options) error

type options struct {
	env        map[string]string
	logger     *slog.Logger
	startDelay time.Duration
	helpers    bool
	helperHost string
	extra      []container.Option
}

// WithEnv takes the environment from env (in-process hosting) instead of
// the process environment.
func WithEnv(env map[string]string) Option {
	return func(o *options) error {
		if env == nil {
			env = map[string]string{}
		}
		o.env = env
		return nil
	}
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return errors.New("sample: nil logger")
		}
		o.logger = l
		return nil
	}
}

// WithStartDelay overrides the start delay (default StartDelay; tests use
// 0).
func WithStartDelay(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("sample: negative start delay %v", d)
		}
		o.startDelay = d
		return nil
	}
}

// WithoutHelpers does not start the helper servers of the extra ports.
func WithoutHelpers() Option {
	return func(o *options) error { o.helpers = false; return nil }
}

// WithHelperHost sets the host the helper servers bind to (default: all
// interfaces).
func WithHelperHost(host string) Option {
	return func(o *options) error { o.helperHost = host; return nil }
}

// WithContainerOptions passes further options to container.New.
func WithContainerOptions(opts ...container.Option) Option {
	return func(o *options) error {
		o.extra = append(o.extra, opts...)
		return nil
	}
}

// New builds the sample container with its two agents. The helper servers
// start at once and stop when the container shuts down.
func New(opts ...Option) (*container.Container, error) {
	o := options{logger: slog.New(slog.DiscardHandler), startDelay: StartDelay, helpers: true}
	for _, opt := range opts {
		if opt == nil {
			return nil, errors.New("sample: nil option")
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	logins, err := newLogins()
	if err != nil {
		return nil, err
	}
	copts := []container.Option{
		container.WithLogger(o.logger),
		container.WithStartDelay(o.startDelay),
		container.WithLoginHandler(logins),
		container.WithEventSubscription(),
	}
	if o.env != nil {
		copts = append(copts, container.WithEnv(o.env))
	}
	var h *helpers
	if o.helpers {
		// The helpers need the port mapping, which the container parses;
		// they are created first and bound after New succeeds.
		h = &helpers{log: o.logger}
		copts = append(copts, container.WithCloser(h))
	}
	copts = append(copts, o.extra...)
	c, err := container.New(Image(), copts...)
	if err != nil {
		return nil, err
	}
	for _, id := range []string{"sample1", "sample2"} {
		a, err := newAgent(id)
		if err != nil {
			_ = c.Close()
			return nil, err
		}
		if err := c.AddAgent(a, container.WithoutNotify()); err != nil {
			_ = c.Close()
			return nil, err
		}
	}
	if h != nil {
		env := c.Env()
		h.start(o.helperHost, env.HostPort(8888), env.HostPort(8889))
	}
	return c, nil
}

// rawOrNull returns raw, or JSON null when it is empty.
func rawOrNull(raw []byte) any {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	return jsonRaw(raw)
}
