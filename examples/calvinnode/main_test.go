package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/internal/testproc"
)

var readyLine = regexp.MustCompile(`^ready id=(\S+) listen=(calvinip://127\.0\.0\.1:\d+) control=(127\.0\.0\.1:\d+|)$`)

type started struct {
	id, listen, control string
	stdout              *bufio.Reader
	finished            chan struct{} // closed when run returned
	code                int
	cancel              context.CancelFunc
}

// wait returns run's exit status once it has returned.
func (s *started) wait() int {
	<-s.finished
	return s.code
}

// start runs the program in-process and waits for its ready line.
func start(t *testing.T, args ...string) *started {
	t.Helper()
	pr, pw := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	s := &started{finished: make(chan struct{}), cancel: cancel, stdout: bufio.NewReader(pr)}
	go func() {
		s.code = run(ctx, args, pw, io.Discard)
		pw.Close()
		close(s.finished)
	}()
	line, err := s.stdout.ReadString('\n')
	require.NoError(t, err, "no ready line")
	m := readyLine.FindStringSubmatch(strings.TrimSuffix(line, "\n"))
	require.NotNil(t, m, "ready line %q", line)
	s.id, s.listen, s.control = m[1], m[2], m[3]
	t.Cleanup(func() {
		cancel()
		s.wait()
	})
	return s
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.NoError(t, json.NewDecoder(resp.Body).Decode(v))
	return resp.StatusCode
}

func TestRunReadyAndControl(t *testing.T) {
	a := start(t, "-listen", "calvinip://127.0.0.1:0", "-control", "127.0.0.1:0", "-name", "a",
		"-id", "0a1b2c3d-0000-4000-8000-000000000001")
	assert.Equal(t, "0a1b2c3d-0000-4000-8000-000000000001", a.id)
	var id map[string]string
	assert.Equal(t, 200, getJSON(t, "http://"+a.control+"/id", &id))
	assert.Equal(t, a.id, id["id"])

	// A second node joins the first at start; both list each other.
	b := start(t, "-listen", "calvinip://127.0.0.1:0", "-control", "127.0.0.1:0",
		"-serializers", "msgpack", "-join", a.listen)
	var nodes []string
	getJSON(t, "http://"+b.control+"/nodes", &nodes)
	assert.Equal(t, []string{a.id}, nodes)
	require.Eventually(t, func() bool {
		var n []string
		getJSON(t, "http://"+a.control+"/nodes", &n)
		return len(n) == 1 && n[0] == b.id
	}, 5*time.Second, 10*time.Millisecond)

	// Nothing else on stdout; a clean stop exits 0.
	b.cancel()
	assert.Equal(t, 0, b.wait())
	rest, err := io.ReadAll(b.stdout)
	require.NoError(t, err)
	assert.Empty(t, string(rest))
}

func TestRunWithoutControlAndFailedJoin(t *testing.T) {
	// A join that fails is tried once before ready and retried afterwards.
	s := start(t, "-listen", "calvinip://127.0.0.1:0", "-control", "", "-join", "calvinip://127.0.0.1:1")
	assert.Equal(t, "", s.control)
	s.cancel()
	assert.Equal(t, 0, s.wait())
}

func TestRunBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-serializers", "cbor"},
		{"-listen", "bogus://x", "-control", ""},
		{"-listen", "calvinip://127.0.0.1:0", "-control", "256.0.0.1:99999"},
		{"extra"},
		{"-nosuchflag"},
		{"-storage", "dht", "-control", ""},
		{"-storage", "proxy:", "-control", ""},
	} {
		// A bad set-up must fail at once; the timeout only bounds a bug.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		code := run(ctx, args, io.Discard, io.Discard)
		cancel()
		assert.NotEqual(t, 0, code, "%v", args)
	}
}

// TestBinarySIGTERM builds the program and stops it with SIGTERM.
func TestBinarySIGTERM(t *testing.T) {
	bin := testproc.Build(t, "calvinnode")

	cmd := exec.Command(bin, "-listen", "calvinip://127.0.0.1:0", "-control", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	br := bufio.NewReader(stdout)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	m := readyLine.FindStringSubmatch(strings.TrimSuffix(line, "\n"))
	require.NotNil(t, m, "ready line %q", line)
	var id map[string]string
	getJSON(t, "http://"+m[3]+"/id", &id)
	assert.Equal(t, m[1], id["id"])

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	rest, _ := io.ReadAll(br)
	assert.Empty(t, string(rest))
	require.NoError(t, cmd.Wait(), "exit status 0 after SIGTERM")
}

// do sends a JSON request to a node's control API and decodes the answer
// into out (when not nil and there is a body); it returns the status.
func do(t *testing.T, s *started, method, path string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		require.NoError(t, err)
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, "http://"+s.control+path, rd)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil && len(b) > 0 {
		require.NoError(t, json.Unmarshal(b, out), string(b))
	}
	return resp.StatusCode
}

