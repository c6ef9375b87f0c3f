package auth

import (
	"crypto/rand"
	"fmt"
	"slices"
	"sort"
	"sync"

	"golang.org/x/crypto/bcrypt"
)

// DefaultBcryptCost is the hashing cost for stored passwords (spec: ≥ 10).
const DefaultBcryptCost = 10

// User is one stored account. PasswordHash is a bcrypt hash; it and the
// container-login tokens are credentials and never leave the platform
// except in the state file.
type User struct {
	Username             string            `json:"username"`
	PasswordHash         string            `json:"passwordHash"`
	Role                 Role              `json:"role"`
	Privileges           []string          `json:"privileges"`
	ContainerLoginTokens map[string]string `json:"containerLoginTokens,omitempty"`
}

func (u *User) clone() User {
	c := *u
	c.Privileges = slices.Clone(u.Privileges)
	if c.Privileges == nil {
		c.Privileges = []string{}
	}
	if u.ContainerLoginTokens != nil {
		c.ContainerLoginTokens = make(map[string]string, len(u.ContainerLoginTokens))
		for k, v := range u.ContainerLoginTokens {
			c.ContainerLoginTokens[k] = v
		}
	}
	return c
}

// Update is a partial change of a user; nil fields keep their value.
type Update struct {
	Username   *string
	Password   *string
	Role       *Role
	Privileges []string // nil keeps, non-nil replaces
}

// Store is the in-memory user store. It is safe for concurrent use. Hashing
// happens outside the lock because bcrypt is deliberately slow.
type Store struct {
	cost     int
	onChange func()

	mu    sync.RWMutex
	users map[string]*User
}

// NewStore returns an empty store. cost 0 means DefaultBcryptCost; onChange
// (may be nil) is called after every modification, outside the lock.
func NewStore(cost int, onChange func()) (*Store, error) {
	if cost == 0 {
		cost = DefaultBcryptCost
	}
	if cost < bcrypt.MinCost || cost > bcrypt.MaxCost {
		return nil, fmt.Errorf("auth: bcrypt cost %d out of range", cost)
	}
	if onChange == nil {
		onChange = func() {}
	}
	return &Store{cost: cost, onChange: onChange, users: map[string]*User{}}, nil
}

func (s *Store) hash(password string) (string, error) {
	// bcrypt only looks at 72 bytes; longer passwords are rejected by the
	// library, so pre-check to give a clear error.
	if len(password) > 72 {
		return "", fmt.Errorf("%w: password longer than 72 bytes", ErrInvalidUser)
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), s.cost)
	if err != nil {
		return "", fmt.Errorf("auth: hash password: %w", err)
	}
	return string(h), nil
}

// Create adds a user; ErrUserExists when the name is taken.
func (s *Store) Create(username, password string, role Role, privileges []string) (User, error) {
	if username == "" || !role.Valid() {
		return User{}, fmt.Errorf("%w: username and a valid role are required", ErrInvalidUser)
	}
	h, err := s.hash(password)
	if err != nil {
		return User{}, err
	}
	u := &User{Username: username, PasswordHash: h, Role: role, Privileges: slices.Clone(privileges)}
	s.mu.Lock()
	if _, ok := s.users[username]; ok {
		s.mu.Unlock()
		return User{}, fmt.Errorf("%w: %s", ErrUserExists, username)
	}
	s.users[username] = u
	out := u.clone()
	s.mu.Unlock()
	s.onChange()
	return out, nil
}

// Put creates or replaces a user (admin re-creation, temporary users).
func (s *Store) Put(username, password string, role Role, privileges []string) (User, error) {
	if username == "" || !role.Valid() {
		return User{}, fmt.Errorf("%w: username and a valid role are required", ErrInvalidUser)
	}
	h, err := s.hash(password)
	if err != nil {
		return User{}, err
	}
	return s.put(username, h, role, privileges), nil
}

func (s *Store) put(username, hash string, role Role, privileges []string) User {
	u := &User{Username: username, PasswordHash: hash, Role: role, Privileges: slices.Clone(privileges)}
	s.mu.Lock()
	if old, ok := s.users[username]; ok {
		u.ContainerLoginTokens = old.ContainerLoginTokens
	}
	s.users[username] = u
	out := u.clone()
	s.mu.Unlock()
	s.onChange()
	return out
}

// PutTemporary creates or replaces a user that cannot log in with a password:
// the temporary users of containers and peer platforms (§11.6), which only
// ever use tokens. It stores no hash, so the (costly) bcrypt step is skipped
// on every container start and connect-back, and Check refuses every password.
func (s *Store) PutTemporary(username string, role Role, privileges []string) (User, error) {
	if username == "" || !role.Valid() {
		return User{}, fmt.Errorf("%w: username and a valid role are required", ErrInvalidUser)
	}
	return s.put(username, "", role, privileges), nil
}

// Get returns a copy of the user.
func (s *Store) Get(username string) (User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u, ok := s.users[username]
	if !ok {
		return User{}, false
	}
	return u.clone(), true
}

// Exists reports whether a user of that name exists (token subjects).
func (s *Store) Exists(username string) bool {
	s.mu.RLock()
	_, ok := s.users[username]
	s.mu.RUnlock()
	return ok
}

