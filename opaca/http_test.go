package opaca

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHTTPWriters(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/error":
			WriteError(w, http.StatusNotFound, "no such agent")
		case "/chain":
			WriteErrorResponse(w, NewErrorResponse(http.StatusBadGateway, "container failed", &ErrorResponse{StatusCode: 500, Message: "boom"}))
		case "/json":
			WriteJSON(w, []string{})
		case "/unencodable":
			WriteJSON(w, math.Inf(1))
		case "/text":
			WriteText(w, "tok-123")
		}
	}))
	defer srv.Close()
	get := func(path string) (*http.Response, string) {
		resp, err := http.Get(srv.URL + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, string(b)
	}
	resp, body := get("/error")
	assert.Equal(t, 404, resp.StatusCode)
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	assert.JSONEq(t, `{"statusCode":404,"message":"no such agent","cause":null}`, body)

	resp, body = get("/chain")
	assert.Equal(t, 502, resp.StatusCode)
	assert.JSONEq(t, `{"statusCode":502,"message":"container failed","cause":{"statusCode":500,"message":"boom","cause":null}}`, body)

	_, body = get("/json")
	assert.Equal(t, `[]`, body)
	resp, body = get("/unencodable")
	assert.Equal(t, 500, resp.StatusCode)
	assert.Contains(t, body, "encoding response")

	resp, body = get("/text")
	assert.Equal(t, "text/plain;charset=UTF-8", resp.Header.Get("Content-Type"))
	assert.Equal(t, "tok-123", body, "raw text, no quotes")
}

func TestValueHelpers(t *testing.T) {
	m, err := NewMessage(map[string]int{"a": 1}, "me")
	require.NoError(t, err)
	assert.JSONEq(t, `{"payload":{"a":1},"replyTo":"me"}`, mustJSON(t, m))
	m, err = NewMessage(json.RawMessage(`[1, 2]`), "")
	require.NoError(t, err)
	assert.Equal(t, `[1, 2]`, string(m.Payload), "raw payloads are passed through")
	m, err = NewMessage(nil, "")
	require.NoError(t, err)
	assert.Equal(t, `null`, string(m.Payload))
	_, err = NewMessage(json.RawMessage(`{bad`), "")
	assert.ErrorIs(t, err, ErrUnprocessable)
	_, err = NewMessage(make(chan int), "")
	assert.Error(t, err)
	_, err = NewParameter(TypeString).WithDefault(func() {})
	assert.Error(t, err)
	p, err := NewParameter(TypeString).WithDefault(json.RawMessage(nil))
	require.NoError(t, err)
	assert.False(t, p.HasDefault(), "a null default is no default")

	now := Now()
	assert.Equal(t, 0, now.Nanosecond()%1e6, "millisecond precision")
	assert.Equal(t, now.UnixMilli(), EpochMillis(now.Time))
	assert.Equal(t, "text", RawToString(json.RawMessage(`"text"`)))
	assert.Equal(t, "12.50", RawToString(json.RawMessage(` 12.50 `)))
	assert.Equal(t, `{"a":1}`, RawToString(json.RawMessage(`{"a":1}`)))
}
