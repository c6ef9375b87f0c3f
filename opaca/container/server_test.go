package container

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/opaca"
)

func TestInfoAndAgents(t *testing.T) {
	checkGoroutines(t)
	f := newFixture(t)
	r := do(t, "GET", f.srv.URL+"/info", "")
	require.Equal(t, 200, r.status, r.body)
	assert.Equal(t, "application/json", r.header.Get("Content-Type"))
	var info opaca.AgentContainer
	require.NoError(t, opaca.DecodeStrict([]byte(r.body), &info))
	assert.Equal(t, "c-1", info.ContainerID)
	assert.Equal(t, "alice", info.Owner)
	assert.Equal(t, opaca.Arguments{"database": "mongodb", "username": "bob", "level": "3"}, info.Arguments, "confidential password left out, defaults filled")
	assert.NotContains(t, r.body, "secret")
	assert.Contains(t, r.body, `"connectivity":null`)
	assert.Regexp(t, `"runningSince":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"`, r.body)
	assert.Equal(t, "test-image", info.Image.ImageName)
	require.Len(t, info.Agents, 2)
	assert.Equal(t, "a1", info.Agents[0].AgentID)
	assert.Equal(t, "a2", info.Agents[1].AgentID)
	assert.Equal(t, f.c.Info().ContainerID, "c-1")

	r = do(t, "GET", f.srv.URL+"/agents", "")
	require.Equal(t, 200, r.status)
	var agents []opaca.AgentDescription
	require.NoError(t, opaca.DecodeStrict([]byte(r.body), &agents))
	require.Len(t, agents, 2)
	add, ok := agents[0].Action("Add")
	require.True(t, ok)
	assert.Equal(t, "adds", add.Description)
	assert.Equal(t, map[string]opaca.Parameter{"x": opaca.NewParameter("integer"), "y": opaca.NewParameter("integer")}, add.Parameters)
	assert.Equal(t, opaca.TypeInteger, add.Result.Type)
	fail, _ := agents[0].Action("Fail")
	assert.Nil(t, fail.Result)
	s, ok := agents[0].Stream("Upload")
	require.True(t, ok)
	assert.Equal(t, opaca.StreamPOST, s.Mode)

	r = do(t, "GET", f.srv.URL+"/agents/a2", "")
	require.Equal(t, 200, r.status)
	var one opaca.AgentDescription
	require.NoError(t, opaca.DecodeStrict([]byte(r.body), &one))
	assert.Equal(t, "a2", one.AgentID)
	assert.Equal(t, "test.Agent", one.AgentType)
	assert.Equal(t, "agent a2", one.Description)

	r = do(t, "GET", f.srv.URL+"/agents/nobody", "")
	assert.Equal(t, 404, r.status)
	assert.Contains(t, errorBody(t, r).Message, "nobody")

	r = do(t, "GET", f.srv.URL+"/no/such/route", "")
	assert.Equal(t, 404, r.status)
	errorBody(t, r)
	r = do(t, "DELETE", f.srv.URL+"/info", "")
	assert.Equal(t, 404, r.status)
	errorBody(t, r)
	r = do(t, "GET", f.srv.URL+"/info?containerId=x&forward=false", "")
	assert.Equal(t, 200, r.status, "containerId and forward are ignored")
}

