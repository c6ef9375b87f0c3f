package platform

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
)

func TestHistoryEvents(t *testing.T) {
	tp := startPlatform(t, WithEventHistorySize(10))
	ctx := context.Background()
	tp.deploy(t, "")
	before, err := tp.c.History(ctx)
	require.NoError(t, err)

	sender, err := client.New(tp.url, client.WithSenderID("tester"))
	require.NoError(t, err)
	defer sender.Close()
	_, err = sender.Invoke(ctx, "Add", "agent1", map[string]int{"x": 1, "y": 1})
	require.NoError(t, err)
	_, err = sender.Invoke(ctx, "Nope", "", nil)
	require.Error(t, err)
	_, err = sender.Agents(ctx, false) // creates no events
	require.NoError(t, err)

	evs, err := tp.c.History(ctx)
	require.NoError(t, err)
	evs = evs[len(before):]
	require.Len(t, evs, 5, "CALL, FORWARD, SUCCESS, CALL, ERROR")
	call, fwd, ok, call2, fail := evs[0], evs[1], evs[2], evs[3], evs[4]
	assert.Equal(t, opaca.EventCall, call.EventType)
	assert.Equal(t, "POST /invoke/Add/agent1", call.Route)
	assert.Equal(t, "tester", call.SenderID)
	assert.Equal(t, opaca.EventForward, fwd.EventType)
	assert.Equal(t, call.ID, fwd.RelatedID)
	assert.NotEmpty(t, fwd.Receiver)
	assert.Equal(t, opaca.EventSuccess, ok.EventType)
	assert.Equal(t, call.ID, ok.RelatedID)
	assert.Zero(t, ok.StatusCode)
	assert.Equal(t, opaca.EventError, fail.EventType)
	assert.Equal(t, call2.ID, fail.RelatedID)
	assert.Equal(t, 404, fail.StatusCode)

	for i := 0; i < 10; i++ {
		_, _ = sender.Invoke(ctx, "Add", "", map[string]int{"x": 1, "y": 1})
	}
	evs, err = tp.c.History(ctx)
	require.NoError(t, err)
	assert.Len(t, evs, 10, "history is capped")
}

func TestSubscribe(t *testing.T) {
	tp := startPlatform(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	tp.deploy(t, "")
	sub, err := tp.c.Subscribe(ctx, "/invoke")
	require.NoError(t, err)
	defer sub.Close()
	require.Eventually(t, func() bool { return tp.hub.count("/invoke") == 1 }, 5*time.Second, 5*time.Millisecond)

	require.NoError(t, tp.c.Send(ctx, "agent1", opaca.Message{Payload: []byte(`1`)})) // other topic
	_, err = tp.c.Invoke(ctx, "Fail", "", nil)                                        // ERROR: not pushed
	require.Error(t, err)
	_, err = tp.c.Invoke(ctx, "Add", "", map[string]int{"x": 1, "y": 2})
	require.NoError(t, err)
	select {
	case ev := <-sub.Events():
		assert.Equal(t, opaca.EventSuccess, ev.EventType)
		assert.Equal(t, "POST /invoke/Add", ev.Route)
	case <-ctx.Done():
		t.Fatal("no event")
	}
	select {
	case ev := <-sub.Events():
		t.Fatalf("unexpected second event %+v", ev)
	default:
	}
}

func TestSubscribeNeedsAuth(t *testing.T) {
	tp := startPlatform(t, WithRequireAuth(true))
	_, err := tp.c.Subscribe(context.Background(), "/invoke", client.NoReconnect())
	assert.Equal(t, 401, client.StatusCode(err))
	c := login(t, tp.url, "admin", "adminpw")
	sub, err := c.Subscribe(context.Background(), "/containers")
	require.NoError(t, err)
	require.NoError(t, sub.Close())
	require.NoError(t, sub.Close(), "close twice")
}

func TestSlowSubscriberDropped(t *testing.T) {
	tp := startPlatform(t, WithSubscriberQueue(1))
	ctx := context.Background()
	tp.deploy(t, "")
	d := websocket.Dialer{}
	ws, _, err := d.Dial("ws"+tp.url[len("http"):]+"/subscribe", http.Header{})
	require.NoError(t, err)
	defer ws.Close()
	require.NoError(t, ws.WriteMessage(websocket.TextMessage, []byte("/invoke")))
	require.Eventually(t, func() bool { return tp.hub.count("/invoke") == 1 }, 5*time.Second, 5*time.Millisecond)
	// the test never reads; the platform must not block and drops us
	done := make(chan struct{})
	go func() {
		defer close(done)
		// the kernel buffers fill up eventually since the test never reads
		deadline := time.Now().Add(25 * time.Second)
		for time.Now().Before(deadline) && tp.hub.count("/invoke") > 0 {
			_, _ = tp.c.Invoke(ctx, "Add", "", map[string]int{"x": 1, "y": 2})
		}
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("invocations blocked by a slow subscriber")
	}
	assert.Equal(t, 0, tp.hub.count("/invoke"))
}

func TestSubscribeWithoutUpgrade(t *testing.T) {
	tp := startPlatform(t)
	code, body := rawCall(t, "GET", tp.url+"/subscribe", "", "")
	assert.Equal(t, 400, code)
	assert.Contains(t, body, `"statusCode":400`)
}

func TestSubscriptionPings(t *testing.T) {
	tp := startPlatform(t, WithPingInterval(20*time.Millisecond))
	d := websocket.Dialer{}
	ws, _, err := d.Dial("ws"+tp.url[len("http"):]+"/subscribe", nil)
	require.NoError(t, err)
	defer ws.Close()
	pinged := make(chan struct{}, 1)
	ws.SetPingHandler(func(string) error {
		select {
		case pinged <- struct{}{}:
		default:
		}
		return nil
	})
	go func() {
		for {
			if _, _, err := ws.ReadMessage(); err != nil {
				return
			}
		}
	}()
	select {
	case <-pinged:
	case <-time.After(5 * time.Second):
		t.Fatal("no ping")
	}
}
