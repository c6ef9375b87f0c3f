package platform

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
	"github.com/meshkit/meshkit/opaca/platform/auth"
)

// containerEntry is one running container (spec §8.1). Entries are
// replaced, never modified, once they are in the table, so a reader may use
// an entry after releasing the lock.
type containerEntry struct {
	id     string
	seq    uint64
	owner  string
	token  string
	info   opaca.AgentContainer
	req    opaca.PostAgentContainer
	runner Runner
	handle string
	url    string
	api    PortBinding
	extra  []PortBinding
	cc     *client.ContainerClient
	val    *argValidator
	mem    http.Handler // in-process containers: their API, called in memory
	bearer []string     // Authorization header value for in-memory calls; nil without token
}

// ports returns the reserved host ports.
func (e *containerEntry) hostPorts() []int {
	var out []int
	if e.api.HostPort > 0 && e.runner.Kind() != KindAdopted {
		out = append(out, e.api.HostPort)
	}
	for _, x := range e.extra {
		out = append(out, x.HostPort)
	}
	return out
}

func (e *containerEntry) imageName() string {
	if e.req.Image.ImageName != "" {
		return e.req.Image.ImageName
	}
	return e.info.Image.ImageName
}

func (p *Platform) snapshotContainers() []*containerEntry {
	p.mu.RLock()
	defer p.mu.RUnlock()
	return slices.Clone(p.containers)
}

func (p *Platform) container(id string) *containerEntry {
	p.mu.RLock()
	defer p.mu.RUnlock()
	for _, e := range p.containers {
		if e.id == id {
			return e
		}
	}
	return nil
}

// pickRunner selects the container client by image name (spec §8.3).
func (p *Platform) pickRunner(name string) (Runner, error) {
	switch {
	case isAdoptURL(name):
		return p.adopted, nil
	case p.inproc.factories[name] != nil:
		return p.inproc, nil
	case p.process.commands[name] != "":
		return p.process, nil
	case p.cfg.backend != nil:
		return p.cfg.backend, nil
	case p.docker != nil:
		return p.docker, nil
	}
	return nil, apiErr(http.StatusNotFound, "Image not found: %s", name)
}

// provisions lists what the platform provides (spec §8.6).
func (p *Platform) provisions() []string {
	out := []string{
		"config:container-env=" + p.cfg.containerEnv,
		"config:platform-env=" + p.cfg.platformEnv,
		"config:session-policy=" + p.cfg.sessionPolicy,
		"config:require-auth=" + strconv.FormatBool(p.cfg.requireAuth),
	}
	seen := map[string]bool{}
	for _, s := range out {
		seen[s] = true
	}
	add := func(s string) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	for _, e := range p.snapshotContainers() {
		add("image:" + e.info.Image.ImageName)
		for _, pr := range e.info.Image.Provides {
			add(pr)
		}
		for _, a := range e.info.Agents {
			add("agent:" + a.AgentType)
			for _, act := range a.Actions {
				add("action:" + act.Name)
			}
		}
	}
	return out
}

// buildEnv builds the parameter part of the environment (spec §8.4).
func buildParams(req opaca.PostAgentContainer) (map[string]string, error) {
	env := map[string]string{}
	for _, prm := range req.Image.Parameters {
		if v, ok := req.Arguments[prm.Name]; ok {
			env[prm.Name] = v
			continue
		}
		if prm.Required {
			return nil, apiErr(http.StatusBadRequest, "Missing required parameter: %s", prm.Name)
		}
		if d, ok := prm.DefaultString(); ok {
			env[prm.Name] = d
		}
	}
	return env, nil
}

type startOpts struct {
	owner   string
	timeout time.Duration
	id      string // restore: keep the id
	token   string // restore: keep a still valid token
}

