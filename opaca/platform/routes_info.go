package platform

import (
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/meshkit/meshkit/opaca"
)

func (p *Platform) runtimePlatform() opaca.RuntimePlatform {
	return opaca.RuntimePlatform{
		PlatformID:   p.id,
		BaseURL:      p.cfg.publicURL,
		Containers:   p.containerList(),
		Provides:     p.provisions(),
		Connections:  p.connectionURLs(),
		RunningSince: opaca.NewTime(p.started),
	}
}

// Info returns the platform's self-description (GET /info).
func (p *Platform) Info() opaca.RuntimePlatform { return p.runtimePlatform() }

func (p *Platform) handleInfo(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, p.runtimePlatform())
}

func (p *Platform) handleIndex(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html;charset=UTF-8")
	name := html.EscapeString(p.cfg.publicURL)
	_, _ = w.Write([]byte("<!DOCTYPE html><html><head><title>OPACA Runtime Platform</title></head><body>" +
		"<h1>OPACA Runtime Platform</h1><p>" + name + " (platform " + html.EscapeString(p.id) + ")</p>" +
		`<ul><li><a href="info">/info</a></li><li><a href="v3/api-docs">/v3/api-docs</a></li>` +
		`<li><a href="v3/api-docs/actions">/v3/api-docs/actions</a></li></ul></body></html>`))
}

// handleConfig reports the informative configuration; never secrets.
func (p *Platform) handleConfig(w http.ResponseWriter, _ *http.Request) {
	port := 80
	if u, err := url.Parse(p.cfg.publicURL); err == nil {
		if n, err := strconv.Atoi(u.Port()); err == nil {
			port = n
		} else if u.Scheme == "https" {
			port = 443
		}
	}
	names := p.cfg.registryNames
	if names == nil {
		names = []string{}
	}
	cfg := map[string]any{
		"publicUrl":             p.cfg.publicURL,
		"serverPort":            port,
		"containerEnvironment":  p.cfg.containerEnv,
		"platformEnvironment":   p.cfg.platformEnv,
		"sessionPolicy":         p.cfg.sessionPolicy,
		"containerTimeoutSec":   int(p.cfg.containerTimeout.Seconds()),
		"defaultImageDirectory": p.cfg.defaultImages,
		"eventHistorySize":      p.cfg.historySize,
		"alwaysPullImages":      p.cfg.alwaysPull,
		"requireAuth":           p.cfg.requireAuth,
		"dbEmbed":               true,
		"registryNames":         names,
	}
	if p.cfg.containerEnv == "DOCKER" {
		host, port := "", ""
		if p.cfg.docker != nil && strings.HasPrefix(p.cfg.docker.Host, "tcp://") {
			hp := strings.TrimPrefix(p.cfg.docker.Host, "tcp://")
			host, port = hp, "2375"
			if i := strings.LastIndexByte(hp, ':'); i >= 0 {
				host, port = hp[:i], hp[i+1:]
			}
		}
		cfg["remoteDockerHost"], cfg["remoteDockerPort"] = host, port
	} else {
		cfg["kubernetesNamespace"], cfg["kubernetesConfig"] = "agents", ""
	}
	writeJSON(w, http.StatusOK, cfg)
}

func (p *Platform) handleHistory(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, p.history.list())
}

// handleAPIDocs serves a short OpenAPI description of the platform routes.
func (p *Platform) handleAPIDocs(w http.ResponseWriter, _ *http.Request) {
	paths := map[string]any{}
	for _, r := range []struct{ method, path, summary string }{
		{"get", "/info", "platform description"}, {"get", "/config", "configuration"},
		{"get", "/history", "event history"}, {"post", "/login", "log in, returns a JWT"},
		{"get", "/token", "renew the caller's token"}, {"get", "/agents", "list agents"},
		{"get", "/agents/{agentId}", "one agent"}, {"post", "/send/{agentId}", "send a message"},
		{"post", "/broadcast/{channel}", "broadcast a message"}, {"post", "/invoke/{action}", "invoke an action"},
		{"post", "/invoke/{action}/{agentId}", "invoke an action of an agent"},
		{"get", "/stream/{stream}", "read a stream"}, {"post", "/stream/{stream}", "write a stream"},
		{"get", "/containers", "list containers"}, {"post", "/containers", "start a container"},
		{"put", "/containers", "replace a container"}, {"get", "/containers/{containerId}", "one container"},
		{"delete", "/containers/{containerId}", "stop a container"},
		{"post", "/containers/login/{containerId}", "log in to a container"},
		{"post", "/containers/logout/{containerId}", "log out of a container"},
		{"post", "/containers/notify", "refresh a container"}, {"get", "/connections", "connected platforms"},
		{"post", "/connections", "connect a platform"}, {"delete", "/connections", "disconnect a platform"},
		{"post", "/connections/notify", "refresh a connected platform"}, {"get", "/users", "list users"},
		{"post", "/users", "create a user"}, {"get", "/users/{username}", "one user"},
		{"put", "/users/{username}", "change a user"}, {"delete", "/users/{username}", "delete a user"},
		{"get", "/subscribe", "event websocket"}, {"get", "/v3/api-docs/actions", "OpenAPI of all actions"},
	} {
		m, _ := paths[r.path].(map[string]any)
		if m == nil {
			m = map[string]any{}
			paths[r.path] = m
		}
		m[r.method] = map[string]any{"summary": r.summary, "responses": map[string]any{"200": map[string]any{"description": "OK"}}}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"openapi": "3.0.1",
		"info":    map[string]any{"title": "OPACA Runtime Platform API", "version": "0.5"},
		"servers": []any{map[string]any{"url": p.cfg.publicURL}},
		"paths":   paths,
	})
}
