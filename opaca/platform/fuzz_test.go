package platform

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRequestBodies feeds arbitrary bodies to every route that decodes a
// request body. The platform has no containers or peers reachable, so no
// body can cause outbound work that blocks; every answer must be a clean
// status (never a 5xx, never a panic).
func FuzzRequestBodies(f *testing.F) {
	p, err := New(WithBcryptCost(4), WithPublicURL("http://127.0.0.1:1"), WithContainerTimeout(50*1e6))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = p.Close() })
	h := p.Handler()
	routes := []struct{ method, path string }{
		{"POST", "/containers"}, {"PUT", "/containers"}, {"POST", "/containers/notify"},
		{"POST", "/connections/notify"}, {"POST", "/login"}, {"POST", "/users"},
		{"PUT", "/users/admin"}, {"POST", "/send/a"}, {"POST", "/broadcast/c"},
		{"POST", "/invoke/Add"}, {"POST", "/invoke/Add/a"}, {"POST", "/containers/login/x"},
		{"DELETE", "/connections"},
	}
	for _, s := range []string{``, `{}`, `null`, `[1]`, `"http://x"`, `{"image":{"imageName":"x"},"arguments":{"a":1}}`,
		`{"username":"u","password":"p","role":"GUEST"}`, `{"payload":1,"replyTo":"x"}`, `{"url":"ftp://x"}`,
		`{"x":1,"y":2}`, `{"image":{"imageName":"x"},"clientConfig":{"type":"KUBERNETES"}}`} {
		f.Add(uint8(0), s)
	}
	f.Fuzz(func(t *testing.T, route uint8, body string) {
		rt := routes[int(route)%len(routes)]
		if rt.method == "DELETE" && strings.Contains(body, "http") {
			return // a valid URL may be disconnected: not a decoder question
		}
		req := httptest.NewRequest(rt.method, rt.path, strings.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code >= 500 && rec.Code != http.StatusBadGateway {
			t.Fatalf("%s %s with %q: status %d: %s", rt.method, rt.path, body, rec.Code, rec.Body.String())
		}
		if rec.Code >= 400 && !strings.Contains(rec.Body.String(), `"statusCode"`) {
			t.Fatalf("%s %s: error without ErrorResponse body: %q", rt.method, rt.path, rec.Body.String())
		}
	})
}

func FuzzBodyString(f *testing.F) {
	for _, s := range []string{`"abc"`, `abc`, ` "a\"b" `, `"`, `""`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := bodyString([]byte(s))
		if strings.TrimSpace(out) != out {
			t.Fatalf("untrimmed result %q from %q", out, s)
		}
		_, _ = normalizeURL(s)
	})
}
