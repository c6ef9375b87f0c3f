package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strings"
	"time"
)

// unreadableRenewInterval is used for tokens whose lifetime is unknown.
const unreadableRenewInterval = 30 * time.Minute

// TokenTimes reads iat and exp from a JWT payload without verifying it
// (only the issuer can verify; the holder just needs to know when to
// renew). ok is false when the token is not a readable JWT.
func TokenTimes(token string) (issued, expires time.Time, ok bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, time.Time{}, false
	}
	var claims struct {
		Iat *float64 `json:"iat"`
		Exp *float64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Iat == nil || claims.Exp == nil || *claims.Exp < *claims.Iat {
		return time.Time{}, time.Time{}, false
	}
	return time.Unix(int64(*claims.Iat), 0), time.Unix(int64(*claims.Exp), 0), true
}

// RenewAt returns when a token should be renewed: at half its lifetime, or
// 30 minutes from now when its lifetime is unreadable.
func RenewAt(token string, now time.Time) time.Time {
	iat, exp, ok := TokenTimes(token)
	if !ok {
		return now.Add(unreadableRenewInterval)
	}
	return iat.Add(exp.Sub(iat) / 2)
}

func (c *Client) renewLoop() {
	defer c.wg.Done()
	failures := 0
	for {
		tok := c.getToken()
		var wait time.Duration
		if tok == "" {
			wait = -1
		} else {
			wait = time.Until(RenewAt(tok, time.Now()))
			if failures > 0 {
				// retry failed renewals with a doubling pause
				wait = min(c.o.renewMinWait<<min(failures, 10), unreadableRenewInterval)
			}
			wait = max(wait, 0)
		}
		var timer <-chan time.Time
		var t *time.Timer
		if wait >= 0 {
			t = time.NewTimer(wait)
			timer = t.C
		}
		fired := false
		select {
		case <-c.done:
		case <-c.renewKick:
			failures = 0
		case <-timer:
			fired = true
		}
		if t != nil {
			t.Stop()
		}
		select {
		case <-c.done:
			return
		default:
		}
		if !fired {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		go func() {
			select {
			case <-c.done:
				cancel()
			case <-ctx.Done():
			}
		}()
		_, err := c.RenewToken(ctx)
		cancel()
		if err != nil {
			failures++
			// never log the token itself
			c.o.logger.Warn("opaca client: token renewal failed", "url", c.base, "err", err)
			continue
		}
		failures = 0
	}
}
