package platform

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
)

// forwardJSONTimeout bounds forwarded send and broadcast calls (§7.4).
const forwardJSONTimeout = 30 * time.Second

// streamHeaderTimeout bounds the wait for a stream's response headers.
const streamHeaderTimeout = 30 * time.Second

// candidate is a local container or a connected platform (spec §7.1).
type candidate struct {
	local *containerEntry
	peer  *peer
	ps    *peerState
}

func (c candidate) receiver() string {
	if c.local != nil {
		return c.local.url
	}
	return c.peer.url
}

// routeQuery holds the query parameters of the agent routes.
type routeQuery struct {
	containerID    string
	hasContainerID bool
	forward        bool
	timeout        string
	timeoutSec     int
}

func parseRouteQuery(r *http.Request) routeQuery {
	rq := routeQuery{forward: true}
	if r.URL.RawQuery == "" {
		return rq // the common case: no map to build
	}
	q := r.URL.Query()
	if v, ok := q["containerId"]; ok && len(v) > 0 {
		rq.containerID, rq.hasContainerID = v[0], true
	}
	if v := q.Get("forward"); v != "" && strings.EqualFold(v, "false") {
		rq.forward = false
	}
	if v := q.Get("timeout"); v != "" {
		rq.timeout = v
		rq.timeoutSec, _ = strconv.Atoi(strings.TrimSpace(v))
	}
	return rq
}

// callOpts are the query parameters of a forwarded call: always
// forward=false, containerId and timeout passed through.
func (rq routeQuery) callOpts() []client.CallOption {
	opts := []client.CallOption{client.Forward(false)}
	if rq.hasContainerID {
		opts = append(opts, client.InContainer(rq.containerID))
	}
	if rq.timeout != "" {
		opts = append(opts, client.ActionTimeout(rq.timeoutSec))
	}
	return opts
}

// query is the forwarded query string (same content as callOpts, in
// url.Values.Encode order).
func (rq routeQuery) query() string {
	if !rq.hasContainerID && rq.timeout == "" {
		return "forward=false"
	}
	var b strings.Builder
	if rq.hasContainerID {
		b.WriteString("containerId=" + url.QueryEscape(rq.containerID) + "&")
	}
	b.WriteString("forward=false")
	if rq.timeout != "" {
		b.WriteString("&timeout=" + strconv.Itoa(rq.timeoutSec))
	}
	return b.String()
}

func (p *Platform) candidates(rq routeQuery) []candidate {
	p.mu.RLock()
	defer p.mu.RUnlock()
	out := make([]candidate, 0, len(p.containers)+len(p.peers))
	for _, e := range p.containers {
		if !rq.hasContainerID || e.id == rq.containerID {
			out = append(out, candidate{local: e})
		}
	}
	if rq.forward {
		for _, pe := range p.peers {
			ps := pe.state.Load()
			if ps == nil {
				continue
			}
			if rq.hasContainerID && !ps.hasContainer(rq.containerID) {
				continue
			}
			out = append(out, candidate{peer: pe, ps: ps})
		}
	}
	return out
}

// agentAPI is what a candidate forwards agent calls to: the Agent
// Container API of a local container or the platform API of a connected
// platform.
type agentAPI interface {
	Send(ctx context.Context, agentID string, msg opaca.Message, opts ...client.CallOption) error
	Broadcast(ctx context.Context, channel string, msg opaca.Message, opts ...client.CallOption) error
	GetStream(ctx context.Context, stream, agentID string, opts ...client.CallOption) (io.ReadCloser, error)
	PostStream(ctx context.Context, stream, agentID string, body io.Reader, opts ...client.CallOption) error
}

// api returns the client a candidate's agent calls go through.
func (c candidate) api() agentAPI {
	if c.local != nil {
		return c.local.cc
	}
	return c.peer.cl
}

// containersOf returns the container descriptions a candidate offers.
func (c candidate) containers() []opaca.AgentContainer {
	if c.local != nil {
		return []opaca.AgentContainer{c.local.info}
	}
	return c.ps.info.Containers
}

