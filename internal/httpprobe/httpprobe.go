package httpprobe

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Response is an answer read to its end.
type Response struct {
	Status int
	Header http.Header
	Body   string
}

// Do sends a request with http.DefaultClient and reads the whole answer;
// body "" sends none, hdr is pairs of header name and value. It fails t
// when the request cannot be sent or the answer read.
func Do(t testing.TB, method, url, body string, hdr ...string) Response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, url, err)
	}
	return Response{resp.StatusCode, resp.Header, string(b)}
}

// SlowHeaders writes to addr a GET /info request whose header never ends,
// one byte per tick, with budget bytes of a header value at the most. It
// reports whether the server closed the connection before the bytes ran
// out (cutOff) and how many bytes it sent; err is a failed dial.
func SlowHeaders(addr string, tick time.Duration, budget int) (cutOff bool, sent int, err error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return false, 0, err
	}
	defer conn.Close()
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		_, _ = io.Copy(io.Discard, conn) // returns when the server closes
	}()
	req := "GET /info HTTP/1.1\r\nHost: " + addr + "\r\nX-Slow: " + strings.Repeat("a", budget)
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for i := 0; i < len(req); i++ {
		select {
		case <-closed:
			return true, i, nil
		case <-ticker.C:
		}
		if _, err := conn.Write([]byte{req[i]}); err != nil {
			return true, i, nil
		}
	}
	return false, len(req), nil
}

// SlowBody writes to addr the complete headers of a request to path with
// body's Content-Length (and Content-Type contentType unless it is ""),
// then the body one byte per tick. It reports whether the server stopped
// waiting before the body was complete (cutOff) and its answer, if it sent
// one before it closed the connection (the close can also be a reset when
// unread bytes are left, and then there is no answer); err is a failed
// dial or header write.
func SlowBody(addr, method, path, contentType, body string, tick time.Duration) (resp *http.Response, cutOff bool, err error) {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, false, err
	}
	defer conn.Close()
	head := method + " " + path + " HTTP/1.1\r\nHost: x\r\n"
	if contentType != "" {
		head += "Content-Type: " + contentType + "\r\n"
	}
	head += "Content-Length: " + strconv.Itoa(len(body)) + "\r\n\r\n"
	if _, err := io.WriteString(conn, head); err != nil {
		return nil, false, err
	}
	answered := make(chan *http.Response, 1)
	go func() {
		defer close(answered)
		if resp, err := http.ReadResponse(bufio.NewReader(conn), nil); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			answered <- resp
		}
	}()
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	for i := 0; i < len(body); i++ {
		select {
		case resp = <-answered:
			return resp, true, nil
		case <-ticker.C:
		}
		if _, err := conn.Write([]byte{body[i]}); err != nil {
			return <-answered, true, nil
		}
	}
	return nil, false, nil
}
