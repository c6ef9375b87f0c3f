package container

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/meshkit/meshkit/opaca"
)

// ServeHTTP serves the Agent Container API (spec §4.2).
func (c *Container) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			c.log.Error("container: handler panicked", "path", r.URL.Path, "panic", p)
			opaca.WriteError(w, http.StatusInternalServerError, fmt.Sprintf("internal error: %v", p))
		}
	}()
	select {
	case <-c.ready:
	default:
		opaca.WriteError(w, http.StatusServiceUnavailable, "container is starting")
		return
	}
	if !c.authorized(r) {
		opaca.WriteError(w, http.StatusForbidden, "missing or wrong bearer token")
		return
	}
	c.mux.ServeHTTP(w, r)
}

// authorized checks the platform's bearer token when TOKEN is set (spec
// §4.1), in constant time.
func (c *Container) authorized(r *http.Request) bool {
	if c.env.Token == "" {
		return true
	}
	got := r.Header.Get("Authorization")
	want := "Bearer " + c.env.Token
	return subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

func (c *Container) routes() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /info", func(w http.ResponseWriter, r *http.Request) { opaca.WriteJSON(w, c.Info()) })
	m.HandleFunc("GET /agents", func(w http.ResponseWriter, r *http.Request) { opaca.WriteJSON(w, c.Agents()) })
	m.HandleFunc("GET /agents/{agentId}", c.handleAgent)
	m.HandleFunc("POST /send/{agentId}", c.handleSend)
	m.HandleFunc("POST /broadcast/{channel}", c.handleBroadcast)
	m.HandleFunc("POST /invoke/{action}", c.handleInvoke)
	m.HandleFunc("POST /invoke/{action}/{agentId}", c.handleInvoke)
	m.HandleFunc("GET /stream/{stream}", c.handleGetStream)
	m.HandleFunc("GET /stream/{stream}/{agentId}", c.handleGetStream)
	m.HandleFunc("POST /stream/{stream}", c.handlePostStream)
	m.HandleFunc("POST /stream/{stream}/{agentId}", c.handlePostStream)
	m.HandleFunc("POST /login", c.handleLogin)
	m.HandleFunc("POST /logout", c.handleLogout)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		opaca.WriteError(w, http.StatusNotFound, fmt.Sprintf("no route %s %s", r.Method, r.URL.Path))
	})
	return m
}

// writeErr answers err with the status it carries (default 500).
func (c *Container) writeErr(w http.ResponseWriter, err error) {
	opaca.WriteError(w, opaca.HTTPStatus(err), err.Error())
}

// readJSONBody reads a bounded JSON body (413 beyond the limit).
// The client has the body read timeout to send it; the deadline is lifted
// once the body is in.
func (c *Container) readJSONBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if r.ContentLength > c.cfg.maxBody {
		opaca.WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", c.cfg.maxBody))
		return nil, false
	}
	var rc *http.ResponseController
	if r.ContentLength != 0 {
		rc = http.NewResponseController(w)
		if rc.SetReadDeadline(time.Now().Add(c.cfg.timeouts.BodyRead)) != nil {
			rc = nil // not our own server: its limits apply
		}
	}
	body, err := readAll(http.MaxBytesReader(w, r.Body, c.cfg.maxBody), r.ContentLength, c.cfg.maxBody)
	if err == nil && rc != nil {
		_ = rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		// the passed deadline stays, so the server does not wait for the
		// rest of the body; the connection is done
		w.Header().Set("Connection", "close")
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe):
			opaca.WriteError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body larger than %d bytes", c.cfg.maxBody))
		case errors.Is(err, os.ErrDeadlineExceeded):
			opaca.WriteError(w, http.StatusRequestTimeout, "request body not received in time")
		default:
			opaca.WriteError(w, http.StatusBadRequest, "reading request body: "+err.Error())
		}
		return nil, false
	}
	return body, true
}

func (c *Container) handleAgent(w http.ResponseWriter, r *http.Request) {
	a, ok := c.Agent(r.PathValue("agentId"))
	if !ok {
		opaca.WriteError(w, http.StatusNotFound, fmt.Sprintf("agent %q not found", r.PathValue("agentId")))
		return
	}
	opaca.WriteJSON(w, a.Description())
}

func (c *Container) readMessage(w http.ResponseWriter, r *http.Request) (opaca.Message, bool) {
	var msg opaca.Message
	body, ok := c.readJSONBody(w, r)
	if !ok {
		return msg, false
	}
	if err := opaca.DecodeStrict(body, &msg); err != nil {
		opaca.WriteError(w, http.StatusUnprocessableEntity, "message: "+err.Error())
		return msg, false
	}
	return msg, true
}

func (c *Container) handleSend(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("agentId")
	if _, ok := c.Agent(id); !ok {
		opaca.WriteError(w, http.StatusNotFound, fmt.Sprintf("agent %q not found", id))
		return
	}
	msg, ok := c.readMessage(w, r)
	if !ok {
		return
	}
	if err := c.Send(r.Context(), id, msg); err != nil {
		c.writeErr(w, err)
	}
}

func (c *Container) handleBroadcast(w http.ResponseWriter, r *http.Request) {
	msg, ok := c.readMessage(w, r)
	if !ok {
		return
	}
	if err := c.Broadcast(r.Context(), r.PathValue("channel"), msg); err != nil {
		c.writeErr(w, err)
	}
}

func loginToken(r *http.Request) string {
	return opaca.UnquoteText(r.Header.Get(opaca.HeaderContainerLoginToken))
}