func TestInvoke(t *testing.T) {
	checkGoroutines(t)
	f := newFixture(t)
	tests := []struct {
		name   string
		path   string
		body   string
		hdr    []string
		status int
		want   string // JSON result, or a substring of the error message
	}{
		{"add", "/invoke/Add", `{"x":2,"y":3}`, nil, 200, `5`},
		{"add on agent", "/invoke/Add/a2", `{"x":-2,"y":3}`, nil, 200, `1`},
		{"escaped agent id", "/invoke/Add/a%32", `{"x":1,"y":1}`, nil, 200, `2`},
		{"unknown action", "/invoke/Nope", `{}`, nil, 404, `"Nope"`},
		{"unknown agent", "/invoke/Add/zz", `{"x":1,"y":1}`, nil, 404, `"zz"`},
		{"agent lacks action", "/invoke/Nope/a1", `{}`, nil, 404, `"Nope"`},
		{"string for integer", "/invoke/Add", `{"x":"2","y":3}`, nil, 400, `argument "x"`},
		{"integer too large", "/invoke/Add", `{"x":3000000000,"y":3}`, nil, 400, `argument "x"`},
		{"missing argument", "/invoke/Add", `{"x":2}`, nil, 400, `argument "y": required argument is missing`},
		{"unknown argument", "/invoke/Add", `{"x":2,"y":3,"z":4}`, nil, 400, `argument "z"`},
		{"body not an object", "/invoke/Add", `[1,2]`, nil, 400, `not a JSON object`},
		{"body not JSON", "/invoke/Add", `{"x":`, nil, 400, `not a JSON object`},
		{"empty body is {}", "/invoke/Nothing", ``, nil, 200, `null`},
		{"defaults filled in", "/invoke/Echo", `{"text":"hi"}`, nil, 200, `{"text":"hi","times":2}`},
		{"explicit value wins", "/invoke/Echo", `{"text":"hi","times":5,"point":{"x":1,"y":2}}`, nil, 200, `{"text":"hi","times":5,"point":{"x":1,"y":2}}`},
		{"custom type invalid", "/invoke/Echo", `{"text":"hi","point":{"x":1}}`, nil, 400, `argument "point"`},
		{"failing action", "/invoke/Fail", `{}`, nil, 500, `unexpected EOF`},
		{"explicit status", "/invoke/Teapot", `{}`, nil, 418, `short and stout`},
		{"panic", "/invoke/Panic", `{}`, nil, 500, `boom`},
		{"raw result unchanged", "/invoke/Raw", `{}`, nil, 200, `{"big":12345678901234567890}`},
		{"login token", "/invoke/WhoAmI/a2", `{}`, []string{"ContainerLoginToken", `"tok"`}, 200, `{"agent":"a2","token":"tok","login":null}`},
		{"bad timeout", "/invoke/Add?timeout=soon", `{"x":1,"y":1}`, nil, 400, `timeout`},
		{"query ignored", "/invoke/Add?containerId=c&forward=true&timeout=0", `{"x":1,"y":1}`, nil, 200, `2`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := do(t, "POST", f.srv.URL+tt.path, tt.body, tt.hdr...)
			require.Equal(t, tt.status, r.status, r.body)
			if tt.status == 200 {
				assert.JSONEq(t, tt.want, r.body)
				if tt.name == "raw result unchanged" {
					assert.Equal(t, tt.want, r.body)
				}
				return
			}
			assert.Contains(t, errorBody(t, r).Message, tt.want)
		})
	}
}

func TestInvokeTimeouts(t *testing.T) {
	checkGoroutines(t)
	f := newFixture(t, WithInvokeTimeout(50*time.Millisecond))
	r := do(t, "POST", f.srv.URL+"/invoke/Slow", `{}`)
	require.Equal(t, 500, r.status)
	assert.Contains(t, errorBody(t, r).Message, "timed out")

	start := time.Now()
	r = do(t, "POST", f.srv.URL+"/invoke/Slow?timeout=1", `{}`)
	require.Equal(t, 500, r.status)
	assert.Contains(t, errorBody(t, r).Message, "timed out after 1s")
	assert.GreaterOrEqual(t, time.Since(start), time.Second, "query timeout overrides the default")

	_, err := f.c.Invoke(context.Background(), "Slow", "", nil, InvokeOptions{Timeout: 20 * time.Millisecond})
	assert.ErrorIs(t, err, ErrTimeout)
	assert.Equal(t, 500, opaca.HTTPStatus(err))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = f.c.Invoke(ctx, "Slow", "", nil, InvokeOptions{})
	assert.ErrorIs(t, err, context.Canceled)
	assert.NotErrorIs(t, err, ErrTimeout)
}

func TestBodyLimit(t *testing.T) {
	checkGoroutines(t)
	f := newFixture(t, WithMaxBodySize(64))
	r := do(t, "POST", f.srv.URL+"/invoke/Echo", `{"text":"`+strings.Repeat("x", 100)+`"}`)
	assert.Equal(t, 413, r.status)
	errorBody(t, r)
	r = do(t, "POST", f.srv.URL+"/stream/Upload", strings.Repeat("y", 1000))
	assert.Equal(t, 200, r.status, "stream bodies are not limited")
}

