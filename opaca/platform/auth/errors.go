package auth

import "errors"

// Sentinel errors of the package; the platform maps them to HTTP statuses.
var (
	// ErrInvalidToken: a token that is malformed, badly signed, of another
	// algorithm or expired (401).
	ErrInvalidToken = errors.New("auth: invalid token")
	// ErrUnknownUser: no user of that name (404, or 401 for a token subject).
	ErrUnknownUser = errors.New("auth: unknown user")
	// ErrUserExists: a user of that name already exists (409).
	ErrUserExists = errors.New("auth: user already exists")
	// ErrBadCredentials: unknown user or wrong password on login (403).
	ErrBadCredentials = errors.New("auth: bad credentials")
	// ErrInvalidRole: a role name that is not ADMIN, CONTRIBUTOR, USER or GUEST.
	ErrInvalidRole = errors.New("auth: invalid role")
	// ErrInvalidUser: a user record with missing fields (400).
	ErrInvalidUser = errors.New("auth: invalid user")
)
