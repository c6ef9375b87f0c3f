package client

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/opaca"
)

// recorder is a test server that records requests and answers from a table.
type recorder struct {
	mu   sync.Mutex
	reqs []recorded
	fn   func(w http.ResponseWriter, r *http.Request)
}

type recorded struct {
	method, path, rawPath, query, body string
	header                             http.Header
}

func newServer(t *testing.T, fn func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, *recorder) {
	rec := &recorder{fn: fn}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recorded{r.Method, r.URL.Path, r.URL.EscapedPath(), r.URL.RawQuery, string(b), r.Header.Clone()})
		rec.mu.Unlock()
		r.Body = io.NopCloser(strings.NewReader(string(b)))
		rec.fn(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, rec
}

func (r *recorder) last() recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.reqs[len(r.reqs)-1]
}

func TestPlatformRoutes(t *testing.T) {
	srv, rec := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/login", "/token":
			_, _ = io.WriteString(w, `"tok-123"`)
		case "/info":
			opaca.WriteJSON(w, opaca.RuntimePlatform{PlatformID: "p1", BaseURL: "http://x", RunningSince: opaca.Now()})
		case "/agents/known":
			opaca.WriteJSON(w, opaca.AgentDescription{AgentID: "known"})
		case "/agents/unknown", "/containers/unknown", "/send/a", "/broadcast/ch":
		case "/stream/S/a":
			if r.Method == http.MethodGet {
				_, _ = io.WriteString(w, "payload")
			}
		case "/invoke/Add/a b/c":
			_, _ = io.WriteString(w, `12345678901234567890`)
		case "/connections", "/containers/notify", "/connections/notify", "/containers/c1", "/users/u":
			_, _ = io.WriteString(w, `true`)
		case "/containers":
			_, _ = io.WriteString(w, `new-id`)
		default:
			opaca.WriteError(w, 404, "nope")
		}
	})
	ctx := context.Background()
	c, err := New(srv.URL+"/", WithSenderID("me"))
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, srv.URL, c.BaseURL())

	tok, err := c.Login(ctx, "alice", "pw")
	require.NoError(t, err)
	assert.Equal(t, "tok-123", tok, "quotes stripped")
	assert.JSONEq(t, `{"username":"alice","password":"pw"}`, rec.last().body)
	info, err := c.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, "p1", info.PlatformID)
	assert.Equal(t, "Bearer tok-123", rec.last().header.Get("Authorization"))
	assert.Equal(t, "me", rec.last().header.Get("sender-id"))

	_, found, err := c.Agent(ctx, "unknown")
	require.NoError(t, err)
	assert.False(t, found, "empty 200 is not found")
	a, found, err := c.Agent(ctx, "known")
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, "known", a.AgentID)
	_, found, err = c.Container(ctx, "unknown")
	require.NoError(t, err)
	assert.False(t, found)

	res, err := c.Invoke(ctx, "Add", "a b/c", map[string]int{"x": 1}, ActionTimeout(5), Forward(false), InContainer("c 1"))
	require.NoError(t, err)
	assert.Equal(t, "12345678901234567890", string(res), "big integers unchanged")
	last := rec.last()
	assert.Equal(t, "/invoke/Add/a%20b%2Fc", last.rawPath, "ids are path-escaped")
	assert.Equal(t, "containerId=c+1&forward=false&timeout=5", last.query)
	_, err = c.Invoke(ctx, "Add", "a b/c", nil)
	require.NoError(t, err)
	assert.Equal(t, "{}", rec.last().body, "nil args send {}")
	assert.Equal(t, "", rec.last().query, "no query unless set")

	require.NoError(t, c.Send(ctx, "a", opaca.Message{Payload: json.RawMessage(`{"k":1}`)}))
	assert.JSONEq(t, `{"payload":{"k":1},"replyTo":""}`, rec.last().body)
	require.NoError(t, c.Broadcast(ctx, "ch", opaca.Message{Payload: json.RawMessage(`1`)}))
	rc, err := c.GetStream(ctx, "S", "a")
	require.NoError(t, err)
	data, _ := io.ReadAll(rc)
	require.NoError(t, rc.Close())
	assert.Equal(t, "payload", string(data))
	require.NoError(t, c.PostStream(ctx, "S", "a", strings.NewReader("bytes"), ContentType("text/plain")))
	assert.Equal(t, "bytes", rec.last().body)
	assert.Equal(t, "text/plain", rec.last().header.Get("Content-Type"))

	ok, err := c.Disconnect(ctx, opaca.ConnectionRequest{URL: "http://peer"})
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, http.MethodDelete, rec.last().method)
	assert.JSONEq(t, `{"url":"http://peer","connectBack":false,"token":null}`, rec.last().body, "DELETE carries its body")
	ok, err = c.NotifyContainer(ctx, "c1")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "c1", rec.last().body, "notify body is raw text")
	_, err = c.NotifyConnection(ctx, "http://peer")
	require.NoError(t, err)
	id, err := c.PostContainer(ctx, opaca.PostAgentContainer{Image: opaca.AgentContainerImage{ImageName: "img"}}, 7)
	require.NoError(t, err)
	assert.Equal(t, "new-id", id)
	assert.Equal(t, "timeout=7", rec.last().query)
	ok, err = c.DeleteContainer(ctx, "c1")
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = c.DeleteUser(ctx, "u")
	require.NoError(t, err)
	assert.True(t, ok)
	_, err = c.RenewToken(ctx)
	require.NoError(t, err)
	_, err = c.Users(ctx)
	assert.Equal(t, 404, StatusCode(err))
}

