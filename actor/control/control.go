package control

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/meshkit/meshkit/rt2rt"
	"github.com/meshkit/meshkit/rt2rt/wire"
)

// Node is what the control API needs from the RT2RT node; *rt2rt.Node
// implements it.
type Node interface {
	ID() string
	Peers() []rt2rt.PeerInfo
	Join(ctx context.Context, uri string) (string, error)
	ShuttingDown() bool
	// Request sends a command to a peer and waits for its REPLY (used for
	// ACTOR_MIGRATE and APP_DESTROY to other nodes).
	Request(ctx context.Context, peerID string, m wire.Message) (wire.Response, error)
}

var _ Node = (*rt2rt.Node)(nil)

// Request is a control API request with its JSON body decoded (numbers as
// json.Number, so large integers survive). Body is nil when there was none
// and always nil for GET.
type Request struct {
	*http.Request
	Body any
}

// BodyMap returns the body as a JSON object, or nil when it is not one.
func (r *Request) BodyMap() map[string]any {
	m, _ := r.Body.(map[string]any)
	return m
}

// Response is what a route answers. A nil Body with a 200-206 status is
// sent as 204 No Content (Calvin's rule, §12.1); any other status with a nil
// Body is sent without a body, as Calvin sends its errors. A non-nil Body
// is sent as JSON with Content-Type application/json.
type Response struct {
	Status int
	Body   any
}

// OK answers 200 with body (204 when body is nil).
func OK(body any) Response { return Response{Status: http.StatusOK, Body: body} }

// Status answers code with no body.
func Status(code int) Response { return Response{Status: code} }

// RouteFunc serves one route. Path parameters are read with
// req.PathValue(name).
type RouteFunc func(ctx context.Context, req *Request) Response

// Option configures a Handler.
type Option func(*Handler) error

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option {
	return func(h *Handler) error {
		if l == nil {
			return fmt.Errorf("%w: nil logger", ErrInvalidOption)
		}
		h.log = l
		return nil
	}
}

// WithJoinTimeout bounds each join of POST /peer_setup (default 10 s).
func WithJoinTimeout(d time.Duration) Option {
	return func(h *Handler) error {
		if d <= 0 {
			return fmt.Errorf("%w: join timeout %v", ErrInvalidOption, d)
		}
		h.joinTimeout = d
		return nil
	}
}

// WithMaxBodySize bounds request bodies (default 32 MiB); larger ones get 400.
func WithMaxBodySize(n int64) Option {
	return func(h *Handler) error {
		if n <= 0 {
			return fmt.Errorf("%w: max body size %d", ErrInvalidOption, n)
		}
		h.maxBody = n
		return nil
	}
}

// WithRuntime serves the actor, port, application and deploy routes from
// rt (GET /capabilities, /actors, /actor..., /connect, /disconnect,
// /applications, /application/{id}, /deploy). Without it those routes are
// not installed (404).
func WithRuntime(rt Runtime) Option {
	return func(h *Handler) error {
		if rt == nil {
			return fmt.Errorf("%w: nil runtime", ErrInvalidOption)
		}
		h.rt = rt
		return nil
	}
}

// WithNetwork lets the routes connect, disconnect and migrate across nodes
// (*actor.Network implements Network). Without it only local connections
// are made and POST /actor/{id}/migrate answers 500 for a local actor.
func WithNetwork(n Network) Option {
	return func(h *Handler) error {
		if n == nil {
			return fmt.Errorf("%w: nil network", ErrInvalidOption)
		}
		h.net = n
		return nil
	}
}

// WithRegistry sets the registry the routes read (§12.4: GET /node/{id},
// actor, port and application records, peer look-ups for /connect,
// /disconnect and migration) and write (application records). Without it
// GET /node/{id} is not installed and only local look-ups work.
func WithRegistry(r Registry) Option {
	return func(h *Handler) error {
		if r == nil {
			return fmt.Errorf("%w: nil registry", ErrInvalidOption)
		}
		h.reg = r
		return nil
	}
}

// WithRecords makes the routes write the actor and port records of actors
// they create, connect or disconnect before they answer, so that a
// following GET sees them (§12.4).
func WithRecords(r *Records) Option {
	return func(h *Handler) error {
		if r == nil {
			return fmt.Errorf("%w: nil records", ErrInvalidOption)
		}
		h.records = r
		return nil
	}
}

