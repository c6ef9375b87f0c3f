package platform

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
	"github.com/meshkit/meshkit/opaca/platform/auth"
)

// peerState is the cached description of a connected platform with the
// argument validators of its containers (rebuilt on every refresh).
type peerState struct {
	info opaca.RuntimePlatform
	vals map[string]*argValidator
}

func (ps *peerState) hasContainer(id string) bool {
	for _, c := range ps.info.Containers {
		if c.ContainerID == id {
			return true
		}
	}
	return false
}

// peer is a connection to another platform (spec §9.1).
type peer struct {
	url         string
	cl          *client.Client
	connectBack bool
	state       atomic.Pointer[peerState]

	cancel   context.CancelFunc
	done     chan struct{}
	stopOnce sync.Once
}

// stop ends the subscription (close code 1000) and token renewal.
func (pe *peer) stop() {
	pe.stopOnce.Do(func() {
		pe.cancel()
		<-pe.done
		_ = pe.cl.Close()
	})
}

// pendingConnect is a connect procedure in flight (spec §9.4).
type pendingConnect struct {
	mu    sync.Mutex
	token string // handed over by a request that hit the pending set
}

func (p *Platform) snapshotPeers() []*peer {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return slices.Clone(p.peers)
}

func (p *Platform) findPeer(url string) *peer {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, pe := range p.peers {
		if pe.url == url {
			return pe
		}
	}
	return nil
}

func newPeerState(info opaca.RuntimePlatform, log slogger) *peerState {
	ps := &peerState{info: info, vals: map[string]*argValidator{}}
	for _, c := range info.Containers {
		ps.vals[c.ContainerID] = newArgValidator(c.Image, log)
	}
	return ps
}

// connectBody is every accepted form of the POST/DELETE /connections body.
type connectBody struct {
	URL         string  `json:"url"`
	ConnectBack bool    `json:"connectBack"`
	Token       *string `json:"token"`
	Username    string  `json:"username"`
	Password    string  `json:"password"`
}

func (p *Platform) decodeConnect(w http.ResponseWriter, r *http.Request) (connectBody, string, error) {
	var cb connectBody
	body, err := p.readBody(w, r)
	if err != nil {
		return cb, "", err
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return cb, "", apiErr(http.StatusBadRequest, "Missing request body.")
	}
	if trimmed[0] == '{' {
		if err := decodeStrict(trimmed, &cb); err != nil {
			return cb, "", err
		}
	} else {
		cb.URL = bodyString(trimmed) // older clients send the bare URL
	}
	if cb.URL == "" {
		return cb, "", apiErr(http.StatusBadRequest, "Missing url.")
	}
	u, err := normalizeURL(cb.URL)
	if err != nil {
		return cb, "", apiErr(http.StatusBadRequest, "Invalid URL: %s", cb.URL)
	}
	return cb, u, nil
}

func (p *Platform) handleConnections(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, p.connectionURLs())
}

func (p *Platform) connectionURLs() []string {
	out := []string{}
	for _, pe := range p.snapshotPeers() {
		out = append(out, pe.url)
	}
	return out
}