func TestErrors(t *testing.T) {
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/invoke/Nested":
			opaca.WriteErrorResponse(w, opaca.ErrorResponse{StatusCode: 502, Message: "outer",
				Cause: &opaca.ErrorResponse{StatusCode: 502, Message: "middle", Cause: &opaca.ErrorResponse{StatusCode: 500, Message: "inner"}}})
		case "/invoke/Spring":
			w.WriteHeader(403)
			_, _ = io.WriteString(w, `{"timestamp":"x","status":403,"error":"Forbidden","path":"/invoke/Spring"}`)
		case "/invoke/Python":
			w.WriteHeader(400)
			_, _ = io.WriteString(w, `{"detail":{"cause":"no agent"}}`)
		case "/redirect":
			http.Redirect(w, r, "http://example.invalid/", http.StatusFound)
		}
	})
	ctx := context.Background()
	c, err := New(srv.URL, WithToken("secret-token"))
	require.NoError(t, err)
	defer c.Close()

	_, err = c.Invoke(ctx, "Nested", "", nil)
	var se *StatusError
	require.ErrorAs(t, err, &se)
	assert.True(t, errors.Is(err, ErrStatus))
	assert.Equal(t, 502, se.StatusCode)
	assert.Len(t, Causes(se.Response), 3)
	assert.Equal(t, "inner", RootCause(se.Response).Message)

	_, err = c.Invoke(ctx, "Spring", "", nil)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 403, se.StatusCode)
	assert.Nil(t, se.Response, "Spring error JSON is not an ErrorResponse")
	assert.Contains(t, string(se.Body), "Forbidden")
	assert.Equal(t, 403, se.AsErrorResponse().StatusCode)

	_, err = c.Invoke(ctx, "Python", "", nil)
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 400, se.StatusCode)
	assert.Equal(t, `{"detail":{"cause":"no agent"}}`, se.AsErrorResponse().Message)

	_, err = c.do(ctx, request{method: http.MethodGet, path: "/redirect"})
	require.ErrorAs(t, err, &se, "redirects are not followed")
	assert.Equal(t, 302, se.StatusCode)

	dead, err := New("http://127.0.0.1:1")
	require.NoError(t, err)
	_, err = dead.Info(ctx)
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.True(t, errors.Is(err, ErrTransport))
	assert.False(t, errors.Is(err, ErrStatus))
	assert.Equal(t, 0, StatusCode(err))

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = c.Info(cctx)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestOptionsValidated(t *testing.T) {
	for name, opts := range map[string][]Option{
		"http client": {WithHTTPClient(nil)},
		"timeout":     {WithTimeout(-1)},
		"logger":      {WithLogger(nil)},
		"header":      {WithHeader("", "x")},
	} {
		_, err := New("", opts...)
		assert.ErrorIs(t, err, ErrInvalidOption, name)
	}
	_, err := New("ftp://x")
	assert.ErrorIs(t, err, ErrInvalidOption)
	c, err := New("")
	require.NoError(t, err)
	assert.Equal(t, DefaultPlatformURL, c.BaseURL())
	require.NoError(t, c.Close())
	require.NoError(t, c.Close())
	cc, err := NewContainer("")
	require.NoError(t, err)
	assert.Equal(t, DefaultContainerURL, cc.BaseURL())
}

