package container

import (
	"context"
	"fmt"
	"sync"

	"github.com/meshkit/meshkit/opaca"
)

// Login outcomes a LoginHandler reports (spec §15.8).
var (
	// ErrLoginInvalid rejects credentials: POST /login answers 401.
	ErrLoginInvalid = fmt.Errorf("%w: invalid credentials", opaca.ErrUnauthorized)
	// ErrLoginNotSupported: POST /login answers 501.
	ErrLoginNotSupported = fmt.Errorf("%w: login not supported", opaca.ErrNotImplemented)
)

// LoginHandler implements container login (spec §11.7, §15.8).
type LoginHandler interface {
	// Login checks credentials for the new token. It returns the value to
	// associate with the token, or ErrLoginInvalid / ErrLoginNotSupported
	// (any other error answers with its status, default 500).
	Login(ctx context.Context, token string, creds opaca.Login) (any, error)
	// Logout forgets a token and reports whether it was known.
	Logout(ctx context.Context, token string) bool
	// Lookup returns the value associated with a token.
	Lookup(token string) (any, bool)
}

// LoginStore is a LoginHandler that keeps token → value in memory and asks
// Check to validate credentials.
type LoginStore struct {
	check func(ctx context.Context, creds opaca.Login) (any, error)

	mu     sync.RWMutex
	tokens map[string]any
}

// NewLoginStore returns a store validating credentials with check, which
// returns the value to associate (e.g. a logged-in backend client) or an
// error such as ErrLoginInvalid.
func NewLoginStore(check func(ctx context.Context, creds opaca.Login) (any, error)) (*LoginStore, error) {
	if check == nil {
		return nil, fmt.Errorf("container: nil login check")
	}
	return &LoginStore{check: check, tokens: map[string]any{}}, nil
}

// Login implements LoginHandler.
func (s *LoginStore) Login(ctx context.Context, token string, creds opaca.Login) (any, error) {
	v, err := s.check(ctx, creds)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.tokens[token] = v
	s.mu.Unlock()
	return v, nil
}

// Logout implements LoginHandler.
func (s *LoginStore) Logout(_ context.Context, token string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.tokens[token]
	delete(s.tokens, token)
	return ok
}

// Lookup implements LoginHandler.
func (s *LoginStore) Lookup(token string) (any, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v, ok := s.tokens[token]
	return v, ok
}
