package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/meshkit/meshkit/opaca"
)

// Reconnect backoff of subscriptions (spec: 1 s doubling to 30 s).
const (
	minBackoff = time.Second
	maxBackoff = 30 * time.Second
)

// SubscribeOption configures Subscribe.
type SubscribeOption func(*subOptions)

type subOptions struct {
	reconnect    bool
	buffer       int
	onConnect    func()
	onDisconnect func(error)
	minBackoff   time.Duration
}

// NoReconnect ends the subscription at the first connection loss instead of
// reconnecting.
func NoReconnect() SubscribeOption { return func(o *subOptions) { o.reconnect = false } }

// EventBuffer sets the capacity of the events channel (default 64).
func EventBuffer(n int) SubscribeOption {
	return func(o *subOptions) {
		if n >= 0 {
			o.buffer = n
		}
	}
}

// OnConnect is called after each successful (re)connection and topic
// selection.
func OnConnect(f func()) SubscribeOption { return func(o *subOptions) { o.onConnect = f } }

// OnDisconnect is called with the cause whenever the websocket is lost or a
// reconnection attempt fails.
func OnDisconnect(f func(error)) SubscribeOption { return func(o *subOptions) { o.onDisconnect = f } }

// ReconnectBackoff sets the first reconnect pause (default 1 s; it doubles
// up to 30 s).
func ReconnectBackoff(d time.Duration) SubscribeOption {
	return func(o *subOptions) {
		if d > 0 {
			o.minBackoff = d
		}
	}
}

// Subscription delivers the platform's events of one topic.
type Subscription struct {
	events chan opaca.Event
	cancel context.CancelFunc
	done   chan struct{}

	mu   sync.Mutex
	ws   *websocket.Conn
	err  error
	once sync.Once
}

// Events returns the channel of events; it is closed when the subscription
// ends.
func (s *Subscription) Events() <-chan opaca.Event { return s.events }

// Done is closed when the subscription has ended.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Err returns why the subscription ended (nil while it runs or after Close).
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the subscription with a normal close frame and waits for its
// goroutine. Safe to call twice.
func (s *Subscription) Close() error {
	s.once.Do(func() {
		s.cancel()
		s.mu.Lock()
		if s.ws != nil {
			_ = s.ws.WriteControl(websocket.CloseMessage,
				websocket.FormatCloseMessage(websocket.CloseNormalClosure, "disconnected"), time.Now().Add(time.Second))
			_ = s.ws.Close()
		}
		s.mu.Unlock()
	})
	<-s.done
	return nil
}

// WebsocketURL converts a base URL to the /subscribe websocket URL
// (http→ws, https→wss, path prefix kept).
func WebsocketURL(base string) string {
	switch {
	case strings.HasPrefix(base, "https://"):
		return "wss://" + strings.TrimPrefix(base, "https://") + "/subscribe"
	case strings.HasPrefix(base, "http://"):
		return "ws://" + strings.TrimPrefix(base, "http://") + "/subscribe"
	}
	return base + "/subscribe"
}

// Subscribe opens the /subscribe websocket, selects topic (e.g.
// "/containers") and delivers the pushed events on the subscription's
// channel until ctx ends or Close is called. The first connection is made
// before Subscribe returns, so an authentication failure is reported at
// once; later losses are followed by reconnects with backoff unless
// NoReconnect is given.
func (c *Client) Subscribe(ctx context.Context, topic string, opts ...SubscribeOption) (*Subscription, error) {
	so := subOptions{reconnect: true, buffer: 64, minBackoff: minBackoff}
	for _, o := range opts {
		if o != nil {
			o(&so)
		}
	}
	if !strings.HasPrefix(topic, "/") {
		topic = "/" + topic
	}
	ws, err := c.dialSubscribe(ctx, topic)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	s := &Subscription{events: make(chan opaca.Event, so.buffer), cancel: cancel, done: make(chan struct{}), ws: ws}
	if so.onConnect != nil {
		so.onConnect()
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(s.done)
		defer close(s.events)
		defer cancel()
		stop := context.AfterFunc(sctx, func() {
			// ending the context is a normal closure, like Close
			s.mu.Lock()
			if s.ws != nil {
				_ = s.ws.WriteControl(websocket.CloseMessage,
					websocket.FormatCloseMessage(websocket.CloseNormalClosure, "disconnected"), time.Now().Add(time.Second))
				_ = s.ws.Close()
			}
			s.mu.Unlock()
		})
		defer stop()
		go func() {
			select {
			case <-c.done:
				cancel()
			case <-sctx.Done():
			}
		}()
		backoff := so.minBackoff
		for {
			err := s.read(sctx, ws)
			if sctx.Err() != nil {
				return
			}
			if so.onDisconnect != nil {
				so.onDisconnect(err)
			}
			if !so.reconnect {
				s.mu.Lock()
				s.err = err
				s.mu.Unlock()
				return
			}
			for {
				t := time.NewTimer(backoff)
				select {
				case <-sctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
				backoff = min(backoff*2, maxBackoff)
				ws, err = c.dialSubscribe(sctx, topic)
				if err == nil {
					break
				}
				if sctx.Err() != nil {
					return
				}
				c.o.logger.Debug("opaca client: resubscribe failed", "url", c.base, "err", err)
				if so.onDisconnect != nil {
					so.onDisconnect(err)
				}
			}
			s.mu.Lock()
			s.ws = ws
			s.mu.Unlock()
			if sctx.Err() != nil {
				_ = ws.Close()
				return
			}
			backoff = so.minBackoff
			if so.onConnect != nil {
				so.onConnect()
			}
		}
	}()
	return s, nil
}

func (s *Subscription) read(ctx context.Context, ws *websocket.Conn) error {
	defer ws.Close()
	ws.SetReadLimit(1 << 20)
	for {
		_, data, err := ws.ReadMessage()
		if err != nil {
			return err
		}
		var ev opaca.Event
		if err := json.Unmarshal(data, &ev); err != nil {
			continue // tolerate frames that are not events
		}
		select {
		case s.events <- ev:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c *Client) dialSubscribe(ctx context.Context, topic string) (*websocket.Conn, error) {
	h := http.Header{}
	for k, vs := range c.o.header {
		h[k] = append([]string(nil), vs...)
	}
	if tok := c.getToken(); tok != "" {
		h.Set("Authorization", "Bearer "+tok)
	}
	if c.o.senderID != "" {
		h.Set("sender-id", c.o.senderID)
	}
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, Proxy: http.ProxyFromEnvironment}
	u := WebsocketURL(c.base)
	ws, resp, err := d.DialContext(ctx, u, h)
	if err != nil {
		if resp != nil {
			se := &StatusError{Method: http.MethodGet, URL: c.base + "/subscribe", StatusCode: resp.StatusCode}
			if resp.Body != nil {
				buf := make([]byte, 4096)
				n, _ := resp.Body.Read(buf)
				se.Body = buf[:n]
				se.Response = parseErrorResponse(se.Body)
				resp.Body.Close()
			}
			return nil, se
		}
		return nil, &TransportError{Method: http.MethodGet, URL: c.base + "/subscribe", Err: err}
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte(topic)); err != nil {
		_ = ws.Close()
		return nil, &TransportError{Method: http.MethodGet, URL: c.base + "/subscribe", Err: fmt.Errorf("send topic: %w", err)}
	}
	return ws, nil
}
