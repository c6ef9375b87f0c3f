package auth

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testSigner(t testing.TB, now func() time.Time) *Signer {
	t.Helper()
	key, kind, err := DeriveKey(strings.Repeat("k-", 20))
	require.NoError(t, err)
	require.Equal(t, KeyFromSecret, kind)
	s, err := NewSigner(key, now)
	require.NoError(t, err)
	return s
}

func TestIssueVerify(t *testing.T) {
	s := testSigner(t, nil)
	tok, err := s.Issue("alice", time.Hour)
	require.NoError(t, err)
	c, err := s.Verify(tok)
	require.NoError(t, err)
	assert.Equal(t, "alice", c.Subject)
	assert.WithinDuration(t, time.Now().Add(time.Hour), c.ExpiresAt, 2*time.Second)
}

func TestVerifyRejects(t *testing.T) {
	base := time.Now()
	clock := base
	s := testSigner(t, func() time.Time { return clock })
	expired, err := s.Issue("bob", time.Minute)
	require.NoError(t, err)

	otherKey, _, err := DeriveKey(strings.Repeat("x-", 20))
	require.NoError(t, err)
	other, err := NewSigner(otherKey, nil)
	require.NoError(t, err)
	foreign, err := other.Issue("bob", time.Hour)
	require.NoError(t, err)

	none, err := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"sub": "bob", "exp": base.Add(time.Hour).Unix()}).
		SignedString(jwt.UnsafeAllowNoneSignatureType)
	require.NoError(t, err)
	hs512, err := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{"sub": "bob", "exp": base.Add(time.Hour).Unix()}).
		SignedString(s.key)
	require.NoError(t, err)
	noExp, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"sub": "bob"}).SignedString(s.key)
	require.NoError(t, err)
	noSub, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"exp": base.Add(time.Hour).Unix()}).SignedString(s.key)
	require.NoError(t, err)

	clock = base.Add(time.Minute + ClockSkew + time.Second)
	for name, tok := range map[string]string{
		"expired": expired, "foreign key": foreign, "alg none": none, "hs512": hs512,
		"no exp": noExp, "no sub": noSub, "garbage": "a.b.c", "empty": "",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := s.Verify(tok)
			assert.ErrorIs(t, err, ErrInvalidToken)
		})
	}
}

func TestClockSkewAccepted(t *testing.T) {
	base := time.Now()
	clock := base
	s := testSigner(t, func() time.Time { return clock })
	tok, err := s.Issue("carol", time.Minute)
	require.NoError(t, err)
	clock = base.Add(time.Minute + ClockSkew/2)
	_, err = s.Verify(tok)
	assert.NoError(t, err)
}

func TestDeriveKey(t *testing.T) {
	raw := []byte(strings.Repeat("\x01\x02\x03\x04", 10))
	k, kind, err := DeriveKey(base64.StdEncoding.EncodeToString(raw))
	require.NoError(t, err)
	assert.Equal(t, KeyFromSecret, kind)
	assert.Equal(t, raw, k, "a Base64 secret is decoded like the reference does")

	k, kind, err = DeriveKey(strings.TrimRight(base64.StdEncoding.EncodeToString(raw[:32]), "="))
	require.NoError(t, err)
	assert.Equal(t, KeyFromSecret, kind)
	assert.Equal(t, raw[:32], k, "padding is optional")

	k, kind, err = DeriveKey("short")
	require.NoError(t, err)
	assert.Equal(t, KeyHashed, kind)
	assert.Len(t, k, 32)

	k, kind, err = DeriveKey("not base64 at all! but long enough to be used as is")
	require.NoError(t, err)
	assert.Equal(t, KeyFromSecret, kind)
	assert.Equal(t, []byte("not base64 at all! but long enough to be used as is"), k)

	k1, kind, err := DeriveKey("")
	require.NoError(t, err)
	assert.Equal(t, KeyRandom, kind)
	k2, _, _ := DeriveKey("")
	assert.NotEqual(t, k1, k2)

	_, err = NewSigner([]byte("short"), nil)
	assert.Error(t, err)
}

