package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/internal/httpprobe"
	"github.com/meshkit/meshkit/internal/testproc"
	"github.com/meshkit/meshkit/opaca"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// helperMapping keeps the helper servers off the well-known ports 8888 and
// 8889, which other programs on the machine may use.
func helperMapping(t *testing.T) string {
	return "8888:" + strconv.Itoa(freePort(t)) + ",8889:" + strconv.Itoa(freePort(t))
}

func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	var hdr []string
	if token != "" {
		hdr = []string{"Authorization", "Bearer " + token}
	}
	r := httpprobe.Do(t, "GET", url, "", hdr...)
	return r.Status, r.Body
}

// TestRun runs the program in-process: ready line, API answers, clean
// exit when the context ends.
func TestRun(t *testing.T) {
	t.Setenv("CONTAINER_ID", "standalone")
	t.Setenv("TOKEN", "")
	t.Setenv("PLATFORM_URL", "")
	t.Setenv("PORT_MAPPING", helperMapping(t))
	t.Setenv("username", "bob")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	outR, outW := io.Pipe()
	var stderr strings.Builder
	done := make(chan int, 1)
	start := time.Now()
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, outW, &stderr)
		outW.Close()
	}()
	line, err := bufio.NewReader(outR).ReadString('\n')
	require.NoError(t, err)
	assert.GreaterOrEqual(t, time.Since(start), 1500*time.Millisecond, "start delay of §17.5")
	require.True(t, strings.HasPrefix(line, "ready url=http://127.0.0.1:"), line)
	url := strings.TrimSpace(strings.TrimPrefix(line, "ready url="))

	status, body := get(t, url+"/info", "")
	require.Equal(t, 200, status, body)
	var info opaca.AgentContainer
	require.NoError(t, opaca.DecodeStrict([]byte(body), &info))
	assert.Equal(t, "standalone", info.ContainerID)
	assert.Equal(t, "bob", info.Arguments["username"])
	require.Len(t, info.Agents, 2)

	status, body = get(t, url+"/stream/GetStream", "")
	assert.Equal(t, 200, status)
	assert.Equal(t, `{"key":"value"}`, body)

	cancel()
	select {
	case code := <-done:
		assert.Equal(t, 0, code, stderr.String())
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after cancel")
	}
	_, _ = io.Copy(io.Discard, outR)
}

func TestRunBadFlags(t *testing.T) {
	var out, errOut strings.Builder
	assert.Equal(t, 2, run(context.Background(), []string{"-bogus"}, &out, &errOut))
	assert.Equal(t, 2, run(context.Background(), []string{"extra"}, &out, &errOut))
	assert.Equal(t, 2, run(context.Background(), []string{"-addr", "no-port"}, &out, &errOut))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	assert.Equal(t, 1, run(context.Background(), []string{"-addr", l.Addr().String()}, &out, &errOut), "address in use")
	assert.Empty(t, out.String(), "no ready line on failure")
	assert.Contains(t, errOut.String(), "address already in use")
}

// TestProgram builds the binary and drives it as the platform would: as a
// local-process image with API_PORT and TOKEN, stopped with SIGTERM.
func TestProgram(t *testing.T) {
	bin := testproc.Build(t, "samplecontainer")

	port := freePort(t)
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "API_PORT="+strconv.Itoa(port), "TOKEN=tok", "CONTAINER_ID=proc",
		"PLATFORM_URL=", "PORT_MAPPING=8082:"+strconv.Itoa(port)+","+helperMapping(t))
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	defer func() { _ = cmd.Process.Kill() }()

	sc := bufio.NewScanner(stdout)
	require.True(t, sc.Scan(), "no ready line; stderr: %s", stderr.String())
	assert.Equal(t, "ready url=http://127.0.0.1:"+strconv.Itoa(port), sc.Text())
	url := "http://127.0.0.1:" + strconv.Itoa(port)

	status, _ := get(t, url+"/info", "")
	assert.Equal(t, 403, status, "bearer check against TOKEN")
	status, body := get(t, url+"/info", "tok")
	require.Equal(t, 200, status)
	var info map[string]any
	require.NoError(t, json.Unmarshal([]byte(body), &info))
	assert.Equal(t, "proc", info["containerId"])

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), "exit status 0 after SIGTERM; stderr: %s", stderr.String())
	assert.False(t, sc.Scan(), "nothing but the ready line on stdout")
}