func TestBearerCheck(t *testing.T) {
	checkGoroutines(t)
	f := newFixture(t, WithEnv(map[string]string{"CONTAINER_ID": "c-1", "TOKEN": "s3cret"}))
	for _, path := range []string{"/info", "/agents", "/agents/a1"} {
		r := do(t, "GET", f.srv.URL+path, "")
		assert.Equal(t, 403, r.status, path)
		errorBody(t, r)
		r = do(t, "GET", f.srv.URL+path, "", "Authorization", "Bearer wrong")
		assert.Equal(t, 403, r.status, path)
		r = do(t, "GET", f.srv.URL+path, "", "Authorization", "s3cret")
		assert.Equal(t, 403, r.status, path)
		r = do(t, "GET", f.srv.URL+path, "", "Authorization", "Bearer s3cret")
		assert.Equal(t, 200, r.status, path)
	}
	r := do(t, "POST", f.srv.URL+"/invoke/Add", `{"x":1,"y":1}`)
	assert.Equal(t, 403, r.status)
	r = do(t, "POST", f.srv.URL+"/invoke/Add", `{"x":1,"y":1}`, "Authorization", "Bearer s3cret")
	assert.Equal(t, 200, r.status)
}

func TestSendAndBroadcast(t *testing.T) {
	checkGoroutines(t)
	f := newFixture(t)
	r := do(t, "POST", f.srv.URL+"/send/a2", `{"payload":{"n":1},"replyTo":"x"}`)
	require.Equal(t, 200, r.status, r.body)
	assert.Empty(t, r.body)
	got := f.rec.msgs("direct:a2")
	require.Len(t, got, 1, "handler ran before the 200")
	assert.JSONEq(t, `{"n":1}`, string(got[0].Payload))
	assert.Equal(t, "x", got[0].ReplyTo)
	assert.Empty(t, f.rec.msgs("direct:a1"))

	r = do(t, "POST", f.srv.URL+"/send/zz", `{"payload":1}`)
	assert.Equal(t, 404, r.status)
	errorBody(t, r)
	r = do(t, "POST", f.srv.URL+"/send/a1", `{"payload":1,"extra":true}`)
	assert.Equal(t, 422, r.status)
	errorBody(t, r)
	r = do(t, "POST", f.srv.URL+"/send/a1", `not json`)
	assert.Equal(t, 422, r.status)

	r = do(t, "POST", f.srv.URL+"/broadcast/topic", `{"payload":"hello","replyTo":""}`)
	require.Equal(t, 200, r.status, r.body)
	assert.Len(t, f.rec.msgs("topic:a1"), 1)
	assert.Len(t, f.rec.msgs("topic:a2"), 1)
	r = do(t, "POST", f.srv.URL+"/broadcast/nobody-listens", `{"payload":"hello"}`)
	assert.Equal(t, 200, r.status)

	a1, _ := f.c.Agent("a1")
	a1.Unsubscribe("topic")
	r = do(t, "POST", f.srv.URL+"/broadcast/topic", `{"payload":"again"}`)
	require.Equal(t, 200, r.status)
	assert.Len(t, f.rec.msgs("topic:a1"), 1)
	assert.Len(t, f.rec.msgs("topic:a2"), 2)

	require.NoError(t, a1.Subscribe("bad", func(context.Context, opaca.Message) error { return opaca.NewError(400, "refused") }))
	r = do(t, "POST", f.srv.URL+"/broadcast/bad", `{"payload":1}`)
	assert.Equal(t, 400, r.status)
	assert.Contains(t, errorBody(t, r).Message, "refused")
}

func TestStreams(t *testing.T) {
	checkGoroutines(t)
	f := newFixture(t)
	r := do(t, "GET", f.srv.URL+"/stream/Data", "")
	require.Equal(t, 200, r.status)
	assert.Equal(t, "application/octet-stream", r.header.Get("Content-Type"))
	assert.Equal(t, `{"key":"value"}a1`, r.body)
	r = do(t, "GET", f.srv.URL+"/stream/Data/a2", "")
	assert.Equal(t, `{"key":"value"}a2`, r.body)

	r = do(t, "POST", f.srv.URL+"/stream/Upload/a2", "raw bytes", "Content-Type", "image/png", "ContainerLoginToken", "lt")
	require.Equal(t, 200, r.status)
	assert.Empty(t, r.body)
	f.rec.mu.Lock()
	assert.Equal(t, "raw bytes|lt", f.rec.posted["a2"])
	f.rec.mu.Unlock()
	r = do(t, "POST", f.srv.URL+"/stream/Upload", "")
	require.Equal(t, 200, r.status, "empty body allowed")

	for _, c := range []struct{ method, path string }{
		{"GET", "/stream/Nope"}, {"GET", "/stream/Data/zz"}, {"GET", "/stream/Nope/a1"},
		{"GET", "/stream/Upload"}, {"POST", "/stream/Data"}, {"POST", "/stream/Nope"},
	} {
		r := do(t, c.method, f.srv.URL+c.path, "")
		assert.Equal(t, 404, r.status, c.path)
		errorBody(t, r)
	}
	r = do(t, "GET", f.srv.URL+"/stream/Broken", "")
	assert.Equal(t, 503, r.status)
	assert.Contains(t, errorBody(t, r).Message, "no data")
}

