package platform

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// adoptedRunner adopts an agent container already running at a URL
// (spec §8.9): nothing is started and Stop only forgets it.
type adoptedRunner struct{}

func (adoptedRunner) Kind() string { return KindAdopted }

func isAdoptURL(name string) bool {
	return strings.HasPrefix(name, "http://") || strings.HasPrefix(name, "https://")
}

func (adoptedRunner) Start(_ context.Context, req StartRequest) (Started, error) {
	base := strings.TrimRight(req.ImageName, "/")
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return Started{}, fmt.Errorf("%w: invalid container URL %q", ErrInvalidParameters, req.ImageName)
	}
	port := 80
	if u.Scheme == "https" {
		port = 443
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err == nil {
			port = n
		}
	}
	return Started{Handle: base, URL: base, PublicURL: u.Scheme + "://" + u.Hostname(), APIHostPort: port}, nil
}

func (adoptedRunner) Alive(context.Context, string) (bool, error) { return true, nil }

func (adoptedRunner) Stop(context.Context, string) error { return nil }
