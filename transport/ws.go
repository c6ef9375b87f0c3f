package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// URI schemes of the WebSocket transport (a project extension, spec §1.5).
const (
	SchemeWS  = "ws"
	SchemeWSS = "wss"
)

const (
	wsBufferSize = 32 << 10
	// wsCloseWait bounds the courtesy close message on Close.
	wsCloseWait = 100 * time.Millisecond
)

// WSTransport carries one frame per binary WebSocket message on
// ws://host:port/path and wss://host:port/path.
type WSTransport struct {
	cfg config
}

// NewWSTransport returns the ws/wss transport configured by opts. WithTLS
// configures wss (server certificates for listeners, roots for dialers).
func NewWSTransport(opts ...Option) (*WSTransport, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return &WSTransport{cfg: cfg}, nil
}

// Schemes returns ["ws", "wss"].
func (t *WSTransport) Schemes() []string { return []string{SchemeWS, SchemeWSS} }

// Dial opens a WebSocket to uri.
func (t *WSTransport) Dial(ctx context.Context, uri string) (Conn, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrInvalidURI, uri, err)
	}
	if (u.Scheme != SchemeWS && u.Scheme != SchemeWSS) || u.Host == "" {
		return nil, fmt.Errorf("%w: %q: want ws://host:port/path", ErrInvalidURI, uri)
	}
	d := websocket.Dialer{
		HandshakeTimeout: t.cfg.dialTimeout,
		ReadBufferSize:   wsBufferSize,
		WriteBufferSize:  wsBufferSize,
		Proxy:            http.ProxyFromEnvironment,
	}
	if u.Scheme == SchemeWSS && t.cfg.tlsConfig != nil {
		d.TLSClientConfig = t.cfg.tlsConfig.Clone()
	}
	ctx, cancel := context.WithTimeout(ctx, t.cfg.dialTimeout)
	defer cancel()
	ws, resp, err := d.DialContext(ctx, uri, nil)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("transport: dial %s: %w", uri, err)
	}
	local := u.Scheme + "://" + ws.LocalAddr().String()
	return newWSConn(ws, local, uri, &t.cfg), nil
}

// Listen serves WebSocket upgrades on host:port at the URI's path (default
// "/"); port 0 lets the OS choose.
func (t *WSTransport) Listen(ctx context.Context, uri string) (Listener, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return nil, fmt.Errorf("%w: %q: %w", ErrInvalidURI, uri, err)
	}
	hostport, path, err := parseHostURI(uri, u.Scheme, false)
	if err != nil {
		return nil, err
	}
	if u.Scheme != SchemeWS && u.Scheme != SchemeWSS {
		return nil, fmt.Errorf("%w: %q: want ws:// or wss://", ErrInvalidURI, uri)
	}
	if path == "" {
		path = "/"
	}
	var tlsCfg *tls.Config
	if u.Scheme == SchemeWSS {
		c := t.cfg.tlsConfig
		if c == nil || (len(c.Certificates) == 0 && c.GetCertificate == nil && c.GetConfigForClient == nil) {
			return nil, fmt.Errorf("transport: listen %s: wss needs WithTLS with a server certificate", uri)
		}
		tlsCfg = c.Clone()
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", hostport)
	if err != nil {
		return nil, fmt.Errorf("transport: listen %s: %w", uri, err)
	}
	bound := addrURI(u.Scheme, ln.Addr())
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	l := &wsListener{
		uri:    bound + path,
		cfg:    &t.cfg,
		conns:  make(chan Conn, 16),
		done:   make(chan struct{}),
		served: make(chan struct{}),
		upgrader: websocket.Upgrader{
			HandshakeTimeout: t.cfg.dialTimeout,
			ReadBufferSize:   wsBufferSize,
			WriteBufferSize:  wsBufferSize,
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc(path, l.serveUpgrade)
	l.srv = &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: t.cfg.dialTimeout,
		ErrorLog:          slog.NewLogLogger(t.cfg.logger.Handler(), slog.LevelWarn),
	}
	go func() {
		defer close(l.served)
		_ = l.srv.Serve(ln)
	}()
	return l, nil
}

type wsListener struct {
	uri      string
	cfg      *config
	srv      *http.Server
	upgrader websocket.Upgrader
	conns    chan Conn
	done     chan struct{}
	served   chan struct{} // closed when Serve returned

	mu       sync.Mutex
	closed   bool
	handlers sync.WaitGroup
}

func (l *wsListener) URI() string { return l.uri }

func (l *wsListener) serveUpgrade(w http.ResponseWriter, r *http.Request) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		http.Error(w, "listener closed", http.StatusServiceUnavailable)
		return
	}
	l.handlers.Add(1)
	l.mu.Unlock()
	defer l.handlers.Done()

	ws, err := l.upgrader.Upgrade(w, r, nil)
	if err != nil {
		// Upgrade has answered the client already.
		l.cfg.logger.Warn("transport: websocket upgrade failed", "listener", l.uri, "remote", r.RemoteAddr, "err", err)
		return
	}
	scheme, _, _ := strings.Cut(l.uri, "://")
	c := newWSConn(ws, l.uri, scheme+"://"+ws.RemoteAddr().String(), l.cfg)
	select {
	case l.conns <- c:
	case <-l.done:
		_ = c.Close()
	}
}