type failLogin struct{}

func TestLogin(t *testing.T) {
	checkGoroutines(t)
	f := newFixture(t)
	r := do(t, "POST", f.srv.URL+"/login", `{"username":"u","password":"p"}`)
	assert.Equal(t, 501, r.status, "no login handler")
	errorBody(t, r)
	r = do(t, "POST", f.srv.URL+"/logout", "", "ContainerLoginToken", "x")
	assert.Equal(t, "false", r.body)

	store, err := NewLoginStore(func(_ context.Context, l opaca.Login) (any, error) {
		switch l.Username {
		case "invalid":
			return nil, ErrLoginInvalid
		case "not-supported":
			return nil, ErrLoginNotSupported
		}
		return l.Username, nil
	})
	require.NoError(t, err)
	f = newFixture(t, WithLoginHandler(store))
	r = do(t, "POST", f.srv.URL+"/login", `{"username":"invalid","password":"p"}`)
	assert.Equal(t, 401, r.status)
	errorBody(t, r)
	r = do(t, "POST", f.srv.URL+"/login", `{"username":"not-supported","password":"p"}`)
	assert.Equal(t, 501, r.status)
	r = do(t, "POST", f.srv.URL+"/login", `{"user":"x"}`)
	assert.Equal(t, 422, r.status)
	errorBody(t, r)

	r = do(t, "POST", f.srv.URL+"/login", `{"username":"carol","password":"p"}`)
	require.Equal(t, 200, r.status)
	assert.True(t, strings.HasPrefix(r.header.Get("Content-Type"), "text/plain"))
	token := r.body
	assert.Regexp(t, `^[0-9a-f-]{36}$`, token, "raw UUID, no quotes")

	for _, hdr := range []string{token, `"` + token + `"`} {
		r = do(t, "POST", f.srv.URL+"/invoke/WhoAmI", `{}`, "ContainerLoginToken", hdr)
		require.Equal(t, 200, r.status)
		assert.JSONEq(t, `{"agent":"a1","token":"`+token+`","login":"carol"}`, r.body)
	}
	r = do(t, "POST", f.srv.URL+"/logout", "", "ContainerLoginToken", `"`+token+`"`)
	assert.Equal(t, "true", r.body)
	r = do(t, "POST", f.srv.URL+"/logout", "", "ContainerLoginToken", token)
	assert.Equal(t, "false", r.body)
	r = do(t, "POST", f.srv.URL+"/logout", "")
	assert.Equal(t, "false", r.body)
}

func TestStartDelay(t *testing.T) {
	checkGoroutines(t)
	c, err := New(testImage(), WithEnv(nil), WithStartDelay(200*time.Millisecond))
	require.NoError(t, err)
	srv := httptest.NewServer(c)
	defer srv.Close()
	defer c.Close()
	r := do(t, "GET", srv.URL+"/info", "")
	assert.Equal(t, 503, r.status)
	errorBody(t, r)
	<-c.Ready()
	r = do(t, "GET", srv.URL+"/info", "")
	assert.Equal(t, 200, r.status)
}

