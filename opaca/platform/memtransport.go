package platform

import (
	"context"
	"encoding/json"
	"net/url"

	"bytes"
	"fmt"
	"github.com/meshkit/meshkit/opaca/client"
	"io"
	"net/http"
	"strings"
	"sync"
)

// handlerProvider is implemented by in-process containers that expose
// their API as an http.Handler; the platform then calls it in memory
// instead of through a TCP round trip (the container still listens on its
// port for direct access, probing and PORT_MAPPING).
type handlerProvider interface {
	Handler() http.Handler
}

// memTransport is an http.RoundTripper that serves requests with a handler
// in the same process. Responses stream through a pipe, so GET streams are
// relayed as they are produced and a caller that stops reading stops the
// handler's writes.
type memTransport struct{ h http.Handler }

func (t memTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	sreq := req.Clone(ctx)
	sreq.RequestURI = req.URL.RequestURI()
	sreq.RemoteAddr = "127.0.0.1:0"
	sreq.Host = req.URL.Host
	if sreq.Body == nil {
		sreq.Body = http.NoBody
	}
	if !strings.HasPrefix(req.URL.Path, "/stream/") {
		return t.buffered(req, sreq)
	}
	pr, pw := io.Pipe()
	rw := &memResponseWriter{header: http.Header{}, pipe: pw, ready: make(chan struct{})}
	go func() {
		defer func() {
			if v := recover(); v != nil && v != http.ErrAbortHandler {
				err := panicErr(v)
				rw.once.Do(func() { rw.failed = err; close(rw.ready) }) // no answer yet: a transport error
				rw.WriteHeader(http.StatusInternalServerError)
				_ = pw.CloseWithError(err)
				return
			}
			rw.WriteHeader(http.StatusOK)
			_ = pw.Close()
		}()
		defer func() {
			if req.Body != nil {
				_ = req.Body.Close()
			}
		}()
		t.h.ServeHTTP(rw, sreq)
	}()
	select {
	case <-rw.ready:
	case <-ctx.Done():
		_ = pr.CloseWithError(ctx.Err())
		return nil, ctx.Err()
	}
	if rw.failed != nil {
		_ = pr.Close()
		return nil, rw.failed
	}
	return memResponse(req, rw.status, rw.sent, pr, -1), nil
}

// buffered serves a request that is not a stream in the caller's
// goroutine: JSON answers are small, and this saves a goroutine and a pipe
// per call.
func (t memTransport) buffered(req, sreq *http.Request) (resp *http.Response, err error) {
	rw := &bufferedWriter{header: http.Header{}}
	defer func() {
		if req.Body != nil {
			_ = req.Body.Close()
		}
		if v := recover(); v != nil {
			resp, err = nil, panicErr(v)
		}
	}()
	t.h.ServeHTTP(rw, sreq)
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	// the handler has returned, so its header map can no longer change
	rw.sent = rw.header
	return memResponse(req, rw.status, rw.sent, io.NopCloser(bytes.NewReader(rw.body.Bytes())), int64(rw.body.Len())), nil
}

// memResponse is the HTTP/1.1 response to req of a handler served in
// memory; length -1 is unknown (a stream).
func memResponse(req *http.Request, status int, header http.Header, body io.ReadCloser, length int64) *http.Response {
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", status, http.StatusText(status)),
		StatusCode:    status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        header,
		Body:          body,
		ContentLength: length,
		Request:       req,
	}
}

type bufferedWriter struct {
	header http.Header
	sent   http.Header
	status int
	body   bytes.Buffer
}

func (w *bufferedWriter) Header() http.Header { return w.header }

func (w *bufferedWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *bufferedWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.body.Write(b)
}

func (w *bufferedWriter) Flush() {}

type memResponseWriter struct {
	header http.Header
	sent   http.Header
	pipe   *io.PipeWriter
	status int
	failed error
	once   sync.Once
	ready  chan struct{}
}

func (w *memResponseWriter) Header() http.Header { return w.header }

func (w *memResponseWriter) WriteHeader(code int) {
	w.once.Do(func() {
		w.status = code
		w.sent = w.header.Clone()
		close(w.ready)
	})
}

func (w *memResponseWriter) Write(b []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.pipe.Write(b)
}

// Flush is a no-op: every Write reaches the reader at once.
func (w *memResponseWriter) Flush() {}

// invokeInMemory runs an invocation on an in-process container's handler
// without building a client request: the hot path of the platform, so it
// avoids every allocation it can (shared header values, one string for
// path and request URI, one body reader).
func (p *Platform) invokeInMemory(ctx context.Context, e *containerEntry, loginToken, action, agentID string, body []byte, query string) (json.RawMessage, error) {
	n := len("/invoke/") + len(action) + len(query) + 1
	if agentID != "" {
		n += 1 + len(agentID)
	}
	var b strings.Builder
	b.Grow(n)
	b.WriteString("/invoke/")
	b.WriteString(action)
	if agentID != "" {
		b.WriteByte('/')
		b.WriteString(agentID)
	}
	pathLen := b.Len()
	b.WriteByte('?')
	b.WriteString(query)
	uri := b.String()
	path := uri[:pathLen]
	hdr := make(http.Header, 4)
	hdr["Content-Type"] = jsonContentType
	if e.bearer != nil {
		hdr["Authorization"] = e.bearer
	}
	hdr["Sender-Id"] = p.senderHeader
	if loginToken != "" {
		hdr["Containerlogintoken"] = []string{loginToken}
	}
	base := http.Request{
		Method: http.MethodPost, URL: &url.URL{Path: path, RawQuery: query}, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: hdr, Body: &memBody{Reader: *bytes.NewReader(body)}, ContentLength: int64(len(body)),
		Host: "in-process", RemoteAddr: "127.0.0.1:0", RequestURI: uri,
	}
	req := base.WithContext(ctx)
	rw := &bufferedWriter{header: make(http.Header, 2)}
	if err := serveRecovered(e.mem, rw, req); err != nil {
		return nil, &client.TransportError{Method: http.MethodPost, URL: e.url + path, Err: err}
	}
	if rw.status >= 400 {
		return nil, client.NewStatusError(http.MethodPost, e.url+path, rw.status, rw.body.Bytes())
	}
	if err := ctx.Err(); err != nil {
		return nil, &client.TransportError{Method: http.MethodPost, URL: e.url + path, Err: err}
	}
	return json.RawMessage(rw.body.Bytes()), nil
}

// memBody is a request body over a byte slice in one allocation.
type memBody struct{ bytes.Reader }

func (*memBody) Close() error { return nil }

var jsonContentType = []string{"application/json"}

func serveRecovered(h http.Handler, w http.ResponseWriter, r *http.Request) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicErr(v)
		}
	}()
	h.ServeHTTP(w, r)
	return nil
}

func panicErr(v any) error {
	if err, ok := v.(error); ok && err == errContainerStopped {
		return err
	}
	return fmt.Errorf("in-process container panicked: %v", v)
}
