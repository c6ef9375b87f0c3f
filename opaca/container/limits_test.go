package container

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/internal/httpprobe"
	"github.com/meshkit/meshkit/opaca"
)

// TestBodyLimitEveryRoute: every route that reads a JSON body answers a
// body over the limit with 413 and an ErrorResponse, with a declared
// length and chunked.
func TestBodyLimitEveryRoute(t *testing.T) {
	checkGoroutines(t)
	store, err := NewLoginStore(func(_ context.Context, l opaca.Login) (any, error) { return l.Username, nil })
	require.NoError(t, err)
	f := newFixture(t, WithMaxBodySize(256), WithLoginHandler(store))
	big := `{"text":"` + strings.Repeat("x", 1000) + `"}`
	for _, path := range []string{"/send/a1", "/broadcast/topic", "/invoke/Echo", "/invoke/Echo/a1", "/login"} {
		for _, chunked := range []bool{false, true} {
			var body io.Reader = strings.NewReader(big)
			if chunked {
				body = io.MultiReader(body)
			}
			req, err := http.NewRequest("POST", f.srv.URL+path, body)
			require.NoError(t, err)
			resp, err := f.srv.Client().Do(req)
			require.NoError(t, err)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "%s chunked=%v", path, chunked)
			errorBody(t, response{status: resp.StatusCode, header: resp.Header, body: string(b)})
		}
	}
	r := do(t, "POST", f.srv.URL+"/invoke/Add/a1", `{"x":1,"y":2}`)
	assert.Equal(t, 200, r.status, "served after the refusals")
}

// TestSlowClientsCutOff serves the container with Serve and short
// timeouts: a client sending its headers byte by byte is cut off, a client
// sending its body too slowly gets 408 or a closed connection, and other
// clients are served meanwhile.
func TestSlowClientsCutOff(t *testing.T) {
	checkGoroutines(t)
	c, err := New(testImage(), WithEnv(map[string]string{"CONTAINER_ID": "c-1", "username": "bob", "password": "pw"}),
		WithServerTimeouts(300*time.Millisecond, 300*time.Millisecond, time.Second))
	require.NoError(t, err)
	require.NoError(t, c.AddAgent(newTestAgent(t, "a1", &recorder{messages: map[string][]opaca.Message{}, posted: map[string]string{}}), WithoutNotify()))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- c.Serve(ln) }()
	t.Cleanup(func() {
		require.NoError(t, c.Close())
		require.NoError(t, <-served)
	})
	<-c.Ready()
	addr := ln.Addr().String()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}

	// slow headers, one byte every 10 ms: 1000 bytes would take 10 s
	type slow struct {
		cut bool
		err error
	}
	cutOff := make(chan slow, 1)
	go func() {
		cut, _, err := httpprobe.SlowHeaders(addr, 10*time.Millisecond, 1000)
		cutOff <- slow{cut, err}
	}()
	n := 0
wait:
	for {
		select {
		case r := <-cutOff:
			require.NoError(t, r.err)
			assert.True(t, r.cut, "slow header client never cut off")
			break wait
		default:
		}
		resp, err := hc.Post("http://"+addr+"/invoke/Add/a1", "application/json", strings.NewReader(`{"x":1,"y":2}`))
		require.NoError(t, err)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode)
		n++
	}
	assert.Positive(t, n, "others served meanwhile")

	// slow body
	body := `{"x":1,"y":2}` + strings.Repeat(" ", 500)
	resp, cut, err := httpprobe.SlowBody(addr, "POST", "/invoke/Add/a1", "", body, 10*time.Millisecond)
	require.NoError(t, err)
	require.True(t, cut, "slow body never cut off")
	if resp != nil {
		assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
	}
	_, err = New(testImage(), WithServerTimeouts(0, -time.Second, 0))
	assert.Error(t, err)
}
