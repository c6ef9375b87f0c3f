package client

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// DefaultPlatformURL is used when New is given an empty base URL.
const DefaultPlatformURL = "http://127.0.0.1:8000"

// DefaultContainerURL is used when NewContainer is given an empty base URL.
const DefaultContainerURL = "http://127.0.0.1:8082"

// Observer sees every finished call. Implementations must be fast and safe
// for concurrent use.
type Observer interface {
	// Call reports a finished request: method, path (without query), status
	// (0 for transport failures) and duration.
	Call(method, path string, status int, d time.Duration)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(method, path string, status int, d time.Duration)

// Call implements Observer.
func (f ObserverFunc) Call(method, path string, status int, d time.Duration) {
	f(method, path, status, d)
}

type options struct {
	token        string
	senderID     string
	httpClient   *http.Client
	timeout      time.Duration
	header       http.Header
	logger       *slog.Logger
	observer     Observer
	renew        bool
	loginToken   string
	renewMinWait time.Duration
}

// Option configures a Client or ContainerClient.
type Option func(*options) error

// WithToken sets the bearer token sent as Authorization header.
func WithToken(token string) Option {
	return func(o *options) error { o.token = token; return nil }
}

// WithSenderID sets the sender-id header (platforms send their base URL,
// containers their container id).
func WithSenderID(id string) Option {
	return func(o *options) error { o.senderID = id; return nil }
}

// WithHTTPClient uses hc for all requests. Its redirect policy is replaced:
// the client never follows redirects, so bearer tokens never reach another
// host.
func WithHTTPClient(hc *http.Client) Option {
	return func(o *options) error {
		if hc == nil {
			return fmt.Errorf("%w: nil http client", ErrInvalidOption)
		}
		o.httpClient = hc
		return nil
	}
}

// WithTimeout bounds every non-stream call that has no earlier context
// deadline. 0 (the default) leaves it to the context.
func WithTimeout(d time.Duration) Option {
	return func(o *options) error {
		if d < 0 {
			return fmt.Errorf("%w: negative timeout", ErrInvalidOption)
		}
		o.timeout = d
		return nil
	}
}

// WithHeader adds a header to every request.
func WithHeader(key, value string) Option {
	return func(o *options) error {
		if key == "" {
			return fmt.Errorf("%w: empty header name", ErrInvalidOption)
		}
		o.header.Add(key, value)
		return nil
	}
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidOption)
		}
		o.logger = l
		return nil
	}
}

// WithObserver registers an observer of finished calls.
func WithObserver(obs Observer) Option {
	return func(o *options) error { o.observer = obs; return nil }
}

// WithTokenRenewal makes a Client renew its bearer token via GET /token
// once half of its lifetime has passed (every 30 min when the token's
// lifetime cannot be read). Close stops the renewal.
func WithTokenRenewal() Option {
	return func(o *options) error { o.renew = true; return nil }
}

// WithContainerLoginToken makes a ContainerClient send the
// ContainerLoginToken header on every call.
func WithContainerLoginToken(tok string) Option {
	return func(o *options) error { o.loginToken = tok; return nil }
}

func buildOptions(base, def string, opts []Option) (string, options, error) {
	o := options{header: http.Header{}, renewMinWait: time.Second}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return "", o, err
		}
	}
	if base == "" {
		base = def
	}
	base = strings.TrimRight(strings.TrimSpace(base), "/")
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", o, fmt.Errorf("%w: base URL %q is not an absolute http(s) URL", ErrInvalidOption, base)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.DiscardHandler)
	}
	if o.httpClient == nil {
		o.httpClient = &http.Client{Transport: defaultTransport}
	} else {
		hc := *o.httpClient
		o.httpClient = &hc
	}
	o.httpClient.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return base, o, nil
}

// defaultTransport keeps enough idle connections per host for concurrent
// callers; the stdlib default of 2 makes a busy platform redial constantly.
var defaultTransport = func() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	return t
}()

// CallOption sets per-call query parameters and headers.
type CallOption func(*callOptions)

type callOptions struct {
	containerID *string
	forward     *bool
	timeout     *int
	loginToken  string
	senderID    *string
	contentType string
	header      http.Header
}

// InContainer restricts the call to the container with that id
// (query containerId).
func InContainer(id string) CallOption { return func(c *callOptions) { c.containerID = &id } }

// Forward sets the forward query parameter (the server default is true).
func Forward(f bool) CallOption { return func(c *callOptions) { c.forward = &f } }

// ActionTimeout sets the invoke timeout in seconds (query timeout).
func ActionTimeout(seconds int) CallOption { return func(c *callOptions) { c.timeout = &seconds } }

// LoginToken sends the ContainerLoginToken header on this call.
func LoginToken(tok string) CallOption { return func(c *callOptions) { c.loginToken = tok } }

// SenderID overrides the sender-id header on this call.
func SenderID(id string) CallOption { return func(c *callOptions) { c.senderID = &id } }

// ContentType sets the content type of a stream post.
func ContentType(ct string) CallOption { return func(c *callOptions) { c.contentType = ct } }

// Header adds a header to this call.
func Header(key, value string) CallOption {
	return func(c *callOptions) {
		if c.header == nil {
			c.header = http.Header{}
		}
		c.header.Add(key, value)
	}
}

func collect(opts []CallOption) callOptions {
	var c callOptions
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c
}

// rawQuery encodes the call's query parameters in url.Values.Encode order
// without building a map (this runs on every forwarded call).
func (c callOptions) rawQuery() string {
	if c.containerID == nil && c.forward == nil && c.timeout == nil {
		return ""
	}
	var b strings.Builder
	sep := func() {
		if b.Len() > 0 {
			b.WriteByte('&')
		}
	}
	if c.containerID != nil {
		b.WriteString("containerId=" + url.QueryEscape(*c.containerID))
	}
	if c.forward != nil {
		sep()
		if *c.forward {
			b.WriteString("forward=true")
		} else {
			b.WriteString("forward=false")
		}
	}
	if c.timeout != nil {
		sep()
		b.WriteString("timeout=" + strconv.Itoa(*c.timeout))
	}
	return b.String()
}

func (c callOptions) query() url.Values {
	q := url.Values{}
	if c.containerID != nil {
		q.Set("containerId", *c.containerID)
	}
	if c.forward != nil {
		if *c.forward {
			q.Set("forward", "true")
		} else {
			q.Set("forward", "false")
		}
	}
	if c.timeout != nil {
		q.Set("timeout", fmt.Sprint(*c.timeout))
	}
	return q
}
