package platform

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Registry holds credentials for one image registry (spec §8.10).
type Registry struct {
	Name     string
	Login    string
	Password string
}

// DockerConfig configures the Docker Engine API runner.
type DockerConfig struct {
	// Host is the daemon endpoint: "unix:///var/run/docker.sock" or
	// "tcp://host:2375". Empty means the local default socket.
	Host string
	// PublicHost, when set, is the host under which container ports are
	// reachable (REMOTE_DOCKER_HOST); default: the platform's public host.
	PublicHost string
	// AlwaysPull is the pull policy for requests with pull = null.
	AlwaysPull bool
	// Registries hold the registry credentials.
	Registries []Registry
	// KeepStopped leaves stopped containers instead of removing them.
	KeepStopped bool
}

// dockerRunner talks to the Docker Engine REST API directly (no CLI).
type dockerRunner struct {
	cfg       DockerConfig
	http      *http.Client
	base      string // http://docker or http://host:port
	publicURL string
	platform  string // label value identifying this platform
}

func newDockerRunner(cfg DockerConfig, publicURL, platformID string) (*dockerRunner, error) {
	host := cfg.Host
	if host == "" {
		host = "unix:///var/run/docker.sock"
	}
	dialer := &net.Dialer{Timeout: 30 * time.Second}
	tr := &http.Transport{ResponseHeaderTimeout: 45 * time.Second, MaxIdleConnsPerHost: 8}
	r := &dockerRunner{cfg: cfg, publicURL: publicURL, platform: platformID}
	switch {
	case strings.HasPrefix(host, "unix://"):
		path := strings.TrimPrefix(host, "unix://")
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, "unix", path)
		}
		r.base = "http://docker"
	case strings.HasPrefix(host, "tcp://"):
		hp := strings.TrimPrefix(host, "tcp://")
		if _, _, err := net.SplitHostPort(hp); err != nil {
			hp = net.JoinHostPort(hp, "2375")
		}
		tr.DialContext = dialer.DialContext
		r.base = "http://" + hp
	default:
		return nil, fmt.Errorf("platform: unsupported docker host %q", host)
	}
	r.http = &http.Client{Transport: tr}
	if cfg.PublicHost != "" {
		r.publicURL = "http://" + cfg.PublicHost
	}
	return r, nil
}

func (r *dockerRunner) Kind() string { return KindDocker }

func (r *dockerRunner) call(ctx context.Context, method, path string, q url.Values, body any, hdr http.Header) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	u := r.base + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range hdr {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return r.http.Do(req)
}

func dockerError(resp *http.Response) string {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	var m struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &m) == nil && m.Message != "" {
		return m.Message
	}
	return strings.TrimSpace(string(b))
}

// splitImage separates repository and tag ("reg:5000/a/b:1" → "reg:5000/a/b", "1").
func splitImage(name string) (repo, tag string) {
	slash := strings.LastIndex(name, "/")
	if i := strings.LastIndex(name, ":"); i > slash {
		return name[:i], name[i+1:]
	}
	return name, "latest"
}

func (r *dockerRunner) registryAuth(image string) string {
	first, _, found := strings.Cut(image, "/")
	if !found {
		return ""
	}
	for _, reg := range r.cfg.Registries {
		if reg.Name == first {
			b, _ := json.Marshal(map[string]string{"username": reg.Login, "password": reg.Password, "serveraddress": reg.Name})
			return base64.URLEncoding.EncodeToString(b)
		}
	}
	return ""
}

func (r *dockerRunner) imageExists(ctx context.Context, image string) (bool, error) {
	resp, err := r.call(ctx, http.MethodGet, "/images/"+image+"/json", nil, nil, nil)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return false, nil
	case resp.StatusCode >= 400:
		return false, fmt.Errorf("inspect image: %s", dockerError(resp))
	}
	return true, nil
}

