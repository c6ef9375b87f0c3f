package transport

import (
	"context"
	"fmt"
	"strings"
	"sync"
)

// Registry selects a Transport by the scheme of a URI.
type Registry struct {
	mu         sync.RWMutex
	transports map[string]Transport
}

// NewRegistry returns a registry serving calvinip, ws, wss and mem, all
// configured by opts. Without WithMemNetwork, mem uses DefaultMemNetwork.
func NewRegistry(opts ...Option) (*Registry, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	r := &Registry{transports: make(map[string]Transport)}
	for _, t := range []Transport{
		&CalvinIPTransport{cfg: cfg},
		&WSTransport{cfg: cfg},
		newMemTransport(cfg),
	} {
		if err := r.Register(t); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// Register serves t's schemes with t, replacing earlier registrations of
// the same schemes (to wrap a transport, say).
func (r *Registry) Register(t Transport) error {
	if t == nil {
		return fmt.Errorf("%w: nil transport", ErrInvalidOption)
	}
	schemes := t.Schemes()
	if len(schemes) == 0 {
		return fmt.Errorf("%w: transport %T serves no scheme", ErrInvalidOption, t)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range schemes {
		r.transports[strings.ToLower(s)] = t
	}
	return nil
}

// Transport returns the transport serving uri's scheme.
func (r *Registry) Transport(uri string) (Transport, error) {
	scheme, _, ok := strings.Cut(uri, "://")
	if !ok || scheme == "" {
		return nil, fmt.Errorf("%w: %q has no scheme", ErrInvalidURI, uri)
	}
	r.mu.RLock()
	t := r.transports[strings.ToLower(scheme)]
	r.mu.RUnlock()
	if t == nil {
		return nil, fmt.Errorf("%w: %q in %q", ErrUnknownScheme, scheme, uri)
	}
	return t, nil
}

// Schemes lists the registered schemes.
func (r *Registry) Schemes() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.transports))
	for s := range r.transports {
		out = append(out, s)
	}
	return out
}

// Dial connects to uri with the transport of its scheme.
func (r *Registry) Dial(ctx context.Context, uri string) (Conn, error) {
	t, err := r.Transport(uri)
	if err != nil {
		return nil, err
	}
	return t.Dial(ctx, uri)
}

// Listen listens on uri with the transport of its scheme.
func (r *Registry) Listen(ctx context.Context, uri string) (Listener, error) {
	t, err := r.Transport(uri)
	if err != nil {
		return nil, err
	}
	return t.Listen(ctx, uri)
}

var defaultRegistry = sync.OnceValue(func() *Registry {
	r, err := NewRegistry()
	if err != nil {
		// Only bad options fail NewRegistry, and there are none here.
		panic(err)
	}
	return r
})

// DefaultRegistry returns the registry used by the package-level Dial and
// Listen: default options, mem on DefaultMemNetwork.
func DefaultRegistry() *Registry { return defaultRegistry() }

// Dial connects to uri with the default registry.
func Dial(ctx context.Context, uri string) (Conn, error) {
	return DefaultRegistry().Dial(ctx, uri)
}

// Listen listens on uri with the default registry.
func Listen(ctx context.Context, uri string) (Listener, error) {
	return DefaultRegistry().Listen(ctx, uri)
}
