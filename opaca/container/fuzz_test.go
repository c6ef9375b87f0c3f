package container

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/meshkit/meshkit/opaca"
)

func fuzzContainer(f *testing.F) *Container {
	rec := &recorder{messages: map[string][]opaca.Message{}, posted: map[string]string{}}
	store, err := NewLoginStore(func(_ context.Context, l opaca.Login) (any, error) {
		if l.Username == "invalid" {
			return nil, ErrLoginInvalid
		}
		return l.Username, nil
	})
	if err != nil {
		f.Fatal(err)
	}
	c, err := New(testImage(), WithEnv(map[string]string{"CONTAINER_ID": "fz"}), WithLoginHandler(store), WithMaxBodySize(1<<16))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = c.Close() })
	if err := c.AddAgent(newTestAgent(f, "a1", rec)); err != nil {
		f.Fatal(err)
	}
	return c
}

// FuzzInvokeBody feeds arbitrary invoke bodies to typed and declared
// actions: never a panic, only 400 for bad input, and a correct sum when
// Add accepts its arguments.
func FuzzInvokeBody(f *testing.F) {
	c := fuzzContainer(f)
	for _, s := range []string{`{"x":1,"y":2}`, `{"text":"a","point":{"x":1,"y":2}}`, `[]`, ``, `{"x":1e3}`, `{"x":-2147483648,"y":0}`, `null`} {
		f.Add([]byte(s), "Add")
		f.Add([]byte(s), "Echo")
	}
	f.Fuzz(func(t *testing.T, body []byte, action string) {
		if action != "Add" && action != "Echo" {
			return
		}
		res, err := c.Invoke(context.Background(), action, "a1", body, InvokeOptions{})
		if err != nil {
			if st := opaca.HTTPStatus(err); st != http.StatusBadRequest {
				t.Fatalf("status %d for %q: %v", st, body, err)
			}
			return
		}
		if action == "Add" {
			var in struct{ X, Y int64 }
			var sum int64
			if json.Unmarshal(body, &in) != nil || json.Unmarshal(res, &sum) != nil || sum != in.X+in.Y {
				t.Fatalf("Add(%q) = %s", body, res)
			}
		}
	})
}

// FuzzAPI sends arbitrary requests through the handler: every error is an
// ErrorResponse and nothing panics.
func FuzzAPI(f *testing.F) {
	c := fuzzContainer(f)
	seeds := []struct{ method, path, body, token string }{
		{"POST", "/send/a1", `{"payload":1}`, ""},
		{"POST", "/broadcast/topic", `{"payload":{"a":[1]},"replyTo":"x"}`, ""},
		{"POST", "/login", `{"username":"u","password":"p"}`, ""},
		{"POST", "/login", `{"username":"invalid","password":"p"}`, ""},
		{"POST", "/logout", ``, `"tok"`},
		{"POST", "/invoke/Add/a1?timeout=1", `{"x":1,"y":2}`, "t"},
		{"GET", "/agents/a1", ``, ""},
		{"POST", "/stream/Upload", `bytes`, ""},
		{"PUT", "/info", `{}`, ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.path, []byte(s.body), s.token)
	}
	f.Fuzz(func(t *testing.T, method, path string, body []byte, token string) {
		if !strings.HasPrefix(path, "/") || strings.Contains(path, "Slow") {
			return
		}
		req, err := http.NewRequest(method, "http://container"+path, bytes.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set(opaca.HeaderContainerLoginToken, token)
		w := httptest.NewRecorder()
		c.ServeHTTP(w, req)
		if w.Code >= 400 {
			var er opaca.ErrorResponse
			if err := opaca.DecodeStrict(w.Body.Bytes(), &er); err != nil || er.StatusCode != w.Code {
				t.Fatalf("%s %s → %d with body %q", method, path, w.Code, w.Body.String())
			}
		}
	})
}
