package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/meshkit/meshkit/opaca"
)

// conn is the request machinery shared by Client and ContainerClient.
type conn struct {
	base string
	o    options

	mu    sync.RWMutex
	token string
}

func newConn(base string, o options) *conn {
	return &conn{base: base, o: o, token: o.token}
}

func (c *conn) getToken() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.token
}

func (c *conn) setToken(t string) {
	c.mu.Lock()
	c.token = t
	c.mu.Unlock()
}

// esc path-escapes one path segment; ids may contain any character but '/'.
func esc(s string) string { return url.PathEscape(s) }

type request struct {
	method  string
	path    string // already escaped
	query   url.Values
	body    io.Reader
	ctype   string
	call    callOptions
	raw     string // pre-encoded query; used when query and call set none
	noLimit bool   // streams: no overall timeout
}

// send performs a request and returns the response for status < 400; a
// *StatusError (body consumed) otherwise. The caller closes the body. The
// returned cancel func must be called once the body is done with.
func (c *conn) send(ctx context.Context, r request) (*http.Response, context.CancelFunc, error) {
	cancel := context.CancelFunc(func() {})
	if c.o.timeout > 0 && !r.noLimit {
		if _, has := ctx.Deadline(); !has {
			ctx, cancel = context.WithTimeout(ctx, c.o.timeout)
		}
	}
	u := c.base + r.path
	if len(r.query) == 0 {
		qs := r.call.rawQuery()
		if qs == "" {
			qs = r.raw
		}
		if qs != "" {
			u += "?" + qs
		}
	} else {
		q := r.call.query()
		for k, v := range r.query {
			q[k] = v
		}
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, r.body)
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("opaca client: build request %s %s: %w", r.method, r.path, err)
	}
	for k, vs := range c.o.header {
		req.Header[k] = append([]string(nil), vs...)
	}
	for k, vs := range r.call.header {
		req.Header[k] = append(req.Header[k], vs...)
	}
	if r.body != nil {
		ct := r.ctype
		if ct == "" {
			ct = "application/json"
		}
		req.Header["Content-Type"] = []string{ct}
	}
	// canonical keys set directly: this runs on every forwarded call
	if tok := c.getToken(); tok != "" {
		req.Header["Authorization"] = []string{"Bearer " + tok}
	}
	sender := c.o.senderID
	if r.call.senderID != nil {
		sender = *r.call.senderID
	}
	if sender != "" {
		req.Header["Sender-Id"] = []string{sender}
	}
	lt := c.o.loginToken
	if r.call.loginToken != "" {
		lt = r.call.loginToken
	}
	if lt != "" {
		req.Header["Containerlogintoken"] = []string{lt}
	}
	start := time.Now()
	resp, err := c.o.httpClient.Do(req)
	if err != nil {
		cancel()
		c.observe(r, 0, start)
		return nil, nil, &TransportError{Method: r.method, URL: c.base + r.path, Err: err}
	}
	c.observe(r, resp.StatusCode, start)
	if resp.StatusCode >= 400 || (resp.StatusCode >= 300 && resp.StatusCode < 400) {
		defer cancel()
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		se := &StatusError{Method: r.method, URL: c.base + r.path, StatusCode: resp.StatusCode, Body: body}
		se.Response = parseErrorResponse(body)
		return nil, nil, se
	}
	return resp, cancel, nil
}

func (c *conn) observe(r request, status int, start time.Time) {
	if c.o.observer != nil {
		c.o.observer.Call(r.method, r.path, status, time.Since(start))
	}
}

// parseErrorResponse accepts a body only when it has the ErrorResponse
// shape: a JSON object with a statusCode and a message.
func parseErrorResponse(body []byte) *opaca.ErrorResponse {
	var probe map[string]json.RawMessage
	if json.Unmarshal(body, &probe) != nil {
		return nil
	}
	if _, ok := probe["statusCode"]; !ok {
		return nil
	}
	if _, ok := probe["message"]; !ok {
		return nil
	}
	var er opaca.ErrorResponse
	if json.Unmarshal(body, &er) != nil {
		return nil
	}
	return &er
}

// do performs a request and reads the whole body.
func (c *conn) do(ctx context.Context, r request) ([]byte, error) {
	resp, cancel, err := c.send(ctx, r)
	if err != nil {
		return nil, err
	}
	defer cancel()
	defer resp.Body.Close()
	var b []byte
	if n := resp.ContentLength; n >= 0 && n < 1<<20 {
		// known small length: one exact allocation instead of ReadAll's growth
		b = make([]byte, n)
		_, err = io.ReadFull(resp.Body, b)
	} else {
		b, err = io.ReadAll(resp.Body)
	}
	if err != nil {
		return nil, &TransportError{Method: r.method, URL: c.base + r.path, Err: err}
	}
	return b, nil
}

