// Command pingpong plays ping-pong between two agents on two connected
// OPACA Runtime Platforms.
//
//	go run ./examples/pingpong [-rounds 6] [-timeout 30s] [-v]
//
// It starts platform A and platform B on loopback (OS-chosen ports). Each
// hosts one in-process agent container: A runs the agent "ping", B the agent
// "pong". Then A is connected to B (with connect-back, so each platform
// forwards to the other) and the agents play:
//
//   - ping serves the ball through its own platform, on odd rounds as a
//     broadcast on the channel "pingpong", on even rounds as a direct message
//     to "pong". Platform A has no such listener or agent itself and forwards
//     the call to platform B, which hands it to pong.
//   - pong returns the ball by invoking ping's action Pong(round, hits)
//     through platform B, which forwards the invocation back to platform A.
//
// Every agent adds one hit to the ball. The program prints one line per
// round and a summary taken from the platforms' APIs (the forwards recorded
// in each /history, pong's own count fetched through platform A), then
// shuts everything down and exits 0.
package main

import (
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
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
	"github.com/meshkit/meshkit/opaca/container"
	"github.com/meshkit/meshkit/opaca/platform"
)

const (
	channel   = "pingpong"      // the broadcast channel pong listens on
	pingImage = "pingpong-ping" // in-process image names
	pongImage = "pingpong-pong"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Stdout, os.Args[1:])
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "pingpong:", err)
		os.Exit(1)
	}
}

// run is the program: it sets up both platforms, plays the rounds and shuts
// everything down again, also when ctx ends early.
func run(ctx context.Context, stdout io.Writer, args []string) (err error) {
	fs := flag.NewFlagSet("pingpong", flag.ContinueOnError)
	rounds := fs.Int("rounds", 6, "number of rounds to play")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	verbose := fs.Bool("v", false, "log platform and container activity to stderr")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if *rounds < 1 {
		return fmt.Errorf("-rounds must be at least 1, got %d", *rounds)
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	g, err := setup(ctx, stdout, logger)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, g.close()) }()
	if err := g.play(ctx, stdout, *rounds); err != nil {
		return err
	}
	return g.summary(ctx, stdout, *rounds)
}

// ball is what the agents pass back and forth: the payload of ping's
// broadcasts and messages, and the arguments of ping's action Pong.
type ball struct {
	Round int `json:"round"`
	Hits  int `json:"hits"`
}

// pingAgent lives on platform A. Its action Pong receives pong's returns.
type pingAgent struct {
	agent *container.Agent
	// returns hands the ball from the Pong action to the rounds loop; it
	// holds one ball, and a second one before the loop took the first is
	// refused as a double return.
	returns chan ball
}

func newPing() (*pingAgent, error) {
	a, err := container.NewAgent(container.WithID("ping"), container.WithType("pingpong.Ping"))
	if err != nil {
		return nil, err
	}
	p := &pingAgent{agent: a, returns: make(chan ball, 1)}
	err = container.AddFunc(a, "Pong", func(_ context.Context, b ball) (struct{}, error) {
		select {
		case p.returns <- b:
			return struct{}{}, nil
		default:
			return struct{}{}, fmt.Errorf("ball of round %d returned while another one waits", b.Round)
		}
	}, container.Description("pong returns the ball"))
	return p, err
}

// pongCount is the result of pong's action Count.
type pongCount struct {
	Broadcasts int `json:"broadcasts"`
	Messages   int `json:"messages"`
}

// pongAgent lives on platform B. It listens on the channel and for direct
// messages, and answers each ball by invoking Pong on the sender.
type pongAgent struct {
	agent *container.Agent
	mu    sync.Mutex
	count pongCount
}