func (p *Platform) handleConnect(w http.ResponseWriter, r *http.Request) {
	cb, u, err := p.decodeConnect(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	token := ""
	if cb.Token != nil {
		token = *cb.Token
	}
	if token == "" && cb.Username != "" {
		// older credential form: log in at the peer to get a token
		lc, err := client.New(u, client.WithHTTPClient(p.httpClient()), client.WithSenderID(p.cfg.publicURL))
		if err != nil {
			writeError(w, apiErr(http.StatusBadRequest, "Invalid URL: %s", u))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		token, err = lc.Login(ctx, cb.Username, cb.Password)
		cancel()
		_ = lc.Close()
		if err != nil {
			writeError(w, downstreamErr(u, err))
			return
		}
	}
	ok, err := p.connectTo(r.Context(), u, token, cb.ConnectBack, info(r.Context()).user)
	if err != nil {
		writeError(w, err)
		return
	}
	writeBool(w, ok)
}

// connectTo runs the connect procedure of spec §9.2 towards url.
func (p *Platform) connectTo(ctx context.Context, url, token string, connectBack bool, caller string) (bool, error) {
	if url == p.cfg.publicURL {
		return false, nil
	}
	p.mu.Lock()
	if slices.ContainsFunc(p.peers, func(pe *peer) bool { return pe.url == url }) {
		p.mu.Unlock()
		return false, nil
	}
	if pc, ok := p.pending[url]; ok {
		p.mu.Unlock()
		// a nested or simultaneous request: answer at once, hand over the token
		if token != "" {
			pc.mu.Lock()
			if pc.token == "" {
				pc.token = token
			}
			pc.mu.Unlock()
		}
		return true, nil
	}
	pc := &pendingConnect{}
	p.pending[url] = pc
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.pending, url)
		p.mu.Unlock()
	}()

	cl, err := client.New(url,
		client.WithToken(token),
		client.WithSenderID(p.cfg.publicURL),
		client.WithHTTPClient(p.httpClient()),
		client.WithTokenRenewal(),
		client.WithLogger(p.cfg.logger),
		client.WithObserver(client.ObserverFunc(func(_, path string, status int, _ time.Duration) {
			if path == "/token" && status == http.StatusOK {
				p.changed() // a renewed peer token goes into the state file
			}
		})),
	)
	if err != nil {
		return false, apiErr(http.StatusBadRequest, "Invalid URL: %s", url)
	}
	ictx, cancel := context.WithTimeout(ctx, 30*time.Second)
	rp, err := cl.Info(ictx)
	cancel()
	if err != nil {
		_ = cl.Close()
		return false, downstreamErr(url, err)
	}
	if connectBack {
		var back string
		if p.cfg.requireAuth {
			if back, err = p.signer.Issue(url, auth.ConnectBackTokenTTL); err != nil {
				_ = cl.Close()
				return false, err
			}
		}
		role, privs := auth.RoleUser, []string(nil)
		if p.cfg.requireAuth {
			if u, ok := p.users.Get(caller); ok {
				role, privs = u.Role, u.Privileges
			}
		}
		if existing, ok := p.users.Get(url); ok && caller == "" {
			role, privs = existing.Role, existing.Privileges // restore keeps the role
		}
		if _, err := p.users.PutTemporary(url, role, privs); err != nil {
			_ = cl.Close()
			return false, err
		}
		bctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err = cl.Connect(bctx, opaca.ConnectionRequest{URL: p.cfg.publicURL, ConnectBack: false, Token: back})
		cancel()
		if err != nil {
			p.users.Delete(url)
			_ = cl.Close()
			return false, downstreamErr(url, err)
		}
	}
	if cl.Token() == "" {
		pc.mu.Lock()
		if pc.token != "" {
			cl.SetToken(pc.token)
		}
		pc.mu.Unlock()
	}
	pctx, pcancel := context.WithCancel(p.ctx)
	pe := &peer{url: url, cl: cl, connectBack: connectBack, cancel: pcancel, done: make(chan struct{})}
	pe.state.Store(newPeerState(*rp, p.log))
	p.mu.Lock()
	if p.ctx.Err() != nil {
		p.mu.Unlock()
		pcancel()
		close(pe.done)
		_ = cl.Close()
		return false, ErrClosed
	}
	p.peers = append(p.peers, pe)
	p.bg.Add(1)
	p.mu.Unlock()
	go func() {
		defer p.bg.Done()
		defer close(pe.done)
		p.superviseSubscription(pctx, pe)
	}()
	p.changed()
	p.cfg.observer.Connected(url)
	p.log.Info("connected to platform", "url", url, "connectBack", connectBack)
	return true, nil
}

