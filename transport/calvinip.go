package transport

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// SchemeCalvinIP is the URI scheme of Calvin's TCP transport.
const SchemeCalvinIP = "calvinip"

// CalvinIPTransport serves calvinip://host:port over TCP, optionally TLS.
type CalvinIPTransport struct {
	cfg config
}

// NewCalvinIPTransport returns the calvinip transport configured by opts.
func NewCalvinIPTransport(opts ...Option) (*CalvinIPTransport, error) {
	cfg, err := newConfig(opts)
	if err != nil {
		return nil, err
	}
	return &CalvinIPTransport{cfg: cfg}, nil
}

// Schemes returns ["calvinip"].
func (t *CalvinIPTransport) Schemes() []string { return []string{SchemeCalvinIP} }

// parseHostURI splits scheme://host[:port][/path]. "default" as the whole
// authority means loopback with an OS-chosen port.
func parseHostURI(uri, scheme string, needPort bool) (hostport, path string, err error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", "", fmt.Errorf("%w: %q: %w", ErrInvalidURI, uri, err)
	}
	if u.Scheme != scheme || u.Opaque != "" || u.User != nil {
		return "", "", fmt.Errorf("%w: %q: want %s://host:port", ErrInvalidURI, uri, scheme)
	}
	if u.Host == "default" && !needPort {
		return "127.0.0.1:0", u.Path, nil
	}
	host, port := u.Hostname(), u.Port()
	if host == "" {
		return "", "", fmt.Errorf("%w: %q: missing host", ErrInvalidURI, uri)
	}
	if port == "" {
		if needPort {
			return "", "", fmt.Errorf("%w: %q: missing port", ErrInvalidURI, uri)
		}
		port = "0"
	}
	if p, err := strconv.ParseUint(port, 10, 16); err != nil || (needPort && p == 0) {
		return "", "", fmt.Errorf("%w: %q: bad port %q", ErrInvalidURI, uri, port)
	}
	return net.JoinHostPort(host, port), u.Path, nil
}

// addrURI names a socket address as scheme://ip:port. Unspecified (wildcard)
// addresses are reported as loopback, which is where a local peer reaches them.
func addrURI(scheme string, a net.Addr) string {
	ta, ok := a.(*net.TCPAddr)
	if !ok {
		return scheme + "://" + a.String()
	}
	ip := ta.IP
	if ip == nil || ip.IsUnspecified() {
		if ip.To4() == nil && ip != nil {
			ip = net.IPv6loopback
		} else {
			ip = net.IPv4(127, 0, 0, 1)
		}
	}
	return scheme + "://" + net.JoinHostPort(ip.String(), strconv.Itoa(ta.Port))
}

// Dial connects to a calvinip URI; with WithTLS it completes the TLS
// handshake (verifying the URI's host unless the config names a ServerName).
func (t *CalvinIPTransport) Dial(ctx context.Context, uri string) (Conn, error) {
	hostport, path, err := parseHostURI(uri, SchemeCalvinIP, true)
	if err != nil {
		return nil, err
	}
	if path != "" && path != "/" {
		return nil, fmt.Errorf("%w: %q: calvinip takes no path", ErrInvalidURI, uri)
	}
	ctx, cancel := context.WithTimeout(ctx, t.cfg.dialTimeout)
	defer cancel()
	var d net.Dialer
	nc, err := d.DialContext(ctx, "tcp", hostport)
	if err != nil {
		return nil, fmt.Errorf("transport: dial %s: %w", uri, err)
	}
	setNoDelay(nc)
	if t.cfg.tlsConfig != nil {
		tc := t.cfg.tlsConfig.Clone()
		if tc.ServerName == "" {
			tc.ServerName, _, _ = net.SplitHostPort(hostport)
		}
		tlsConn := tls.Client(nc, tc)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return nil, fmt.Errorf("transport: dial %s: TLS handshake: %w", uri, err)
		}
		nc = tlsConn
	}
	c := newStreamConn(nc, addrURI(SchemeCalvinIP, nc.LocalAddr()), addrURI(SchemeCalvinIP, nc.RemoteAddr()), &t.cfg)
	t.cfg.logger.Debug("transport: dialed", "local", c.local, "remote", c.remote, "tls", t.cfg.tlsConfig != nil)
	return c, nil
}

