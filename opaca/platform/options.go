package platform

import (
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/meshkit/meshkit/opaca"
)

// Session policies of spec §14.1.
const (
	PolicyShutdown  = "SHUTDOWN"
	PolicyRestart   = "RESTART"
	PolicyReconnect = "RECONNECT"
)

// Observer sees the important platform events. Implementations must be
// fast and safe for concurrent use.
type Observer interface {
	// Request reports a finished API request that creates events.
	Request(route string, status int, d time.Duration)
	// Forward reports one call to a container or peer while serving route.
	Forward(route, receiver string, err error, d time.Duration)
	// ContainerStarted / ContainerStopped report table changes.
	ContainerStarted(id, image string)
	ContainerStopped(id string)
	// Connected / Disconnected report platform connections.
	Connected(peer string)
	Disconnected(peer string)
}

// NopObserver implements Observer and does nothing; embed it to implement
// only some methods.
type NopObserver struct{}

func (NopObserver) Request(string, int, time.Duration)           {}
func (NopObserver) Forward(string, string, error, time.Duration) {}
func (NopObserver) ContainerStarted(string, string)              {}
func (NopObserver) ContainerStopped(string)                      {}
func (NopObserver) Connected(string)                             {}
func (NopObserver) Disconnected(string)                          {}

type config struct {
	publicURL        string
	listenHost       string
	requireAuth      bool
	adminUser        string
	adminPassword    string
	secret           string
	inProcess        map[string]InProcessFactory
	processes        map[string]string
	docker           *DockerConfig
	backend          Runner
	stateFile        string
	sessionPolicy    string
	defaultImages    string
	containerTimeout time.Duration
	historySize      int
	logger           *slog.Logger
	observer         Observer
	forwardTimeout   time.Duration
	containerEnv     string
	platformEnv      string
	maxBody          int64
	timeouts         opaca.ServerTimeouts
	bcryptCost       int
	processOutput    io.Writer
	pingInterval     time.Duration
	subscriberQueue  int
	pollInterval     time.Duration
	peerDropAfter    time.Duration
	saveInterval     time.Duration
	registryNames    []string
	alwaysPull       bool
}

// Option configures a Platform.
type Option func(*config) error

// WithPublicURL sets the platform's own base URL (RuntimePlatform.baseUrl,
// PLATFORM_URL of its containers). Default http://127.0.0.1:8000.
func WithPublicURL(u string) Option {
	return func(c *config) error {
		n, err := normalizeURL(u)
		if err != nil {
			return fmt.Errorf("platform: public URL: %w", err)
		}
		c.publicURL = n
		return nil
	}
}

// WithListenHost sets the host in-process containers listen on and ports
// are probed at (default 127.0.0.1).
func WithListenHost(h string) Option {
	return func(c *config) error {
		if strings.ContainsAny(h, "/ ") {
			return fmt.Errorf("platform: invalid listen host %q", h)
		}
		c.listenHost = h
		return nil
	}
}

// WithRequireAuth enforces tokens and roles (REQUIRE_AUTH).
func WithRequireAuth(on bool) Option { return func(c *config) error { c.requireAuth = on; return nil } }

// WithAdmin sets the admin account (PLATFORM_ADMIN_USER / _PWD).
func WithAdmin(user, password string) Option {
	return func(c *config) error {
		if user == "" {
			return fmt.Errorf("platform: empty admin user name")
		}
		c.adminUser, c.adminPassword = user, password
		return nil
	}
}

// WithSecret sets the JWT secret (SECRET); without one a random key is used.
func WithSecret(s string) Option { return func(c *config) error { c.secret = s; return nil } }

// WithInProcessImage registers a Go container under an image name.
func WithInProcessImage(name string, f InProcessFactory) Option {
	return func(c *config) error {
		if name == "" || f == nil {
			return fmt.Errorf("platform: in-process image needs a name and a factory")
		}
		c.inProcess[name] = f
		return nil
	}
}

// WithProcessImage registers an image started as a local process running
// command with "sh -c".
func WithProcessImage(name, command string) Option {
	return func(c *config) error {
		if name == "" || strings.TrimSpace(command) == "" {
			return fmt.Errorf("platform: process image needs a name and a command")
		}
		c.processes[name] = command
		return nil
	}
}

