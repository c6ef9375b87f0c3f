package container

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/internal/httpprobe"
	"github.com/meshkit/meshkit/internal/leakcheck"
	"github.com/meshkit/meshkit/opaca"
)

// checkGoroutines fails the test if goroutines of this package (or
// servers and clients it started) are still running at the end, after all
// other cleanups.
func checkGoroutines(t *testing.T) {
	t.Helper()
	leakcheck.NoGoroutinesMentioning(t, "opaca/container.", "opaca/client.")
	t.Cleanup(http.DefaultClient.CloseIdleConnections) // before the check
}

func testImage() opaca.AgentContainerImage {
	return opaca.AgentContainerImage{
		ImageName: "test-image",
		Parameters: []opaca.ImageParameter{
			{Name: "database", Type: "string", DefaultValue: json.RawMessage(`"mongodb"`)},
			{Name: "username", Type: "string", Required: true},
			{Name: "password", Type: "string", Required: true, Confidential: true},
			{Name: "level", Type: "integer", DefaultValue: json.RawMessage(`3`)},
		},
		Definitions: map[string]json.RawMessage{
			"Point": json.RawMessage(`{"type":"object","properties":{"x":{"type":"integer"},"y":{"type":"integer"}},"required":["x","y"]}`),
		},
	}
}

// recorder keeps state the test agents write.
type recorder struct {
	mu       sync.Mutex
	messages map[string][]opaca.Message
	posted   map[string]string
	events   []opaca.Event
}

func (r *recorder) addMessage(key string, m opaca.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.messages[key] = append(r.messages[key], m)
}

func (r *recorder) msgs(key string) []opaca.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]opaca.Message(nil), r.messages[key]...)
}

type addArgs struct {
	X int `json:"x"`
	Y int `json:"y"`
}

// newTestAgent builds an agent with one of each kind of handler.
func newTestAgent(t testing.TB, id string, rec *recorder) *Agent {
	t.Helper()
	a, err := NewAgent(WithID(id), WithType("test.Agent"), WithDescription("agent "+id))
	require.NoError(t, err)
	require.NoError(t, AddFunc(a, "Add", func(_ context.Context, in addArgs) (int, error) { return in.X + in.Y, nil }, Description("adds")))
	require.NoError(t, a.AddAction("Echo", func(_ context.Context, inv *Invocation) (any, error) {
		return inv.Args, nil
	}, Param("text", opaca.NewParameter(opaca.TypeString)),
		Param("times", mustDefault(opaca.NewParameter(opaca.TypeInteger), 2)),
		Param("point", opaca.NewParameter("Point").Optional()),
		Result(opaca.NewParameter(opaca.TypeObject))))
	require.NoError(t, a.AddAction("WhoAmI", func(ctx context.Context, inv *Invocation) (any, error) {
		got, ok := InvocationFrom(ctx)
		if !ok || got != inv {
			return nil, opaca.NewError(500, "invocation missing from context")
		}
		return map[string]any{"agent": inv.Agent.ID(), "token": inv.LoginToken, "login": inv.Login}, nil
	}, Result(opaca.NewParameter(opaca.TypeObject))))
	require.NoError(t, a.AddAction("Fail", func(context.Context, *Invocation) (any, error) {
		return nil, io.ErrUnexpectedEOF
	}))
	require.NoError(t, a.AddAction("Teapot", func(context.Context, *Invocation) (any, error) {
		return nil, opaca.NewError(418, "short and stout")
	}))
	require.NoError(t, a.AddAction("Panic", func(context.Context, *Invocation) (any, error) { panic("boom") }))
	require.NoError(t, a.AddAction("Raw", func(context.Context, *Invocation) (any, error) {
		return json.RawMessage(`{"big":12345678901234567890}`), nil
	}))
	require.NoError(t, a.AddAction("Nothing", func(context.Context, *Invocation) (any, error) { return nil, nil }))
	require.NoError(t, a.AddAction("Slow", func(ctx context.Context, _ *Invocation) (any, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}))
	require.NoError(t, a.AddGetStream("Data", "bytes", func(context.Context, *Invocation) (io.Reader, error) {
		return io.NopCloser(strings.NewReader(`{"key":"value"}` + id)), nil
	}))
	require.NoError(t, a.AddGetStream("Broken", "fails", func(context.Context, *Invocation) (io.Reader, error) {
		return nil, opaca.NewError(503, "no data")
	}))
	require.NoError(t, a.AddPostStream("Upload", "stores", func(_ context.Context, inv *Invocation, body io.Reader) error {
		b, err := io.ReadAll(body)
		if err != nil {
			return err
		}
		rec.mu.Lock()
		rec.posted[id] = string(b) + "|" + inv.LoginToken
		rec.mu.Unlock()
		return nil
	}))
	a.OnMessage(func(_ context.Context, m opaca.Message) error { rec.addMessage("direct:"+id, m); return nil })
	require.NoError(t, a.Subscribe("topic", func(_ context.Context, m opaca.Message) error { rec.addMessage("topic:"+id, m); return nil }))
	a.OnEvent("DoThis", func(_ context.Context, ev opaca.Event) {
		rec.mu.Lock()
		rec.events = append(rec.events, ev)
		rec.mu.Unlock()
	})
	return a
}

