package testproc

import (
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
)

// Build builds the main package in the working directory of the test (the
// package under test) into a temporary directory and returns the binary's
// path. It skips the test in -short mode and fails it when the build fails.
func Build(t testing.TB, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the program")
	}
	bin := filepath.Join(t.TempDir(), name)
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		t.Fatalf("go build: %v", err)
	}
	return bin
}

// ServeUntilSignal is the body of a helper process: it listens on
// 127.0.0.1 at port (an API_PORT), runs serve on the listener and, on
// SIGTERM or an interrupt, calls stop and exits the process with status 0.
// It exits with status 2 when it cannot listen. It does not return.
func ServeUntilSignal(port string, serve func(net.Listener) error, stop func() error) {
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		os.Exit(2)
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, os.Interrupt)
	go func() { _ = serve(ln) }()
	<-sig
	_ = stop()
	os.Exit(0)
}
