package platform

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/platform/auth"
)

type ctxKey int

const reqKey ctxKey = 1

// reqInfo is what the middleware learned about a request.
type reqInfo struct {
	user     string // current user; "" when none
	hasToken bool
	callID   string // CALL event id, for FORWARD events
	route    string
	sender   string
}

// reqState is allocated once per request: the context carrying reqInfo
// and the status-recording writer.
type reqState struct {
	ctx reqCtx
	sw  statusWriter
}

// reqCtx carries the reqInfo without a separate context.WithValue node.
type reqCtx struct {
	context.Context
	info reqInfo
}

func (c *reqCtx) Value(key any) any {
	if key == reqKey {
		return &c.info
	}
	return c.Context.Value(key)
}

func info(ctx context.Context) *reqInfo {
	if ri, ok := ctx.Value(reqKey).(*reqInfo); ok {
		return ri
	}
	return &reqInfo{}
}

func (p *Platform) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", p.handleIndex)
	mux.HandleFunc("POST /login", p.handleLogin)
	mux.HandleFunc("GET /token", p.handleToken)
	mux.HandleFunc("GET /info", p.handleInfo)
	mux.HandleFunc("GET /config", p.handleConfig)
	mux.HandleFunc("GET /history", p.handleHistory)
	mux.HandleFunc("GET /v3/api-docs/actions", p.handleActionsOpenAPI)
	mux.HandleFunc("GET /v3/api-docs", p.handleAPIDocs)

	mux.HandleFunc("GET /agents", p.handleAgents)
	mux.HandleFunc("GET /agents/{agentId}", p.handleAgent)
	mux.HandleFunc("POST /send/{agentId}", p.handleSend)
	mux.HandleFunc("POST /broadcast/{channel}", p.handleBroadcast)
	mux.HandleFunc("POST /invoke/{action}", p.handleInvoke)
	mux.HandleFunc("POST /invoke/{action}/{agentId}", p.handleInvoke)
	mux.HandleFunc("GET /stream/{stream}", p.handleGetStream)
	mux.HandleFunc("GET /stream/{stream}/{agentId}", p.handleGetStream)
	mux.HandleFunc("POST /stream/{stream}", p.handlePostStream)
	mux.HandleFunc("POST /stream/{stream}/{agentId}", p.handlePostStream)

	mux.HandleFunc("POST /containers", p.handlePostContainer)
	mux.HandleFunc("PUT /containers", p.handlePutContainer)
	mux.HandleFunc("GET /containers", p.handleContainers)
	mux.HandleFunc("GET /containers/{id}", p.handleContainer)
	mux.HandleFunc("DELETE /containers/{id}", p.handleDeleteContainer)
	mux.HandleFunc("POST /containers/login/{id}", p.handleContainerLogin)
	mux.HandleFunc("POST /containers/logout/{id}", p.handleContainerLogout)
	mux.HandleFunc("POST /containers/notify", p.handleNotifyContainer)

	mux.HandleFunc("GET /connections", p.handleConnections)
	mux.HandleFunc("POST /connections", p.handleConnect)
	mux.HandleFunc("DELETE /connections", p.handleDisconnect)
	mux.HandleFunc("POST /connections/notify", p.handleNotifyConnection)

	mux.HandleFunc("GET /users", p.handleUsers)
	mux.HandleFunc("GET /users/{username}", p.handleUser)
	mux.HandleFunc("POST /users", p.handleCreateUser)
	mux.HandleFunc("PUT /users/{username}", p.handleUpdateUser)
	mux.HandleFunc("DELETE /users/{username}", p.handleDeleteUser)

	mux.HandleFunc("GET /subscribe", p.hub.serve)
	return &apiHandler{p: p, mux: mux}
}

type apiHandler struct {
	p   *Platform
	mux *http.ServeMux
}

