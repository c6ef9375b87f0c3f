package httpprobe

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestDo(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Got", r.Header.Get("X-Send"))
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, r.Method+" "+string(b))
	}))
	defer srv.Close()
	r := Do(t, "PUT", srv.URL, "body", "X-Send", "v")
	if r.Status != http.StatusAccepted || r.Header.Get("X-Got") != "v" || r.Body != "PUT body" {
		t.Errorf("got %+v", r)
	}
}

// serve serves h on a loopback listener with a read-header timeout.
func serve(t *testing.T, h http.Handler, readHeader time.Duration) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: readHeader}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

func TestSlowHeaders(t *testing.T) {
	addr := serve(t, http.NotFoundHandler(), 100*time.Millisecond)
	cut, sent, err := SlowHeaders(addr, 10*time.Millisecond, 1000)
	if err != nil || !cut || sent == 0 {
		t.Errorf("cut off %v after %d bytes, %v; want cut off", cut, sent, err)
	}
	addr = serve(t, http.NotFoundHandler(), time.Minute)
	cut, sent, err = SlowHeaders(addr, time.Millisecond, 5)
	if err != nil || cut || sent != len("GET /info HTTP/1.1\r\nHost: "+addr+"\r\nX-Slow: aaaaa") {
		t.Errorf("cut off %v after %d bytes, %v; want all sent", cut, sent, err)
	}
}

func TestSlowBody(t *testing.T) {
	// answers 408 as soon as the headers are in, without reading the body
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Content-Type") != "application/json" || r.ContentLength != 20 {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Connection", "close")
		w.WriteHeader(http.StatusRequestTimeout)
	}), time.Minute)
	resp, cut, err := SlowBody(addr, "POST", "/x", "application/json", strings.Repeat(" ", 20), 10*time.Millisecond)
	if err != nil || !cut || resp == nil || resp.StatusCode != http.StatusRequestTimeout {
		t.Errorf("cut off %v, answer %v, %v; want 408", cut, resp, err)
	}
	// reads the whole body, so it is never cut off
	addr = serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }), time.Minute)
	resp, cut, err = SlowBody(addr, "POST", "/x", "", "{}", time.Millisecond)
	if err != nil || cut || resp != nil {
		t.Errorf("cut off %v, answer %v, %v; want not cut off", cut, resp, err)
	}
}