func (c *Container) handleInvoke(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name, agentID := r.PathValue("action"), r.PathValue("agentId")
	a, act, err := c.findAction(name, agentID)
	if err != nil {
		c.writeErr(w, err)
		c.observe(agentID, name, http.StatusNotFound, start)
		return
	}
	o := InvokeOptions{LoginToken: loginToken(r)}
	if s := queryTimeout(r); s != "" {
		sec, err := strconv.Atoi(s)
		if err != nil {
			opaca.WriteError(w, http.StatusBadRequest, fmt.Sprintf("timeout %q is not a number of seconds", s))
			return
		}
		if sec > 0 {
			o.Timeout = time.Duration(sec) * time.Second
		}
	}
	body, ok := c.readJSONBody(w, r)
	if !ok {
		return
	}
	res, err := c.run(r.Context(), a, act, body, o)
	if err != nil {
		if r.Context().Err() != nil && !errors.Is(err, ErrTimeout) {
			c.observe(a.id, name, 499, start) // the caller went away
			return
		}
		c.writeErr(w, err)
		c.observe(a.id, name, opaca.HTTPStatus(err), start)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(res)
	c.observe(a.id, name, http.StatusOK, start)
}

func (c *Container) observe(agentID, action string, status int, start time.Time) {
	if c.cfg.observer != nil {
		c.cfg.observer.Invoked(agentID, action, status, time.Since(start))
	}
}

func (c *Container) streamInvocation(r *http.Request, a *Agent, name string) *Invocation {
	inv := &Invocation{Action: name, Agent: a, LoginToken: loginToken(r)}
	if inv.LoginToken != "" && c.cfg.login != nil {
		inv.Login, _ = c.cfg.login.Lookup(inv.LoginToken)
	}
	return inv
}

func (c *Container) handleGetStream(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("stream")
	a, s, err := c.findStream(name, r.PathValue("agentId"))
	if err != nil {
		c.writeErr(w, err)
		return
	}
	if s.get == nil {
		opaca.WriteError(w, http.StatusNotFound, fmt.Sprintf("stream %q is not a GET stream", name))
		return
	}
	ctx, cancel := c.actionContext(r.Context(), 0)
	defer cancel()
	inv := c.streamInvocation(r, a, name)
	var rd io.Reader
	err = safeRun(func() error {
		var e error
		rd, e = s.get(ctx, inv)
		return e
	})
	if err != nil {
		c.writeErr(w, err)
		return
	}
	if cl, ok := rd.(io.Closer); ok {
		defer cl.Close()
	}
	w.Header().Set("Content-Type", "application/octet-stream")
	w.WriteHeader(http.StatusOK)
	// Send the headers now: a stream may stay silent for a long time, and
	// the caller (often a platform with a header timeout) waits for them.
	_ = http.NewResponseController(w).Flush()
	if rd == nil {
		return
	}
	if _, err := io.Copy(flushWriter{w}, rd); err != nil {
		// Bytes may already be out: abort the connection so the reader
		// sees a broken stream rather than a short one.
		c.log.Warn("container: GET stream failed", "stream", name, "err", err)
		panic(http.ErrAbortHandler)
	}
}

// flushWriter flushes after every write so that streams are not held back
// in buffers.
type flushWriter struct{ w http.ResponseWriter }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		_ = http.NewResponseController(f.w).Flush()
	}
	return n, err
}

func (c *Container) handlePostStream(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("stream")
	a, s, err := c.findStream(name, r.PathValue("agentId"))
	if err != nil {
		c.writeErr(w, err)
		return
	}
	if s.post == nil {
		opaca.WriteError(w, http.StatusNotFound, fmt.Sprintf("stream %q is not a POST stream", name))
		return
	}
	ctx, cancel := c.actionContext(r.Context(), 0)
	defer cancel()
	inv := c.streamInvocation(r, a, name)
	if err := safeRun(func() error { return s.post(ctx, inv, r.Body) }); err != nil {
		c.writeErr(w, err)
	}
}

func (c *Container) handleLogin(w http.ResponseWriter, r *http.Request) {
	if c.cfg.login == nil {
		opaca.WriteError(w, http.StatusNotImplemented, "container login is not supported")
		return
	}
	body, ok := c.readJSONBody(w, r)
	if !ok {
		return
	}
	var creds opaca.Login
	if err := opaca.DecodeStrict(body, &creds); err != nil {
		opaca.WriteError(w, http.StatusUnprocessableEntity, "login: "+err.Error())
		return
	}
	token := uuid.NewString()
	if err := safeRun(func() error {
		_, e := c.cfg.login.Login(r.Context(), token, creds)
		return e
	}); err != nil {
		c.writeErr(w, err)
		return
	}
	opaca.WriteText(w, token)
}

func (c *Container) handleLogout(w http.ResponseWriter, r *http.Request) {
	tok := loginToken(r)
	known := false
	if tok != "" && c.cfg.login != nil {
		known = c.cfg.login.Logout(r.Context(), tok)
	}
	opaca.WriteJSON(w, known)
}

// queryTimeout returns the timeout query parameter without parsing the
// query when there is none.
func queryTimeout(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return ""
	}
	return r.URL.Query().Get("timeout")
}

// readAll reads rd with a buffer sized from the declared length.
func readAll(rd io.Reader, declared, limit int64) ([]byte, error) {
	if declared <= 0 || declared > limit {
		return io.ReadAll(rd)
	}
	buf := bytes.NewBuffer(make([]byte, 0, declared+1))
	_, err := buf.ReadFrom(rd)
	return buf.Bytes(), err
}