func TestTimeoutOption(t *testing.T) {
	release := make(chan struct{})
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	c, err := New(srv.URL, WithTimeout(50*time.Millisecond))
	require.NoError(t, err)
	_, err = c.Info(context.Background())
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestContainerClient(t *testing.T) {
	srv, rec := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/info":
			opaca.WriteJSON(w, opaca.AgentContainer{ContainerID: "c1", RunningSince: opaca.Now()})
		case "/agents":
			opaca.WriteJSON(w, []opaca.AgentDescription{{AgentID: "a1"}})
		case "/agents/a1":
			opaca.WriteJSON(w, opaca.AgentDescription{AgentID: "a1"})
		case "/login":
			_, _ = io.WriteString(w, "raw-token")
		case "/logout":
			_, _ = io.WriteString(w, "true")
		case "/invoke/Add":
			_, _ = io.WriteString(w, "3")
		default:
			opaca.WriteError(w, 404, "unknown")
		}
	})
	ctx := context.Background()
	cc, err := NewContainer(srv.URL, WithToken("ctoken"), WithContainerLoginToken("login-1"))
	require.NoError(t, err)
	info, err := cc.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, "c1", info.ContainerID)
	agents, err := cc.Agents(ctx)
	require.NoError(t, err)
	assert.Len(t, agents, 1)
	_, found, err := cc.Agent(ctx, "a1")
	require.NoError(t, err)
	assert.True(t, found)
	_, found, err = cc.Agent(ctx, "zz")
	require.NoError(t, err)
	assert.False(t, found, "404 is not found")
	res, err := cc.Invoke(ctx, "Add", "", map[string]int{"x": 1, "y": 2}, LoginToken("login-2"))
	require.NoError(t, err)
	assert.Equal(t, "3", string(res))
	assert.Equal(t, "login-2", rec.last().header.Get("ContainerLoginToken"))
	assert.Equal(t, "Bearer ctoken", rec.last().header.Get("Authorization"))
	tok, err := cc.Login(ctx, "u", "p")
	require.NoError(t, err)
	assert.Equal(t, "raw-token", tok)
	ok, err := cc.Logout(ctx, "raw-token")
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, "raw-token", rec.last().header.Get("ContainerLoginToken"))
	assert.Equal(t, 404, StatusCode(cc.Send(ctx, "zz", opaca.Message{})))
}