func (l *wsListener) Accept(ctx context.Context) (Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, fmt.Errorf("%w: listener %s", ErrClosed, l.uri)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close stops the HTTP server and closes connections not yet accepted.
func (l *wsListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.done)
	l.mu.Unlock()
	err := l.srv.Close()
	<-l.served
	l.handlers.Wait()
	for {
		select {
		case c := <-l.conns:
			_ = c.Close()
		default:
			if err != nil && !errors.Is(err, net.ErrClosed) {
				return fmt.Errorf("transport: close listener %s: %w", l.uri, err)
			}
			return nil
		}
	}
}

// wsConn is a Conn over a WebSocket. gorilla allows one reader and one
// writer at a time, so a reader goroutine feeds an inbox (Recv can then
// honour cancellation without breaking the socket) and a writer goroutine
// drains the send queue.
type wsConn struct {
	ws            *websocket.Conn
	local, remote string
	maxFrame      int
	log           *slog.Logger

	out     *boundedQueue[[]byte]
	in      *boundedQueue[[]byte]
	flushed flushTracker

	// Recv side
	rb              recvBatch
	reportedFraming bool

	writerDone, readerDone chan struct{}

	closeOnce sync.Once
	mu        sync.Mutex
	cause     error
	dead      atomic.Bool // closed locally: Recv stops at once
}

func newWSConn(ws *websocket.Conn, local, remote string, cfg *config) *wsConn {
	ws.SetReadLimit(int64(cfg.maxFrameSize))
	c := &wsConn{
		ws:         ws,
		local:      local,
		remote:     remote,
		maxFrame:   cfg.maxFrameSize,
		log:        cfg.logger,
		out:        newBoundedQueue[[]byte](cfg.sendQueue),
		in:         newBoundedQueue[[]byte](cfg.sendQueue),
		writerDone: make(chan struct{}),
		readerDone: make(chan struct{}),
	}
	go c.writeLoop()
	go c.readLoop()
	return c
}

func (c *wsConn) LocalURI() string  { return c.local }
func (c *wsConn) RemoteURI() string { return c.remote }

func (c *wsConn) Send(ctx context.Context, frame []byte) error {
	return queueFrame(ctx, c.out, frame, c.maxFrame, c.remote)
}

func (c *wsConn) writeLoop() {
	defer close(c.writerDone)
	var batch [][]byte
	var taken uint64
	for {
		// gorilla writes each message through, so everything taken is out.
		c.flushed.publish(taken)
		if err := c.out.wait(context.Background()); err != nil {
			return
		}
		batch = c.out.take(batch)
		taken += uint64(len(batch))
		for i, f := range batch {
			if err := c.ws.WriteMessage(websocket.BinaryMessage, f); err != nil {
				if !c.out.isClosed() {
					c.log.Warn("transport: websocket write failed, closing connection", "remote", c.remote, "err", err)
				}
				c.closeWith(err, true)
				return
			}
			batch[i] = nil
		}
		batch = batch[:0]
	}
}

// Flush waits until every frame queued before the call is written.
func (c *wsConn) Flush(ctx context.Context) error {
	return c.flushed.wait(ctx, c.out.pushedCount(), c.out.done, c.closedErr, nil)
}

func (c *wsConn) closedErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return closedErr(c.remote, c.cause)
}

func (c *wsConn) readLoop() {
	defer close(c.readerDone)
	for {
		_, p, err := c.ws.ReadMessage()
		if err != nil {
			switch {
			case errors.Is(err, websocket.ErrReadLimit):
				err = fmt.Errorf("transport: recv from %s: %w: message over %d bytes", c.remote, ErrFrameTooLarge, c.maxFrame)
				c.log.Error("transport: peer broke framing, closing connection", "remote", c.remote, "err", err)
			case websocket.IsCloseError(err, websocket.CloseNormalClosure, websocket.CloseGoingAway):
				err = errors.New("closed by peer")
			}
			c.closeWith(err, true)
			return
		}
		if p == nil {
			p = []byte{}
		}
		if err := c.in.push(context.Background(), p); err != nil {
			return
		}
	}
}

func (c *wsConn) Recv(ctx context.Context) ([]byte, error) {
	f, closed, err := c.rb.recv(ctx, c.in, &c.dead)
	if !closed {
		return f, err
	}
	c.mu.Lock()
	cause := c.cause
	c.mu.Unlock()
	// A framing failure is reported as itself once, like on calvinip; later
	// calls say closed.
	if errors.Is(cause, ErrFrameTooLarge) && !c.reportedFraming {
		c.reportedFraming = true
		return nil, cause
	}
	return nil, closedErr(c.remote, cause)
}

// closeWith closes once. With drain (the peer went away or failed) Recv
// still returns the frames that had arrived.
func (c *wsConn) closeWith(cause error, drain bool) {
	c.closeOnce.Do(func() {
		c.mu.Lock()
		c.cause = cause
		c.mu.Unlock()
		c.dead.Store(!drain)
		err := closedErr(c.remote, cause)
		c.out.close(err, false)
		c.in.close(err, drain)
		if cause == nil {
			msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
			_ = c.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(wsCloseWait))
		}
		_ = c.ws.Close()
	})
}

// Close sends a close message (best effort), closes the socket and waits
// for the connection's goroutines.
func (c *wsConn) Close() error {
	c.closeWith(nil, false)
	<-c.writerDone
	<-c.readerDone
	return nil
}