func (c candidate) validator(containerID string) *argValidator {
	if c.local != nil {
		return c.local.val
	}
	return c.ps.vals[containerID]
}

// hasAgent reports whether an agent of that id exists in the candidate.
func (c candidate) hasAgent(agentID string, rq routeQuery) bool {
	for _, ac := range c.containers() {
		if rq.hasContainerID && ac.ContainerID != rq.containerID {
			continue
		}
		for _, a := range ac.Agents {
			if a.AgentID == agentID {
				return true
			}
		}
	}
	return false
}

func (c candidate) hasStream(stream, agentID string, rq routeQuery) bool {
	for _, ac := range c.containers() {
		if rq.hasContainerID && ac.ContainerID != rq.containerID {
			continue
		}
		for _, a := range ac.Agents {
			if agentID != "" && a.AgentID != agentID {
				continue
			}
			if _, ok := a.Stream(stream); ok {
				return true
			}
		}
	}
	return false
}

// matchInvoke returns (full match, action found but arguments invalid).
func (c candidate) matchInvoke(ctx context.Context, action, agentID string, body []byte, rq routeQuery) (bool, bool) {
	mismatch := false
	for _, ac := range c.containers() {
		if rq.hasContainerID && ac.ContainerID != rq.containerID {
			continue
		}
		for _, a := range ac.Agents {
			if agentID != "" && a.AgentID != agentID {
				continue
			}
			act, ok := a.Action(action)
			if !ok {
				continue
			}
			if c.validator(ac.ContainerID).valid(ctx, act, body) {
				return true, false
			}
			mismatch = true
		}
	}
	return false, mismatch
}

// forwardCtx bounds a forwarded call (spec §7.4).
func (p *Platform) invokeCtx(ctx context.Context, timeoutSec int) (context.Context, context.CancelFunc) {
	switch {
	case timeoutSec > 0:
		return context.WithTimeout(ctx, time.Duration(timeoutSec)*time.Second+10*time.Second)
	case p.cfg.forwardTimeout > 0:
		return context.WithTimeout(ctx, p.cfg.forwardTimeout)
	}
	return ctx, func() {} // the request context alone bounds the call
}

// writeUnserved answers an agent call that no candidate served: with the
// error of the last candidate that failed, or 404 when none could take it.
func writeUnserved(w http.ResponseWriter, lastErr error) {
	if lastErr == nil {
		lastErr = errNotFound
	}
	writeError(w, lastErr)
}

func (p *Platform) observeForward(ctx context.Context, receiver string, start time.Time, err error) {
	p.cfg.observer.Forward(info(ctx).route, receiver, err, time.Since(start))
}

func (p *Platform) handleInvoke(w http.ResponseWriter, r *http.Request) {
	action, agentID := r.PathValue("action"), r.PathValue("agentId")
	rq := parseRouteQuery(r)
	body, err := p.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}") // Go: an empty body is {}
	}
	// validation scans the raw body per candidate; decoding it into a map
	// here would cost an allocation per argument on the hot path
	if trimmed := bytes.TrimLeft(body, " \t\r\n"); len(trimmed) == 0 || trimmed[0] != '{' || !json.Valid(body) {
		writeError(w, apiErr(http.StatusUnprocessableEntity, "The invoke body must be a JSON object of arguments."))
		return
	}
	ctx := r.Context()
	var lastErr error
	mismatch := false
	for _, c := range p.candidates(rq) {
		full, mm := c.matchInvoke(ctx, action, agentID, body, rq)
		mismatch = mismatch || mm
		if !full {
			continue
		}
		res, err := p.invokeOn(ctx, c, action, agentID, body, rq)
		if err != nil {
			lastErr = downstreamErr(c.receiver(), err)
			continue
		}
		w.Header()["Content-Type"] = jsonContentType
		_, _ = w.Write(res)
		return
	}
	switch {
	case lastErr != nil:
		writeError(w, lastErr)
	case mismatch:
		writeError(w, apiErr(http.StatusBadRequest, "Provided arguments %s do not match action parameters.", strings.TrimSpace(string(body))))
	default:
		writeError(w, errNotFound)
	}
}