// WithShutdown installs DELETE /node, /node/clean, /node/migrate and
// /node/now: the route answers 204 and then calls stop with the mode, on
// its own goroutine. stop starts the node's shutdown (§13.2).
func WithShutdown(stop func(mode ShutdownMode)) Option {
	return func(h *Handler) error {
		if stop == nil {
			return fmt.Errorf("%w: nil shutdown function", ErrInvalidOption)
		}
		h.stop = stop
		return nil
	}
}

// ShutdownMode says how DELETE /node asked the node to stop (§12.2).
type ShutdownMode string

// Shutdown modes of DELETE /node.
const (
	// ShutdownClean destroys every actor, then stops (DELETE /node, /node/clean).
	ShutdownClean ShutdownMode = "clean"
	// ShutdownMigrate first tries to move every actor elsewhere.
	ShutdownMigrate ShutdownMode = "migrate"
	// ShutdownNow stops at once, without clean-up.
	ShutdownNow ShutdownMode = "now"
)

// Handler is the calvin-base compatible control API (spec chapter 12) as an
// http.Handler. Routes are added with Route; NewHandler installs GET /id,
// GET /nodes and POST /peer_setup, and the other routes of §12.2 for the
// parts given as options.
type Handler struct {
	node        Node
	rt          Runtime
	net         Network
	reg         Registry
	records     *Records
	stop        func(ShutdownMode)
	log         *slog.Logger
	joinTimeout time.Duration
	maxBody     int64
	routes      []route // written only before serving
}

type route struct {
	method string
	segs   []string // literal segments, or "{name}" parameters
	fn     RouteFunc
}

// NewHandler returns the control API of node.
func NewHandler(node Node, opts ...Option) (*Handler, error) {
	if node == nil {
		return nil, fmt.Errorf("%w: nil node", ErrInvalidOption)
	}
	h := &Handler{node: node, log: slog.Default(), joinTimeout: 10 * time.Second, maxBody: 32 << 20}
	for _, o := range opts {
		if o == nil {
			return nil, fmt.Errorf("%w: nil option", ErrInvalidOption)
		}
		if err := o(h); err != nil {
			return nil, err
		}
	}
	h.Route(http.MethodGet, "/id", h.getID)
	h.Route(http.MethodGet, "/nodes", h.getNodes)
	h.Route(http.MethodPost, "/peer_setup", h.postPeerSetup)
	if h.reg != nil {
		h.Route(http.MethodGet, "/node/{node_id}", h.getNode)
	}
	if h.rt != nil {
		h.actorRoutes()
	}
	if h.stop != nil {
		for _, p := range []string{"/node", "/node/clean", "/node/migrate", "/node/now"} {
			h.Route(http.MethodDelete, p, h.deleteNode)
		}
	}
	return h, nil
}

// Route adds a route. pattern is a path whose segments are literals or
// {name} parameters; a parameter matches an id segment (§12.1: uuid-shaped,
// optionally prefixed; other strings are accepted too, as the spec allows).
// Add routes before serving; a later route for the same method and pattern
// replaces the earlier one.
func (h *Handler) Route(method, pattern string, fn RouteFunc) {
	segs := splitPath(pattern)
	for i, r := range h.routes {
		if r.method == method && strings.Join(r.segs, "/") == strings.Join(segs, "/") {
			h.routes[i].fn = fn
			return
		}
	}
	h.routes = append(h.routes, route{method: method, segs: segs, fn: fn})
}