func fakeJWT(iat, exp time.Time) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256"}`))
	p := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"sub":"x","iat":%d,"exp":%d}`, iat.Unix(), exp.Unix())))
	return h + "." + p + ".sig"
}

func TestTokenTimes(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	iat, exp, ok := TokenTimes(fakeJWT(now, now.Add(time.Hour)))
	require.True(t, ok)
	assert.Equal(t, now, iat)
	assert.Equal(t, now.Add(time.Hour), exp)
	assert.Equal(t, now.Add(30*time.Minute), RenewAt(fakeJWT(now, now.Add(time.Hour)), now))
	_, _, ok = TokenTimes("opaque-token")
	assert.False(t, ok)
	assert.Equal(t, now.Add(30*time.Minute), RenewAt("opaque", now))
}

func TestTokenRenewal(t *testing.T) {
	var calls atomic.Int32
	srv, _ := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			calls.Add(1)
			// the renewed token lives long, so one renewal is enough
			_, _ = io.WriteString(w, fakeJWT(time.Now(), time.Now().Add(10*time.Hour)))
		}
	})
	old := fakeJWT(time.Now().Add(-time.Hour), time.Now().Add(time.Second))
	c, err := New(srv.URL, WithToken(old), WithTokenRenewal())
	require.NoError(t, err)
	require.Eventually(t, func() bool { return c.Token() != old }, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, c.Close())
	assert.Equal(t, int32(1), calls.Load())
}

func TestSubscribeReconnects(t *testing.T) {
	upgrader := websocket.Upgrader{}
	var conns atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/subscribe" {
			w.WriteHeader(404)
			return
		}
		if r.Header.Get("Authorization") != "Bearer tk" {
			opaca.WriteError(w, 401, "Missing token.")
			return
		}
		ws, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		_, topic, err := ws.ReadMessage()
		if err != nil || string(topic) != "/containers" {
			return
		}
		n := conns.Add(1)
		ev := opaca.Event{ID: fmt.Sprint(n), Timestamp: 1, EventType: opaca.EventSuccess, Route: "POST /containers"}
		b, _ := json.Marshal(ev)
		_ = ws.WriteMessage(websocket.TextMessage, []byte("not an event"))
		_ = ws.WriteMessage(websocket.TextMessage, b)
		if n == 1 {
			return // drop the first connection to force a reconnect
		}
		_, _, _ = ws.ReadMessage() // hold until the client closes
	}))
	defer srv.Close()

	noAuth, err := New(srv.URL)
	require.NoError(t, err)
	_, err = noAuth.Subscribe(context.Background(), "/containers")
	assert.Equal(t, 401, StatusCode(err))

	c, err := New(srv.URL, WithToken("tk"))
	require.NoError(t, err)
	defer c.Close()
	var disconnects atomic.Int32
	sub, err := c.Subscribe(context.Background(), "containers", ReconnectBackoff(10*time.Millisecond),
		OnDisconnect(func(error) { disconnects.Add(1) }))
	require.NoError(t, err)
	var ids []string
	for ev := range sub.Events() {
		ids = append(ids, ev.ID)
		if len(ids) == 2 {
			break
		}
	}
	assert.Equal(t, []string{"1", "2"}, ids)
	assert.GreaterOrEqual(t, disconnects.Load(), int32(1))
	require.NoError(t, sub.Close())
	require.NoError(t, sub.Close())
	_, open := <-sub.Events()
	assert.False(t, open, "channel closed")
	assert.Equal(t, "ws://h:1/p/subscribe", WebsocketURL("http://h:1/p"))
	assert.Equal(t, "wss://h/subscribe", WebsocketURL("https://h"))
}

func FuzzTokenTimes(f *testing.F) {
	f.Add(fakeJWT(time.Unix(1, 0), time.Unix(2, 0)))
	f.Add("a.b.c")
	f.Add("")
	f.Add("..")
	f.Fuzz(func(t *testing.T, tok string) {
		iat, exp, ok := TokenTimes(tok)
		if ok && exp.Before(iat) {
			t.Fatalf("exp before iat accepted: %q", tok)
		}
		_ = RenewAt(tok, time.Now())
	})
}

func FuzzParseErrorResponse(f *testing.F) {
	f.Add([]byte(`{"statusCode":502,"message":"x","cause":{"statusCode":500,"message":"y","cause":null}}`))
	f.Add([]byte(`{"detail":{"cause":"x"}}`))
	f.Add([]byte(`plain text`))
	f.Add([]byte(`{"statusCode":"x","message":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := parseErrorResponse(body)
		_ = Causes(r)
		_ = RootCause(r)
		se := &StatusError{StatusCode: 500, Response: r, Body: body}
		_ = se.Error()
		_ = se.AsErrorResponse()
		_ = Unquote(string(body))
	})
}

func TestSubscribeContextEndSendsNormalClose(t *testing.T) {
	upgrader := websocket.Upgrader{}
	closeCode := make(chan int, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				var ce *websocket.CloseError
				if errors.As(err, &ce) {
					closeCode <- ce.Code
				} else {
					closeCode <- -1
				}
				return
			}
		}
	}))
	defer srv.Close()
	c, err := New(srv.URL)
	require.NoError(t, err)
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	sub, err := c.Subscribe(ctx, "/containers")
	require.NoError(t, err)
	cancel()
	select {
	case code := <-closeCode:
		assert.Equal(t, websocket.CloseNormalClosure, code)
	case <-time.After(5 * time.Second):
		t.Fatal("no close seen")
	}
	<-sub.Done()
}

func TestInvokeRaw(t *testing.T) {
	srv, rec := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `"ok"`)
	})
	c, err := New(srv.URL, WithToken("t"), WithSenderID("s"))
	require.NoError(t, err)
	defer c.Close()
	res, err := c.InvokeRaw(context.Background(), "Do It", "a", nil, "containerId=c&forward=false")
	require.NoError(t, err)
	assert.Equal(t, `"ok"`, string(res))
	last := rec.last()
	assert.Equal(t, "/invoke/Do%20It/a", last.rawPath)
	assert.Equal(t, "containerId=c&forward=false", last.query)
	assert.Equal(t, "{}", last.body)
	assert.Equal(t, "Bearer t", last.header.Get("Authorization"))
	assert.Equal(t, "s", last.header.Get("sender-id"))
}