func (h *apiHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := h.p
	hdr := w.Header()
	// canonical key and shared value: this runs on every request; methods
	// and headers matter only for preflight answers
	hdr["Access-Control-Allow-Origin"] = corsAny
	if r.Method == http.MethodOptions {
		hdr["Access-Control-Allow-Methods"] = corsMethods
		if ah := r.Header.Get("Access-Control-Request-Headers"); ah != "" {
			hdr.Set("Access-Control-Allow-Headers", ah)
		} else {
			hdr["Access-Control-Allow-Headers"] = corsAny
		}
		hdr.Set("Access-Control-Max-Age", "3600")
		w.WriteHeader(http.StatusOK)
		return
	}
	st := &reqState{}
	st.ctx.Context = r.Context()
	ri := &st.ctx.info
	ri.sender = r.Header.Get("sender-id")
	path := r.URL.Path
	open := isOpen(r.Method, path)
	authz := r.Header.Get("Authorization")
	if authz != "" || (p.cfg.requireAuth && !open) {
		user, failure := p.authenticate(authz)
		if failure != "" {
			hdr.Set("WWW-Authenticate", "Bearer")
			writeError(w, &APIError{Status: http.StatusUnauthorized, Message: failure})
			return
		}
		ri.user, ri.hasToken = user, true
	} else if !p.cfg.requireAuth {
		ri.user = p.cfg.adminUser
	}
	if p.cfg.requireAuth && !open {
		min, ok := requiredRole(r.Method, path)
		if ok {
			u, found := p.users.Get(ri.user)
			if !found || !u.Role.Includes(min) {
				writeError(w, apiErr(http.StatusForbidden, "Access denied: role %s required.", min))
				return
			}
		}
	}
	r = r.WithContext(&st.ctx)

	// the agent routes are the hot path: route them without ServeMux
	handler := h.fastRoute(r)
	if handler == nil {
		mh, pattern := h.mux.Handler(r)
		if pattern == "" {
			// unknown route or wrong method: same statuses as ServeMux,
			// but with an ErrorResponse body
			mh.ServeHTTP(&errorBodyWriter{ResponseWriter: w}, r)
			return
		}
		// ServeMux sets the path values only in its own ServeHTTP
		handler = h.mux
	}
	if !createsEvents(r.Method, path) {
		handler.ServeHTTP(w, r)
		return
	}
	start := time.Now()
	ri.route = r.Method + " " + path
	call := p.recordEvent(eventCall, ri.route, ri.sender, "", 0, "")
	ri.callID = call.ID
	sw := &st.sw
	sw.ResponseWriter = w
	handler.ServeHTTP(sw, r)
	status := sw.status
	if status == 0 {
		status = http.StatusOK
	}
	if status < 300 {
		p.recordEvent(eventSuccess, ri.route, ri.sender, "", 0, call.ID)
	} else {
		p.recordEvent(eventError, ri.route, ri.sender, "", status, call.ID)
	}
	p.cfg.observer.Request(ri.route, status, time.Since(start))
}

var (
	corsAny     = []string{"*"}
	corsMethods = []string{"GET, POST, PUT, DELETE, OPTIONS"}
)

// fastRoute matches /invoke, /send, /broadcast and /stream like the
// ServeMux patterns would (one or two path segments after the prefix),
// sets the path values and returns the handler; nil for other routes.
func (h *apiHandler) fastRoute(r *http.Request) http.Handler {
	p := h.p
	var rest string
	var names [2]string
	var fn http.HandlerFunc
	maxSegs := 2
	switch {
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/invoke/"):
		rest, names, fn = r.URL.Path[len("/invoke/"):], [2]string{"action", "agentId"}, p.handleInvoke
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/send/"):
		rest, names, fn, maxSegs = r.URL.Path[len("/send/"):], [2]string{"agentId"}, p.handleSend, 1
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/broadcast/"):
		rest, names, fn, maxSegs = r.URL.Path[len("/broadcast/"):], [2]string{"channel"}, p.handleBroadcast, 1
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/stream/"):
		rest, names, fn = r.URL.Path[len("/stream/"):], [2]string{"stream", "agentId"}, p.handleGetStream
	case r.Method == http.MethodPost && strings.HasPrefix(r.URL.Path, "/stream/"):
		rest, names, fn = r.URL.Path[len("/stream/"):], [2]string{"stream", "agentId"}, p.handlePostStream
	default:
		return nil
	}
	if r.URL.RawPath != "" {
		return nil // escaped slashes inside segments: let ServeMux decode
	}
	first, second, two := strings.Cut(rest, "/")
	if first == "" || (two && (second == "" || maxSegs == 1 || strings.Contains(second, "/"))) {
		return nil
	}
	r.SetPathValue(names[0], first)
	if two {
		r.SetPathValue(names[1], second)
	}
	return fn
}

