// Command bridge runs a Calvin node and an OPACA Runtime Platform whose
// in-process container hosts the bridge agent (package bridgeagent), so
// that any OPACA client can drive the Calvin mesh: list nodes and actors,
// create, delete and connect actors, migrate them, read their reports,
// inject tokens and stream the tokens arriving at a port.
//
//	go run ./examples/bridge -listen calvinip://127.0.0.1:5000 -platform 127.0.0.1:8000
//	go run ./examples/bridge -listen calvinip://127.0.0.1:5010 -platform 127.0.0.1:8010 -join calvinip://127.0.0.1:5000
//
// Flags: -listen URI (the node's RT2RT listener), -join URI (repeatable:
// peers to join at start), -platform HOST:PORT (the platform API), -agent ID
// (the bridge agent's id), -v (logs to stderr). Once everything serves it
// prints
//
//	ready node=<node id> listen=<listen URI>
//	ready platform=<base URL> agent=<agent id>
//
// and serves until SIGINT or SIGTERM, then stops cleanly (exit 0). Try
//
//	curl -s -XPOST -H 'Content-Type: application/json' -d '{}' http://127.0.0.1:8000/invoke/Nodes/calvin
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
	"strings"
	"syscall"
	"time"

	"github.com/meshkit/meshkit/examples/bridge/bridgeagent"
	"github.com/meshkit/meshkit/examples/bridge/mesh"
	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
	"github.com/meshkit/meshkit/opaca/container"
	"github.com/meshkit/meshkit/opaca/platform"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdout, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bridge:", err)
		os.Exit(1)
	}
}

// listFlag is a repeatable string flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// run starts the node and the platform, prints the ready lines and serves
// until ctx ends.
func run(ctx context.Context, stdout io.Writer, args []string) (err error) {
	fs := flag.NewFlagSet("bridge", flag.ContinueOnError)
	listen := fs.String("listen", "calvinip://127.0.0.1:5000", "RT2RT listen URI of the Calvin node")
	var join listFlag
	fs.Var(&join, "join", "peer URI to join at start (repeatable)")
	addr := fs.String("platform", "127.0.0.1:8000", "HOST:PORT of the OPACA platform API")
	agentID := fs.String("agent", "calvin", "id of the bridge agent")
	verbose := fs.Bool("v", false, "log to stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	log := slog.New(slog.DiscardHandler)
	if *verbose {
		log = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}

	startCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	node, err := mesh.Start(startCtx, *listen, join, log)
	if err != nil {
		return fmt.Errorf("calvin node: %w", err)
	}
	defer func() { err = errors.Join(err, node.Close()) }()
	bridge, err := bridgeagent.New(node.Node, node.Runtime, node.Network, container.WithID(*agentID))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, bridge.Close()) }()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("platform: %w", err)
	}
	p, err := platform.New(platform.WithPublicURL("http://"+ln.Addr().String()), platform.WithLogger(log),
		platform.WithInProcessImage(bridgeagent.ImageName, bridge.Factory(log)))
	if err != nil {
		return errors.Join(err, ln.Close())
	}
	served := make(chan error, 1)
	go func() { served <- p.Serve(ln) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = errors.Join(err, p.Shutdown(sctx), <-served)
	}()
	if err := p.Start(startCtx); err != nil {
		return err
	}
	api, err := client.New(p.BaseURL())
	if err != nil {
		return err
	}
	defer api.Close()
	if _, err := api.PostContainer(startCtx, opaca.PostAgentContainer{Image: bridgeagent.Image()}, 0); err != nil {
		return fmt.Errorf("start the bridge container: %w", err)
	}
	fmt.Fprintf(stdout, "ready node=%s listen=%s\n", node.ID(), node.URI())
	fmt.Fprintf(stdout, "ready platform=%s agent=%s\n", p.BaseURL(), bridge.Agent().ID())

	select {
	case <-ctx.Done():
		return nil
	case err := <-served:
		served <- err // for the deferred shutdown
		return fmt.Errorf("platform stopped: %w", err)
	}
}