// WithDocker enables the Docker Engine API runner for all other images.
func WithDocker(cfg DockerConfig) Option {
	return func(c *config) error {
		if cfg.Host != "" && !strings.HasPrefix(cfg.Host, "unix://") && !strings.HasPrefix(cfg.Host, "tcp://") {
			return fmt.Errorf("platform: docker host %q must start with unix:// or tcp://", cfg.Host)
		}
		c.docker = &cfg
		return nil
	}
}

// WithBackend makes r the runner for every image that is neither an
// adopted URL nor a registered in-process or process image, in place of
// Docker: the hook for other backends (e.g. Kubernetes). Its Kind names it
// in the state file.
func WithBackend(r Runner) Option {
	return func(c *config) error {
		if r == nil || r.Kind() == "" {
			return fmt.Errorf("platform: backend runner needs a kind")
		}
		c.backend = r
		return nil
	}
}

// WithStateFile persists users, containers and connections (spec §14.2).
func WithStateFile(path string) Option {
	return func(c *config) error {
		if path == "" {
			return fmt.Errorf("platform: empty state file path")
		}
		c.stateFile = path
		return nil
	}
}

// WithSessionPolicy sets SHUTDOWN, RESTART or RECONNECT (case-insensitive).
func WithSessionPolicy(p string) Option {
	return func(c *config) error {
		p = strings.ToUpper(strings.TrimSpace(p))
		switch p {
		case PolicyShutdown, PolicyRestart, PolicyReconnect:
			c.sessionPolicy = p
			return nil
		}
		return fmt.Errorf("platform: unknown session policy %q", p)
	}
}

// WithDefaultImages deploys every *.json PostAgentContainer in dir at start.
func WithDefaultImages(dir string) Option {
	return func(c *config) error {
		st, err := os.Stat(dir)
		if err != nil || !st.IsDir() {
			return fmt.Errorf("platform: default image directory %q is not a directory", dir)
		}
		c.defaultImages = dir
		return nil
	}
}

// WithContainerTimeout sets the default wait for a starting container's
// /info (CONTAINER_TIMEOUT_SEC, default 10 s).
func WithContainerTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("platform: container timeout must be positive")
		}
		c.containerTimeout = d
		return nil
	}
}

// WithEventHistorySize sets how many events /history keeps (default 50;
// negative: unbounded; 0: none).
func WithEventHistorySize(n int) Option {
	return func(c *config) error { c.historySize = n; return nil }
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		if l == nil {
			return fmt.Errorf("platform: nil logger")
		}
		c.logger = l
		return nil
	}
}

// WithObserver registers an Observer.
func WithObserver(o Observer) Option {
	return func(c *config) error {
		if o == nil {
			return fmt.Errorf("platform: nil observer")
		}
		c.observer = o
		return nil
	}
}

// WithForwardTimeout bounds forwarded invocations without a timeout
// parameter (default: none, the request context decides).
func WithForwardTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 {
			return fmt.Errorf("platform: negative forward timeout")
		}
		c.forwardTimeout = d
		return nil
	}
}

// WithContainerEnvironment sets DOCKER or KUBERNETES (what clientConfig.type
// is checked against; default DOCKER).
func WithContainerEnvironment(env string) Option {
	return func(c *config) error {
		env = strings.ToUpper(env)
		if env != "DOCKER" && env != "KUBERNETES" {
			return fmt.Errorf("platform: unknown container environment %q", env)
		}
		c.containerEnv = env
		return nil
	}
}

// WithPlatformEnvironment sets NATIVE, DOCKER or KUBERNETES (default NATIVE).
func WithPlatformEnvironment(env string) Option {
	return func(c *config) error {
		env = strings.ToUpper(env)
		if env != "NATIVE" && env != "DOCKER" && env != "KUBERNETES" {
			return fmt.Errorf("platform: unknown platform environment %q", env)
		}
		c.platformEnv = env
		return nil
	}
}

