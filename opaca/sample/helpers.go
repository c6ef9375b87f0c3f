package sample

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// ItWorks is the body of every GET on the TCP helper port.
const ItWorks = "It Works!"

// helpers are the servers of the extra ports: HTTP on 8888, UDP echo on
// 8889 (spec §17.2). A port that cannot be bound is logged, not fatal.
type helpers struct {
	log *slog.Logger

	mu     sync.Mutex
	srv    *http.Server
	udp    net.PacketConn
	closed bool
	wg     sync.WaitGroup
}

func (h *helpers) start(host string, tcpPort, udpPort int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return
	}
	if l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(tcpPort))); err != nil {
		h.log.Warn("sample: TCP helper port unavailable", "port", tcpPort, "err", err)
	} else {
		srv := &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet && r.Method != http.MethodHead {
				http.Error(w, "GET only", http.StatusMethodNotAllowed)
				return
			}
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = w.Write([]byte(ItWorks))
		})}
		h.srv = srv
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
				h.log.Warn("sample: TCP helper stopped", "err", err)
			}
		}()
	}
	if pc, err := net.ListenPacket("udp", net.JoinHostPort(host, strconv.Itoa(udpPort))); err != nil {
		h.log.Warn("sample: UDP helper port unavailable", "port", udpPort, "err", err)
	} else {
		h.udp = pc
		h.wg.Add(1)
		go h.echo(pc)
	}
}

// echo answers each datagram with its text twice.
func (h *helpers) echo(pc net.PacketConn) {
	defer h.wg.Done()
	buf := make([]byte, 32<<10)
	for {
		n, from, err := pc.ReadFrom(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				h.log.Warn("sample: UDP helper stopped", "err", err)
			}
			return
		}
		out := append(append(make([]byte, 0, 2*n), buf[:n]...), buf[:n]...)
		if _, err := pc.WriteTo(out, from); err != nil {
			h.log.Debug("sample: UDP reply failed", "err", err)
		}
	}
}

// Close stops both servers; safe to call twice.
func (h *helpers) Close() error {
	h.mu.Lock()
	h.closed = true
	srv, udp := h.srv, h.udp
	h.srv, h.udp = nil, nil
	h.mu.Unlock()
	var errs []error
	if srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, srv.Close())
		}
	}
	if udp != nil {
		errs = append(errs, udp.Close())
	}
	h.wg.Wait()
	return errors.Join(errs...)
}