// startContainer runs spec §8.2 steps 2-11 and stores the entry.
func (p *Platform) startContainer(ctx context.Context, req opaca.PostAgentContainer, so startOpts) (*containerEntry, error) {
	img := req.Image
	if req.ClientConfig != nil && req.ClientConfig.Type != "" && !strings.EqualFold(string(req.ClientConfig.Type), p.cfg.containerEnv) {
		return nil, apiErr(http.StatusBadRequest, "Client config type %s does not match the platform's container environment %s.", req.ClientConfig.Type, p.cfg.containerEnv)
	}
	if len(img.Requires) > 0 {
		have := map[string]bool{}
		for _, s := range p.provisions() {
			have[s] = true
		}
		var missing []string
		for _, r := range img.Requires {
			if !have[r] {
				missing = append(missing, r)
			}
		}
		if len(missing) > 0 {
			return nil, apiErr(http.StatusBadRequest, "Unmet requirements: %s", strings.Join(missing, ", "))
		}
	}
	runner, err := p.pickRunner(img.ImageName)
	if err != nil {
		return nil, err
	}
	params, err := buildParams(req)
	if err != nil {
		return nil, err
	}
	id := so.id
	if id == "" {
		id = uuid.NewString()
	}
	token, owner := "", ""
	if p.cfg.requireAuth {
		owner = so.owner
		token = so.token
		if token == "" {
			if token, err = p.signer.Issue(id, auth.ContainerTokenTTL); err != nil {
				return nil, err
			}
		}
	}
	role, privs := auth.RoleUser, []string(nil)
	if p.cfg.requireAuth {
		if u, ok := p.users.Get(so.owner); ok {
			role, privs = u.Role, u.Privileges
		}
	}
	if _, err := p.users.PutTemporary(id, role, privs); err != nil {
		return nil, err
	}
	e := &containerEntry{id: id, owner: owner, token: token, req: req, runner: runner}
	fail := func(err error) (*containerEntry, error) {
		p.ports.release(e.hostPorts()...)
		p.users.Delete(id)
		return nil, err
	}
	// ports (§8.5)
	e.api = PortBinding{ContainerPort: img.EffectiveAPIPort()}
	if runner.Kind() != KindAdopted {
		bind := runner.Kind() == KindInProcess || runner.Kind() == KindProcess
		if e.api.HostPort, err = p.ports.reserve(id, e.api.ContainerPort, false, bind); err != nil {
			return fail(err)
		}
		var extra []int
		for k := range img.ExtraPorts {
			n, err := strconv.Atoi(k)
			if err != nil {
				return fail(apiErr(http.StatusBadRequest, "Invalid extra port %q.", k))
			}
			extra = append(extra, n)
		}
		sort.Ints(extra)
		for _, cp := range extra {
			udp := img.ExtraPorts[strconv.Itoa(cp)].IsUDP()
			hp, err := p.ports.reserve(id, cp, udp, bind)
			if err != nil {
				return fail(err)
			}
			e.extra = append(e.extra, PortBinding{ContainerPort: cp, HostPort: hp, UDP: udp})
		}
	}
	env := params
	env[opaca.EnvContainerID] = id
	env[opaca.EnvPlatformURL] = p.cfg.publicURL
	env[opaca.EnvToken] = token
	env[opaca.EnvOwner] = owner
	pm := map[int]int{}
	if runner.Kind() != KindAdopted {
		pm[e.api.ContainerPort] = e.api.HostPort
		for _, x := range e.extra {
			pm[x.ContainerPort] = x.HostPort
		}
	}
	env[opaca.EnvPortMapping] = opaca.FormatPortMapping(e.api.ContainerPort, pm)

	started, err := runner.Start(ctx, StartRequest{ContainerID: id, ImageName: img.ImageName, Env: env, API: e.api, Extra: e.extra, Pull: req.Pull})
	if err != nil {
		switch {
		case errors.Is(err, ErrImageNotFound):
			return fail(&APIError{Status: http.StatusNotFound, Message: "Image not found or pull failed: " + img.ImageName, Err: err})
		case errors.Is(err, ErrInvalidParameters):
			return fail(&APIError{Status: http.StatusBadRequest, Message: err.Error(), Err: err})
		}
		return fail(&APIError{Status: http.StatusBadGateway, Message: "Container failed to start: " + err.Error(), Err: err})
	}
	e.handle, e.url = started.Handle, started.URL
	if runner.Kind() == KindAdopted {
		e.api.HostPort = started.APIHostPort
	}
	e.cc, err = client.NewContainer(e.url, client.WithToken(token), client.WithSenderID(p.cfg.publicURL), client.WithHTTPClient(p.httpClient()))
	if err != nil {
		_ = runner.Stop(context.Background(), e.handle)
		return fail(&APIError{Status: http.StatusBadGateway, Message: err.Error(), Err: err})
	}
	timeout := so.timeout
	if timeout <= 0 {
		timeout = p.cfg.containerTimeout
	}
	info, err := p.waitForInfo(ctx, e, time.Now().Add(timeout))
	if err != nil {
		_ = runner.Stop(context.Background(), e.handle)
		return fail(err)
	}
	if runner.Kind() == KindInProcess {
		// the container is up: from now on call it in memory when it can
		if h := p.inproc.handler(e.handle); h != nil {
			e.mem = h
			if token != "" {
				e.bearer = []string{"Bearer " + token}
			}
			if fast, err := client.NewContainer(e.url, client.WithToken(token), client.WithSenderID(p.cfg.publicURL),
				client.WithHTTPClient(&http.Client{Transport: memTransport{h}})); err == nil {
				e.cc = fast
			}
		}
	}
	extraMap := map[string]opaca.PortDescription{}
	for _, x := range e.extra {
		extraMap[strconv.Itoa(x.HostPort)] = img.ExtraPorts[strconv.Itoa(x.ContainerPort)]
	}
	info.ContainerID = id
	info.Owner = owner
	stripConfidential(info, req.Image)
	info.Connectivity = &opaca.Connectivity{PublicURL: started.PublicURL, APIPortMapping: started.APIHostPort, ExtraPortMappings: extraMap}
	e.info = *info
	e.val = newArgValidator(info.Image, p.log)
	p.mu.Lock()
	if p.ctx.Err() != nil {
		p.mu.Unlock()
		_ = runner.Stop(context.Background(), e.handle)
		return fail(ErrClosed)
	}
	p.seq++
	e.seq = p.seq
	p.containers = append(p.containers, e)
	p.mu.Unlock()
	p.changed()
	p.cfg.observer.ContainerStarted(id, img.ImageName)
	p.log.Info("container started", "id", id, "image", img.ImageName, "kind", runner.Kind())
	return e, nil
}