func TestRuntimeChanges(t *testing.T) {
	checkGoroutines(t)
	f := newFixture(t)
	a3, err := NewAgent(WithID("a3"))
	require.NoError(t, err)
	require.NoError(t, f.c.AddAgent(a3))
	assert.ErrorIs(t, f.c.AddAgent(a3), ErrDuplicateAgent)
	require.NoError(t, a3.AddAction("Hello", func(context.Context, *Invocation) (any, error) { return "hi", nil }))
	r := do(t, "POST", f.srv.URL+"/invoke/Hello", ``)
	require.Equal(t, 200, r.status)
	assert.Equal(t, `"hi"`, r.body)
	require.NoError(t, a3.AddAction("Hello", func(context.Context, *Invocation) (any, error) { return "replaced", nil }))
	r = do(t, "POST", f.srv.URL+"/invoke/Hello/a3", ``)
	assert.Equal(t, `"replaced"`, r.body)
	assert.Len(t, a3.Description().Actions, 1)

	assert.True(t, a3.RemoveAction("Hello"))
	assert.False(t, a3.RemoveAction("Hello"))
	r = do(t, "POST", f.srv.URL+"/invoke/Hello", ``)
	assert.Equal(t, 404, r.status)

	a1, _ := f.c.Agent("a1")
	assert.True(t, a1.RemoveStream("Data"))
	r = do(t, "GET", f.srv.URL+"/stream/Data", "")
	assert.Equal(t, `{"key":"value"}a2`, r.body, "the next agent offering the stream")

	assert.True(t, f.c.RemoveAgent("a1"))
	assert.False(t, f.c.RemoveAgent("a1"))
	assert.Nil(t, a1.Container())
	r = do(t, "GET", f.srv.URL+"/agents/a1", "")
	assert.Equal(t, 404, r.status)
	r = do(t, "POST", f.srv.URL+"/invoke/Add", `{"x":1,"y":2}`)
	assert.Equal(t, 200, r.status, "a2 answers now")
	require.NoError(t, f.c.AddAgent(a1), "a removed agent can be added again")
	ids := []string{}
	for _, d := range f.c.Agents() {
		ids = append(ids, d.AgentID)
	}
	assert.Equal(t, []string{"a2", "a3", "a1"}, ids)
}

func TestPanicOutsideActions(t *testing.T) {
	checkGoroutines(t)
	f := newFixture(t)
	a1, _ := f.c.Agent("a1")
	a1.OnMessage(func(context.Context, opaca.Message) error { panic("in message handler") })
	r := do(t, "POST", f.srv.URL+"/send/a1", `{"payload":1}`)
	assert.Equal(t, 500, r.status)
	assert.Contains(t, errorBody(t, r).Message, "in message handler")
	r = do(t, "GET", f.srv.URL+"/info", "")
	assert.Equal(t, 200, r.status, "container keeps serving")
}

func TestInvocationHelpers(t *testing.T) {
	inv := &Invocation{Args: map[string]json.RawMessage{"n": json.RawMessage(`5`), "s": json.RawMessage(`"x"`), "z": json.RawMessage(`null`)}}
	n, err := Arg[int](inv, "n")
	require.NoError(t, err)
	assert.Equal(t, 5, n)
	_, err = Arg[int](inv, "s")
	assert.ErrorIs(t, err, opaca.ErrInvalidArgument)
	assert.Equal(t, 400, opaca.HTTPStatus(err))
	assert.True(t, inv.Has("n"))
	assert.False(t, inv.Has("z"))
	assert.False(t, inv.Has("missing"))
	var into struct {
		N int    `json:"n"`
		S string `json:"s"`
	}
	require.NoError(t, inv.Bind(&into))
	assert.Equal(t, 5, into.N)
	var wrong struct {
		N string `json:"n"`
	}
	err = inv.Bind(&wrong)
	var ae *opaca.ArgumentError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "n", ae.Argument)
}

func TestInProcessEnv(t *testing.T) {
	t.Setenv("MESHKIT_TEST_SECRET", "leak")
	c, err := New(testImage(), WithEnv(map[string]string{"CONTAINER_ID": "x", "PORT_MAPPING": "8082:9000,8888:9001", "API_PORT": "9000"}))
	require.NoError(t, err)
	defer c.Close()
	env := c.Env()
	assert.True(t, env.InProcess())
	assert.NotContains(t, env.All(), "MESHKIT_TEST_SECRET", "platform environment never leaks in")
	assert.Equal(t, "x", env.All()["CONTAINER_ID"])
	assert.Equal(t, 9001, env.HostPort(8888))
	assert.Equal(t, 7777, env.HostPort(7777))
	assert.Equal(t, 9000, c.APIPort())
	assert.Equal(t, ":9000", c.DefaultAddr())

	p, err := New(testImage())
	require.NoError(t, err)
	defer p.Close()
	assert.False(t, p.Env().InProcess())
	assert.Equal(t, "leak", p.Env().All()["MESHKIT_TEST_SECRET"])
	assert.Equal(t, 8082, p.APIPort())
}