func mustDefault(p opaca.Parameter, v any) opaca.Parameter {
	p, err := p.WithDefault(v)
	if err != nil {
		panic(err)
	}
	return p
}

type fixture struct {
	c   *Container
	srv *httptest.Server
	rec *recorder
}

func newFixture(t *testing.T, opts ...Option) *fixture {
	t.Helper()
	rec := &recorder{messages: map[string][]opaca.Message{}, posted: map[string]string{}}
	opts = append([]Option{WithEnv(map[string]string{"CONTAINER_ID": "c-1", "OWNER": "alice", "username": "bob", "password": "secret"})}, opts...)
	c, err := New(testImage(), opts...)
	require.NoError(t, err)
	require.NoError(t, c.AddAgent(newTestAgent(t, "a1", rec), WithoutNotify()))
	require.NoError(t, c.AddAgent(newTestAgent(t, "a2", rec), WithoutNotify()))
	srv := httptest.NewServer(c)
	t.Cleanup(func() {
		srv.Close()
		require.NoError(t, c.Close())
	})
	select {
	case <-c.Ready():
	case <-time.After(5 * time.Second):
		t.Fatal("container never became ready")
	}
	return &fixture{c: c, srv: srv, rec: rec}
}

type response struct {
	status int
	header http.Header
	body   string
}

func do(t testing.TB, method, url, body string, hdr ...string) response {
	t.Helper()
	r := httpprobe.Do(t, method, url, body, hdr...)
	return response{r.Status, r.Header, r.Body}
}

// errorBody decodes an ErrorResponse and checks its shape.
func errorBody(t testing.TB, r response) opaca.ErrorResponse {
	t.Helper()
	var er opaca.ErrorResponse
	require.NoError(t, opaca.DecodeStrict([]byte(r.body), &er), r.body)
	require.Equal(t, r.status, er.StatusCode)
	require.Nil(t, er.Cause)
	require.Contains(t, r.body, `"cause":null`)
	return er
}

// fakePlatform records the requests a container makes to its platform.
type fakePlatform struct {
	t   testing.TB
	srv *httptest.Server

	mu       sync.Mutex
	requests []recorded
	notifies int
	token    string // answer of GET /token
	tokenErr int    // how many GET /token fail before one succeeds

	notifyGate chan struct{} // when set, notify handlers wait on it
	events     chan opaca.Event
	wsConns    chan *websocket.Conn
}

type recorded struct {
	method, path, query, body string
	header                    http.Header
}

func newFakePlatform(t testing.TB) *fakePlatform {
	f := &fakePlatform{t: t, events: make(chan opaca.Event, 16), wsConns: make(chan *websocket.Conn, 4)}
	up := websocket.Upgrader{}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/subscribe" {
			ws, err := up.Upgrade(w, r, nil)
			if err != nil {
				return
			}
			f.record(r, "")
			_, topic, err := ws.ReadMessage()
			if err != nil || string(topic) != "/invoke" {
				_ = ws.Close()
				return
			}
			f.wsConns <- ws
			return
		}
		b, _ := io.ReadAll(r.Body)
		f.record(r, string(b))
		switch {
		case r.URL.Path == "/containers/notify":
			f.mu.Lock()
			gate := f.notifyGate
			f.mu.Unlock()
			if gate != nil {
				<-gate
			}
			f.mu.Lock()
			f.notifies++
			f.mu.Unlock()
			_, _ = w.Write([]byte("true"))
		case r.URL.Path == "/token":
			f.mu.Lock()
			tok, fail := f.token, f.tokenErr > 0
			f.tokenErr--
			f.mu.Unlock()
			if fail {
				opaca.WriteError(w, 500, "token service down")
				return
			}
			_, _ = w.Write([]byte(tok))
		case strings.HasPrefix(r.URL.Path, "/invoke/Missing"):
			opaca.WriteError(w, 404, "no such action")
		case strings.HasPrefix(r.URL.Path, "/invoke/"):
			_, _ = w.Write([]byte("65"))
		case strings.HasPrefix(r.URL.Path, "/stream/") && r.Method == http.MethodGet:
			_, _ = w.Write([]byte("stream-bytes"))
		default:
			w.WriteHeader(http.StatusOK)
		}
	}))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakePlatform) record(r *http.Request, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, recorded{r.Method, r.URL.Path, r.URL.RawQuery, body, r.Header.Clone()})
}

func (f *fakePlatform) find(method, path string) []recorded {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []recorded
	for _, r := range f.requests {
		if r.method == method && r.path == path {
			out = append(out, r)
		}
	}
	return out
}

func (f *fakePlatform) notifyCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.notifies
}
