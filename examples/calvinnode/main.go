// Command calvinnode runs a Calvin-compatible node (spec chapter 13): an
// RT2RT listener, the registry, the standard actor types (actor/std), the
// HTTP control API (chapter 12) and start-up joins.
//
//	go run ./examples/calvinnode -listen calvinip://127.0.0.1:5000 -control 127.0.0.1:5001
//
// Flags: -listen URI (repeatable), -control HOST:PORT (empty disables the
// API), -name NAME (published as the node_name attribute and index), -id
// ID, -serializers LIST, -storage local|proxy:URI and -join URI
// (repeatable). With -storage local (the default) the node is a registry
// master: it serves the storage and proxy tunnels and keeps its own records
// in its store. With -storage proxy:URI it joins the node at URI at start
// (retrying in the background if that fails, with registry writes held
// until it succeeds) and keeps its records in that node's registry over a
// storage tunnel; the registry also resolves peers' URIs.
//
// Start-up order: listeners, registry, own node record and indexes, control
// API, -join peers. When it is ready it prints exactly one line to stdout,
//
//	ready id=<node id> listen=<first listen URI> control=<host:port>
//
// after which io.Print actors write their lines to stdout; logs go to
// stderr. SIGINT, SIGTERM and DELETE /node shut it down cleanly (exit 0):
// the node stops accepting work, destroys its actors (DELETE /node/migrate
// first moves them to linked peers, DELETE /node/now skips the clean-up),
// deletes its registry records and closes its links.
package main

import (
	"bytes"
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
	"github.com/meshkit/meshkit/tunnel/storage"
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
	storage     string // "local" or "proxy:URI"
	join        listFlag
}

// proxyURI returns the registry master's URI of -storage proxy:URI.
func (o *options) proxyURI() (string, bool) {
	uri, ok := strings.CutPrefix(o.storage, "proxy:")
	return uri, ok
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
	fs.StringVar(&o.storage, "storage", "local", "registry: local (this node is the registry master) or proxy:URI (use the registry of the node at URI)")
	fs.Var(&o.join, "join", "peer URI to join at start (repeatable)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if uri, ok := o.proxyURI(); o.storage != "local" && (!ok || uri == "") {
		return nil, fmt.Errorf("-storage %q: want local or proxy:URI", o.storage)
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

	// Start-up order (§13.2): listeners, registry, own record and indexes,
	// control API, start-up joins, then the ready line.
	node, err := rt2rt.NewNode(nodeOpts...)
	if err != nil {
		return err
	}
	defer node.Close()
	var ln net.Listener
	controlAddr := ""
	if o.control != "" {
		if ln, err = net.Listen("tcp", o.control); err != nil {
			return fmt.Errorf("control API: %w", err)
		}
		defer ln.Close()
		controlAddr = ln.Addr().String()
	}

	// Actor output (io.Print) is held until the ready line is out: an actor
	// could arrive by migration before it.
	out := &heldWriter{w: stdout}
	st, err := newStack(node, o, out, log)
	if err != nil {
		return err
	}
	defer st.close()

	var retries sync.WaitGroup
	retryCtx, stopRetries := context.WithCancel(ctx)
	defer func() {
		stopRetries()
		retries.Wait()
	}()

	// The registry: local (this node is the master) or the proxy master.
	rec := &storage.NodeRecord{ID: node.ID(), URIs: node.URIs(), Attributes: storage.NodeAttributes{Public: map[string]any{}},
		Capabilities: st.rt.Capabilities()}
	if controlAddr != "" {
		rec.ControlURIs = []string{"http://" + controlAddr}
	}
	if o.name != "" {
		rec.Attributes.IndexedPublic = []string{storage.NodeNameIndex("", "", "", "", o.name)}
	}
	if err := st.startRegistry(retryCtx, o, rec, &retries); err != nil {
		return err
	}

	stopReq := make(chan control.ShutdownMode, 1)
	var srv *http.Server
	srvDone := make(chan error, 1)
	if ln != nil {
		h, err := control.NewHandler(node, control.WithLogger(log), control.WithRuntime(st.rt), control.WithNetwork(st.net),
			control.WithRegistry(st.reg), control.WithRecords(st.records),
			control.WithShutdown(func(m control.ShutdownMode) {
				select {
				case stopReq <- m:
				default:
				}
			}))
		if err != nil {
			return err
		}
		srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
		go func() { srvDone <- srv.Serve(ln) }()
	}

	joinAtStart(retryCtx, node, o.join.vals, &retries, log)

	out.release(fmt.Sprintf("ready id=%s listen=%s control=%s\n", node.ID(), node.URIs()[0], controlAddr))

	mode := control.ShutdownClean
	var serveErr error
	select {
	case <-ctx.Done():
	case mode = <-stopReq:
	case err := <-srvDone:
		serveErr = fmt.Errorf("control API stopped: %w", err)
		srvDone <- nil
	}
	log.Info("shutting down", "mode", mode)
	stopRetries()
	retries.Wait()
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// While the node stops it answers as §4.7 (and the control API 500,
	// §12.1); the clean-up runs as a shutdown hook, before links close.
	cancelHook := node.OnShutdown(func(ctx context.Context) { st.cleanUp(ctx, mode, rec) })
	defer cancelHook()
	shutdownErr := node.Shutdown(sctx)
	if srv != nil {
		if err := srv.Shutdown(sctx); err != nil {
			shutdownErr = errors.Join(shutdownErr, err)
		}
		<-srvDone
	}
	return errors.Join(serveErr, shutdownErr)
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

// heldWriter keeps what is written to it until release, which writes a
// first line and then everything held, in order; later writes go straight
// through.
type heldWriter struct {
	mu       sync.Mutex
	w        io.Writer
	held     [][]byte
	released bool
}

func (h *heldWriter) Write(p []byte) (int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.released {
		h.held = append(h.held, bytes.Clone(p))
		return len(p), nil
	}
	return h.w.Write(p)
}

func (h *heldWriter) release(first string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, _ = io.WriteString(h.w, first)
	for _, p := range h.held {
		_, _ = h.w.Write(p)
	}
	h.held, h.released = nil, true
}