// authenticate checks a bearer header and returns the token's subject,
// or the message of the 401 answer.
func (p *Platform) authenticate(authz string) (user, failure string) {
	tok, ok := strings.CutPrefix(authz, "Bearer ")
	if !ok {
		if authz == "" {
			return "", "Missing token."
		}
		return "", "Authorization is not a Bearer token."
	}
	claims, err := p.signer.Verify(strings.TrimSpace(tok))
	if err != nil {
		if strings.Contains(err.Error(), "expired") {
			return "", "Token expired."
		}
		return "", "Invalid token."
	}
	if !p.users.Exists(claims.Subject) {
		return "", "Username not found."
	}
	return claims.Subject, ""
}

var openPrefixes = []string{"/v3/api-docs/", "/swagger-ui/", "/swagger-resources/", "/webjars/"}

func isOpen(method, path string) bool {
	if method == http.MethodPost && path == "/login" {
		return true
	}
	if path == "/v3/api-docs/actions" {
		return false
	}
	switch path {
	case "/v3/api-docs", "/swagger-ui.html", "/configuration/ui", "/configuration/security", "/error", "/swagger-ui", "/swagger-resources", "/webjars":
		return true
	}
	for _, pre := range openPrefixes {
		if strings.HasPrefix(path, pre) {
			return true
		}
	}
	return false
}

func under(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// requiredRole implements the route rules of spec §11.4. ok=false means any
// authenticated caller (or, for notify, a check in the handler).
func requiredRole(method, path string) (auth.Role, bool) {
	switch {
	case method == http.MethodGet && path == "/v3/api-docs/actions":
		return auth.RoleGuest, true
	case method == http.MethodGet && path == "/users":
		return auth.RoleAdmin, true
	case method == http.MethodGet && (path == "/info" || under(path, "/agents") || under(path, "/containers") || under(path, "/users")):
		return auth.RoleGuest, true
	case method == http.MethodGet && (path == "/history" || path == "/connections" || under(path, "/stream")):
		return auth.RoleUser, true
	case method == http.MethodPost && (under(path, "/containers/login") || under(path, "/containers/logout")):
		return auth.RoleUser, true
	case method == http.MethodPost && (under(path, "/send") || under(path, "/invoke") || under(path, "/broadcast") || under(path, "/stream")):
		return auth.RoleUser, true
	case method == http.MethodPost && path == "/containers/notify":
		return "", false // CONTRIBUTOR or the container itself: decided in the handler
	case (method == http.MethodPost && path == "/containers") || (method == http.MethodDelete && under(path, "/containers")):
		return auth.RoleContributor, true
	case method == http.MethodPut && path == "/containers":
		return auth.RoleContributor, true
	case under(path, "/connections"):
		return auth.RoleAdmin, true
	case under(path, "/users") && (method == http.MethodPost || method == http.MethodPut || method == http.MethodDelete):
		return auth.RoleAdmin, true
	}
	return "", false
}

// createsEvents is the table of spec §10.1.
func createsEvents(method, path string) bool {
	var prefixes []string
	switch method {
	case http.MethodGet:
		prefixes = []string{"/stream", "/token"}
	case http.MethodPost:
		prefixes = []string{"/users", "/stream", "/invoke", "/send", "/broadcast", "/login", "/containers", "/connections"}
	case http.MethodPut:
		prefixes = []string{"/users", "/containers"}
	case http.MethodDelete:
		prefixes = []string{"/users", "/containers", "/connections"}
	}
	for _, pre := range prefixes {
		if strings.HasPrefix(path, pre) {
			return true
		}
	}
	return false
}

// statusWriter records the status for the SUCCESS / ERROR event.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Flush() {
	if f, ok := s.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// errorBodyWriter replaces ServeMux's plain-text 404 / 405 bodies with an
// ErrorResponse, keeping status and Allow header.
type errorBodyWriter struct {
	http.ResponseWriter
	wrote bool
}

func (e *errorBodyWriter) WriteHeader(code int) {
	if e.wrote {
		return
	}
	e.wrote = true
	msg := http.StatusText(code)
	if code == http.StatusNotFound {
		msg = "Requested resource not found."
	}
	h := e.ResponseWriter.Header()
	h.Del("X-Content-Type-Options")
	writeError(e.ResponseWriter, &APIError{Status: code, Message: msg})
}

func (e *errorBodyWriter) Write(b []byte) (int, error) {
	if !e.wrote {
		e.WriteHeader(http.StatusOK)
	}
	return len(b), nil
}

func (e *errorBodyWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return nil, nil, errors.New("not supported")
}

// writeJSON writes v with status 200 (or the given one).
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeError(w, apiErr(http.StatusInternalServerError, "encoding the answer failed: %v", err))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// writeText writes a raw-text answer (tokens, container ids).
func writeText(w http.ResponseWriter, s string) {
	w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
	_, _ = io.WriteString(w, s)
}

func writeBool(w http.ResponseWriter, b bool) { writeJSON(w, http.StatusOK, b) }

// writeError writes an ErrorResponse with the error's status.
func writeError(w http.ResponseWriter, err error) {
	ae := toAPIError(err)
	b, mErr := json.Marshal(ae.response())
	if mErr != nil {
		b = []byte(fmt.Sprintf(`{"statusCode":%d,"message":"internal error","cause":null}`, ae.Status))
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	w.WriteHeader(ae.Status)
	_, _ = w.Write(b)
}

// readBody reads a JSON request body up to the configured limit.
// A client gets the body read timeout to send the body; the deadline is
// lifted once the body is in (net/http resets it for the next request too;
// lifting it keeps that true for any server the Handler is mounted in).
func (p *Platform) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > p.cfg.maxBody {
		return nil, apiErr(http.StatusRequestEntityTooLarge, "Request body larger than %d bytes.", p.cfg.maxBody)
	}
	if r.ContentLength == 0 {
		return []byte{}, nil
	}
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(p.cfg.timeouts.BodyRead)) != nil {
		return p.readBodyBounded(w, r) // not our own server: its limits apply
	}
	b, err := p.readBodyBounded(w, r)
	if err != nil {
		// keep the passed deadline, so the server does not wait for the
		// rest of the body before answering; the connection is done
		w.Header().Set("Connection", "close")
		return nil, err
	}
	_ = rc.SetReadDeadline(time.Time{})
	return b, nil
}