// waitForInfo polls the container's /info until it answers (spec §8.2
// step 9).
func (p *Platform) waitForInfo(ctx context.Context, e *containerEntry, deadline time.Time) (*opaca.AgentContainer, error) {
	var lastErr error
	for {
		alive, err := e.runner.Alive(ctx, e.handle)
		if err == nil && !alive {
			return nil, apiErr(http.StatusBadGateway, "Container failed to start.")
		}
		remaining := time.Until(deadline)
		if remaining <= 0 {
			msg := "Container did not answer /info within the timeout."
			if lastErr != nil {
				msg += " Last error: " + lastErr.Error()
			}
			return nil, &APIError{Status: http.StatusBadGateway, Message: msg, Err: lastErr}
		}
		actx, cancel := context.WithTimeout(ctx, min(5*time.Second, remaining))
		body, err := e.cc.InfoRaw(actx)
		cancel()
		if err == nil {
			info, derr := decodeInfo(body, e.id)
			if derr != nil {
				return nil, &APIError{Status: http.StatusBadGateway, Message: "Container returned malformed /info: " + derr.Error(), Err: derr}
			}
			return info, nil
		}
		lastErr = err
		if ctx.Err() != nil {
			return nil, &APIError{Status: http.StatusBadGateway, Message: "Container start aborted.", Err: ctx.Err()}
		}
		wait := min(p.cfg.pollInterval, time.Until(deadline))
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
	}
}

// stripConfidential removes confidential parameter values a container
// reported in its /info anyway: they must never be served (spec §3.2).
func stripConfidential(info *opaca.AgentContainer, posted opaca.AgentContainerImage) {
	for _, params := range [][]opaca.ImageParameter{posted.Parameters, info.Image.Parameters} {
		for _, prm := range params {
			if prm.Confidential {
				delete(info.Arguments, prm.Name)
			}
		}
	}
}

