package platform

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/opaca/platform/auth"
)

// forgedTokens returns tokens for user that the platform must refuse with
// 401: expired, signed with another secret, alg none (with and without a
// signature part), HS512 with the right key, the user's claims under
// the signature of another valid token, and an unsigned subject the platform does not know.
func forgedTokens(t testing.TB, tp *testPlatform, user string) map[string]string {
	t.Helper()
	expired, err := tp.signer.Issue(user, -time.Hour)
	require.NoError(t, err)
	otherKey, _, err := auth.DeriveKey("another-secret-another-secret-another!")
	require.NoError(t, err)
	other, err := auth.NewSigner(otherKey, nil)
	require.NoError(t, err)
	otherTok, err := other.Issue(user, time.Hour)
	require.NoError(t, err)
	valid, err := tp.signer.Issue(user, time.Hour)
	require.NoError(t, err)
	otherUser, err := tp.signer.Issue(user+"-other", 2*time.Hour)
	require.NoError(t, err)
	unknown, err := tp.signer.Issue("ghost-user", time.Hour)
	require.NoError(t, err)

	b64 := func(v any) string {
		raw, err := json.Marshal(v)
		require.NoError(t, err)
		return base64.RawURLEncoding.EncodeToString(raw)
	}
	now := time.Now().Unix()
	claims := map[string]any{"sub": user, "iat": now, "exp": now + 3600}
	none := b64(map[string]string{"alg": "none", "typ": "JWT"}) + "." + b64(claims) + "."
	noneUpper := b64(map[string]string{"alg": "NONE", "typ": "JWT"}) + "." + b64(claims) + "."
	validSig := valid[strings.LastIndexByte(valid, '.')+1:]
	noneWithSig := b64(map[string]string{"alg": "none"}) + "." + b64(claims) + "." + validSig
	hs512 := b64(map[string]string{"alg": "HS512", "typ": "JWT"}) + "." + b64(claims) + "." + validSig
	// the user's header and payload under the signature of another token
	parts := strings.Split(valid, ".")
	swapped := parts[0] + "." + parts[1] + "." + strings.Split(otherUser, ".")[2]
	return map[string]string{
		"expired":        expired,
		"other secret":   otherTok,
		"alg none":       none,
		"alg NONE":       noneUpper,
		"alg none + sig": noneWithSig,
		"alg HS512":      hs512,
		"swapped claims": swapped,
		"unknown user":   unknown,
		"garbage":        "not.a.jwt",
		"empty bearer":   " ",
	}
}
