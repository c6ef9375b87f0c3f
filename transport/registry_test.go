package transport

import (
	"context"
	"crypto/tls"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestOptionsValidation(t *testing.T) {
	tests := []struct {
		name string
		opt  Option
		ok   bool
	}{
		{"max frame size", WithMaxFrameSize(1), true},
		{"max frame size zero", WithMaxFrameSize(0), false},
		{"max frame size negative", WithMaxFrameSize(-1), false},
		{"max frame size over 4 GiB", WithMaxFrameSize(1 << 33), false},
		{"tls", WithTLS(&tls.Config{}), true},
		{"tls nil", WithTLS(nil), false},
		{"send queue", WithSendQueue(1), true},
		{"send queue zero", WithSendQueue(0), false},
		{"logger nil", WithLogger(nil), false},
		{"mem network", WithMemNetwork(NewMemNetwork()), true},
		{"mem network nil", WithMemNetwork(nil), false},
		{"dial timeout", WithDialTimeout(time.Second), true},
		{"dial timeout zero", WithDialTimeout(0), false},
		{"nil option", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			constructors := map[string]func(...Option) error{
				"registry": func(o ...Option) error { _, err := NewRegistry(o...); return err },
				"calvinip": func(o ...Option) error { _, err := NewCalvinIPTransport(o...); return err },
				"ws":       func(o ...Option) error { _, err := NewWSTransport(o...); return err },
				"mem":      func(o ...Option) error { _, err := NewMemTransport(o...); return err },
			}
			for name, newFn := range constructors {
				err := newFn(tt.opt)
				if tt.ok {
					assert.NoError(t, err, name)
				} else {
					assert.ErrorIs(t, err, ErrInvalidOption, name)
				}
			}
		})
	}
}

func TestRegistrySchemes(t *testing.T) {
	r, err := NewRegistry()
	require.NoError(t, err)
	got := r.Schemes()
	sort.Strings(got)
	assert.Equal(t, []string{"calvinip", "mem", "ws", "wss"}, got)

	ctx := context.Background()
	_, err = r.Dial(ctx, "bluetooth://x")
	require.ErrorIs(t, err, ErrUnknownScheme)
	_, err = r.Listen(ctx, "no scheme")
	require.ErrorIs(t, err, ErrInvalidURI)
	tr, err := r.Transport("CalvinIP://h:1")
	require.NoError(t, err)
	assert.IsType(t, &CalvinIPTransport{}, tr)
}

// recordingTransport notes the URIs it was asked for.
type recordingTransport struct {
	Transport
	dialed []string
}

func (r *recordingTransport) Dial(ctx context.Context, uri string) (Conn, error) {
	r.dialed = append(r.dialed, uri)
	return r.Transport.Dial(ctx, uri)
}

func TestRegistryRegisterOverrides(t *testing.T) {
	checkNoLeaks(t)
	n := NewMemNetwork()
	r, err := NewRegistry(WithMemNetwork(n))
	require.NoError(t, err)
	mem, err := NewMemTransport(WithMemNetwork(n))
	require.NoError(t, err)
	rec := &recordingTransport{Transport: mem}
	require.NoError(t, r.Register(rec))
	require.ErrorIs(t, r.Register(nil), ErrInvalidOption)

	ctx := context.Background()
	l, err := r.Listen(ctx, "mem://srv")
	require.NoError(t, err)
	defer l.Close()
	c, err := r.Dial(ctx, "mem://srv")
	require.NoError(t, err)
	defer c.Close()
	s, err := l.Accept(ctx)
	require.NoError(t, err)
	defer s.Close()
	assert.Equal(t, []string{"mem://srv"}, rec.dialed)
	assert.Equal(t, "mem://srv", c.LocalURI(), "the wrapped transport listens as srv and names itself so")
}

func TestRegistryCalvinIPAndWS(t *testing.T) {
	checkNoLeaks(t)
	r, err := NewRegistry(WithSendQueue(64))
	require.NoError(t, err)
	for _, uri := range []string{"calvinip://127.0.0.1:0", "ws://127.0.0.1:0/rt2rt"} {
		t.Run(uri, func(t *testing.T) {
			a, b, _ := pair(t, registryTransport{r}, uri)
			exchange(t, a, b, 200)
		})
	}
}

// registryTransport lets pair() drive a Registry.
type registryTransport struct{ *Registry }

func (registryTransport) Schemes() []string { return nil }
