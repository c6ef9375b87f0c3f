package container

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
)

func platformEnv(p *fakePlatform, token string) map[string]string {
	return map[string]string{"CONTAINER_ID": "c-9", "PLATFORM_URL": p.srv.URL + "/", "TOKEN": token, "OWNER": ""}
}

func TestAutoNotify(t *testing.T) {
	checkGoroutines(t)
	p := newFakePlatform(t)
	f := newFixture(t, WithEnv(platformEnv(p, "tok")))
	// Before the platform has read /info, a change is not notified: the
	// platform would answer 404 and its first read sees the change anyway.
	early, err := NewAgent(WithID("early"))
	require.NoError(t, err)
	require.NoError(t, f.c.AddAgent(early))
	assert.Empty(t, f.c.notifyKick)
	req, err := http.NewRequest(http.MethodGet, f.srv.URL+"/info", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer tok")
	resp, err := f.srv.Client().Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	require.Equal(t, http.StatusOK, resp.StatusCode)

	a3, err := NewAgent(WithID("a3"))
	require.NoError(t, err)
	require.NoError(t, f.c.AddAgent(a3))
	require.Eventually(t, func() bool { return p.notifyCount() == 1 }, 5*time.Second, 5*time.Millisecond)
	n := p.find("POST", "/containers/notify")
	require.Len(t, n, 1)
	assert.Equal(t, "c-9", n[0].body, "container id as raw text")
	assert.Equal(t, "Bearer tok", n[0].header.Get("Authorization"))
	assert.Equal(t, "c-9", n[0].header.Get("sender-id"))

	// Opting out leaves no pending notify.
	require.NoError(t, a3.AddActionWith("Quiet", func(context.Context, *Invocation) (any, error) { return nil, nil }, []ChangeOption{WithoutNotify()}))
	assert.True(t, f.c.RemoveAgent("a3", WithoutNotify()))
	assert.Empty(t, f.c.notifyKick)

	// Changes while a notify is in flight coalesce into exactly one more.
	gate := make(chan struct{})
	p.mu.Lock()
	p.notifyGate = gate
	p.mu.Unlock()
	a1, _ := f.c.Agent("a1")
	require.NoError(t, a1.AddGetStream("S1", "", func(context.Context, *Invocation) (io.Reader, error) { return nil, nil }))
	require.Eventually(t, func() bool { return len(p.find("POST", "/containers/notify")) == 2 }, 5*time.Second, 5*time.Millisecond)
	for i := range 5 {
		require.NoError(t, a1.AddGetStream(fmt.Sprintf("S%d", i+2), "", func(context.Context, *Invocation) (io.Reader, error) { return nil, nil }))
	}
	assert.Len(t, f.c.notifyKick, 1, "one pending notify for five changes")
	close(gate)
	require.Eventually(t, func() bool { return p.notifyCount() == 3 && len(f.c.notifyKick) == 0 }, 5*time.Second, 5*time.Millisecond)
	assert.Len(t, p.find("POST", "/containers/notify"), 3)
}

func TestNoNotifyBeforeReadyOrWithoutPlatform(t *testing.T) {
	checkGoroutines(t)
	p := newFakePlatform(t)
	c, err := New(testImage(), WithEnv(platformEnv(p, "")), WithStartDelay(time.Hour))
	require.NoError(t, err)
	a, err := NewAgent()
	require.NoError(t, err)
	require.NoError(t, c.AddAgent(a))
	assert.Empty(t, c.notifyKick, "nothing is sent before the API is up")
	require.NoError(t, c.Close())

	c, err = New(testImage(), WithEnv(nil))
	require.NoError(t, err)
	defer c.Close()
	<-c.Ready()
	b, err := NewAgent()
	require.NoError(t, err)
	require.NoError(t, c.AddAgent(b))
	assert.ErrorIs(t, c.Notify(context.Background()), ErrNoPlatform)
	_, err = b.Platform().Invoke(context.Background(), "Add", "", nil)
	assert.ErrorIs(t, err, ErrNoPlatform)
	assert.ErrorIs(t, b.Platform().Send(context.Background(), "x", 1), ErrNoPlatform)
	assert.ErrorIs(t, b.Platform().Broadcast(context.Background(), "x", 1), ErrNoPlatform)
	_, err = b.Platform().GetStream(context.Background(), "s", "")
	assert.ErrorIs(t, err, ErrNoPlatform)
	assert.ErrorIs(t, b.Platform().PostStream(context.Background(), "s", "", strings.NewReader("")), ErrNoPlatform)
	detached, err := NewAgent()
	require.NoError(t, err)
	assert.ErrorIs(t, detached.Platform().Notify(context.Background()), ErrNoPlatform)
}

func TestOutboundCalls(t *testing.T) {
	checkGoroutines(t)
	p := newFakePlatform(t)
	f := newFixture(t, WithEnv(platformEnv(p, "tok")), WithoutAutoNotify())
	a1, _ := f.c.Agent("a1")
	out := a1.Platform()
	ctx := context.Background()

	res, err := out.Invoke(ctx, "Add", "sample2", map[string]int{"x": 42, "y": 23}, client.ActionTimeout(5))
	require.NoError(t, err)
	assert.JSONEq(t, "65", string(res))
	inv := p.find("POST", "/invoke/Add/sample2")
	require.Len(t, inv, 1)
	assert.JSONEq(t, `{"x":42,"y":23}`, inv[0].body)
	assert.Equal(t, "Bearer tok", inv[0].header.Get("Authorization"))
	assert.Equal(t, "c-9", inv[0].header.Get("sender-id"))
	assert.Contains(t, inv[0].query, "timeout=5")

	_, err = out.Invoke(ctx, "Missing", "", nil)
	var se *client.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 404, se.StatusCode)

	require.NoError(t, out.Send(ctx, "a9", map[string]string{"hello": "world"}))
	s := p.find("POST", "/send/a9")
	require.Len(t, s, 1)
	assert.JSONEq(t, `{"payload":{"hello":"world"},"replyTo":"a1"}`, s[0].body)

	require.NoError(t, out.Broadcast(ctx, "topic", "news"))
	b := p.find("POST", "/broadcast/topic")
	require.Len(t, b, 1)
	assert.JSONEq(t, `{"payload":"news","replyTo":"a1"}`, b[0].body)

	rc, err := out.GetStream(ctx, "GetStream", "")
	require.NoError(t, err)
	data, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	assert.Equal(t, "stream-bytes", string(data))

	require.NoError(t, out.PostStream(ctx, "PostStream", "a2", strings.NewReader("up")))
	ps := p.find("POST", "/stream/PostStream/a2")
	require.Len(t, ps, 1)
	assert.Equal(t, "up", ps[0].body)

	require.NoError(t, out.Notify(ctx))
	assert.Len(t, p.find("POST", "/containers/notify"), 1)

	assert.Error(t, out.Send(ctx, "a9", func() {}), "unencodable payload")
}