func TestOptionValidation(t *testing.T) {
	img := testImage()
	for name, opt := range map[string]Option{
		"nil":            nil,
		"logger":         WithLogger(nil),
		"timeout":        WithInvokeTimeout(-1),
		"delay":          WithStartDelay(-1),
		"login":          WithLoginHandler(nil),
		"platform":       WithPlatformClient(nil),
		"http client":    WithHTTPClient(nil),
		"body size":      WithMaxBodySize(0),
		"observer":       WithObserver(nil),
		"subscribe":      WithSubscribeRetry(0),
		"port mapping":   WithEnv(map[string]string{"PORT_MAPPING": "nonsense"}),
		"api port":       WithEnv(map[string]string{"API_PORT": "http"}),
		"validator opts": WithValidatorOptions(opaca.WithSchemaFetchTimeout(0)),
	} {
		_, err := New(img, opt)
		assert.Error(t, err, name)
	}
	_, err := New(opaca.AgentContainerImage{})
	assert.Error(t, err, "image without name")
	bad := testImage()
	bad.Definitions = map[string]json.RawMessage{"X": json.RawMessage(`{"type":"wheel"}`)}
	_, err = New(bad, WithEnv(nil))
	assert.Error(t, err, "broken definition")

	_, err = NewAgent(WithID(""))
	assert.Error(t, err)
	_, err = NewAgent(nil)
	assert.Error(t, err)
	_, err = NewAgent(WithTypeOf(nil))
	assert.Error(t, err)
	a, err := NewAgent(WithTypeOf(&failLogin{}))
	require.NoError(t, err)
	assert.Equal(t, "container.failLogin", a.Type())
	assert.Len(t, a.ID(), 36, "random UUID")
	assert.Error(t, a.AddAction("", func(context.Context, *Invocation) (any, error) { return nil, nil }))
	assert.Error(t, a.AddAction("x", nil))
	assert.Error(t, a.AddAction("x", func(context.Context, *Invocation) (any, error) { return nil, nil }, Param("p", opaca.Parameter{})))
	assert.Error(t, a.AddAction("x", func(context.Context, *Invocation) (any, error) { return nil, nil }, Param("", opaca.NewParameter("string"))))
	assert.Error(t, a.AddAction("x", func(context.Context, *Invocation) (any, error) { return nil, nil }, Result(opaca.Parameter{})))
	assert.Error(t, a.AddGetStream("s", "", nil))
	assert.Error(t, a.AddPostStream("s", "", nil))
	assert.Error(t, a.AddGetStream("", "", func(context.Context, *Invocation) (io.Reader, error) { return nil, nil }))
	assert.Error(t, a.Subscribe("c", nil))
	_, err = NewLoginStore(nil)
	assert.Error(t, err)
}