func (p *Platform) invokeOn(ctx context.Context, c candidate, action, agentID string, body []byte, rq routeQuery) (json.RawMessage, error) {
	cctx, cancel := p.invokeCtx(ctx, rq.timeoutSec)
	defer cancel()
	p.recordForward(ctx, c.receiver())
	start := time.Now()
	var res json.RawMessage
	var err error
	switch {
	case c.local != nil && c.local.mem != nil:
		tok := p.users.ContainerToken(info(ctx).user, c.local.id)
		res, err = p.invokeInMemory(cctx, c.local, tok, action, agentID, body, rq.query())
	case c.local != nil:
		opts := rq.callOpts()
		if tok := p.users.ContainerToken(info(ctx).user, c.local.id); tok != "" {
			opts = append(opts, client.LoginToken(tok))
		}
		res, err = c.local.cc.Invoke(cctx, action, agentID, json.RawMessage(body), opts...)
	default:
		res, err = c.peer.cl.InvokeRaw(cctx, action, agentID, body, rq.query())
	}
	p.observeForward(ctx, c.receiver(), start, err)
	return res, err
}

func (p *Platform) decodeMessage(w http.ResponseWriter, r *http.Request) (opaca.Message, []byte, error) {
	var msg opaca.Message
	body, err := p.readBody(w, r)
	if err != nil {
		return msg, nil, err
	}
	if err := decodeStrict(body, &msg); err != nil {
		return msg, nil, err
	}
	return msg, body, nil
}