// jwtWithLifetime builds an unsigned-looking JWT whose iat/exp the client
// reads to schedule renewal.
func jwtWithLifetime(iat time.Time, life time.Duration) string {
	enc := base64.RawURLEncoding
	payload := fmt.Sprintf(`{"sub":"c-9","iat":%d,"exp":%d}`, iat.Unix(), iat.Add(life).Unix())
	return enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString([]byte(payload)) + ".sig"
}

func TestTokenRenewal(t *testing.T) {
	checkGoroutines(t)
	p := newFakePlatform(t)
	original := jwtWithLifetime(time.Now().Add(-2*time.Second), 3*time.Second) // half-life already passed
	p.token = "renewed-token"
	p.tokenErr = 1 // the first renewal fails and is retried after 1 s
	f := newFixture(t, WithEnv(platformEnv(p, original)), WithoutAutoNotify())
	require.Eventually(t, func() bool { return len(p.find("GET", "/token")) >= 2 }, 10*time.Second, 10*time.Millisecond)
	tr := p.find("GET", "/token")[0]
	assert.Equal(t, "Bearer "+original, tr.header.Get("Authorization"))

	a1, _ := f.c.Agent("a1")
	require.Eventually(t, func() bool {
		_, err := a1.Platform().Invoke(context.Background(), "Add", "", nil)
		require.NoError(t, err)
		calls := p.find("POST", "/invoke/Add")
		return calls[len(calls)-1].header.Get("Authorization") == "Bearer renewed-token"
	}, 5*time.Second, 10*time.Millisecond, "outbound calls use the renewed token")

	// Incoming requests are still checked against the original TOKEN.
	r := do(t, "GET", f.srv.URL+"/info", "", "Authorization", "Bearer renewed-token")
	assert.Equal(t, 403, r.status)
	r = do(t, "GET", f.srv.URL+"/info", "", "Authorization", "Bearer "+original)
	assert.Equal(t, 200, r.status)
}