func sinkTokens(t *testing.T, s *started, id string) []int {
	t.Helper()
	var toks []int
	if do(t, s, "GET", "/actor/"+id+"/report", nil, &toks) != 200 {
		return nil
	}
	return toks
}

func isSequence(toks []int) bool {
	for i, v := range toks {
		if v != i+1 {
			return false
		}
	}
	return true
}

var loopback = []string{"-listen", "calvinip://127.0.0.1:0", "-control", "127.0.0.1:0"}

// TestRegistryMasterAndProxy runs a registry master (-storage local) and a
// proxy-storage node joined to it, deploys CountTimer → Sink on the master,
// migrates the sink to the proxy node and back, and stops the proxy node
// with DELETE /node.
func TestRegistryMasterAndProxy(t *testing.T) {
	a := start(t, append(loopback, "-name", "nodeA")...)
	b := start(t, append(loopback, "-name", "nodeB", "-storage", "proxy:"+a.listen)...)

	// b joined its master before it was ready; its record is in a's registry.
	var nodes []string
	do(t, b, "GET", "/nodes", nil, &nodes)
	assert.Equal(t, []string{a.id}, nodes)
	var rec map[string]any
	require.Equal(t, 200, do(t, a, "GET", "/node/"+b.id, nil, &rec), "published before b was ready")
	assert.Equal(t, []any{b.listen}, rec["uris"])
	assert.Equal(t, []any{"http://" + b.control}, rec["control_uris"])
	assert.Equal(t, []any{"/node/attribute/node_name/////nodeB"}, rec["attributes"].(map[string]any)["indexed_public"])
	// b reads the same registry, its own record and a's.
	assert.Equal(t, 200, do(t, b, "GET", "/node/"+b.id, nil, &rec))
	assert.Equal(t, 200, do(t, b, "GET", "/node/"+a.id, nil, &rec))
	assert.Equal(t, []any{a.listen}, rec["uris"])
	assert.Equal(t, 404, do(t, a, "GET", "/node/2b6e8f4a-1f7c-4c7e-9a43-5d2e1f0c9b11", nil, nil))
	var caps []string
	do(t, b, "GET", "/capabilities", nil, &caps)
	assert.Contains(t, caps, "io.stdout")

	app := map[string]any{"name": "xflow", "app_info": map[string]any{
		"valid": true,
		"actors": map[string]any{
			"xflow:src": map[string]any{"actor_type": "std.CountTimer", "args": map[string]any{"sleep": 0.02}},
			"xflow:snk": map[string]any{"actor_type": "test.Sink", "args": map[string]any{"store_tokens": true}},
		},
		"connections": map[string]any{"xflow:src.integer": []any{"xflow:snk.token"}},
	}}
	var d struct {
		ApplicationID string            `json:"application_id"`
		ActorMap      map[string]string `json:"actor_map"`
	}
	require.Equal(t, 200, do(t, a, "POST", "/deploy", app, &d))
	snk := d.ActorMap["xflow:snk"]
	require.Eventually(t, func() bool { return len(sinkTokens(t, a, snk)) >= 2 }, 10*time.Second, 10*time.Millisecond)

	// Migrate the sink to b; its report continues the sequence there.
	require.Equal(t, 204, do(t, a, "POST", "/actor/"+snk+"/migrate", map[string]any{"peer_node_id": b.id}, nil))
	var ids []string
	do(t, b, "GET", "/actors", nil, &ids)
	assert.Equal(t, []string{snk}, ids)
	n := len(sinkTokens(t, b, snk))
	require.Eventually(t, func() bool { return len(sinkTokens(t, b, snk)) >= n+3 }, 10*time.Second, 10*time.Millisecond)
	toks := sinkTokens(t, b, snk)
	assert.True(t, isSequence(toks), "%v", toks)
	// a reads where the sink is from the registry.
	require.Eventually(t, func() bool {
		return do(t, a, "GET", "/actor/"+snk, nil, &rec) == 200 && rec["node_id"] == b.id
	}, 5*time.Second, 10*time.Millisecond)

	// Ask a to move it back: a sends ACTOR_MIGRATE to b.
	require.Equal(t, 204, do(t, a, "POST", "/actor/"+snk+"/migrate", map[string]any{"peer_node_id": a.id}, nil))
	require.Eventually(t, func() bool { return len(sinkTokens(t, a, snk)) >= len(toks)+3 }, 10*time.Second, 10*time.Millisecond)
	toks = sinkTokens(t, a, snk)
	assert.True(t, isSequence(toks), "%v", toks)

	// And to b again, then stop b with DELETE /node: its actors are
	// destroyed, its record leaves the registry, it exits 0.
	require.Equal(t, 204, do(t, a, "POST", "/actor/"+snk+"/migrate", map[string]any{"peer_node_id": b.id}, nil))
	assert.Equal(t, 204, do(t, b, "DELETE", "/node", nil, nil))
	assert.Equal(t, 0, b.wait())
	assert.Equal(t, 404, do(t, a, "GET", "/node/"+b.id, nil, nil))
	assert.Equal(t, 404, do(t, a, "GET", "/actor/"+snk, nil, nil))
	rest, err := io.ReadAll(b.stdout)
	require.NoError(t, err)
	assert.Empty(t, string(rest))
}

