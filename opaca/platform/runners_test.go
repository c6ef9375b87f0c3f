package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/internal/testproc"
	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
)

// TestHelperProcess is not a test: it is the local-process container the
// process runner starts (the test binary re-executed).
func TestHelperProcess(t *testing.T) {
	if os.Getenv("OPACA_FAKE_AC") != "1" {
		t.Skip("helper process")
	}
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	if env["SECRET"] != "" {
		fmt.Fprintln(os.Stderr, "secret leaked into the container")
		os.Exit(3)
	}
	srv := &http.Server{Handler: newFakeAC(env)}
	testproc.ServeUntilSignal(env["API_PORT"], func(ln net.Listener) error {
		fmt.Println("fake container listening") // goes to the platform's stderr
		return srv.Serve(ln)
	}, srv.Close)
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestProcessRunner(t *testing.T) {
	t.Setenv("SECRET", "must-not-leak")
	out := &syncBuffer{}
	cmd := "OPACA_FAKE_AC=1 exec '" + os.Args[0] + "' -test.run='^TestHelperProcess$'"
	tp := startPlatform(t, WithProcessImage("proc-image", cmd), WithProcessOutput(out), WithContainerTimeout(20*time.Second))
	ctx := context.Background()
	req := fakePost("procAgent")
	req.Image.ImageName = "proc-image"
	id, err := tp.c.PostContainer(ctx, req, 0)
	require.NoError(t, err)
	sum, err := client.InvokeAs[int](ctx, tp.c, "Add", "procAgent", map[string]int{"x": 20, "y": 22})
	require.NoError(t, err)
	assert.Equal(t, 42, sum)
	assert.Contains(t, out.String(), "["+id[:8]+"] fake container listening", "child output is prefixed on the platform's stderr")

	e := tp.container(id)
	require.NotNil(t, e)
	pid := tp.process.procs[e.handle].cmd.Process.Pid
	ok, err := tp.c.DeleteContainer(ctx, id)
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Error(t, syscall.Kill(pid, 0), "process stopped and reaped")

	// a command that exits at once fails the start with 502
	req.Image.ImageName = "dies"
	tp2 := startPlatform(t, WithProcessImage("dies", "exit 1"), WithProcessOutput(out))
	_, err = tp2.c.PostContainer(ctx, req, 0)
	assert.Equal(t, 502, client.StatusCode(err))
}

func TestAdoptedContainer(t *testing.T) {
	f := newFakeAC(map[string]string{"AGENT": "adopted", "CONTAINER_ID": "its-own-id"})
	srv := httptest.NewServer(f)
	defer srv.Close()
	tp := startPlatform(t)
	ctx := context.Background()
	id, err := tp.c.PostContainer(ctx, opaca.PostAgentContainer{Image: opaca.AgentContainerImage{ImageName: srv.URL + "/"}}, 0)
	require.NoError(t, err)
	ac, found, err := tp.c.Container(ctx, id)
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, id, ac.ContainerID, "reported id overwritten with the assigned one")
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	assert.Equal(t, port, fmt.Sprint(ac.Connectivity.APIPortMapping))
	assert.Equal(t, "http://127.0.0.1", ac.Connectivity.PublicURL)
	assert.Equal(t, map[string]opaca.PortDescription{}, ac.Connectivity.ExtraPortMappings)
	sum, err := client.InvokeAs[int](ctx, tp.c, "Add", "adopted", map[string]int{"x": 1, "y": 2})
	require.NoError(t, err)
	assert.Equal(t, 3, sum)
	require.NoError(t, tp.c.Send(ctx, "adopted", opaca.Message{Payload: []byte(`1`)}))
	ok, err := tp.c.DeleteContainer(ctx, id)
	require.NoError(t, err)
	assert.True(t, ok)
	_, err = http.Get(srv.URL + "/info")
	assert.NoError(t, err, "the adopted service keeps running")
}

// fakeDocker is an httptest fake of the Docker Engine API on a Unix
// socket. "create" starts a fake agent container on the bound host port.
type fakeDocker struct {
	mu         sync.Mutex
	images     map[string]bool
	containers map[string]*fakeDockerContainer
	pulls      []string
	auths      []string
	removed    []string
	n          int
}

type fakeDockerContainer struct {
	srv     *http.Server
	running bool
	env     map[string]string
	binds   map[string]string
}

