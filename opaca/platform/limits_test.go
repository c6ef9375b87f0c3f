package platform

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/internal/httpprobe"
	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/sample"
)

// TestBodyLimitEveryRoute sends a body over the limit to every route that
// reads a JSON body, once with a declared length and once chunked (length
// unknown until read): each answers 413 with an ErrorResponse, and the
// platform keeps serving.
func TestBodyLimitEveryRoute(t *testing.T) {
	const limit = 1024
	tp := startPlatform(t, WithMaxBodySize(limit))
	id := tp.deploy(t, "agent1")
	big := `{"x":"` + strings.Repeat("a", 2*limit) + `"}`
	routes := []struct{ method, path string }{
		{"POST", "/login"},
		{"POST", "/users"},
		{"PUT", "/users/admin"},
		{"POST", "/containers"},
		{"PUT", "/containers"},
		{"POST", "/containers/login/" + id},
		{"POST", "/containers/notify"},
		{"POST", "/connections"},
		{"DELETE", "/connections"},
		{"POST", "/connections/notify"},
		{"POST", "/send/agent1"},
		{"POST", "/broadcast/ch"},
		{"POST", "/invoke/Add"},
		{"POST", "/invoke/Add/agent1"},
	}
	hc := &http.Client{Transport: newTransport()}
	for _, rt := range routes {
		for _, chunked := range []bool{false, true} {
			var body io.Reader = strings.NewReader(big)
			if chunked {
				body = io.MultiReader(strings.NewReader(big)) // hides the length
			}
			req, err := http.NewRequest(rt.method, tp.url+rt.path, body)
			require.NoError(t, err)
			resp, err := hc.Do(req)
			require.NoError(t, err, "%s %s", rt.method, rt.path)
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			assert.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "%s %s chunked=%v: %s", rt.method, rt.path, chunked, b)
			var er opaca.ErrorResponse
			if assert.NoError(t, opaca.DecodeStrict(b, &er), "%s %s: %s", rt.method, rt.path, b) {
				assert.Equal(t, http.StatusRequestEntityTooLarge, er.StatusCode)
			}
		}
	}
	// a body at the limit still works
	ok := `{"x":1,"y":2}`
	code, body := rawCall(t, "POST", tp.url+"/invoke/Add/agent1", "", ok)
	assert.Equal(t, 200, code, body)
}

// TestSlowlorisCutOff: a client that sends its headers byte by byte is cut
// off by the read-header timeout while other clients are served; a client
// that sends a JSON body too slowly gets 408.
func TestSlowlorisCutOff(t *testing.T) {
	tp := startPlatform(t, WithServerTimeouts(300*time.Millisecond, 300*time.Millisecond, time.Second))
	tp.deploy(t, "agent1")
	addr := strings.TrimPrefix(tp.url, "http://")

	type result struct {
		cut  bool
		sent int
		err  error
	}
	const slowClients = 5
	done := make(chan result, slowClients)
	for i := 0; i < slowClients; i++ {
		go func() {
			cut, sent, err := httpprobe.SlowHeaders(addr, 10*time.Millisecond, 1000) // would take ≥ 10 s
			done <- result{cut, sent, err}
		}()
	}
	// the others are served while the slow ones hang on
	served := 0
	for pending := slowClients; pending > 0; {
		select {
		case r := <-done:
			pending--
			require.NoError(t, r.err)
			assert.True(t, r.cut, "slow client was never cut off (sent %d bytes)", r.sent)
		default:
			_, err := tp.c.Invoke(context.Background(), "Add", "agent1", map[string]int{"x": 1, "y": 2})
			require.NoError(t, err)
			served++
		}
	}
	assert.Positive(t, served)

	// slow body: complete headers, then the body byte by byte; the server
	// answers 408, or (when the client's unread bytes make the close a
	// reset) the connection just ends: either way it stopped waiting
	body := `{"x":1,"y":2}` + strings.Repeat(" ", 500)
	resp, cut, err := httpprobe.SlowBody(addr, "POST", "/invoke/Add/agent1", "application/json", body, 10*time.Millisecond)
	require.NoError(t, err)
	require.True(t, cut, "the slow body was never cut off")
	if resp != nil {
		assert.Equal(t, http.StatusRequestTimeout, resp.StatusCode)
	}
}

// TestBodyDeadlineLifted mounts the Handler in a plain http.Server without
// timeouts: an action that runs ten times longer than the body read
// timeout completes, and the next requests on the same keep-alive
// connection are served (the body deadline does not outlive the body).
func TestBodyDeadlineLifted(t *testing.T) {
	tp := startPlatform(t, WithServerTimeouts(0, 100*time.Millisecond, 0),
		WithInProcessImage(sample.ImageName, sampleFactory))
	_, err := tp.c.PostContainer(context.Background(), samplePost(), 0)
	require.NoError(t, err)
	srv := httptest.NewServer(tp.Handler())
	defer srv.Close()
	tr := newTransport()
	tr.MaxConnsPerHost = 1
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	var conns atomic.Int32
	trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
		if !i.Reused {
			conns.Add(1)
		}
	}}
	for _, c := range []struct{ path, body, want string }{
		{"/invoke/DoThis/sample1", `{"message":"m","sleep_seconds":1}`, "sleep_seconds=1"},
		{"/invoke/Add/sample1", `{"x":1,"y":2}`, "3"},
		{"/send/sample1", `{"payload":"p"}`, ""},
	} {
		req, err := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "POST", srv.URL+c.path, strings.NewReader(c.body))
		require.NoError(t, err)
		resp, err := hc.Do(req)
		require.NoError(t, err, c.path)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode, "%s: %s", c.path, body)
		assert.Contains(t, string(body), c.want)
	}
	assert.Equal(t, int32(1), conns.Load(), "one keep-alive connection for all calls")

	_, err = New(WithServerTimeouts(-1, 0, 0))
	assert.Error(t, err)
}
