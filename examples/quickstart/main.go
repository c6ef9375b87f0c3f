// Command quickstart is the tour of meshkit: a Calvin mesh, an OPACA
// platform, and the bridge between them.
//
//	go run ./examples/quickstart [-v]
//
// It runs on loopback with OS-chosen ports, prints one line per step and
// stops by itself:
//
//  1. Calvin: two nodes A and B over calvinip; a std.CountTimer on A feeds a
//     test.Sink on B; the sink migrates to A and back to B while the timer
//     keeps counting, and its received sequence is checked to be unbroken.
//  2. OPACA: a Runtime Platform hosting the sample agent container and this
//     program's own agent container ("greeter"); one action of each is
//     invoked through the platform API.
//  3. The bridge: a third container holds two bridge agents, one per Calvin
//     node (examples/bridge/bridgeagent). Through the platform API the
//     program migrates the sink from B to A, reads the sink's report on A
//     and watches the tokens arriving at it on the bridge's token stream.
//
// The last line is "done: ... unbroken" and the exit status 0; any failure
// prints a message to stderr and exits 1.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/actor/std"
	"github.com/meshkit/meshkit/examples/bridge/bridgeagent"
	"github.com/meshkit/meshkit/examples/bridge/mesh"
	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
	"github.com/meshkit/meshkit/opaca/container"
	"github.com/meshkit/meshkit/opaca/platform"
	"github.com/meshkit/meshkit/opaca/sample"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdout, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// Names of the example's own container images and agents.
const (
	greeterImage = "quickstart-greeter"
	bridgeImage  = bridgeagent.ImageName
)

