package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
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
	"github.com/meshkit/meshkit/opaca/sample"
)

// TestHelperProcess is not a test: it is the local-process container of
// TestProgramLocalProcessAndAdopted (the test binary re-executed running
// the sample container on $API_PORT, configured from its environment).
func TestHelperProcess(t *testing.T) {
	if os.Getenv("OPACA_SAMPLE_PROCESS") != "1" {
		t.Skip("helper process")
	}
	c, err := sample.New(sample.WithStartDelay(0), sample.WithoutHelpers())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	testproc.ServeUntilSignal(os.Getenv("API_PORT"), c.Serve, c.Close)
}

type program struct {
	url    string
	cancel context.CancelFunc
	done   chan int
	stderr *lockedWriter
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// start runs the program in-process and waits for its ready line.
func start(t *testing.T, getenv func(string) string, args ...string) *program {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	p := &program{cancel: cancel, done: make(chan int, 1), stderr: &lockedWriter{w: &strings.Builder{}}}
	stderr := p.stderr
	go func() {
		code := run(ctx, args, getenv, pw, stderr)
		_ = pw.Close()
		p.done <- code
	}()
	lines := make(chan string, 4)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	select {
	case line, ok := <-lines:
		require.True(t, ok, "program ended without ready line")
		require.True(t, strings.HasPrefix(line, "ready url="), line)
		p.url = strings.TrimPrefix(line, "ready url=")
	case <-time.After(60 * time.Second):
		t.Fatal("no ready line")
	}
	go func() {
		for line := range lines {
			t.Errorf("unexpected stdout line %q", line)
		}
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

func (p *program) stop(t *testing.T) int {
	p.cancel()
	select {
	case code, ok := <-p.done:
		if ok {
			close(p.done)
		}
		return code
	case <-time.After(40 * time.Second):
		t.Fatal("program did not stop")
	}
	return -1
}

// lockedWriter serialises the program's concurrent log writes.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

func samplePost() opaca.PostAgentContainer {
	img := sample.Image()
	img.Requires = nil // posting it must not need the sample requirement
	return opaca.PostAgentContainer{Image: img, Arguments: opaca.Arguments{"username": "alice", "password": "secret"}}
}

func TestProgramSampleWithAuth(t *testing.T) {
	p := start(t, env(nil), "-addr", "127.0.0.1:0", "-auth", "-admin", "root:rootpw", "-secret", "program-test-secret-program-test-secret")
	ctx := context.Background()
	anon, err := client.New(p.url)
	require.NoError(t, err)
	_, err = anon.Containers(ctx)
	assert.Equal(t, 401, client.StatusCode(err), "auth is on")
	c, err := client.New(p.url)
	require.NoError(t, err)
	_, err = c.Login(ctx, "root", "rootpw")
	require.NoError(t, err)

	_, err = c.PostContainer(ctx, samplePost(), 1)
	assert.Equal(t, 502, client.StatusCode(err), "the sample answers only after 2 s")
	id, err := c.PostContainer(ctx, samplePost(), 0)
	require.NoError(t, err)
	sum, err := client.InvokeAs[int](ctx, c, "Add", "sample1", map[string]int{"x": 40, "y": 2})
	require.NoError(t, err)
	assert.Equal(t, 42, sum)
	// the container calls the platform back with its own token
	res, err := client.InvokeAs[string](ctx, c, "OutboundInvokeTest", "sample1", map[string]string{"agentId": "sample2"})
	require.NoError(t, err)
	assert.Equal(t, "Result of outbound Invoke Add(42, 23): 65", res)
	var info map[string]any
	raw, err := c.Invoke(ctx, "GetInfo", "sample1", nil)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &info))
	assert.Equal(t, id, info["CONTAINER_ID"])
	assert.Equal(t, p.url, info["PLATFORM_URL"])
	// a new action reaches the platform through the container's notify
	_, err = c.Invoke(ctx, "CreateAction", "sample1", map[string]string{"name": "Extra"})
	require.NoError(t, err)
	var extra string
	require.Eventually(t, func() bool { // the container notifies asynchronously
		extra, err = client.InvokeAs[string](ctx, c, "Extra", "sample1", nil)
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)
	assert.Equal(t, "Called extra action Extra", extra)
	ac, found, err := c.Container(ctx, id)
	require.NoError(t, err)
	require.True(t, found)
	assert.NotContains(t, ac.Arguments, "password", "confidential argument not reported")
	assert.Equal(t, "root", ac.Owner)
	assert.Equal(t, 0, p.stop(t), "clean shutdown exits 0")
}

func TestProgramLocalProcessAndAdopted(t *testing.T) {
	cmd := "OPACA_SAMPLE_PROCESS=1 exec '" + os.Args[0] + "' -test.run='^TestHelperProcess$'"
	p := start(t, env(map[string]string{"CONTAINER_ENVIRONMENT": "docker", "DOCKER_HOST": "npipe://none"}),
		"-addr", "127.0.0.1:0", "-image", "proc-sample="+cmd)
	ctx := context.Background()
	c, err := client.New(p.url)
	require.NoError(t, err)
	post := samplePost()
	post.Image.ImageName = "proc-sample"
	// The platform gives the process the first free port from the image's
	// API port up; 8082 is where other tests' containers live, and one of
	// them can take it between the platform's probe and the child's bind.
	post.Image.APIPort = freePort(t)
	id, err := c.PostContainer(ctx, post, 20)
	require.NoError(t, err)
	got, err := client.InvokeAs[string](ctx, c, "OutboundInvokeTest", "sample1", map[string]string{"agentId": "sample2"})
	require.NoError(t, err, "a local-process container calls its platform back")
	assert.Equal(t, "Result of outbound Invoke Add(42, 23): 65", got)
	raw, err := c.Invoke(ctx, "GetEnv", "sample1", nil)
	require.NoError(t, err)
	var envMap map[string]string
	require.NoError(t, json.Unmarshal(raw, &envMap))
	assert.Equal(t, id, envMap["CONTAINER_ID"])
	assert.NotEmpty(t, envMap["API_PORT"])
	ok, err := c.DeleteContainer(ctx, id)
	require.NoError(t, err)
	assert.True(t, ok)

	// adopted: a sample container already running with an empty TOKEN
	sc, err := sample.New(sample.WithEnv(map[string]string{"username": "bob", "password": "x"}), sample.WithStartDelay(0), sample.WithoutHelpers())
	require.NoError(t, err)
	srv := httptest.NewServer(sc)
	defer srv.Close()
	id, err = c.PostContainer(ctx, opaca.PostAgentContainer{Image: opaca.AgentContainerImage{ImageName: srv.URL}}, 0)
	require.NoError(t, err)
	sum, err := client.InvokeAs[int](ctx, c, "Add", "", map[string]int{"x": 1, "y": 2}, client.InContainer(id))
	require.NoError(t, err)
	assert.Equal(t, 3, sum)

	// unknown images are 404 without Docker
	_, err = c.PostContainer(ctx, opaca.PostAgentContainer{Image: opaca.AgentContainerImage{ImageName: "registry/unknown:1"}}, 0)
	assert.Equal(t, 404, client.StatusCode(err))
	assert.Equal(t, 0, p.stop(t))
}

func TestProgramStateAndDefaultImages(t *testing.T) {
	dir := t.TempDir()
	images := filepath.Join(dir, "images")
	require.NoError(t, os.Mkdir(images, 0o755))
	b, err := json.Marshal(samplePost())
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(images, "sample.json"), b, 0o644))
	state := filepath.Join(dir, "state.json")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	ctx := context.Background()

	p := start(t, env(map[string]string{"DEFAULT_IMAGE_DIRECTORY": images, "PLATFORM_ADMIN_PWD": "pw"}), "-addr", addr, "-state", state)
	c, err := client.New(p.url)
	require.NoError(t, err)
	list, err := c.Containers(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1, "default image deployed")
	id := list[0].ContainerID
	_, err = c.CreateUser(ctx, opaca.User{Username: "carol", Password: "carolpw", Role: opaca.RoleUser})
	require.NoError(t, err)
	assert.Equal(t, 0, p.stop(t))

	p2 := start(t, env(map[string]string{"DEFAULT_IMAGE_DIRECTORY": images, "PLATFORM_ADMIN_PWD": "pw"}), "-addr", addr, "-state", state)
	c2, err := client.New(p2.url)
	require.NoError(t, err)
	list, err = c2.Containers(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1, "restored, default images not deployed again")
	assert.Equal(t, id, list[0].ContainerID)
	_, err = c2.Login(ctx, "carol", "carolpw")
	require.NoError(t, err, "users restored")
	assert.Equal(t, 0, p2.stop(t))
}