func startFakeDocker(t *testing.T) (*fakeDocker, string) {
	dir, err := os.MkdirTemp("", "dock")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	sock := filepath.Join(dir, "d.sock")
	ln, err := net.Listen("unix", sock)
	require.NoError(t, err)
	fd := &fakeDocker{images: map[string]bool{"present:1": true}, containers: map[string]*fakeDockerContainer{}}
	srv := &http.Server{Handler: fd}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		_ = srv.Close()
		fd.mu.Lock()
		defer fd.mu.Unlock()
		for _, c := range fd.containers {
			_ = c.srv.Close()
		}
	})
	return fd, "unix://" + sock
}

func (fd *fakeDocker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fd.mu.Lock()
	defer fd.mu.Unlock()
	p := r.URL.Path
	switch {
	case r.Method == "GET" && strings.HasPrefix(p, "/images/") && strings.HasSuffix(p, "/json"):
		name := strings.TrimSuffix(strings.TrimPrefix(p, "/images/"), "/json")
		if !fd.images[name] {
			w.WriteHeader(404)
			_, _ = io.WriteString(w, `{"message":"No such image"}`)
		}
	case r.Method == "POST" && p == "/images/create":
		img := r.URL.Query().Get("fromImage") + ":" + r.URL.Query().Get("tag")
		fd.pulls = append(fd.pulls, img)
		fd.auths = append(fd.auths, r.Header.Get("X-Registry-Auth"))
		_, _ = io.WriteString(w, `{"status":"Pulling"}`+"\n")
		if strings.HasPrefix(img, "bad/") {
			_, _ = io.WriteString(w, `{"error":"pull access denied"}`+"\n")
			return
		}
		fd.images[img] = true
	case r.Method == "POST" && p == "/containers/create":
		var body struct {
			Image      string
			Env        []string
			HostConfig struct {
				PortBindings map[string][]map[string]string
			}
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		env := map[string]string{}
		for _, kv := range body.Env {
			k, v, _ := strings.Cut(kv, "=")
			env[k] = v
		}
		binds := map[string]string{}
		for k, v := range body.HostConfig.PortBindings {
			binds[k] = v[0]["HostPort"]
		}
		fd.n++
		id := fmt.Sprintf("c%d", fd.n)
		fd.containers[id] = &fakeDockerContainer{env: env, binds: binds}
		w.WriteHeader(201)
		_, _ = fmt.Fprintf(w, `{"Id":%q}`, id)
	case r.Method == "POST" && strings.HasPrefix(p, "/containers/") && strings.HasSuffix(p, "/start"):
		c := fd.containers[strings.TrimSuffix(strings.TrimPrefix(p, "/containers/"), "/start")]
		if c == nil {
			w.WriteHeader(404)
			return
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+c.binds[fmt.Sprintf("%d/tcp", fakeAPIPort)])
		if err != nil {
			w.WriteHeader(500)
			_, _ = fmt.Fprintf(w, `{"message":%q}`, err.Error())
			return
		}
		c.srv = &http.Server{Handler: newFakeAC(c.env)}
		go func() { _ = c.srv.Serve(ln) }()
		c.running = true
		w.WriteHeader(204)
	case r.Method == "GET" && strings.HasPrefix(p, "/containers/") && strings.HasSuffix(p, "/json"):
		c := fd.containers[strings.TrimSuffix(strings.TrimPrefix(p, "/containers/"), "/json")]
		if c == nil {
			w.WriteHeader(404)
			return
		}
		_, _ = fmt.Fprintf(w, `{"State":{"Running":%v,"Status":"running"}}`, c.running)
	case r.Method == "POST" && strings.HasSuffix(p, "/stop"):
		c := fd.containers[strings.TrimSuffix(strings.TrimPrefix(p, "/containers/"), "/stop")]
		if c != nil && c.running {
			_ = c.srv.Close()
			c.running = false
		}
		w.WriteHeader(204)
	case r.Method == "DELETE" && strings.HasPrefix(p, "/containers/"):
		id := strings.TrimPrefix(p, "/containers/")
		delete(fd.containers, id)
		fd.removed = append(fd.removed, id)
		w.WriteHeader(204)
	default:
		w.WriteHeader(404)
	}
}

func TestDockerRunner(t *testing.T) {
	fd, host := startFakeDocker(t)
	tp := startPlatform(t, WithDocker(DockerConfig{Host: host, Registries: []Registry{{Name: "reg.example", Login: "u", Password: "p"}}}))
	ctx := context.Background()
	req := fakePost("dockerAgent")
	req.Image.ImageName = "reg.example/team/agent:2"
	req.Image.ExtraPorts = map[string]opaca.PortDescription{"8888": {Protocol: "TCP"}, "8889": {Protocol: "udp"}}
	id, err := tp.c.PostContainer(ctx, req, 0)
	require.NoError(t, err)
	fd.mu.Lock()
	assert.Equal(t, []string{"reg.example/team/agent:2"}, fd.pulls, "missing image is pulled")
	assert.NotEmpty(t, fd.auths[0], "registry credentials sent")
	c := fd.containers["c1"]
	require.NotNil(t, c)
	assert.Equal(t, id, c.env["CONTAINER_ID"])
	assert.Contains(t, c.binds, "8889/udp")
	assert.Contains(t, c.binds, "8888/tcp")
	pm := c.env["PORT_MAPPING"]
	fd.mu.Unlock()
	assert.True(t, strings.HasPrefix(pm, fmt.Sprint(fakeAPIPort)+":"), pm)
	sum, err := client.InvokeAs[int](ctx, tp.c, "Add", "dockerAgent", map[string]int{"x": 2, "y": 5})
	require.NoError(t, err)
	assert.Equal(t, 7, sum)
	ok, err := tp.c.DeleteContainer(ctx, id)
	require.NoError(t, err)
	assert.True(t, ok)
	fd.mu.Lock()
	assert.Equal(t, []string{"c1"}, fd.removed, "stopped and removed")
	fd.mu.Unlock()

	f := false
	req.Image.ImageName = "absent:1"
	req.Pull = &f
	_, err = tp.c.PostContainer(ctx, req, 0)
	assert.Equal(t, 404, client.StatusCode(err), "pull=false and image missing")
	req.Pull = nil
	req.Image.ImageName = "bad/image:1"
	_, err = tp.c.PostContainer(ctx, req, 0)
	assert.Equal(t, 404, client.StatusCode(err), "pull failed")
	req.Image.ImageName = "present:1"
	_, err = tp.c.PostContainer(ctx, req, 0)
	require.NoError(t, err)
	fd.mu.Lock()
	assert.Len(t, fd.pulls, 2, "present image is not pulled again")
	fd.mu.Unlock()

	// daemon unreachable → 502
	tp2 := startPlatform(t, WithDocker(DockerConfig{Host: "unix:///nonexistent/docker.sock"}))
	_, err = tp2.c.PostContainer(ctx, req, 0)
	assert.Equal(t, 502, client.StatusCode(err))
}

// serverRunner is a custom backend: each start serves a fake container on
// an httptest server.
type serverRunner struct {
	mu      sync.Mutex
	servers map[string]*httptest.Server
}

func (r *serverRunner) Kind() string { return "test-servers" }

func (r *serverRunner) Start(_ context.Context, req StartRequest) (Started, error) {
	srv := httptest.NewServer(newFakeAC(req.Env))
	r.mu.Lock()
	r.servers[req.ContainerID] = srv
	r.mu.Unlock()
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(srv.URL, "http://"))
	var p int
	_, _ = fmt.Sscan(port, &p)
	return Started{Handle: req.ContainerID, URL: srv.URL, PublicURL: "http://127.0.0.1", APIHostPort: p}, nil
}

func (r *serverRunner) Alive(_ context.Context, h string) (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.servers[h] != nil, nil
}

func (r *serverRunner) Stop(_ context.Context, h string) error {
	r.mu.Lock()
	srv := r.servers[h]
	delete(r.servers, h)
	r.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
	return nil
}

func TestCustomBackend(t *testing.T) {
	r := &serverRunner{servers: map[string]*httptest.Server{}}
	tp := startPlatform(t, WithBackend(r))
	ctx := context.Background()
	req := fakePost("custom")
	req.Image.ImageName = "any/image:1"
	id, err := tp.c.PostContainer(ctx, req, 0)
	require.NoError(t, err)
	sum, err := client.InvokeAs[int](ctx, tp.c, "Add", "custom", map[string]int{"x": 2, "y": 2})
	require.NoError(t, err)
	assert.Equal(t, 4, sum)
	ok, err := tp.c.DeleteContainer(ctx, id)
	require.NoError(t, err)
	assert.True(t, ok)
	alive, _ := r.Alive(ctx, id)
	assert.False(t, alive)
	_, err = New(WithBackend(nil))
	assert.Error(t, err)
}