func setNoDelay(nc net.Conn) {
	if tc, ok := nc.(*net.TCPConn); ok {
		// Frames are batched by the writer; Nagle would only add latency.
		_ = tc.SetNoDelay(true)
	}
}

// Listen binds a calvinip URI; port 0 or calvinip://default lets the OS
// choose, and the Listener's URI reports the bound port.
func (t *CalvinIPTransport) Listen(ctx context.Context, uri string) (Listener, error) {
	hostport, path, err := parseHostURI(uri, SchemeCalvinIP, false)
	if err != nil {
		return nil, err
	}
	if path != "" && path != "/" {
		return nil, fmt.Errorf("%w: %q: calvinip takes no path", ErrInvalidURI, uri)
	}
	if t.cfg.tlsConfig != nil && len(t.cfg.tlsConfig.Certificates) == 0 && t.cfg.tlsConfig.GetCertificate == nil && t.cfg.tlsConfig.GetConfigForClient == nil {
		return nil, fmt.Errorf("transport: listen %s: TLS config has no server certificate", uri)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", hostport)
	if err != nil {
		return nil, fmt.Errorf("transport: listen %s: %w", uri, err)
	}
	l := newTCPListener(ln, &t.cfg)
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

// tcpListener accepts in a goroutine of its own and completes TLS
// handshakes concurrently, so a slow or hostile client delays nobody.
type tcpListener struct {
	ln     net.Listener
	uri    string
	cfg    *config
	conns  chan Conn
	ctx    context.Context // cancelled by Close; bounds handshakes
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

func newTCPListener(ln net.Listener, cfg *config) *tcpListener {
	ctx, cancel := context.WithCancel(context.Background())
	return &tcpListener{
		ln:     ln,
		uri:    addrURI(SchemeCalvinIP, ln.Addr()),
		cfg:    cfg,
		conns:  make(chan Conn, 16),
		ctx:    ctx,
		cancel: cancel,
	}
}

func (l *tcpListener) URI() string { return l.uri }

func (l *tcpListener) acceptLoop() {
	defer l.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if l.ctx.Err() != nil {
				return
			}
			// Out of file descriptors and the like: retry after a pause
			// instead of spinning.
			l.cfg.logger.Warn("transport: accept failed", "listener", l.uri, "err", err, "retry_in", backoff)
			timer := time.NewTimer(backoff)
			select {
			case <-timer.C:
			case <-l.ctx.Done():
				timer.Stop()
				return
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		setNoDelay(nc)
		if l.cfg.tlsConfig == nil {
			l.deliver(nc)
			continue
		}
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			ctx, cancel := context.WithTimeout(l.ctx, l.cfg.dialTimeout)
			defer cancel()
			tc := tls.Server(nc, l.cfg.tlsConfig)
			if err := tc.HandshakeContext(ctx); err != nil {
				l.cfg.logger.Warn("transport: TLS handshake failed", "listener", l.uri, "remote", nc.RemoteAddr().String(), "err", err)
				_ = nc.Close()
				return
			}
			l.deliver(tc)
		}()
	}
}

func (l *tcpListener) deliver(nc net.Conn) {
	c := newStreamConn(nc, addrURI(SchemeCalvinIP, nc.LocalAddr()), addrURI(SchemeCalvinIP, nc.RemoteAddr()), l.cfg)
	l.cfg.logger.Debug("transport: accepted", "listener", l.uri, "remote", c.remote, "tls", l.cfg.tlsConfig != nil)
	select {
	case l.conns <- c:
	case <-l.ctx.Done():
		_ = c.Close()
	}
}

// Accept returns the next connection, ready for use (TLS handshake done).
func (l *tcpListener) Accept(ctx context.Context) (Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.ctx.Done():
		return nil, fmt.Errorf("%w: listener %s", ErrClosed, l.uri)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Close stops accepting and closes connections not yet returned by Accept.
func (l *tcpListener) Close() error {
	var err error
	l.once.Do(func() {
		l.cancel()
		err = l.ln.Close()
		l.wg.Wait()
		for {
			select {
			case c := <-l.conns:
				_ = c.Close()
			default:
				return
			}
		}
	})
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("transport: close listener %s: %w", l.uri, err)
	}
	return nil
}
