package control

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/rt2rt"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newNode(t *testing.T) *rt2rt.Node {
	t.Helper()
	n, err := rt2rt.NewNode(rt2rt.WithLogger(quiet()), rt2rt.WithJoinTimeout(2*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// serve runs h on a loopback HTTP server.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

type answer struct {
	status int
	header http.Header
	body   string
}

func call(t *testing.T, method, url, body string) answer {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return answer{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

func TestIDAndNodes(t *testing.T) {
	a, b := newNode(t), newNode(t)
	h, err := NewHandler(a, WithLogger(quiet()))
	require.NoError(t, err)
	url := serve(t, h)

	r := call(t, "GET", url+"/id", "")
	assert.Equal(t, 200, r.status)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	assert.Equal(t, "*", r.header.Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "GET, POST, PUT, DELETE, OPTIONS", r.header.Get("Access-Control-Allow-Methods"))
	assert.JSONEq(t, `{"id": "`+a.ID()+`"}`, r.body)

	r = call(t, "GET", url+"/nodes", "")
	assert.Equal(t, 200, r.status)
	assert.JSONEq(t, `[]`, r.body)

	_, err = a.Join(context.Background(), b.URIs()[0])
	require.NoError(t, err)
	r = call(t, "GET", url+"/nodes", "")
	assert.JSONEq(t, `["`+b.ID()+`"]`, r.body)

	// A GET body is ignored.
	r = call(t, "GET", url+"/id", "not json")
	assert.Equal(t, 200, r.status)
}

func TestPeerSetup(t *testing.T) {
	a, b, c := newNode(t), newNode(t), newNode(t)
	h, err := NewHandler(a, WithLogger(quiet()), WithJoinTimeout(2*time.Second))
	require.NoError(t, err)
	url := serve(t, h)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "calvinip://" + ln.Addr().String()
	require.NoError(t, ln.Close())

	body, _ := json.Marshal(map[string]any{"peers": []string{b.URIs()[0], c.URIs()[0]}})
	r := call(t, "POST", url+"/peer_setup", string(body))
	assert.Equal(t, 200, r.status)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	assert.JSONEq(t, `{"`+b.URIs()[0]+`": ["`+b.ID()+`", 200], "`+c.URIs()[0]+`": ["`+c.ID()+`", 200]}`, r.body)

	// An already linked peer answers 200 again; an unreachable one 500 with
	// a null id, and the overall status is the highest.
	body, _ = json.Marshal(map[string]any{"peers": []string{b.URIs()[0], dead}})
	r = call(t, "POST", url+"/peer_setup", string(body))
	assert.Equal(t, 500, r.status)
	assert.JSONEq(t, `{"`+b.URIs()[0]+`": ["`+b.ID()+`", 200], "`+dead+`": [null, 500]}`, r.body)

	for _, bad := range []string{`{}`, `{"peers": "x"}`, `{"peers": [1]}`, `not json`, `{"peers": []} trailing`} {
		r = call(t, "POST", url+"/peer_setup", bad)
		assert.Equal(t, 400, r.status, bad)
		assert.Empty(t, r.body, bad)
		assert.Empty(t, r.header.Get("Content-Type"), bad)
	}
	r = call(t, "POST", url+"/peer_setup", `{"peers": []}`)
	assert.Equal(t, 200, r.status)
	assert.JSONEq(t, `{}`, r.body)
}

func TestConventions(t *testing.T) {
	a := newNode(t)
	h, err := NewHandler(a, WithLogger(quiet()))
	require.NoError(t, err)
	var gotID, gotBody atomic.Value
	h.Route("DELETE", "/actor/{actor_id}", func(ctx context.Context, req *Request) Response {
		gotID.Store(req.PathValue("actor_id"))
		return OK(nil)
	})
	h.Route("POST", "/actor/{actor_id}/report", func(ctx context.Context, req *Request) Response {
		gotBody.Store(req.BodyMap())
		return OK(req.Body)
	})
	url := serve(t, h)

	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"GET", "/nope", 404},
		{"POST", "/id", 404}, // wrong method: unknown route
		{"GET", "/id/extra", 404},
		{"GET", "/id?x=1", 404},
		{"GET", "/id?", 404},
		{"OPTIONS", "/anything/at/all", 200},
		{"DELETE", "/actor/2b6e8f4a-1f7c-4c7e-9a43-5d2e1f0c9b11", 204}, // the 204 rule
	} {
		r := call(t, tc.method, url+tc.path, "")
		assert.Equal(t, tc.status, r.status, tc.method+" "+tc.path)
		assert.Empty(t, r.body)
		assert.Equal(t, "*", r.header.Get("Access-Control-Allow-Origin"))
	}
	assert.Equal(t, "2b6e8f4a-1f7c-4c7e-9a43-5d2e1f0c9b11", gotID.Load())
	// A trailing slash is accepted (§12.1 allows it).
	r0 := call(t, "GET", url+"/id/", "")
	assert.Equal(t, 200, r0.status)
	assert.JSONEq(t, `{"id": "`+a.ID()+`"}`, r0.body)

	// Large integers in bodies survive.
	r := call(t, "POST", url+"/actor/ACTOR_2b6e8f4a-1f7c-4c7e-9a43-5d2e1f0c9b11/report", `{"steps": 9223372036854775808}`)
	assert.Equal(t, 200, r.status)
	assert.Equal(t, `{"steps":9223372036854775808}`, r.body)
	assert.Equal(t, json.Number("9223372036854775808"), gotBody.Load().(map[string]any)["steps"])
	// A null report is 204.
	r = call(t, "POST", url+"/actor/ACTOR_2b6e8f4a-1f7c-4c7e-9a43-5d2e1f0c9b11/report", `null`)
	assert.Equal(t, 204, r.status)

	assert.True(t, IsCalvinID("2b6e8f4a-1f7c-4c7e-9a43-5d2e1f0c9b11"))
	assert.True(t, IsCalvinID("NODE_2b6e8f4a-1f7c-4c7e-9a43-5d2e1f0c9b11"))
	assert.False(t, IsCalvinID("2B6E8F4A-1f7c-4c7e-9a43-5d2e1f0c9b11"))
	assert.False(t, IsCalvinID("actor-1"))
}

func TestShuttingDownAnswers500(t *testing.T) {
	a := newNode(t)
	h, err := NewHandler(a, WithLogger(quiet()))
	require.NoError(t, err)
	url := serve(t, h)
	release := make(chan struct{})
	entered := make(chan struct{})
	a.OnShutdown(func(ctx context.Context) {
		close(entered)
		<-release
	})
	done := make(chan error, 1)
	go func() { done <- a.Shutdown(context.Background()) }()
	<-entered
	r := call(t, "GET", url+"/id", "")
	assert.Equal(t, 500, r.status)
	assert.Empty(t, r.body)
	close(release)
	require.NoError(t, <-done)
}

func TestOptions(t *testing.T) {
	a := newNode(t)
	_, err := NewHandler(nil)
	require.ErrorIs(t, err, ErrInvalidOption)
	for _, o := range []Option{nil, WithLogger(nil), WithJoinTimeout(0), WithMaxBodySize(0)} {
		_, err := NewHandler(a, o)
		require.ErrorIs(t, err, ErrInvalidOption)
	}
	h, err := NewHandler(a, WithMaxBodySize(10))
	require.NoError(t, err)
	url := serve(t, h)
	r := call(t, "POST", url+"/peer_setup", `{"peers": ["calvinip://127.0.0.1:1"]}`)
	assert.Equal(t, 400, r.status, "body over the limit")
}