func newPong() (*pongAgent, error) {
	a, err := container.NewAgent(container.WithID("pong"), container.WithType("pingpong.Pong"))
	if err != nil {
		return nil, err
	}
	p := &pongAgent{agent: a}
	if err := a.Subscribe(channel, func(ctx context.Context, m opaca.Message) error {
		return p.hit(ctx, m, &p.count.Broadcasts)
	}); err != nil {
		return nil, err
	}
	a.OnMessage(func(ctx context.Context, m opaca.Message) error {
		return p.hit(ctx, m, &p.count.Messages)
	})
	err = container.AddFunc(a, "Count", func(context.Context, struct{}) (pongCount, error) {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.count, nil
	}, container.Description("how many balls pong got by broadcast and by message"))
	return p, err
}

// hit returns a ball to the agent that sent it (m.ReplyTo). The handler runs
// before the platform answers the broadcast or send, so ping's call only
// returns once the ball is back: the round trip is synchronous.
func (p *pongAgent) hit(ctx context.Context, m opaca.Message, counter *int) error {
	var b ball
	if err := json.Unmarshal(m.Payload, &b); err != nil {
		return fmt.Errorf("pong: not a ball: %w", err)
	}
	p.mu.Lock()
	*counter++
	p.mu.Unlock()
	b.Hits++
	// Platform B has no agent "ping"; it forwards the call to platform A.
	_, err := p.agent.Platform().Invoke(ctx, "Pong", m.ReplyTo, b)
	return err
}

// node is one running platform with a client of its API.
type node struct {
	name   string
	p      *platform.Platform
	api    *client.Client
	served chan error
}

// startNode serves a platform on a free loopback port and starts the
// in-process container of image there, holding agent.
func startNode(ctx context.Context, name, image string, agent *container.Agent, logger *slog.Logger) (*node, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p, err := platform.New(
		platform.WithPublicURL("http://"+ln.Addr().String()),
		platform.WithInProcessImage(image, func(env map[string]string) (platform.InProcessContainer, error) {
			c, err := container.New(opaca.AgentContainerImage{ImageName: image}, container.WithEnv(env),
				container.WithLogger(logger))
			if err != nil {
				return nil, err
			}
			// the platform reads the agents from /info once the container
			// serves, so there is nothing to notify it of yet
			if err := c.AddAgent(agent, container.WithoutNotify()); err != nil {
				_ = c.Close()
				return nil, err
			}
			return c, nil
		}),
		platform.WithEventHistorySize(-1), // keep every event: the summary counts them
		platform.WithLogger(logger.With("platform", name)),
	)
	if err != nil {
		_ = ln.Close()
		return nil, err
	}
	n := &node{name: name, p: p, served: make(chan error, 1)}
	go func() { n.served <- p.Serve(ln) }()
	if n.api, err = client.New(p.BaseURL()); err != nil {
		return nil, errors.Join(err, n.close())
	}
	if err := p.Start(ctx); err != nil {
		return nil, errors.Join(err, n.close())
	}
	if _, err := n.api.PostContainer(ctx, opaca.PostAgentContainer{Image: opaca.AgentContainerImage{ImageName: image}}, 0); err != nil {
		return nil, errors.Join(fmt.Errorf("platform %s: start %s: %w", name, image, err), n.close())
	}
	return n, nil
}

func (n *node) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var err error
	if n.api != nil {
		err = n.api.Close()
	}
	err = errors.Join(err, n.p.Shutdown(ctx))
	return errors.Join(err, <-n.served)
}

// game is everything run sets up.
type game struct {
	a, b *node
	ping *pingAgent
	pong *pongAgent
}

// setup starts platform A with ping and platform B with pong, and connects
// them both ways.
func setup(ctx context.Context, stdout io.Writer, logger *slog.Logger) (*game, error) {
	ping, err := newPing()
	if err != nil {
		return nil, err
	}
	pong, err := newPong()
	if err != nil {
		return nil, err
	}
	g := &game{ping: ping, pong: pong}
	if g.a, err = startNode(ctx, "A", pingImage, ping.agent, logger); err != nil {
		return nil, err
	}
	if g.b, err = startNode(ctx, "B", pongImage, pong.agent, logger); err != nil {
		return nil, errors.Join(err, g.close())
	}
	fmt.Fprintf(stdout, "platform A at %s hosts agent %q\n", g.a.p.BaseURL(), ping.agent.ID())
	fmt.Fprintf(stdout, "platform B at %s hosts agent %q\n", g.b.p.BaseURL(), pong.agent.ID())
	// connectBack: B connects to A as well, so forwarding works both ways.
	req := opaca.ConnectionRequest{URL: g.b.p.BaseURL(), ConnectBack: true}
	if _, err := g.a.api.Connect(ctx, req); err != nil {
		return nil, errors.Join(fmt.Errorf("connect A to B: %w", err), g.close())
	}
	fmt.Fprintln(stdout, "platforms A and B connected")
	return g, nil
}

