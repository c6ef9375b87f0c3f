package sample

import (
	"context"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/container"
)

// newLogins is the sample's login handler (spec §17.4): user "invalid" is
// rejected (401), "not-supported" gets 501, anyone else is accepted and
// the token remembers the user name.
func newLogins() (*container.LoginStore, error) {
	return container.NewLoginStore(func(_ context.Context, creds opaca.Login) (any, error) {
		switch creds.Username {
		case "invalid":
			return nil, container.ErrLoginInvalid
		case "not-supported":
			return nil, container.ErrLoginNotSupported
		}
		return creds.Username, nil
	})
}
