package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	if testing.Short() {
		t.Skip("builds a binary")
	}
	bin := filepath.Join(t.TempDir(), "calvinnode")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	require.NoError(t, build.Run())

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