// run is the program; it always shuts everything down before returning.
func run(ctx context.Context, stdout io.Writer, args []string) (err error) {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	verbose := fs.Bool("v", false, "log node, platform and container activity to stderr")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
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
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	say := func(format string, a ...any) { fmt.Fprintf(stdout, format+"\n", a...) }

	// 1. Calvin: two nodes, a flow across them, a migration there and back.
	a, err := mesh.Start(ctx, "calvinip://127.0.0.1:0", nil, log.With("node", "A"))
	if err != nil {
		return fmt.Errorf("node A: %w", err)
	}
	defer func() { err = errors.Join(err, a.Close()) }()
	b, err := mesh.Start(ctx, "calvinip://127.0.0.1:0", []string{a.URI()}, log.With("node", "B"))
	if err != nil {
		return fmt.Errorf("node B: %w", err)
	}
	defer func() { err = errors.Join(err, b.Close()) }()
	if err := a.WaitLinked(ctx, b.ID()); err != nil {
		return err
	}
	say("calvin: node A %s listens on %s", a.ID(), a.URI())
	say("calvin: node B %s listens on %s, joined A", b.ID(), b.URI())

	src, err := a.Runtime.CreateActor(ctx, std.CountTimerType, map[string]any{"name": "quickstart:src", "sleep": 0.01})
	if err != nil {
		return err
	}
	snk, err := b.Runtime.CreateActor(ctx, std.SinkType, map[string]any{"name": "quickstart:snk", "store_tokens": true, "quiet": true})
	if err != nil {
		return err
	}
	out, _ := a.Runtime.PortID(src, actor.Out, "integer")
	in, _ := b.Runtime.PortID(snk, actor.In, "token")
	if err := b.Network.ConnectRemote(ctx, in, a.ID(), out); err != nil {
		return fmt.Errorf("connect the sink to the timer: %w", err)
	}
	say("calvin: flow std.CountTimer on A -> test.Sink on B")
	n, err := waitTokens(ctx, b, snk, 10)
	if err != nil {
		return err
	}
	say("calvin: the sink on B has %d tokens", n)

	if err := b.Network.Migrate(ctx, snk, a.ID()); err != nil {
		return fmt.Errorf("migrate the sink to A: %w", err)
	}
	n, err = waitTokens(ctx, a, snk, n+10)
	if err != nil {
		return err
	}
	say("calvin: sink migrated B -> A; it has %d tokens", n)
	if err := a.Network.Migrate(ctx, snk, b.ID()); err != nil {
		return fmt.Errorf("migrate the sink back to B: %w", err)
	}
	n, err = waitTokens(ctx, b, snk, n+10)
	if err != nil {
		return err
	}
	say("calvin: sink migrated A -> B; it has %d tokens", n)
	seq, err := sequence(ctx, b, snk)
	if err != nil {
		return err
	}
	say("calvin: sink sequence %s", seq)

	// 2. OPACA: a platform with the sample container and our own agent.
	bridgeA, err := bridgeagent.New(a.Node, a.Runtime, a.Network, container.WithID("calvin-a"))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, bridgeA.Close()) }()
	bridgeB, err := bridgeagent.New(b.Node, b.Runtime, b.Network, container.WithID("calvin-b"))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, bridgeB.Close()) }()
	greeter, err := newGreeter()
	if err != nil {
		return err
	}
	p, api, stopPlatform, err := startPlatform(ctx, log,
		platform.WithInProcessImage(sample.ImageName, func(env map[string]string) (platform.InProcessContainer, error) {
			return sample.New(sample.WithEnv(env), sample.WithStartDelay(0), sample.WithoutHelpers(), sample.WithLogger(log))
		}),
		platform.WithInProcessImage(greeterImage, hosting(opaca.AgentContainerImage{ImageName: greeterImage}, log, greeter)),
		platform.WithInProcessImage(bridgeImage, hosting(bridgeagent.Image(), log, bridgeA.Agent(), bridgeB.Agent())),
	)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, stopPlatform()) }()
	say("opaca: platform at %s", p.BaseURL())
	for _, image := range []string{sample.ImageName, greeterImage, bridgeImage} {
		if _, err := api.PostContainer(ctx, opaca.PostAgentContainer{Image: opaca.AgentContainerImage{ImageName: image}}, 0); err != nil {
			return fmt.Errorf("start container %s: %w", image, err)
		}
	}
	agents, err := api.Agents(ctx, false)
	if err != nil {
		return err
	}
	say("opaca: containers started: %s, %s, %s (%d agents)", sample.ImageName, greeterImage, bridgeImage, len(agents))
	sum, err := client.InvokeAs[int](ctx, api, "Add", "sample1", map[string]int{"x": 17, "y": 25})
	if err != nil {
		return fmt.Errorf("sample Add: %w", err)
	}
	say("opaca: sample1 Add(x=17, y=25) = %d", sum)
	hello, err := client.InvokeAs[string](ctx, api, "Hello", "greeter", map[string]string{"name": "meshkit"})
	if err != nil {
		return fmt.Errorf("greeter Hello: %w", err)
	}
	say("opaca: greeter Hello(name=meshkit) = %q", hello)

	// 3. The bridge: drive the Calvin mesh through the platform API.
	moved, err := client.InvokeAs[bridgeagent.Migrated](ctx, api, "Migrate", "calvin-b",
		bridgeagent.MigrateArgs{Actor: snk, Node: a.ID()})
	if err != nil {
		return fmt.Errorf("bridge Migrate: %w", err)
	}
	actorsA, err := client.InvokeAs[[]bridgeagent.ActorInfo](ctx, api, "Actors", "calvin-a", nil)
	if err != nil {
		return fmt.Errorf("bridge Actors: %w", err)
	}
	names := []string{}
	for _, ai := range actorsA {
		names = append(names, ai.Name)
	}
	slices.Sort(names)
	if _, onB := b.Runtime.Actor(snk); onB || moved.To != a.ID() {
		return fmt.Errorf("bridge Migrate answered %+v, but the sink is still on B", moved)
	}
	say("bridge: Migrate(sink -> A) through the platform: the actors on A are now %q", names)

	watching, err := client.InvokeAs[bridgeagent.Watching](ctx, api, "Watch", "calvin-a", bridgeagent.PortRef{Actor: snk, Port: "token"})
	if err != nil {
		return fmt.Errorf("bridge Watch: %w", err)
	}
	arrivals, err := readStream(ctx, api, watching.Stream, "calvin-a", 3)
	if err != nil {
		return err
	}
	say("bridge: stream %s: tokens %v arriving at the sink on A", watching.Stream, arrivals)

	tokens, err := client.InvokeAs[[]int64](ctx, api, "Report", "calvin-a", bridgeagent.ReportArgs{Actor: snk})
	if err != nil {
		return fmt.Errorf("bridge Report: %w", err)
	}
	if err := unbroken(tokens); err != nil {
		return fmt.Errorf("sink report through the bridge: %w", err)
	}
	if last := tokens[len(tokens)-1]; last < arrivals[len(arrivals)-1] {
		return fmt.Errorf("sink report ends at %d, before the streamed token %d", last, arrivals[len(arrivals)-1])
	}
	say("done: the sink on A reports %d tokens, 1..%d, unbroken across 3 migrations", len(tokens), len(tokens))
	return nil
}

// waitTokens polls the sink's report until it holds at least want tokens.
func waitTokens(ctx context.Context, n *mesh.Node, sink string, want int) (int, error) {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		v, err := n.Runtime.Report(ctx, sink, nil)
		if err != nil {
			return 0, fmt.Errorf("sink report: %w", err)
		}
		if got := len(v.([]any)); got >= want {
			return got, nil
		}
		select {
		case <-ctx.Done():
			return 0, fmt.Errorf("waiting for %d tokens at the sink: %w", want, ctx.Err())
		case <-tick.C:
		}
	}
}