func (r *dockerRunner) pull(ctx context.Context, image string) error {
	repo, tag := splitImage(image)
	hdr := http.Header{}
	if a := r.registryAuth(image); a != "" {
		hdr.Set("X-Registry-Auth", a)
	}
	// pulls stream progress for as long as they take; only the caller's
	// context bounds them
	resp, err := r.call(ctx, http.MethodPost, "/images/create", url.Values{"fromImage": {repo}, "tag": {tag}}, nil, hdr)
	if err != nil {
		return fmt.Errorf("%w: docker unreachable: %v", ErrRunnerFailed, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 {
		return fmt.Errorf("%w: pull %s: %s", ErrImageNotFound, image, dockerError(resp))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var msg struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &msg) == nil && msg.Error != "" {
			return fmt.Errorf("%w: pull %s: %s", ErrImageNotFound, image, msg.Error)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("%w: pull %s: %v", ErrImageNotFound, image, err)
	}
	return nil
}

func portKey(p PortBinding) string {
	if p.UDP {
		return strconv.Itoa(p.ContainerPort) + "/udp"
	}
	return strconv.Itoa(p.ContainerPort) + "/tcp"
}

func (r *dockerRunner) Start(ctx context.Context, req StartRequest) (Started, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	pull := r.cfg.AlwaysPull
	if req.Pull != nil {
		pull = *req.Pull
	}
	exists := false
	if !pull || req.Pull == nil {
		ok, err := r.imageExists(ctx, req.ImageName)
		if err != nil {
			return Started{}, fmt.Errorf("%w: docker: %v", ErrRunnerFailed, err)
		}
		exists = ok
	}
	switch {
	case pull || (req.Pull == nil && !exists):
		if err := r.pull(ctx, req.ImageName); err != nil {
			return Started{}, err
		}
	case !exists:
		return Started{}, fmt.Errorf("%w: %s not present and pull=false", ErrImageNotFound, req.ImageName)
	}
	env := make([]string, 0, len(req.Env))
	for k, v := range req.Env {
		env = append(env, k+"="+v)
	}
	exposed := map[string]struct{}{}
	bindings := map[string][]map[string]string{}
	for _, p := range append([]PortBinding{req.API}, req.Extra...) {
		exposed[portKey(p)] = struct{}{}
		bindings[portKey(p)] = []map[string]string{{"HostPort": strconv.Itoa(p.HostPort)}}
	}
	body := map[string]any{
		"Image":        req.ImageName,
		"Env":          env,
		"ExposedPorts": exposed,
		"Labels":       map[string]string{"opaca.platform": r.platform, "opaca.containerId": req.ContainerID},
		"HostConfig":   map[string]any{"PortBindings": bindings},
	}
	cctx, ccancel := context.WithTimeout(ctx, 45*time.Second)
	defer ccancel()
	resp, err := r.call(cctx, http.MethodPost, "/containers/create", url.Values{"name": {"opaca-" + req.ContainerID}}, body, nil)
	if err != nil {
		return Started{}, fmt.Errorf("%w: docker unreachable: %v", ErrRunnerFailed, err)
	}
	if resp.StatusCode >= 400 {
		msg := dockerError(resp)
		resp.Body.Close()
		return Started{}, fmt.Errorf("%w: create container: %s", ErrRunnerFailed, msg)
	}
	var created struct {
		ID string `json:"Id"`
	}
	err = json.NewDecoder(resp.Body).Decode(&created)
	resp.Body.Close()
	if err != nil || created.ID == "" {
		return Started{}, fmt.Errorf("%w: create container: bad answer", ErrRunnerFailed)
	}
	resp, err = r.call(cctx, http.MethodPost, "/containers/"+created.ID+"/start", nil, nil, nil)
	if err != nil {
		r.remove(created.ID)
		return Started{}, fmt.Errorf("%w: docker unreachable: %v", ErrRunnerFailed, err)
	}
	if resp.StatusCode >= 400 {
		msg := dockerError(resp)
		resp.Body.Close()
		r.remove(created.ID)
		return Started{}, fmt.Errorf("%w: start container: %s", ErrRunnerFailed, msg)
	}
	resp.Body.Close()
	return Started{
		Handle:      created.ID,
		URL:         r.publicURL + ":" + strconv.Itoa(req.API.HostPort),
		PublicURL:   r.publicURL,
		APIHostPort: req.API.HostPort,
	}, nil
}

func (r *dockerRunner) Alive(ctx context.Context, h string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	resp, err := r.call(ctx, http.MethodGet, "/containers/"+h+"/json", nil, nil, nil)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return false, nil
	}
	if resp.StatusCode >= 400 {
		return false, fmt.Errorf("inspect container: %s", dockerError(resp))
	}
	var info struct {
		State struct {
			Status  string `json:"Status"`
			Running bool   `json:"Running"`
		} `json:"State"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return false, err
	}
	return info.State.Running || info.State.Status == "created", nil
}

func (r *dockerRunner) Stop(ctx context.Context, h string) error {
	ctx, cancel := context.WithTimeout(ctx, 45*time.Second)
	defer cancel()
	resp, err := r.call(ctx, http.MethodPost, "/containers/"+h+"/stop", nil, nil, nil)
	if err != nil {
		return fmt.Errorf("%w: docker unreachable: %v", ErrRunnerFailed, err)
	}
	if resp.StatusCode >= 400 && resp.StatusCode != http.StatusNotFound {
		msg := dockerError(resp)
		resp.Body.Close()
		return fmt.Errorf("%w: stop container: %s", ErrRunnerFailed, msg)
	}
	resp.Body.Close()
	if r.cfg.KeepStopped {
		return nil
	}
	resp, err = r.call(ctx, http.MethodDelete, "/containers/"+h, url.Values{"force": {"true"}}, nil, nil)
	if err != nil {
		return fmt.Errorf("%w: docker unreachable: %v", ErrRunnerFailed, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 400 && resp.StatusCode != http.StatusNotFound {
		return fmt.Errorf("%w: remove container: %s", ErrRunnerFailed, dockerError(resp))
	}
	return nil
}

func (r *dockerRunner) remove(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if resp, err := r.call(ctx, http.MethodDelete, "/containers/"+id, url.Values{"force": {"true"}}, nil, nil); err == nil {
		resp.Body.Close()
	}
}