// TestPrintAfterReady: io.Print writes to stdout, after the ready line.
func TestPrintAfterReady(t *testing.T) {
	a := start(t, loopback...)
	app := map[string]any{"name": "p", "app_info": map[string]any{
		"actors": map[string]any{
			"p:src": map[string]any{"actor_type": "std.CountTimer", "args": map[string]any{"sleep": 0.01, "steps": 3}},
			"p:out": map[string]any{"actor_type": "io.Print", "args": map[string]any{}},
		},
		"connections": map[string]any{"p:src.integer": []any{"p:out.token"}},
	}}
	require.Equal(t, 200, do(t, a, "POST", "/deploy", app, nil))
	for _, want := range []string{"1\n", "2\n", "3\n"} {
		line, err := a.stdout.ReadString('\n')
		require.NoError(t, err)
		assert.Equal(t, want, line)
	}
}

// TestDeleteNodeModes: /node/now and /node/migrate stop the node too.
func TestDeleteNodeModes(t *testing.T) {
	a := start(t, loopback...)
	b := start(t, append(loopback, "-storage", "proxy:"+a.listen)...)
	var out map[string]string
	require.Equal(t, 200, do(t, b, "POST", "/actor", map[string]any{"actor_type": "test.Sink", "args": map[string]any{}}, &out))
	// Evacuation moves the actor to a, the only peer.
	assert.Equal(t, 204, do(t, b, "DELETE", "/node/migrate", nil, nil))
	assert.Equal(t, 0, b.wait())
	var ids []string
	do(t, a, "GET", "/actors", nil, &ids)
	assert.Equal(t, []string{out["actor_id"]}, ids)

	assert.Equal(t, 204, do(t, a, "DELETE", "/node/now", nil, nil))
	assert.Equal(t, 0, a.wait())
}

// TestProxyMasterLate: a proxy node whose master is not up yet still gets
// ready, and publishes its record once the master can be joined.
func TestProxyMasterLate(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	b := start(t, append(loopback, "-storage", "proxy:calvinip://"+addr)...)
	a := start(t, "-listen", "calvinip://"+addr, "-control", "127.0.0.1:0")
	var rec map[string]any
	require.Eventually(t, func() bool { return do(t, a, "GET", "/node/"+b.id, nil, &rec) == 200 }, 15*time.Second, 20*time.Millisecond)
	assert.Equal(t, []any{b.listen}, rec["uris"])
	t0 := time.Now()
	b.cancel()
	assert.Equal(t, 0, b.wait())
	t.Logf("b stopped in %v", time.Since(t0))
	t0 = time.Now()
	a.cancel()
	assert.Equal(t, 0, a.wait())
	t.Logf("a stopped in %v", time.Since(t0))
}