func TestEventSubscription(t *testing.T) {
	checkGoroutines(t)
	p := newFakePlatform(t)
	f := newFixture(t, WithEnv(platformEnv(p, "tok")), WithEventSubscription(), WithSubscribeRetry(10*time.Millisecond), WithoutAutoNotify())

	var ws *websocket.Conn
	select {
	case ws = <-p.wsConns:
	case <-time.After(5 * time.Second):
		t.Fatal("container never subscribed")
	}
	sub := p.find("GET", "/subscribe")
	require.NotEmpty(t, sub)
	assert.Equal(t, "Bearer tok", sub[0].header.Get("Authorization"))

	send := func(ws *websocket.Conn, ev opaca.Event) {
		b, err := json.Marshal(ev)
		require.NoError(t, err)
		require.NoError(t, ws.WriteMessage(websocket.TextMessage, b))
	}
	send(ws, opaca.Event{ID: "e0", Timestamp: 1, EventType: opaca.EventSuccess, Route: "POST /invoke/Other"})
	send(ws, opaca.Event{ID: "e1", Timestamp: 2, EventType: opaca.EventSuccess, Route: "POST /invoke/DoThis/a1"})
	require.Eventually(t, func() bool {
		f.rec.mu.Lock()
		defer f.rec.mu.Unlock()
		return len(f.rec.events) == 2
	}, 5*time.Second, 5*time.Millisecond, "both agents handle DoThis events")
	f.rec.mu.Lock()
	assert.Equal(t, "e1", f.rec.events[0].ID)
	f.rec.mu.Unlock()

	// The platform drops the websocket: the container subscribes again.
	require.NoError(t, ws.Close())
	var ws2 *websocket.Conn
	select {
	case ws2 = <-p.wsConns:
	case <-time.After(5 * time.Second):
		t.Fatal("container never resubscribed")
	}
	send(ws2, opaca.Event{ID: "e2", Timestamp: 3, EventType: opaca.EventSuccess, Route: "POST /invoke/DoThis"})
	require.Eventually(t, func() bool {
		f.rec.mu.Lock()
		defer f.rec.mu.Unlock()
		return len(f.rec.events) == 4
	}, 5*time.Second, 5*time.Millisecond)
	t.Cleanup(func() { _ = ws2.Close() })

	// In-process platforms may push events themselves.
	f.c.DeliverEvent(opaca.Event{ID: "e3", Route: "POST /invoke/DoThis"})
	f.rec.mu.Lock()
	assert.Len(t, f.rec.events, 6)
	f.rec.mu.Unlock()
}

// stubPlatform is a PlatformClient without EventSource.
type stubPlatform struct{ notified chan string }

func (s *stubPlatform) Invoke(context.Context, string, string, any, ...client.CallOption) (json.RawMessage, error) {
	return json.RawMessage(`1`), nil
}
func (s *stubPlatform) Send(context.Context, string, opaca.Message, ...client.CallOption) error {
	return nil
}
func (s *stubPlatform) Broadcast(context.Context, string, opaca.Message, ...client.CallOption) error {
	return nil
}
func (s *stubPlatform) GetStream(context.Context, string, string, ...client.CallOption) (io.ReadCloser, error) {
	return nil, errors.New("no streams")
}
func (s *stubPlatform) PostStream(context.Context, string, string, io.Reader, ...client.CallOption) error {
	return nil
}
func (s *stubPlatform) NotifyContainer(_ context.Context, id string) (bool, error) {
	s.notified <- id
	return true, nil
}

func TestInjectedPlatformClient(t *testing.T) {
	checkGoroutines(t)
	stub := &stubPlatform{notified: make(chan string, 4)}
	f := newFixture(t, WithPlatformClient(stub), WithEventSubscription())
	f.c.Info() // the in-process platform's first read
	a, err := NewAgent(WithID("new"))
	require.NoError(t, err)
	require.NoError(t, f.c.AddAgent(a))
	select {
	case id := <-stub.notified:
		assert.Equal(t, "c-1", id)
	case <-time.After(5 * time.Second):
		t.Fatal("no notify through the injected client")
	}
	res, err := a.Platform().Invoke(context.Background(), "X", "", nil)
	require.NoError(t, err)
	assert.Equal(t, "1", string(res))
}
