// Command calvinnode runs a Calvin-compatible node: an RT2RT listener, the
// HTTP control API and start-up joins (spec chapter 13).
//
//	go run ./examples/calvinnode -listen calvinip://127.0.0.1:5000 -control 127.0.0.1:5001
//
// When it is ready it prints exactly one line to stdout,
//
//	ready id=<node id> listen=<first listen URI> control=<host:port>
//
// and logs go to stderr. SIGINT or SIGTERM shut it down cleanly (exit 0).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/meshkit/meshkit/actor/control"
	"github.com/meshkit/meshkit/rt2rt"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// listFlag is a repeatable string flag.
type listFlag struct {
	vals []string
	set  bool
}

func (l *listFlag) String() string { return strings.Join(l.vals, ",") }

func (l *listFlag) Set(v string) error {
	if !l.set {
		l.vals, l.set = nil, true // the first -flag replaces the default
	}
	l.vals = append(l.vals, v)
	return nil
}

type options struct {
	listen      listFlag
	control     string
	name        string
	id          string
	serializers string
	join        listFlag
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{listen: listFlag{vals: []string{"calvinip://127.0.0.1:5000"}}}
	fs := flag.NewFlagSet("calvinnode", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&o.listen, "listen", "RT2RT listen URI, calvinip://HOST:PORT or ws://HOST:PORT/PATH (repeatable)")
	fs.StringVar(&o.control, "control", "127.0.0.1:5001", "HTTP control API address HOST:PORT; empty disables it")
	fs.StringVar(&o.name, "name", "", "node name")
	fs.StringVar(&o.id, "id", "", "node id (default: a random uuid4)")
	fs.StringVar(&o.serializers, "serializers", "json,msgpack", "serializer priority list, comma-separated")
	fs.Var(&o.join, "join", "peer URI to join at start (repeatable)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	return o, nil
}

// run starts the node and serves until ctx ends; it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "calvinnode:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	if o.name != "" {
		log = log.With("name", o.name)
	}
	if err := serve(ctx, o, stdout, log); err != nil {
		log.Error("calvinnode failed", "err", err)
		return 1
	}
	return 0
}

func serve(ctx context.Context, o *options, stdout io.Writer, log *slog.Logger) error {
	nodeOpts := []rt2rt.Option{rt2rt.WithLogger(log), rt2rt.WithListen(o.listen.vals...)}
	if o.id != "" {
		nodeOpts = append(nodeOpts, rt2rt.WithID(o.id))
	}
	var sers []string
	for _, s := range strings.Split(o.serializers, ",") {
		if s = strings.TrimSpace(s); s != "" {
			sers = append(sers, s)
		}
	}
	nodeOpts = append(nodeOpts, rt2rt.WithSerializers(sers...))

	// Start-up order (§13.2): listeners, control API, start-up joins.
	node, err := rt2rt.NewNode(nodeOpts...)
	if err != nil {
		return err
	}
	defer node.Close()

	var srv *http.Server
	controlAddr := ""
	srvDone := make(chan error, 1)
	if o.control != "" {
		h, err := control.NewHandler(node, control.WithLogger(log))
		if err != nil {
			return err
		}
		ln, err := net.Listen("tcp", o.control)
		if err != nil {
			return fmt.Errorf("control API: %w", err)
		}
		controlAddr = ln.Addr().String()
		srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go func() { srvDone <- srv.Serve(ln) }()
	}

	var retries sync.WaitGroup
	retryCtx, stopRetries := context.WithCancel(ctx)
	defer func() {
		stopRetries()
		retries.Wait()
	}()
	joinAtStart(retryCtx, node, o.join.vals, &retries, log)

	fmt.Fprintf(stdout, "ready id=%s listen=%s control=%s\n", node.ID(), node.URIs()[0], controlAddr)

	select {
	case <-ctx.Done():
	case err := <-srvDone:
		return fmt.Errorf("control API stopped: %w", err)
	}
	log.Info("shutting down")
	stopRetries()
	retries.Wait()
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The node answers as §4.7 (and the control API 500, §12.1) while it
	// stops; then the HTTP server goes.
	shutdownErr := node.Shutdown(sctx)
	if srv != nil {
		if err := srv.Shutdown(sctx); err != nil {
			shutdownErr = errors.Join(shutdownErr, err)
		}
		<-srvDone
	}
	return shutdownErr
}

// joinAtStart tries each peer once before the ready line; failed ones keep
// retrying in the background with backoff until they join or ctx ends.
func joinAtStart(ctx context.Context, node *rt2rt.Node, uris []string, wg *sync.WaitGroup, log *slog.Logger) {
	var first sync.WaitGroup
	for _, uri := range uris {
		first.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			peer, err := node.Join(ctx, uri)
			first.Done()
			delay := 500 * time.Millisecond
			for err != nil {
				log.Warn("start-up join failed; retrying", "uri", uri, "err", err, "retry_in", delay)
				t := time.NewTimer(delay)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
				delay = min(2*delay, 30*time.Second)
				peer, err = node.Join(ctx, uri)
			}
			log.Info("joined", "uri", uri, "peer", peer)
		}()
	}
	first.Wait()
}