// List returns all users sorted by name.
func (s *Store) List() []User {
	s.mu.RLock()
	out := make([]User, 0, len(s.users))
	for _, u := range s.users {
		out = append(out, u.clone())
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Username < out[j].Username })
	return out
}

// Update changes a user partially. Renaming onto an existing name gives
// ErrUserExists, an unknown user ErrUnknownUser.
func (s *Store) Update(username string, up Update) (User, error) {
	var hash string
	if up.Password != nil {
		h, err := s.hash(*up.Password)
		if err != nil {
			return User{}, err
		}
		hash = h
	}
	if up.Role != nil && !up.Role.Valid() {
		return User{}, fmt.Errorf("%w: %q", ErrInvalidRole, *up.Role)
	}
	s.mu.Lock()
	u, ok := s.users[username]
	if !ok {
		s.mu.Unlock()
		return User{}, fmt.Errorf("%w: %s", ErrUnknownUser, username)
	}
	if up.Username != nil && *up.Username != username {
		if *up.Username == "" {
			s.mu.Unlock()
			return User{}, fmt.Errorf("%w: empty username", ErrInvalidUser)
		}
		if _, taken := s.users[*up.Username]; taken {
			s.mu.Unlock()
			return User{}, fmt.Errorf("%w: %s", ErrUserExists, *up.Username)
		}
		delete(s.users, username)
		u.Username = *up.Username
		s.users[u.Username] = u
	}
	if hash != "" {
		u.PasswordHash = hash
	}
	if up.Role != nil {
		u.Role = *up.Role
	}
	if up.Privileges != nil {
		u.Privileges = slices.Clone(up.Privileges)
	}
	out := u.clone()
	s.mu.Unlock()
	s.onChange()
	return out, nil
}

// Delete removes a user; false when unknown.
func (s *Store) Delete(username string) bool {
	s.mu.Lock()
	_, ok := s.users[username]
	delete(s.users, username)
	s.mu.Unlock()
	if ok {
		s.onChange()
	}
	return ok
}

// Check verifies a login; ErrBadCredentials for unknown users and wrong
// passwords alike, so the answer does not reveal which one it was.
func (s *Store) Check(username, password string) (User, error) {
	s.mu.RLock()
	u, ok := s.users[username]
	var hash string
	if ok {
		hash = u.PasswordHash
	}
	s.mu.RUnlock()
	if !ok || hash == "" {
		return User{}, ErrBadCredentials
	}
	if bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) != nil {
		return User{}, ErrBadCredentials
	}
	got, ok := s.Get(username)
	if !ok {
		return User{}, ErrBadCredentials
	}
	return got, nil
}

// SetContainerToken stores the container-login token of a user.
func (s *Store) SetContainerToken(username, containerID, token string) error {
	s.mu.Lock()
	u, ok := s.users[username]
	if !ok {
		s.mu.Unlock()
		return fmt.Errorf("%w: %s", ErrUnknownUser, username)
	}
	if u.ContainerLoginTokens == nil {
		u.ContainerLoginTokens = map[string]string{}
	}
	u.ContainerLoginTokens[containerID] = token
	s.mu.Unlock()
	s.onChange()
	return nil
}

// ContainerToken returns the container-login token of a user, "" if none.
func (s *Store) ContainerToken(username, containerID string) string {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if u, ok := s.users[username]; ok {
		return u.ContainerLoginTokens[containerID]
	}
	return ""
}

// TakeContainerToken removes and returns a user's container-login token.
func (s *Store) TakeContainerToken(username, containerID string) (string, bool) {
	s.mu.Lock()
	u, ok := s.users[username]
	var tok string
	if ok {
		tok, ok = u.ContainerLoginTokens[containerID]
		delete(u.ContainerLoginTokens, containerID)
	}
	s.mu.Unlock()
	if ok {
		s.onChange()
	}
	return tok, ok
}

// ForgetContainer removes every user's container-login token for a
// container (spec §8.2: all users, not only the caller).
func (s *Store) ForgetContainer(containerID string) {
	changed := false
	s.mu.Lock()
	for _, u := range s.users {
		if _, ok := u.ContainerLoginTokens[containerID]; ok {
			delete(u.ContainerLoginTokens, containerID)
			changed = true
		}
	}
	s.mu.Unlock()
	if changed {
		s.onChange()
	}
}

// Snapshot returns all users with hashes and tokens for the state file.
func (s *Store) Snapshot() []User { return s.List() }

// Restore replaces the store content with saved users. Records with an
// empty name or invalid role are skipped.
func (s *Store) Restore(users []User) {
	m := make(map[string]*User, len(users))
	for i := range users {
		u := users[i].clone()
		if u.Username == "" || !u.Role.Valid() {
			continue
		}
		m[u.Username] = &u
	}
	s.mu.Lock()
	s.users = m
	s.mu.Unlock()
}

const passwordAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// RandomPassword returns n random alphanumeric characters.
func RandomPassword(n int) string {
	b := make([]byte, n)
	// crypto/rand.Read never returns an error since Go 1.24 (it aborts the
	// process instead), so there is nothing to handle.
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = passwordAlphabet[int(b[i])%len(passwordAlphabet)]
	}
	return string(b)
}