func splitPath(p string) []string {
	p = strings.Trim(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// idSegment: what Calvin routes as an id (uuid, optionally prefixed).
var idSegment = regexp.MustCompile(`^(ACTOR_|APP_|PORT_|NODE_)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// match returns the route for method and path, setting path values on r.
func (h *Handler) match(r *http.Request) (RouteFunc, bool) {
	segs := splitPath(r.URL.Path)
	for _, rt := range h.routes {
		if rt.method != r.Method || len(rt.segs) != len(segs) {
			continue
		}
		ok := true
		var params [][2]string
		for i, s := range rt.segs {
			if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
				if segs[i] == "" {
					ok = false
					break
				}
				params = append(params, [2]string{s[1 : len(s)-1], segs[i]})
				continue
			}
			if s != segs[i] {
				ok = false
				break
			}
		}
		if ok {
			for _, p := range params {
				r.SetPathValue(p[0], p[1])
			}
			return rt.fn, true
		}
	}
	return nil, false
}

// IsCalvinID reports whether s has the shape Calvin's control API routes
// as an id (lowercase uuid, optionally with an ACTOR_/APP_/PORT_/NODE_ prefix).
func IsCalvinID(s string) bool { return idSegment.MatchString(s) }

// ServeHTTP implements http.Handler with Calvin's conventions (§12.1).
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr.Set("Access-Control-Allow-Methods", "GET, POST, PUT, DELETE, OPTIONS")
	hdr.Set("Access-Control-Allow-Origin", "*")
	if r.Method == http.MethodOptions {
		w.WriteHeader(http.StatusOK)
		return
	}
	if h.node.ShuttingDown() {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	fn, ok := h.match(r)
	if !ok || r.URL.RawQuery != "" || r.URL.ForceQuery {
		// Calvin's routes match the whole request target: a query string
		// makes any route unknown (§12.1).
		w.WriteHeader(http.StatusNotFound)
		return
	}
	req := &Request{Request: r}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		body, err := h.readBody(r)
		if err != nil {
			h.log.Info("control: bad request body", "method", r.Method, "path", r.URL.Path, "err", err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		req.Body = body
	}
	resp := fn(r.Context(), req)
	h.write(w, r, resp)
}

func (h *Handler) readBody(r *http.Request) (any, error) {
	b, err := io.ReadAll(io.LimitReader(r.Body, h.maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("read body: %w", err)
	}
	if int64(len(b)) > h.maxBody {
		return nil, fmt.Errorf("body larger than %d bytes", h.maxBody)
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadJSON, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: trailing data after the JSON value", ErrBadJSON)
	}
	return v, nil
}

func (h *Handler) write(w http.ResponseWriter, r *http.Request, resp Response) {
	status := resp.Status
	if status == 0 {
		status = http.StatusOK
	}
	if resp.Body == nil {
		if status >= 200 && status <= 206 {
			status = http.StatusNoContent
		}
		w.WriteHeader(status)
		return
	}
	b, err := json.Marshal(resp.Body)
	if err != nil {
		h.log.Error("control: cannot encode response", "path", r.URL.Path, "err", err)
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// GET /id → {"id": <node id>}.
func (h *Handler) getID(ctx context.Context, _ *Request) Response {
	return OK(map[string]any{"id": h.node.ID()})
}

// GET /nodes → ids of the nodes this node has a link to, direct or routed.
func (h *Handler) getNodes(ctx context.Context, _ *Request) Response {
	peers := h.node.Peers()
	ids := make([]string, 0, len(peers))
	for _, p := range peers {
		ids = append(ids, p.ID)
	}
	return OK(ids)
}

// POST /peer_setup {"peers": [uri, ...]} joins each URI and answers
// {uri: [peer id or null, status]} with the highest per-peer status.
func (h *Handler) postPeerSetup(ctx context.Context, req *Request) Response {
	body := req.BodyMap()
	raw, ok := body["peers"]
	if !ok {
		return Status(http.StatusBadRequest)
	}
	list, ok := raw.([]any)
	if !ok {
		return Status(http.StatusBadRequest)
	}
	type result struct {
		uri    string
		id     any
		status int
	}
	results := make(chan result, len(list))
	uris := make([]string, 0, len(list))
	for _, e := range list {
		uri, ok := e.(string)
		if !ok {
			return Status(http.StatusBadRequest)
		}
		uris = append(uris, uri)
	}
	for _, uri := range uris {
		go func() {
			jctx, cancel := context.WithTimeout(ctx, h.joinTimeout)
			defer cancel()
			id, err := h.node.Join(jctx, uri)
			if err != nil {
				h.log.Info("control: peer_setup join failed", "uri", uri, "err", err)
				results <- result{uri: uri, id: nil, status: http.StatusInternalServerError}
				return
			}
			results <- result{uri: uri, id: id, status: http.StatusOK}
		}()
	}
	out := make(map[string]any, len(uris))
	overall := http.StatusOK
	for range uris {
		r := <-results
		out[r.uri] = []any{r.id, r.status}
		overall = max(overall, r.status)
	}
	return Response{Status: overall, Body: out}
}