func TestShutdown(t *testing.T) {
	checkGoroutines(t)
	c, err := New(testImage(), WithEnv(nil))
	require.NoError(t, err)
	rec := &recorder{messages: map[string][]opaca.Message{}, posted: map[string]string{}}
	require.NoError(t, c.AddAgent(newTestAgent(t, "a1", rec)))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	served := make(chan error, 1)
	go func() { served <- c.Serve(l) }()
	<-c.Ready()
	url := "http://" + l.Addr().String()
	require.Eventually(t, func() bool {
		resp, err := http.Get(url + "/info")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 5*time.Second, 10*time.Millisecond)

	// A running action is cancelled by the shutdown.
	a1, _ := c.Agent("a1")
	started := make(chan struct{})
	require.NoError(t, a1.AddAction("Block", func(ctx context.Context, _ *Invocation) (any, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}))
	done := make(chan error, 1)
	go func() {
		_, err := c.Invoke(context.Background(), "Block", "", nil, InvokeOptions{})
		done <- err
	}()
	<-started
	require.NoError(t, c.Shutdown(context.Background()))
	assert.ErrorIs(t, <-done, ErrClosed)
	assert.NoError(t, <-served)
	assert.NoError(t, c.Close(), "second close is a no-op")
	l2, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	assert.ErrorIs(t, c.Serve(l2), ErrClosed)
	http.DefaultClient.CloseIdleConnections()
}

func TestObserverAndEscapedNames(t *testing.T) {
	checkGoroutines(t)
	type call struct {
		agent, action string
		status        int
	}
	calls := make(chan call, 8)
	f := newFixture(t, WithObserver(ObserverFunc(func(agentID, action string, status int, d time.Duration) {
		calls <- call{agentID, action, status}
	})))
	odd, err := NewAgent(WithID("odd agent+ü"))
	require.NoError(t, err)
	require.NoError(t, odd.AddAction("Act ion", func(context.Context, *Invocation) (any, error) { return "ok", nil }))
	require.NoError(t, f.c.AddAgent(odd))

	r := do(t, "POST", f.srv.URL+"/invoke/Act%20ion/odd%20agent+%C3%BC", ``)
	require.Equal(t, 200, r.status, r.body)
	assert.Equal(t, call{"odd agent+ü", "Act ion", 200}, <-calls)
	r = do(t, "GET", f.srv.URL+"/agents/odd%20agent+%C3%BC", ``)
	assert.Equal(t, 200, r.status)

	do(t, "POST", f.srv.URL+"/invoke/Add/a1", `{"x":"1"}`)
	assert.Equal(t, call{"a1", "Add", 400}, <-calls)
	do(t, "POST", f.srv.URL+"/invoke/Missing", `{}`)
	assert.Equal(t, call{"", "Missing", 404}, <-calls)

	_, err = New(testImage(), WithCloser(nil))
	assert.Error(t, err)
}

type closeCounter struct{ n int }

func (c *closeCounter) Close() error { c.n++; return nil }

func TestWithCloser(t *testing.T) {
	cc := &closeCounter{}
	c, err := New(testImage(), WithEnv(nil), WithCloser(cc))
	require.NoError(t, err)
	require.NoError(t, c.Close())
	require.NoError(t, c.Close())
	assert.Equal(t, 1, cc.n, "closed once, at shutdown")
}

func TestLoadImage(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "image.json")
	require.NoError(t, os.WriteFile(good, []byte(`{"imageName":"from-file","apiPort":9000,"parameters":[{"name":"p","type":"string","required":false,"confidential":false,"defaultValue":"d"}]}`), 0o600))
	img, err := LoadImage(good)
	require.NoError(t, err)
	assert.Equal(t, "from-file", img.ImageName)
	c, err := New(img, WithEnv(nil))
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, 9000, c.APIPort())
	assert.Equal(t, opaca.Arguments{"p": "d"}, c.Info().Arguments)

	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"imageName":"x","unknown":1}`), 0o600))
	_, err = LoadImage(bad)
	assert.ErrorIs(t, err, opaca.ErrUnprocessable)
	_, err = LoadImage(filepath.Join(dir, "missing.json"))
	assert.Error(t, err)
}

func TestListenAndServe(t *testing.T) {
	checkGoroutines(t)
	c, err := New(testImage(), WithEnv(nil), WithLogger(slog.New(slog.DiscardHandler)), WithHTTPClient(http.DefaultClient))
	require.NoError(t, err)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer taken.Close()
	assert.Error(t, c.ListenAndServe(taken.Addr().String()), "address in use")

	served := make(chan error, 1)
	go func() { served <- c.ListenAndServe("127.0.0.1:0") }()
	// Shutdown may win the race against the listener; both ends are clean.
	require.Eventually(t, func() bool {
		c.srvMu.Lock()
		defer c.srvMu.Unlock()
		return len(c.servers) == 1
	}, 5*time.Second, time.Millisecond)
	require.NoError(t, c.Shutdown(context.Background()))
	assert.NoError(t, <-served)
	assert.Equal(t, "test-image", c.Image().ImageName)
	assert.NotNil(t, c.Validator())
}

// A GET stream answers with its headers before its first byte, so a caller
// waiting for the response does not hang on a stream that is silent for now.
func TestGetStreamHeadersBeforeFirstByte(t *testing.T) {
	f := newFixture(t)
	a1, ok := f.c.Agent("a1")
	require.True(t, ok)
	pr, pw := io.Pipe()
	t.Cleanup(func() { _ = pw.Close() }) // unblock the handler before the server closes
	require.NoError(t, a1.AddGetStream("Silent", "", func(context.Context, *Invocation) (io.Reader, error) { return pr, nil }, WithoutNotify()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.srv.URL+"/stream/Silent/a1", nil)
	require.NoError(t, err)
	resp, err := f.srv.Client().Do(req)
	require.NoError(t, err, "headers arrive while the stream is still silent")
	defer resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	_, err = io.WriteString(pw, "late")
	require.NoError(t, err)
	require.NoError(t, pw.Close())
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, "late", string(body))
}