func (p *Platform) handleSend(w http.ResponseWriter, r *http.Request) {
	agentID := r.PathValue("agentId")
	rq := parseRouteQuery(r)
	msg, _, err := p.decodeMessage(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx := r.Context()
	var lastErr error
	for _, c := range p.candidates(rq) {
		if !c.hasAgent(agentID, rq) {
			continue
		}
		if err := p.sendTo(ctx, c, agentID, msg, rq); err != nil {
			lastErr = downstreamErr(c.receiver(), err)
			continue
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	writeUnserved(w, lastErr)
}

func (p *Platform) sendTo(ctx context.Context, c candidate, agentID string, msg opaca.Message, rq routeQuery) error {
	cctx, cancel := context.WithTimeout(ctx, forwardJSONTimeout)
	defer cancel()
	p.recordForward(ctx, c.receiver())
	start := time.Now()
	err := c.api().Send(cctx, agentID, msg, rq.callOpts()...)
	p.observeForward(ctx, c.receiver(), start, err)
	return err
}

// handleBroadcast delivers to every matching container and, with forward,
// every connected platform — not only the first one as the reference does.
func (p *Platform) handleBroadcast(w http.ResponseWriter, r *http.Request) {
	channel := r.PathValue("channel")
	rq := parseRouteQuery(r)
	msg, _, err := p.decodeMessage(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx := r.Context()
	cands := p.candidates(rq)
	if len(cands) == 0 {
		w.WriteHeader(http.StatusOK)
		return
	}
	var (
		wg      sync.WaitGroup
		ok      atomic.Int32
		mu      sync.Mutex
		lastErr error
	)
	for _, c := range cands {
		wg.Add(1)
		go func(c candidate) {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, forwardJSONTimeout)
			defer cancel()
			p.recordForward(ctx, c.receiver())
			start := time.Now()
			err := c.api().Broadcast(cctx, channel, msg, rq.callOpts()...)
			p.observeForward(ctx, c.receiver(), start, err)
			if err != nil {
				mu.Lock()
				lastErr = downstreamErr(c.receiver(), err)
				mu.Unlock()
				return
			}
			ok.Add(1)
		}(c)
	}
	wg.Wait()
	if ok.Load() == 0 && lastErr != nil {
		writeError(w, lastErr)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (p *Platform) streamOpts(ctx context.Context, c candidate, rq routeQuery) []client.CallOption {
	opts := rq.callOpts()
	if c.local != nil {
		if tok := p.users.ContainerToken(info(ctx).user, c.local.id); tok != "" {
			opts = append(opts, client.LoginToken(tok))
		}
	}
	return opts
}

func (p *Platform) handleGetStream(w http.ResponseWriter, r *http.Request) {
	stream, agentID := r.PathValue("stream"), r.PathValue("agentId")
	rq := parseRouteQuery(r)
	ctx := r.Context()
	var lastErr error
	for _, c := range p.candidates(rq) {
		if !c.hasStream(stream, agentID, rq) {
			continue
		}
		p.recordForward(ctx, c.receiver())
		sctx, cancel := context.WithCancel(ctx)
		headerTimer := time.AfterFunc(streamHeaderTimeout, cancel)
		start := time.Now()
		rc, err := c.api().GetStream(sctx, stream, agentID, p.streamOpts(ctx, c, rq)...)
		headerStopped := headerTimer.Stop()
		p.observeForward(ctx, c.receiver(), start, err)
		if err == nil && !headerStopped {
			rc.Close()
			err = context.DeadlineExceeded
		}
		if err != nil {
			cancel()
			lastErr = downstreamErr(c.receiver(), err)
			continue
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(http.StatusOK)
		// Headers go out before the first byte: the stream may be silent
		// for a while and the caller waits for them.
		_ = http.NewResponseController(w).Flush()
		copyFlush(w, rc)
		rc.Close()
		cancel()
		return
	}
	writeUnserved(w, lastErr)
}

// copyFlush relays a stream unbuffered.
func copyFlush(w http.ResponseWriter, r io.Reader) {
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return
			}
			_ = rc.Flush()
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				// abort the connection so the client sees the stream broke
				panic(http.ErrAbortHandler)
			}
			return
		}
	}
}

// touchReader remembers whether anything was read, so a failed POST stream
// can go to the next candidate only while no byte has been relayed.
type touchReader struct {
	r       io.Reader
	touched bool
}

func (t *touchReader) Read(b []byte) (int, error) {
	n, err := t.r.Read(b)
	if n > 0 {
		t.touched = true
	}
	return n, err
}

func (p *Platform) handlePostStream(w http.ResponseWriter, r *http.Request) {
	stream, agentID := r.PathValue("stream"), r.PathValue("agentId")
	rq := parseRouteQuery(r)
	ctx := r.Context()
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/octet-stream"
	}
	body := &touchReader{r: r.Body}
	var lastErr error
	for _, c := range p.candidates(rq) {
		if !c.hasStream(stream, agentID, rq) {
			continue
		}
		if body.touched {
			break
		}
		p.recordForward(ctx, c.receiver())
		opts := append(p.streamOpts(ctx, c, rq), client.ContentType(ct))
		start := time.Now()
		err := c.api().PostStream(ctx, stream, agentID, body, opts...)
		p.observeForward(ctx, c.receiver(), start, err)
		if err != nil {
			lastErr = downstreamErr(c.receiver(), err)
			continue
		}
		w.WriteHeader(http.StatusOK)
		return
	}
	writeUnserved(w, lastErr)
}

func (p *Platform) handleAgents(w http.ResponseWriter, r *http.Request) {
	out := []opaca.AgentDescription{}
	for _, e := range p.snapshotContainers() {
		out = append(out, e.info.Agents...)
	}
	if strings.EqualFold(r.URL.Query().Get("includeConnected"), "true") {
		for _, pe := range p.snapshotPeers() {
			if ps := pe.state.Load(); ps != nil {
				for _, ac := range ps.info.Containers {
					out = append(out, ac.Agents...)
				}
			}
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (p *Platform) handleAgent(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("agentId")
	for _, e := range p.snapshotContainers() {
		for _, a := range e.info.Agents {
			if a.AgentID == id {
				writeJSON(w, http.StatusOK, a)
				return
			}
		}
	}
	for _, pe := range p.snapshotPeers() {
		if ps := pe.state.Load(); ps != nil {
			for _, ac := range ps.info.Containers {
				for _, a := range ac.Agents {
					if a.AgentID == id {
						writeJSON(w, http.StatusOK, a)
						return
					}
				}
			}
		}
	}
	w.WriteHeader(http.StatusOK) // not found: empty 200 (spec §5.4)
}