// acDoc decodes an AgentContainer without its required-field check, which
// decodeInfo runs after putting in the assigned id.
type acDoc opaca.AgentContainer

// decodeInfo reads a container's /info leniently. The reported
// containerId does not matter (the platform overwrites it with the
// assigned one, spec §8.2), so an adopted container that reports none is
// fine; other missing required fields are errors.
func decodeInfo(body []byte, id string) (*opaca.AgentContainer, error) {
	var doc acDoc
	if err := opaca.DecodeLenient(body, &doc); err != nil {
		return nil, err
	}
	ac := (*opaca.AgentContainer)(&doc)
	ac.ContainerID = id
	if err := ac.Check(); err != nil {
		return nil, err
	}
	return ac, nil
}

// removeContainer forgets a container and stops it (spec §8.2).
func (p *Platform) removeContainer(ctx context.Context, id string) bool {
	p.mu.Lock()
	idx := slices.IndexFunc(p.containers, func(e *containerEntry) bool { return e.id == id })
	if idx < 0 {
		p.mu.Unlock()
		return false
	}
	e := p.containers[idx]
	p.containers = slices.Delete(slices.Clone(p.containers), idx, idx+1)
	p.mu.Unlock()
	p.users.Delete(id)
	p.users.ForgetContainer(id)
	if err := e.runner.Stop(ctx, e.handle); err != nil {
		p.log.Warn("stopping container failed", "id", id, "err", err)
	}
	p.ports.release(e.hostPorts()...)
	p.changed()
	p.cfg.observer.ContainerStopped(id)
	p.log.Info("container removed", "id", id)
	return true
}

// mayManage reports whether the current user may delete a container
// (spec §11.5).
func (p *Platform) mayManage(ctx context.Context, e *containerEntry) bool {
	if !p.cfg.requireAuth {
		return true
	}
	user := info(ctx).user
	if user == p.cfg.adminUser || user == e.owner {
		return true
	}
	u, ok := p.users.Get(user)
	return ok && u.Role == auth.RoleAdmin
}

func timeoutParam(r *http.Request) time.Duration {
	n, err := strconv.Atoi(r.URL.Query().Get("timeout"))
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(n) * time.Second
}

func (p *Platform) decodePost(w http.ResponseWriter, r *http.Request) (opaca.PostAgentContainer, error) {
	var req opaca.PostAgentContainer
	body, err := p.readBody(w, r)
	if err != nil {
		return req, err
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return req, apiErr(http.StatusBadRequest, "Missing request body.")
	}
	return req, decodeStrict(body, &req)
}

