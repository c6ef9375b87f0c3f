package testproc

import (
	"bufio"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestBuild(t *testing.T) {
	t.Chdir("testdata/hello")
	bin := Build(t, "hello")
	out, err := exec.Command(bin).Output()
	if err != nil || string(out) != "hello\n" {
		t.Errorf("built program printed %q, %v", out, err)
	}
}

// TestHelperProcess is not a test: it is the helper process of
// TestServeUntilSignal (the test binary re-executed).
func TestHelperProcess(t *testing.T) {
	if os.Getenv("TESTPROC_HELPER") != "1" {
		t.Skip("helper process")
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("served"))
	})}
	ServeUntilSignal(os.Getenv("API_PORT"), srv.Serve, srv.Close)
}

func TestServeUntilSignal(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	ln.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "TESTPROC_HELPER=1", "API_PORT="+port)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }()
	var resp *http.Response
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if resp, err = http.Get("http://127.0.0.1:" + port); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatalf("helper never served: %v", err)
	}
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	resp.Body.Close()
	if !strings.HasPrefix(line, "served") {
		t.Errorf("helper answered %q", line)
	}
	http.DefaultClient.CloseIdleConnections()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("helper exit after SIGTERM: %v, want status 0", err)
	}
}
