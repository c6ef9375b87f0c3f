package platform

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
)

// olderPeer is a platform of the older protocol: on POST /connections it
// first asks the caller to connect to it (always, no connectBack flag) and
// only then answers.
type olderPeer struct {
	srv          *httptest.Server
	self         string // the platform under test
	nestedAnswer atomic.Value
	requests     atomic.Int32
}

func newOlderPeer(t *testing.T, self string) *olderPeer {
	o := &olderPeer{self: self}
	o.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/info":
			opaca.WriteJSON(w, opaca.RuntimePlatform{PlatformID: "older", BaseURL: o.srv.URL, RunningSince: opaca.Now()})
		case r.Method == http.MethodPost && r.URL.Path == "/connections":
			o.requests.Add(1)
			c, err := client.New(o.self)
			if err == nil {
				ok, err := c.Connect(r.Context(), opaca.ConnectionRequest{URL: o.srv.URL})
				o.nestedAnswer.Store(err == nil && ok)
				_ = c.Close()
			}
			opaca.WriteJSON(w, true)
		default:
			opaca.WriteError(w, 404, "not found")
		}
	}))
	t.Cleanup(o.srv.Close)
	return o
}