func (p *Platform) handlePostContainer(w http.ResponseWriter, r *http.Request) {
	req, err := p.decodePost(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	e, err := p.startContainer(r.Context(), req, startOpts{owner: info(r.Context()).user, timeout: timeoutParam(r)})
	if err != nil {
		writeError(w, err)
		return
	}
	writeText(w, e.id)
}

func (p *Platform) handlePutContainer(w http.ResponseWriter, r *http.Request) {
	req, err := p.decodePost(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var matches []*containerEntry
	for _, e := range p.snapshotContainers() {
		if e.imageName() == req.Image.ImageName {
			matches = append(matches, e)
		}
	}
	if len(matches) != 1 {
		writeError(w, apiErr(http.StatusBadRequest, "Expected exactly one running container of image %s, found %d.", req.Image.ImageName, len(matches)))
		return
	}
	if !p.mayManage(r.Context(), matches[0]) {
		writeError(w, apiErr(http.StatusForbidden, "Only the owner or an admin may replace container %s.", matches[0].id))
		return
	}
	p.removeContainer(r.Context(), matches[0].id)
	e, err := p.startContainer(r.Context(), req, startOpts{owner: info(r.Context()).user, timeout: timeoutParam(r)})
	if err != nil {
		writeError(w, err)
		return
	}
	writeText(w, e.id)
}

func (p *Platform) containerList() []opaca.AgentContainer {
	entries := p.snapshotContainers()
	out := make([]opaca.AgentContainer, 0, len(entries))
	for _, e := range entries {
		out = append(out, e.info)
	}
	return out
}

func (p *Platform) handleContainers(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, p.containerList())
}

func (p *Platform) handleContainer(w http.ResponseWriter, r *http.Request) {
	e := p.container(r.PathValue("id"))
	if e == nil {
		w.WriteHeader(http.StatusOK) // "null" of the reference: empty 200
		return
	}
	writeJSON(w, http.StatusOK, e.info)
}

func (p *Platform) handleDeleteContainer(w http.ResponseWriter, r *http.Request) {
	e := p.container(r.PathValue("id"))
	if e == nil {
		writeBool(w, false)
		return
	}
	if !p.mayManage(r.Context(), e) {
		writeError(w, apiErr(http.StatusForbidden, "Only the owner or an admin may delete container %s.", e.id))
		return
	}
	writeBool(w, p.removeContainer(r.Context(), e.id))
}

func (p *Platform) handleContainerLogin(w http.ResponseWriter, r *http.Request) {
	e := p.container(r.PathValue("id"))
	if e == nil {
		writeError(w, errNotFound)
		return
	}
	login, err := p.decodeLogin(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	p.recordForward(r.Context(), e.url)
	tok, err := e.cc.Login(ctx, login.Username, login.Password)
	if err != nil {
		writeError(w, downstreamErr(e.url, err))
		return
	}
	user := info(r.Context()).user
	if err := p.users.SetContainerToken(user, e.id, tok); err != nil {
		writeError(w, apiErr(http.StatusBadRequest, "No current user to store the container login for."))
		return
	}
	writeText(w, tok)
}

func (p *Platform) handleContainerLogout(w http.ResponseWriter, r *http.Request) {
	e := p.container(r.PathValue("id"))
	if e == nil {
		writeError(w, errNotFound)
		return
	}
	user := info(r.Context()).user
	tok, ok := p.users.TakeContainerToken(user, e.id)
	if !ok {
		writeBool(w, false)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	p.recordForward(r.Context(), e.url)
	res, err := e.cc.Logout(ctx, tok)
	if err != nil {
		writeError(w, downstreamErr(e.url, err))
		return
	}
	writeBool(w, res)
}

func (p *Platform) handleNotifyContainer(w http.ResponseWriter, r *http.Request) {
	body, err := p.readBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	id := bodyString(body)
	if id == "" {
		writeError(w, apiErr(http.StatusBadRequest, "Missing container id."))
		return
	}
	if p.cfg.requireAuth {
		user := info(r.Context()).user
		u, ok := p.users.Get(user)
		if user != id && (!ok || !u.Role.Includes(auth.RoleContributor)) {
			writeError(w, apiErr(http.StatusForbidden, "Access denied: role CONTRIBUTOR or the container itself required."))
			return
		}
	}
	ok, err := p.refreshContainer(r.Context(), id)
	if err != nil {
		writeError(w, err)
		return
	}
	writeBool(w, ok)
}

// refreshContainer re-reads a container's /info (notify, then pull).
func (p *Platform) refreshContainer(ctx context.Context, id string) (bool, error) {
	e := p.container(id)
	if e == nil {
		return false, errNotFound
	}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	body, err := e.cc.InfoRaw(cctx)
	cancel()
	var info *opaca.AgentContainer
	if err == nil {
		info, err = decodeInfo(body, id)
	}
	if err != nil {
		p.log.Warn("container unreachable on notify; removing it", "id", id, "err", err)
		p.removeContainer(context.WithoutCancel(ctx), id)
		return false, nil
	}
	p.mu.Lock()
	idx := slices.IndexFunc(p.containers, func(x *containerEntry) bool { return x.id == id })
	if idx >= 0 {
		cur := p.containers[idx]
		ne := *cur
		info.ContainerID, info.Owner, info.Connectivity = cur.id, cur.info.Owner, cur.info.Connectivity
		stripConfidential(info, cur.req.Image)
		ne.info = *info
		ne.val = newArgValidator(info.Image, p.log)
		list := slices.Clone(p.containers)
		list[idx] = &ne
		p.containers = list
	}
	p.mu.Unlock()
	p.changed()
	return idx >= 0, nil
}
