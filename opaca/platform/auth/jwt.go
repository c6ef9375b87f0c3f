package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Token lifetimes of spec §11.1.
const (
	LoginTokenTTL       = time.Hour
	RenewedTokenTTL     = 10 * time.Hour
	ContainerTokenTTL   = 24 * time.Hour
	ConnectBackTokenTTL = 7 * 24 * time.Hour
	// ClockSkew is the leeway granted when checking iat and exp.
	ClockSkew = 30 * time.Second
)

// KeyKind says how a signing key was derived from the configured secret, so
// the caller can warn about weak or ephemeral keys.
type KeyKind int

const (
	// KeyFromSecret: the secret (Base64-decoded or raw bytes) is used as is.
	KeyFromSecret KeyKind = iota
	// KeyHashed: the secret was shorter than 32 bytes and was hashed.
	KeyHashed
	// KeyRandom: no secret was given; tokens do not survive a restart.
	KeyRandom
)

// Claims are the verified contents of a token.
type Claims struct {
	Subject   string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Signer issues and verifies HS256 tokens with one key.
type Signer struct {
	key []byte
	now func() time.Time
}

// DeriveKey turns the configured secret into an HS256 key the way the
// reference platform does (its JWT library takes the secret as Base64), so Go
// and Java platforms sharing a secret accept each other's tokens.
func DeriveKey(secret string) ([]byte, KeyKind, error) {
	if secret == "" {
		k := make([]byte, 32)
		if _, err := rand.Read(k); err != nil {
			return nil, 0, fmt.Errorf("auth: random key: %w", err)
		}
		return k, KeyRandom, nil
	}
	key := []byte(secret)
	if isBase64(secret) {
		if b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(secret, "=")); err == nil && len(b) > 0 {
			key = b
		}
	}
	if len(key) < 32 {
		h := sha256.Sum256([]byte(secret))
		return h[:], KeyHashed, nil
	}
	return key, KeyFromSecret, nil
}

func isBase64(s string) bool {
	for _, c := range s {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '+', c == '/', c == '=':
		default:
			return false
		}
	}
	return true
}

// NewSigner returns a signer for key. now may be nil (time.Now).
func NewSigner(key []byte, now func() time.Time) (*Signer, error) {
	if len(key) < 32 {
		return nil, fmt.Errorf("auth: key of %d bytes is too short (need 32)", len(key))
	}
	if now == nil {
		now = time.Now
	}
	return &Signer{key: append([]byte(nil), key...), now: now}, nil
}

// Issue returns a token for subject valid for ttl.
func (s *Signer) Issue(subject string, ttl time.Duration) (string, error) {
	now := s.now()
	t := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject:   subject,
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
	})
	signed, err := t.SignedString(s.key)
	if err != nil {
		return "", fmt.Errorf("auth: sign token: %w", err)
	}
	return signed, nil
}

// Verify checks signature, algorithm (HS256 only) and expiry and returns the
// claims. Any failure wraps ErrInvalidToken.
func (s *Signer) Verify(token string) (Claims, error) {
	var rc jwt.RegisteredClaims
	_, err := jwt.ParseWithClaims(token, &rc, func(*jwt.Token) (any, error) { return s.key, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithLeeway(ClockSkew),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(s.now),
	)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Claims{}, fmt.Errorf("%w: expired", ErrInvalidToken)
		}
		return Claims{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	if rc.Subject == "" {
		return Claims{}, fmt.Errorf("%w: no subject", ErrInvalidToken)
	}
	c := Claims{Subject: rc.Subject}
	if rc.IssuedAt != nil {
		c.IssuedAt = rc.IssuedAt.Time
	}
	if rc.ExpiresAt != nil {
		c.ExpiresAt = rc.ExpiresAt.Time
	}
	return c, nil
}
