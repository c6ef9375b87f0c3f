// Command samplecontainer serves the OPACA sample agent container (spec
// §17, §18.2) standalone.
//
//	go run ./examples/samplecontainer [-addr HOST:PORT]
//
// The listen address defaults to 127.0.0.1:8082, or 127.0.0.1:$API_PORT
// when API_PORT is set, so the program can be a platform's local-process
// image. CONTAINER_ID, PLATFORM_URL, TOKEN, OWNER, PORT_MAPPING and the
// image parameters (database, username, password) come from the
// environment. Once the API answers (after the start delay of §17.5) the
// program prints exactly one line to stdout, "ready url=http://<addr>";
// logs go to stderr. SIGINT or SIGTERM shut it down cleanly with exit
// status 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/sample"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run serves the sample container until ctx ends; it returns the exit
// status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("samplecontainer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "", "listen address (default 127.0.0.1:8082, or 127.0.0.1:$API_PORT)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "samplecontainer: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if *addr == "" {
		*addr = "127.0.0.1:8082"
		if p := os.Getenv(opaca.EnvAPIPort); p != "" {
			*addr = net.JoinHostPort("127.0.0.1", p)
		}
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	host, _, err := net.SplitHostPort(*addr)
	if err != nil {
		fmt.Fprintf(stderr, "samplecontainer: bad -addr %q: %v\n", *addr, err)
		return 2
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "samplecontainer: %v\n", err)
		return 1
	}
	c, err := sample.New(sample.WithLogger(log), sample.WithHelperHost(host))
	if err != nil {
		_ = l.Close()
		fmt.Fprintf(stderr, "samplecontainer: %v\n", err)
		return 1
	}
	served := make(chan error, 1)
	go func() { served <- c.Serve(l) }()

	select {
	case <-c.Ready():
		// os.Stdout is unbuffered: the line is out when Fprintf returns.
		fmt.Fprintf(stdout, "ready url=http://%s\n", l.Addr())
	case <-ctx.Done():
	case err := <-served:
		fmt.Fprintf(stderr, "samplecontainer: %v\n", err)
		_ = c.Close()
		return 1
	}

	code := 0
	select {
	case <-ctx.Done():
	case err := <-served:
		if err != nil {
			fmt.Fprintf(stderr, "samplecontainer: %v\n", err)
			code = 1
		}
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Shutdown(shutdownCtx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		log.Warn("samplecontainer: shutdown", "err", err)
	}
	log.Info("samplecontainer: stopped")
	return code
}