func (p *Platform) readBodyBounded(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > p.cfg.maxBody {
		return nil, apiErr(http.StatusRequestEntityTooLarge, "Request body larger than %d bytes.", p.cfg.maxBody)
	}
	if r.ContentLength >= 0 && r.ContentLength < 64<<10 {
		// the usual small JSON body of known length: one exact allocation
		b := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, bodyReadErr(err)
		}
		return b, nil
	}
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, p.cfg.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, apiErr(http.StatusRequestEntityTooLarge, "Request body larger than %d bytes.", p.cfg.maxBody)
		}
		return nil, bodyReadErr(err)
	}
	return b, nil
}

// bodyReadErr is 408 for a body not sent in time, else 400.
func bodyReadErr(err error) error {
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return apiErr(http.StatusRequestTimeout, "Request body not received in time.")
	}
	return apiErr(http.StatusBadRequest, "Reading the request body failed.")
}

// decodeStrict decodes a request body to our API the way the reference
// does: unknown fields, syntax and kind errors are 422.
func decodeStrict(body []byte, v any) error {
	if err := opaca.DecodeStrict(body, v); err != nil {
		return &APIError{Status: http.StatusUnprocessableEntity, Message: "Could not read the request body: " + err.Error(), Err: err}
	}
	return nil
}

// bodyString reads the raw-or-quoted string body of the notify routes.
func bodyString(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		var out string
		if json.Unmarshal([]byte(s), &out) == nil {
			return strings.TrimSpace(out)
		}
		s = s[1 : len(s)-1]
	}
	return strings.TrimSpace(s)
}

// decodeLoose decodes without the strict rules (used only to learn which
// fields a body carried).
func decodeLoose(body []byte, v any) error { return json.Unmarshal(body, v) }