func TestProgramStartupFailures(t *testing.T) {
	var out, errOut strings.Builder
	assert.Equal(t, 2, run(context.Background(), []string{"-bogus"}, env(nil), &out, &errOut))
	assert.Equal(t, 2, run(context.Background(), []string{"-image", "noequals"}, env(nil), &out, &errOut))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	assert.Equal(t, 1, run(context.Background(), []string{"-addr", ln.Addr().String()}, env(nil), &out, &errOut), "address in use")
	state := filepath.Join(t.TempDir(), "state.json")
	require.NoError(t, os.WriteFile(state, []byte("garbage"), 0o600))
	assert.Equal(t, 1, run(context.Background(), []string{"-addr", "127.0.0.1:0", "-state", state}, env(nil), &out, &errOut), "corrupt state file")
	assert.Equal(t, 2, run(context.Background(), []string{"-addr", "127.0.0.1:0"}, env(map[string]string{"CONTAINER_TIMEOUT_SEC": "x"}), &out, &errOut))
	assert.Empty(t, out.String(), "no ready line on failures")
	assert.NotEmpty(t, errOut.String())
}

func TestDefaults(t *testing.T) {
	assert.Equal(t, "http://127.0.0.1:8000", defaultPublicURL(&net.TCPAddr{Port: 8000}, "127.0.0.1:8000"))
	assert.NotContains(t, defaultPublicURL(&net.TCPAddr{Port: 8000}, "0.0.0.0:8000"), "0.0.0.0")
	h, ok := dockerEndpoint(env(map[string]string{"REMOTE_DOCKER_HOST": "10.0.0.9"}))
	assert.True(t, ok)
	assert.Equal(t, "tcp://10.0.0.9:2375", h)
	_, ok = dockerEndpoint(env(map[string]string{"DOCKER_HOST": "npipe://x"}))
	assert.False(t, ok)
	assert.Equal(t, []string{"a", "b"}, split("a;b", ";"))
}

// TestProgramBinary builds the program and runs it as a real process:
// the ready line is the only stdout output and SIGTERM exits with 0.
func TestProgramBinary(t *testing.T) {
	bin := testproc.Build(t, "platform")
	cmd := exec.Command(bin, "-addr", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "LOG_LEVEL=debug")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &lockedWriter{w: &stderr}
	require.NoError(t, cmd.Start())
	sc := bufio.NewScanner(stdout)
	require.True(t, sc.Scan(), "ready line")
	line := sc.Text()
	require.True(t, strings.HasPrefix(line, "ready url=http://127.0.0.1:"), line)
	c, err := client.New(strings.TrimPrefix(line, "ready url="))
	require.NoError(t, err)
	info, err := c.Info(context.Background())
	require.NoError(t, err)
	assert.Contains(t, info.Provides, "config:require-auth=false")
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	assert.False(t, sc.Scan(), "nothing else on stdout")
	require.NoError(t, cmd.Wait(), "exit status 0")
}