func FuzzVerify(f *testing.F) {
	s := testSigner(f, nil)
	good, err := s.Issue("alice", time.Hour)
	require.NoError(f, err)
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := s.Verify(tok)
		if err == nil && c.Subject == "" {
			t.Fatalf("accepted token without subject: %q", tok)
		}
	})
}

func TestRoles(t *testing.T) {
	assert.True(t, RoleAdmin.Includes(RoleGuest))
	assert.True(t, RoleContributor.Includes(RoleUser))
	assert.False(t, RoleUser.Includes(RoleContributor))
	assert.False(t, Role("BOGUS").Includes(RoleGuest))
	r, err := ParseRole(" contributor ")
	require.NoError(t, err)
	assert.Equal(t, RoleContributor, r)
	_, err = ParseRole("root")
	assert.ErrorIs(t, err, ErrInvalidRole)
}

func TestStore(t *testing.T) {
	changes := 0
	s, err := NewStore(4, func() { changes++ })
	require.NoError(t, err)

	u, err := s.Create("alice", "pw", RoleUser, nil)
	require.NoError(t, err)
	assert.NotEqual(t, "pw", u.PasswordHash)
	assert.Equal(t, []string{}, u.Privileges)
	_, err = s.Create("alice", "x", RoleUser, nil)
	assert.ErrorIs(t, err, ErrUserExists)
	_, err = s.Create("", "x", RoleUser, nil)
	assert.ErrorIs(t, err, ErrInvalidUser)

	_, err = s.Check("alice", "pw")
	assert.NoError(t, err)
	_, err = s.Check("alice", "wrong")
	assert.ErrorIs(t, err, ErrBadCredentials)
	_, err = s.Check("nobody", "pw")
	assert.ErrorIs(t, err, ErrBadCredentials)

	_, err = s.Create("bob", "pw", RoleGuest, []string{"p"})
	require.NoError(t, err)
	newName := "bob"
	_, err = s.Update("alice", Update{Username: &newName})
	assert.ErrorIs(t, err, ErrUserExists)
	newName, pw, role := "alice2", "pw2", RoleAdmin
	u, err = s.Update("alice", Update{Username: &newName, Password: &pw, Role: &role})
	require.NoError(t, err)
	assert.Equal(t, RoleAdmin, u.Role)
	assert.False(t, s.Exists("alice"))
	_, err = s.Check("alice2", "pw2")
	assert.NoError(t, err)
	_, err = s.Update("ghost", Update{})
	assert.ErrorIs(t, err, ErrUnknownUser)

	require.NoError(t, s.SetContainerToken("bob", "c1", "tok"))
	assert.Equal(t, "tok", s.ContainerToken("bob", "c1"))
	s.ForgetContainer("c1")
	assert.Equal(t, "", s.ContainerToken("bob", "c1"))
	require.NoError(t, s.SetContainerToken("bob", "c2", "tok2"))
	tok, ok := s.TakeContainerToken("bob", "c2")
	assert.True(t, ok)
	assert.Equal(t, "tok2", tok)
	_, ok = s.TakeContainerToken("bob", "c2")
	assert.False(t, ok)

	snap := s.Snapshot()
	assert.Len(t, snap, 2)
	assert.True(t, s.Delete("bob"))
	assert.False(t, s.Delete("bob"))
	s.Restore(snap)
	assert.True(t, s.Exists("bob"))
	assert.Greater(t, changes, 5)

	tmp, err := s.PutTemporary("http://peer:8000", RoleUser, nil)
	require.NoError(t, err)
	assert.Empty(t, tmp.PasswordHash, "temporary users have no password")
	for _, pw := range []string{"", "x", RandomPassword(24)} {
		_, err := s.Check("http://peer:8000", pw)
		assert.ErrorIs(t, err, ErrBadCredentials, "a temporary user cannot log in with %q", pw)
	}
	_, err = s.PutTemporary("", RoleUser, nil)
	assert.ErrorIs(t, err, ErrInvalidUser)
	assert.Len(t, RandomPassword(24), 24)
}