// superviseSubscription keeps the /containers subscription to a peer open
// (spec §9.6): every event refreshes the cached description; when the
// websocket is lost, the peer is refreshed via /info and resubscribed with
// backoff; a peer unreachable for peerDropAfter is disconnected.
func (p *Platform) superviseSubscription(ctx context.Context, pe *peer) {
	backoff := time.Second
	var downSince time.Time
	for {
		sub, err := pe.cl.Subscribe(ctx, "/containers", client.NoReconnect())
		if err == nil {
			backoff, downSince = time.Second, time.Time{}
			for range sub.Events() {
				if err := p.refreshPeer(ctx, pe); err != nil && ctx.Err() == nil {
					p.log.Warn("refreshing connected platform failed", "url", pe.url, "err", err)
				}
			}
			_ = sub.Close()
		} else if ctx.Err() == nil {
			p.log.Debug("subscribing to connected platform failed", "url", pe.url, "err", err)
		}
		if ctx.Err() != nil {
			return
		}
		if err := p.refreshPeer(ctx, pe); err != nil {
			if ctx.Err() != nil {
				return
			}
			if downSince.IsZero() {
				downSince = time.Now()
			}
			if time.Since(downSince) >= p.cfg.peerDropAfter {
				p.log.Warn("connected platform unreachable; disconnecting", "url", pe.url)
				p.bg.Add(1) // safe: this goroutine still holds a count
				go func() {
					defer p.bg.Done()
					p.dropPeer(pe.url) // waits for this goroutine to end
				}()
				return
			}
		} else {
			downSince = time.Time{}
		}
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, 30*time.Second)
	}
}

// refreshPeer re-reads a peer's /info with the stored token.
func (p *Platform) refreshPeer(ctx context.Context, pe *peer) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	rp, err := pe.cl.Info(ctx)
	if err != nil {
		return err
	}
	pe.state.Store(newPeerState(*rp, p.log))
	return nil
}

// dropPeer is the local half of a disconnect (spec §9.3 step 2).
func (p *Platform) dropPeer(url string) (*peer, bool) {
	p.mu.Lock()
	idx := slices.IndexFunc(p.peers, func(pe *peer) bool { return pe.url == url })
	if idx < 0 {
		p.mu.Unlock()
		return nil, false
	}
	pe := p.peers[idx]
	p.peers = slices.Delete(slices.Clone(p.peers), idx, idx+1)
	p.mu.Unlock()
	p.users.Delete(url)
	pe.stop()
	p.changed()
	p.cfg.observer.Disconnected(url)
	p.log.Info("disconnected from platform", "url", url)
	return pe, true
}

func (p *Platform) handleDisconnect(w http.ResponseWriter, r *http.Request) {
	cb, u, err := p.decodeConnect(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	pe, ok := p.dropPeer(u)
	if !ok {
		writeBool(w, false)
		return
	}
	if cb.ConnectBack {
		tok := pe.cl.Token()
		if cb.Token != nil && *cb.Token != "" {
			tok = *cb.Token
		}
		dc, err := client.New(u, client.WithToken(tok), client.WithSenderID(p.cfg.publicURL), client.WithHTTPClient(p.httpClient()))
		if err == nil {
			ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
			_, err = dc.Disconnect(ctx, opaca.ConnectionRequest{URL: p.cfg.publicURL})
			cancel()
			_ = dc.Close()
		}
		if err != nil {
			writeError(w, downstreamErr(u, err))
			return
		}
	}
	writeBool(w, true)
}

func (p *Platform) handleNotifyConnection(w http.ResponseWriter, r *http.Request) {
	body, err := p.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	u, err := normalizeURL(bodyString(body))
	if err != nil {
		writeError(w, apiErr(http.StatusBadRequest, "Invalid URL: %s", bodyString(body)))
		return
	}
	if u == p.cfg.publicURL {
		writeBool(w, false)
		return
	}
	pe := p.findPeer(u)
	if pe == nil {
		writeError(w, errNotFound)
		return
	}
	if err := p.refreshPeer(r.Context(), pe); err != nil {
		p.log.Warn("connected platform unreachable on notify; disconnecting", "url", u, "err", err)
		p.dropPeer(u)
		writeBool(w, false)
		return
	}
	writeBool(w, true)
}

// tellPeerToDrop asks a peer to drop us at shutdown (best effort, §9.8).
func (p *Platform) tellPeerToDrop(pe *peer) {
	dc, err := client.New(pe.url, client.WithToken(pe.cl.Token()), client.WithSenderID(p.cfg.publicURL), client.WithHTTPClient(p.httpClient()))
	if err != nil {
		return
	}
	defer dc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := dc.Disconnect(ctx, opaca.ConnectionRequest{URL: p.cfg.publicURL}); err != nil {
		p.log.Debug("peer did not drop us at shutdown", "url", pe.url, "err", err)
	}
}