// WithMaxBodySize limits JSON request bodies (default 16 MiB; 413 beyond).
func WithMaxBodySize(n int64) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("platform: body limit must be positive")
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
// headers (readHeader, used by Serve's http.Server), to send a JSON request
// body (readBody, enforced by the Handler itself on every route that reads
// one, so it also holds when the Handler is mounted in another server) and
// how long a keep-alive connection may stay idle (idle, used by Serve).
// Zero keeps the default (10 s, 30 s, 120 s); a negative value is an
// error.
//
// There is deliberately no whole-request http.Server.ReadTimeout: it
// would also cut off POST /stream uploads, whose bodies are not bounded
// (spec §2.5), and it would not apply where the Handler is mounted in
// another server.
func WithServerTimeouts(readHeader, readBody, idle time.Duration) Option {
	return func(c *config) error {
		t, err := c.timeouts.With(readHeader, readBody, idle)
		if err != nil {
			return fmt.Errorf("platform: %w", err)
		}
		c.timeouts = t
		return nil
	}
}

// WithBcryptCost sets the password hashing cost (default 10; tests may use
// the minimum 4).
func WithBcryptCost(cost int) Option {
	return func(c *config) error { c.bcryptCost = cost; return nil }
}

// WithProcessOutput sets where local-process containers' output goes
// (default os.Stderr).
func WithProcessOutput(w io.Writer) Option {
	return func(c *config) error {
		if w == nil {
			return fmt.Errorf("platform: nil process output")
		}
		c.processOutput = w
		return nil
	}
}

// WithPingInterval sets the websocket ping interval (default 10 s).
func WithPingInterval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("platform: ping interval must be positive")
		}
		c.pingInterval = d
		return nil
	}
}

// WithSubscriberQueue sets the per-subscriber event queue (default 256);
// a subscriber that falls this far behind is dropped.
func WithSubscriberQueue(n int) Option {
	return func(c *config) error {
		if n <= 0 {
			return fmt.Errorf("platform: subscriber queue must be positive")
		}
		c.subscriberQueue = n
		return nil
	}
}

// WithPollInterval sets the /info poll interval of starting containers
// (default 1 s).
func WithPollInterval(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("platform: poll interval must be positive")
		}
		c.pollInterval = d
		return nil
	}
}

// WithPeerDropAfter sets how long a connected platform may be unreachable
// before it is disconnected (default 60 s).
func WithPeerDropAfter(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return fmt.Errorf("platform: peer drop delay must be positive")
		}
		c.peerDropAfter = d
		return nil
	}
}

// WithRegistryNames lists registry names for /config (credentials belong
// in DockerConfig and are never reported).
func WithRegistryNames(names ...string) Option {
	return func(c *config) error { c.registryNames = append([]string(nil), names...); return nil }
}

// WithAlwaysPull sets ALWAYS_PULL_IMAGES for /config and the Docker runner.
func WithAlwaysPull(on bool) Option { return func(c *config) error { c.alwaysPull = on; return nil } }

func defaultConfig() config {
	return config{
		publicURL:        "http://127.0.0.1:8000",
		listenHost:       "127.0.0.1",
		adminUser:        "admin",
		inProcess:        map[string]InProcessFactory{},
		processes:        map[string]string{},
		containerTimeout: 10 * time.Second,
		historySize:      50,
		logger:           slog.New(slog.DiscardHandler),
		observer:         NopObserver{},
		containerEnv:     "DOCKER",
		platformEnv:      "NATIVE",
		maxBody:          16 << 20,
		timeouts:         opaca.DefaultServerTimeouts(),
		bcryptCost:       10,
		processOutput:    os.Stderr,
		pingInterval:     10 * time.Second,
		subscriberQueue:  256,
		pollInterval:     time.Second,
		peerDropAfter:    60 * time.Second,
		saveInterval:     time.Second,
	}
}

// normalizeURL trims whitespace, one pair of quotes and trailing slashes and
// requires an absolute http(s) URL with a host (spec §9.1).
func normalizeURL(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	s = strings.TrimRight(s, "/")
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("%w: %q is not an absolute http(s) URL", ErrBadRequest, s)
	}
	return s, nil
}

// hostURL returns scheme://host of a URL (without port).
func hostURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return s
	}
	return u.Scheme + "://" + u.Hostname()
}