func jsonBody(v any) (io.Reader, error) {
	if raw, ok := v.(json.RawMessage); ok {
		return bytes.NewReader(raw), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("opaca client: encode body: %w", err)
	}
	return bytes.NewReader(b), nil
}

// doJSON sends in (nil: no body) and decodes the answer into out (nil:
// ignore the body).
func (c *conn) doJSON(ctx context.Context, method, path string, q url.Values, in, out any, call callOptions) error {
	r := request{method: method, path: path, query: q, call: call}
	if in != nil {
		b, err := jsonBody(in)
		if err != nil {
			return err
		}
		r.body = b
	}
	body, err := c.do(ctx, r)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("opaca client: %s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// doText returns a raw-text answer with one pair of quotes stripped.
func (c *conn) doText(ctx context.Context, method, path string, q url.Values, in any, call callOptions) (string, error) {
	r := request{method: method, path: path, query: q, call: call}
	if in != nil {
		b, err := jsonBody(in)
		if err != nil {
			return "", err
		}
		r.body = b
	}
	body, err := c.do(ctx, r)
	if err != nil {
		return "", err
	}
	return Unquote(string(body)), nil
}

// doBool reads a true/false answer.
func (c *conn) doBool(ctx context.Context, method, path string, in any, rawBody string, call callOptions) (bool, error) {
	r := request{method: method, path: path, call: call}
	switch {
	case in != nil:
		b, err := jsonBody(in)
		if err != nil {
			return false, err
		}
		r.body = b
	case rawBody != "":
		r.body = strings.NewReader(rawBody)
		r.ctype = "text/plain; charset=utf-8"
	}
	body, err := c.do(ctx, r)
	if err != nil {
		return false, err
	}
	switch strings.TrimSpace(string(body)) {
	case "true":
		return true, nil
	case "false", "":
		return false, nil
	}
	return false, fmt.Errorf("opaca client: %s %s: expected a boolean, got %q", method, path, truncate(body))
}

func truncate(b []byte) string {
	if len(b) > 100 {
		return string(b[:100]) + "…"
	}
	return string(b)
}

// Unquote trims whitespace and strips one pair of surrounding double
// quotes: tokens and notify bodies arrive raw or JSON-quoted.
func Unquote(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// getOptional decodes a JSON answer, reporting found=false on an empty 200.
func (c *conn) getOptional(ctx context.Context, path string, out any) (bool, error) {
	body, err := c.do(ctx, request{method: http.MethodGet, path: path})
	if err != nil {
		return false, err
	}
	if len(bytes.TrimSpace(body)) == 0 || bytes.Equal(bytes.TrimSpace(body), []byte("null")) {
		return false, nil
	}
	if err := json.Unmarshal(body, out); err != nil {
		return false, fmt.Errorf("opaca client: GET %s: decode answer: %w", path, err)
	}
	return true, nil
}

// invoke posts arguments and returns the raw JSON result.
func (c *conn) invoke(ctx context.Context, action, agentID string, args any, call callOptions) (json.RawMessage, error) {
	path := "/invoke/" + esc(action)
	if agentID != "" {
		path += "/" + esc(agentID)
	}
	if args == nil {
		args = json.RawMessage("{}")
	}
	b, err := jsonBody(args)
	if err != nil {
		return nil, err
	}
	body, err := c.do(ctx, request{method: http.MethodPost, path: path, body: b, call: call})
	if err != nil {
		return nil, err
	}
	return json.RawMessage(body), nil
}

func streamPath(stream, agentID string) string {
	p := "/stream/" + esc(stream)
	if agentID != "" {
		p += "/" + esc(agentID)
	}
	return p
}

// streamBody closes the response and releases the call's context.
type streamBody struct {
	io.ReadCloser
	cancel context.CancelFunc
	once   sync.Once
}

func (s *streamBody) Close() error {
	err := s.ReadCloser.Close()
	s.once.Do(s.cancel)
	return err
}

func (c *conn) getStream(ctx context.Context, stream, agentID string, call callOptions) (io.ReadCloser, error) {
	resp, cancel, err := c.send(ctx, request{method: http.MethodGet, path: streamPath(stream, agentID), call: call, noLimit: true})
	if err != nil {
		return nil, err
	}
	return &streamBody{ReadCloser: resp.Body, cancel: cancel}, nil
}

func (c *conn) postStream(ctx context.Context, stream, agentID string, body io.Reader, call callOptions) error {
	if body == nil {
		body = http.NoBody
	}
	ct := call.contentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	resp, cancel, err := c.send(ctx, request{method: http.MethodPost, path: streamPath(stream, agentID), body: body, ctype: ct, call: call, noLimit: true})
	if err != nil {
		return err
	}
	defer cancel()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.Body.Close()
}

var errEmptyToken = errors.New("opaca client: empty token in answer")