func (g *game) close() error {
	var err error
	for _, n := range []*node{g.a, g.b} {
		if n != nil {
			err = errors.Join(err, n.close())
		}
	}
	return err
}

// play plays the rounds and prints one line per round.
func (g *game) play(ctx context.Context, stdout io.Writer, rounds int) error {
	out := g.ping.agent.Platform() // ping's calls go through platform A
	for r := 1; r <= rounds; r++ {
		serve := ball{Round: r, Hits: 2*r - 1}
		var how string
		var err error
		if r%2 == 1 {
			how = fmt.Sprintf("broadcast on %q", channel)
			err = out.Broadcast(ctx, channel, serve)
		} else {
			how = "message to " + g.pong.agent.ID()
			err = out.Send(ctx, g.pong.agent.ID(), serve)
		}
		if err != nil {
			return fmt.Errorf("round %d: %s: %w", r, how, err)
		}
		// pong returns the ball while handling the serve, so it is back by
		// now. (A broadcast succeeds when any receiver took it, even if
		// pong failed; the missing ball tells.)
		var back ball
		select {
		case back = <-g.ping.returns:
		default:
			return fmt.Errorf("round %d: pong did not return the ball", r)
		}
		if want := (ball{Round: r, Hits: serve.Hits + 1}); back != want {
			return fmt.Errorf("round %d: got %+v back, want %+v", r, back, want)
		}
		fmt.Fprintf(stdout, "round %d: ping -> pong by %s (hits %d), pong -> ping by invoking Pong(round=%d, hits=%d)\n",
			r, how, serve.Hits, back.Round, back.Hits)
	}
	return nil
}

// summary checks through the platforms' APIs that every ball crossed the
// connection, and prints the figures.
func (g *game) summary(ctx context.Context, stdout io.Writer, rounds int) error {
	aToB, err := forwards(ctx, g.a, g.b)
	if err != nil {
		return err
	}
	bToA, err := forwards(ctx, g.b, g.a)
	if err != nil {
		return err
	}
	// Ask platform A for pong's count: A forwards the invocation to B.
	count, err := client.InvokeAs[pongCount](ctx, g.a.api, "Count", g.pong.agent.ID(), nil)
	if err != nil {
		return fmt.Errorf("count: %w", err)
	}
	if aToB != rounds || bToA != rounds || count.Broadcasts+count.Messages != rounds {
		return fmt.Errorf("after %d rounds: A forwarded %d calls to B, B forwarded %d to A, pong counted %+v",
			rounds, aToB, bToA, count)
	}
	fmt.Fprintf(stdout, "done: %d rounds, %d hits; pong got %d broadcasts and %d messages; "+
		"A forwarded %d calls to B and B forwarded %d calls to A\n",
		rounds, 2*rounds, count.Broadcasts, count.Messages, aToB, bToA)
	return nil
}

// forwards counts the calls from's /history records as forwarded to the
// platform to (FORWARD events whose receiver is to's base URL).
func forwards(ctx context.Context, from, to *node) (int, error) {
	events, err := from.api.History(ctx)
	if err != nil {
		return 0, fmt.Errorf("history of %s: %w", from.name, err)
	}
	n := 0
	for _, ev := range events {
		if ev.EventType == opaca.EventForward && strings.TrimSuffix(ev.Receiver, "/") == to.p.BaseURL() {
			n++
		}
	}
	return n, nil
}