// TestNoGoroutineLeft: two nodes with a running application stop without
// leaving a goroutine behind.
func TestNoGoroutineLeft(t *testing.T) {
	http.DefaultClient.CloseIdleConnections()
	before := 0
	require.Eventually(t, func() bool { before = runtime.NumGoroutine(); return true }, time.Second, time.Millisecond)

	a := start(t, loopback...)
	b := start(t, append(loopback, "-storage", "proxy:"+a.listen)...)
	app := map[string]any{"name": "x", "app_info": map[string]any{
		"actors": map[string]any{
			"x:src": map[string]any{"actor_type": "std.CountTimer", "args": map[string]any{"sleep": 0.01}},
			"x:snk": map[string]any{"actor_type": "test.Sink", "args": map[string]any{"store_tokens": true}},
		},
		"connections": map[string]any{"x:src.integer": []any{"x:snk.token"}},
	}}
	var d struct {
		ActorMap map[string]string `json:"actor_map"`
	}
	require.Equal(t, 200, do(t, a, "POST", "/deploy", app, &d))
	require.Equal(t, 204, do(t, a, "POST", "/actor/"+d.ActorMap["x:snk"]+"/migrate", map[string]any{"peer_node_id": b.id}, nil))
	require.Eventually(t, func() bool { return len(sinkTokens(t, b, d.ActorMap["x:snk"])) > 2 }, 10*time.Second, 10*time.Millisecond)

	b.cancel()
	assert.Equal(t, 0, b.wait())
	a.cancel()
	assert.Equal(t, 0, a.wait())
	http.DefaultClient.CloseIdleConnections()
	assert.Eventually(t, func() bool { return runtime.NumGoroutine() <= before }, 10*time.Second, 10*time.Millisecond,
		"no goroutine left behind")
}

func TestHeldWriter(t *testing.T) {
	var buf strings.Builder
	h := &heldWriter{w: &buf}
	_, _ = h.Write([]byte("early 1\n"))
	_, _ = h.Write([]byte("early 2\n"))
	assert.Empty(t, buf.String(), "nothing before release")
	h.release("ready\n")
	_, _ = h.Write([]byte("late\n"))
	assert.Equal(t, "ready\nearly 1\nearly 2\nlate\n", buf.String())
}

// TestWithoutSharedRegistry: two registry masters joined with -join share
// no registry; connects by explicit peer node and port id, and migrations
// to the linked peer, still work (§13.4).
func TestWithoutSharedRegistry(t *testing.T) {
	a := start(t, loopback...)
	b := start(t, append(loopback, "-join", a.listen)...)
	var out map[string]string
	require.Equal(t, 200, do(t, a, "POST", "/actor", map[string]any{"actor_type": "std.CountTimer", "args": map[string]any{"sleep": 0.02}}, &out))
	src := out["actor_id"]
	require.Equal(t, 200, do(t, b, "POST", "/actor", map[string]any{"actor_type": "test.Sink", "args": map[string]any{"store_tokens": true}}, &out))
	snk := out["actor_id"]

	// a's registry knows nothing of b's sink.
	assert.Equal(t, 404, do(t, a, "GET", "/actor/"+snk, nil, nil))
	assert.Equal(t, 404, do(t, a, "GET", "/node/"+b.id, nil, nil))
	assert.Equal(t, 404, do(t, a, "POST", "/connect", map[string]any{"actor_id": src, "port_name": "integer", "port_dir": "out",
		"peer_node_id": b.id, "peer_actor_id": snk, "peer_port_name": "token", "peer_port_dir": "in"}, nil),
		"by names the peer port cannot be found without a registry")

	var rec map[string]any
	require.Equal(t, 200, do(t, b, "GET", "/actor/"+snk, nil, &rec))
	inPort := rec["inports"].([]any)[0].(map[string]any)["id"].(string)
	require.Equal(t, 200, do(t, a, "POST", "/connect", map[string]any{"actor_id": src, "port_name": "integer", "port_dir": "out",
		"peer_node_id": b.id, "peer_port_id": inPort}, &out))
	assert.Equal(t, inPort, out["peer_port_id"])
	require.Eventually(t, func() bool { return len(sinkTokens(t, b, snk)) >= 3 }, 10*time.Second, 10*time.Millisecond)

	// Migrate the sink to a, the linked peer; the sequence continues there.
	require.Equal(t, 204, do(t, b, "POST", "/actor/"+snk+"/migrate", map[string]any{"peer_node_id": a.id}, nil))
	n := len(sinkTokens(t, a, snk))
	require.Eventually(t, func() bool { return len(sinkTokens(t, a, snk)) >= n+3 }, 10*time.Second, 10*time.Millisecond)
	toks := sinkTokens(t, a, snk)
	assert.True(t, isSequence(toks), "%v", toks)
}
