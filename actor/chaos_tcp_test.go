package actor_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/internal/testnet"
	"github.com/meshkit/meshkit/rt2rt"
)

// TestChaosTCP runs TestChaos's flows, migrations and checks on four nodes
// that talk over real loopback TCP (calvinip). Every node reaches every
// other through a relay of its own (testnet.Relay: node i dials node j at
// relay i→j, which its resolver names), and the faults come from outside
// the nodes: relayed connections are killed (both sockets closed, so both
// nodes see the link die), one link at a time or all at once, and relays
// refuse new connections for a while (a partition of two nodes, or a node
// isolated from all others). Same flags as TestChaos (-chaos.drops aside).
func TestChaosTCP(t *testing.T) {
	runChaos(t, fmt.Sprintf("-chaos.seed=%d -chaos.duration=%v", *chaosSeed, *chaosDuration),
		func() chaosNet { return &tcpChaos{} })
}

// tcpChaos is TestChaosTCP's network: loopback TCP through relays. A
// restarted node listens on the address it had, so the relays still reach it.
type tcpChaos struct {
	mu     sync.Mutex
	relays [][]*testnet.Relay // relays[i][j]: how node i reaches node j (nil when i == j)
	names  []string
	listen map[int]string // node i's calvinip URI once it has one

	kills, partitions, isolations, massKills atomic.Int64
	killed                                   atomic.Int64 // connections killed
}

func (n *tcpChaos) newNode(t *testing.T, c *chaosRun, i int) *meshNode {
	resolve := rt2rt.ResolverFunc(func(_ context.Context, id string) ([]string, error) {
		if r := n.relay(i, id); r != nil {
			return []string{"calvinip://" + r.Addr()}, nil
		}
		return nil, fmt.Errorf("no relay from %s to %s", c.names[i], id)
	})
	n.mu.Lock()
	uri, again := n.listen[i]
	n.mu.Unlock()
	if !again {
		uri = "calvinip://127.0.0.1:0"
	}
	m := chaosMeshNode(t, c.reg, c.names[i], c.recs, c.log, rt2rt.WithListen(uri), rt2rt.WithResolver(resolve))
	n.mu.Lock()
	if n.listen == nil {
		n.listen = map[int]string{}
	}
	n.listen[i] = m.node.URIs()[0]
	n.mu.Unlock()
	return m
}

// relay returns the relay node i reaches node id through.
func (n *tcpChaos) relay(i int, id string) *testnet.Relay {
	n.mu.Lock()
	defer n.mu.Unlock()
	for j, name := range n.names {
		if name == id && i < len(n.relays) {
			return n.relays[i][j]
		}
	}
	return nil
}

// link starts a relay for every ordered pair of nodes and joins every node
// to every other through them.
func (n *tcpChaos) link(ctx context.Context, t *testing.T, c *chaosRun) {
	nodes := c.nodes()
	n.mu.Lock()
	n.names = c.names
	n.relays = make([][]*testnet.Relay, len(nodes))
	for i := range nodes {
		n.relays[i] = make([]*testnet.Relay, len(nodes))
	}
	n.mu.Unlock()
	for i := range nodes {
		for j, to := range nodes {
			if i == j {
				continue
			}
			r, err := testnet.NewRelay(strings.TrimPrefix(to.node.URIs()[0], "calvinip://"))
			require.NoError(t, err)
			n.mu.Lock()
			n.relays[i][j] = r
			n.mu.Unlock()
		}
	}
	for i := range nodes {
		for j := range i {
			id, err := nodes[i].node.Join(ctx, "calvinip://"+n.relay(i, c.names[j]).Addr())
			require.NoError(t, err)
			require.Equal(t, c.names[j], id)
		}
	}
}

// between returns the relays of the link between nodes i and j (both
// directions: either node may have dialled).
func (n *tcpChaos) between(i, j int) []*testnet.Relay {
	n.mu.Lock()
	defer n.mu.Unlock()
	return []*testnet.Relay{n.relays[i][j], n.relays[j][i]}
}

// around returns the relays of every link of node i.
func (n *tcpChaos) around(i int) []*testnet.Relay {
	n.mu.Lock()
	defer n.mu.Unlock()
	var rs []*testnet.Relay
	for j := range n.relays {
		if j != i {
			rs = append(rs, n.relays[i][j], n.relays[j][i])
		}
	}
	return rs
}

func (n *tcpChaos) all() []*testnet.Relay {
	n.mu.Lock()
	defer n.mu.Unlock()
	var rs []*testnet.Relay
	for _, row := range n.relays {
		for _, r := range row {
			if r != nil {
				rs = append(rs, r)
			}
		}
	}
	return rs
}

func (n *tcpChaos) kill(rs []*testnet.Relay) int {
	k := 0
	for _, r := range rs {
		k += r.Kill()
	}
	n.killed.Add(int64(k))
	return k
}

// partition kills the connections of rs and refuses new ones for d.
func (n *tcpChaos) partition(c *chaosRun, rs []*testnet.Relay, d time.Duration) int {
	var releases []func()
	for _, r := range rs {
		releases = append(releases, r.Refuse())
	}
	c.after(d, func() {
		for _, release := range releases {
			release()
		}
	})
	return n.kill(rs)
}

func (n *tcpChaos) inject(c *chaosRun, r *rand.Rand) {
	i, j := c.pair(r)
	a, b := c.names[i], c.names[j]
	lasting := time.Duration(50+r.IntN(300)) * time.Millisecond
	switch k := r.IntN(6); {
	case k <= 2:
		killed := n.kill(n.between(i, j))
		n.kills.Add(1)
		c.logEvent("kill %s-%s: %d connections", a, b, killed)
	case k == 3:
		killed := n.partition(c, n.between(i, j), lasting)
		n.partitions.Add(1)
		c.logEvent("partition %s-%s for %v: %d connections killed", a, b, lasting, killed)
	case k == 4:
		killed := n.partition(c, n.around(i), lasting)
		n.isolations.Add(1)
		c.logEvent("isolate %s for %v: %d connections killed", a, lasting, killed)
	case k == 5:
		killed := n.kill(n.all())
		n.massKills.Add(1)
		c.logEvent("kill all: %d connections", killed)
	}
}

// heal has nothing to do: the ends of the partitions, run before it,
// released every refusal.
func (n *tcpChaos) heal() {}

func (n *tcpChaos) faults() string {
	var refused int64
	for _, r := range n.all() {
		refused += r.Stats().Refused
	}
	return fmt.Sprintf("%d connections killed by %d link kills, %d kills of everything, %d partitions, %d node isolations; %d connections refused",
		n.killed.Load(), n.kills.Load(), n.massKills.Load(), n.partitions.Load(), n.isolations.Load(), refused)
}

func (n *tcpChaos) close() {
	for _, r := range n.all() {
		_ = r.Close()
	}
}