// sequence checks the sink's tokens and describes them.
func sequence(ctx context.Context, n *mesh.Node, sink string) (string, error) {
	v, err := n.Runtime.Report(ctx, sink, nil)
	if err != nil {
		return "", err
	}
	var tokens []int64
	for _, t := range v.([]any) {
		i, ok := integer(t)
		if !ok {
			return "", fmt.Errorf("sink token %v (%T) is not an integer", t, t)
		}
		tokens = append(tokens, i)
	}
	if err := unbroken(tokens); err != nil {
		return "", err
	}
	return fmt.Sprintf("1..%d, unbroken", len(tokens)), nil
}

// integer converts a token value to an int64 (migrated state may come back
// with another Go number type).
func integer(v any) (int64, bool) {
	switch v := v.(type) {
	case int64:
		return v, true
	case int:
		return int64(v), true
	case uint64:
		return int64(v), true
	case float64:
		return int64(v), v == float64(int64(v))
	case json.Number:
		i, err := v.Int64()
		return i, err == nil
	}
	return 0, false
}

// unbroken checks that tokens are 1, 2, 3, ... with nothing lost or
// repeated.
func unbroken(tokens []int64) error {
	if len(tokens) == 0 {
		return errors.New("no tokens")
	}
	for i, t := range tokens {
		if t != int64(i+1) {
			return fmt.Errorf("sequence broken at position %d: got %d, want %d", i, t, i+1)
		}
	}
	return nil
}

// readStream opens the bridge's token stream and returns the first want
// tokens it delivers (after its "watching" line).
func readStream(ctx context.Context, api *client.Client, stream, agent string, want int) ([]int64, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	body, err := api.GetStream(ctx, stream, agent)
	if err != nil {
		return nil, fmt.Errorf("open stream %s: %w", stream, err)
	}
	defer body.Close()
	lines := bufio.NewScanner(body)
	if !lines.Scan() {
		return nil, fmt.Errorf("stream %s ended at once: %v", stream, lines.Err())
	}
	var got []int64
	for len(got) < want && lines.Scan() {
		var ar struct {
			Token int64 `json:"token"`
		}
		if err := json.Unmarshal(lines.Bytes(), &ar); err != nil {
			return nil, fmt.Errorf("stream line %q: %w", lines.Text(), err)
		}
		got = append(got, ar.Token)
	}
	if len(got) < want {
		return nil, fmt.Errorf("stream %s ended after %d tokens: %v", stream, len(got), lines.Err())
	}
	return got, nil
}

// newGreeter is this program's own agent: one action, Hello.
func newGreeter() (*container.Agent, error) {
	a, err := container.NewAgent(container.WithID("greeter"), container.WithType("quickstart.Greeter"))
	if err != nil {
		return nil, err
	}
	type helloArgs struct {
		Name string `json:"name"`
	}
	err = container.AddFunc(a, "Hello", func(_ context.Context, args helloArgs) (string, error) {
		return "Hello, " + args.Name + "!", nil
	}, container.Description("greets by name"))
	return a, err
}

// hosting returns the factory of an in-process container of image holding
// agents.
func hosting(image opaca.AgentContainerImage, log *slog.Logger, agents ...*container.Agent) platform.InProcessFactory {
	return func(env map[string]string) (platform.InProcessContainer, error) {
		c, err := container.New(image, container.WithEnv(env), container.WithLogger(log))
		if err != nil {
			return nil, err
		}
		for _, a := range agents {
			// the platform reads the agents from /info once the container serves
			if err := c.AddAgent(a, container.WithoutNotify()); err != nil {
				return nil, errors.Join(err, c.Close())
			}
		}
		return c, nil
	}
}

// startPlatform serves a platform on a free loopback port and returns it
// with a client of its API and the function that stops both.
func startPlatform(ctx context.Context, log *slog.Logger, opts ...platform.Option) (*platform.Platform, *client.Client, func() error, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, nil, err
	}
	p, err := platform.New(append(opts, platform.WithPublicURL("http://"+ln.Addr().String()), platform.WithLogger(log))...)
	if err != nil {
		return nil, nil, nil, errors.Join(err, ln.Close())
	}
	served := make(chan error, 1)
	go func() { served <- p.Serve(ln) }()
	var api *client.Client
	stop := func() error {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var err error
		if api != nil {
			err = api.Close()
		}
		return errors.Join(err, p.Shutdown(sctx), <-served)
	}
	if api, err = client.New(p.BaseURL()); err != nil {
		return nil, nil, nil, errors.Join(err, stop())
	}
	if err := p.Start(ctx); err != nil {
		return nil, nil, nil, errors.Join(err, stop())
	}
	return p, api, stop, nil
}
