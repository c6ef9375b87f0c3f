// Package auth holds the security pieces of the OPACA runtime platform:
// HS256 JSON web tokens (spec §11.1), roles (§11.3) and the user store with
// bcrypt-hashed passwords (§11.8).
//
// It knows nothing about HTTP routes; the platform package decides which
// route needs which role and calls into this package to verify tokens and
// look up users.
package auth
