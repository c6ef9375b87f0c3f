package sample

import (
	"context"
	"net/http"
	"testing"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/container"
)

// FuzzInvoke runs arbitrary bodies through the sample's actions (except
// those that sleep, spawn or remove agents): bad input is a 400, never a
// panic, and the only 500s are the actions that fail on purpose.
func FuzzInvoke(f *testing.F) {
	c, err := New(WithEnv(map[string]string{}), WithStartDelay(0), WithoutHelpers())
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = c.Close() })
	for _, s := range []struct{ action, body string }{
		{"Add", `{"x":1,"y":2}`},
		{"ValidatorTest", `{"car":{"model":"m","passengers":[],"isFunctional":true,"constructionYear":1},"listOfLists":[[1]]}`},
		{"ErrorTest", `{"hint":"io-error"}`},
		{"GetInfo", ``},
		{"LoginTest", `{}`},
	} {
		f.Add(s.action, []byte(s.body))
	}
	allowed := map[string]bool{"Add": true, "ValidatorTest": true, "ErrorTest": true, "GetInfo": true, "LoginTest": true, "GetEnv": true, "Fail": true, "OutboundInvokeTest": true}
	f.Fuzz(func(t *testing.T, action string, body []byte) {
		if !allowed[action] {
			return
		}
		_, err := c.Invoke(context.Background(), action, "sample1", body, container.InvokeOptions{})
		if err == nil {
			return
		}
		st := opaca.HTTPStatus(err)
		if st == http.StatusBadRequest {
			return
		}
		if st == http.StatusInternalServerError && (action == "Fail" || action == "ErrorTest" || action == "OutboundInvokeTest") {
			return
		}
		t.Fatalf("%s(%q): %d %v", action, body, st, err)
	})
}
