package transport

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// memNode is one registry on a shared MemNetwork listening on mem://name,
// the way an upper-layer test sets up a node.
type memNode struct {
	reg *Registry
	l   Listener
}

func newMemNode(t *testing.T, n *MemNetwork, name string, opts ...Option) *memNode {
	t.Helper()
	reg, err := NewRegistry(append([]Option{WithMemNetwork(n)}, opts...)...)
	require.NoError(t, err)
	l, err := reg.Listen(context.Background(), "mem://"+name)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, l.Close()) })
	return &memNode{reg: reg, l: l}
}

// link dials from a to b and returns a's end and b's accepted end.
func (a *memNode) link(t *testing.T, b *memNode) (Conn, Conn) {
	t.Helper()
	ctx := context.Background()
	c, err := a.reg.Dial(ctx, b.l.URI())
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, c.Close()) })
	s, err := b.l.Accept(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, s.Close()) })
	return c, s
}

func numbered(i int) []byte { return binary.BigEndian.AppendUint32(nil, uint32(i)) }

func TestMemExchangeAndNames(t *testing.T) {
	checkNoLeaks(t)
	n := NewMemNetwork()
	a, b := newMemNode(t, n, "a"), newMemNode(t, n, "b")
	ab, ba := a.link(t, b)
	assert.Equal(t, "mem://a", ab.LocalURI())
	assert.Equal(t, "mem://b", ab.RemoteURI())
	assert.Equal(t, "mem://b", ba.LocalURI())
	assert.Equal(t, "mem://a", ba.RemoteURI())
	assert.Equal(t, 1, n.Conns())
	exchange(t, ab, ba, 20000)

	// An explicit from= names the dialing end; a transport without
	// listeners gets a unique anonymous name.
	tr, err := NewMemTransport(WithMemNetwork(n))
	require.NoError(t, err)
	c, err := tr.Dial(context.Background(), "mem://b?from=mem://x")
	require.NoError(t, err)
	defer c.Close()
	assert.Equal(t, "mem://x", c.LocalURI())
	anon, err := tr.Dial(context.Background(), "mem://b")
	require.NoError(t, err)
	defer anon.Close()
	assert.Regexp(t, `^mem://anon-[0-9]+$`, anon.LocalURI())
	for range 2 {
		s, err := b.l.Accept(context.Background())
		require.NoError(t, err)
		require.NoError(t, s.Close())
	}
}

func TestMemListenAndDialErrors(t *testing.T) {
	checkNoLeaks(t)
	n := NewMemNetwork()
	tr, err := NewMemTransport(WithMemNetwork(n))
	require.NoError(t, err)
	ctx := context.Background()
	l, err := tr.Listen(ctx, "mem://a")
	require.NoError(t, err)
	_, err = tr.Listen(ctx, "mem://a")
	require.ErrorIs(t, err, ErrAddressInUse)
	auto, err := tr.Listen(ctx, "mem://")
	require.NoError(t, err)
	assert.Regexp(t, `^mem://auto-[0-9]+$`, auto.URI())
	require.NoError(t, auto.Close())

	_, err = tr.Dial(ctx, "mem://nobody")
	require.ErrorIs(t, err, ErrUnreachable)
	for _, bad := range []string{"mem://", "mem://a/b", "calvinip://a:1", "mem://a b", "mem://a?%zz"} {
		_, err = tr.Dial(ctx, bad)
		require.ErrorIs(t, err, ErrInvalidURI, bad)
	}

	require.NoError(t, l.Close())
	require.NoError(t, l.Close())
	_, err = tr.Dial(ctx, "mem://a")
	require.ErrorIs(t, err, ErrUnreachable)
	_, err = l.Accept(ctx)
	require.ErrorIs(t, err, ErrClosed)
	// The name is free again.
	l, err = tr.Listen(ctx, "mem://a")
	require.NoError(t, err)
	require.NoError(t, l.Close())
}

func TestMemCloseSemantics(t *testing.T) {
	checkNoLeaks(t)
	n := NewMemNetwork()
	a, b := newMemNode(t, n, "a"), newMemNode(t, n, "b")
	ab, ba := a.link(t, b)
	ctx := context.Background()
	for i := range 3 {
		require.NoError(t, ab.Send(ctx, numbered(i)))
	}
	// A Recv blocked on the closing end returns.
	errc := make(chan error, 1)
	go func() { _, err := ab.Recv(ctx); errc <- err }()
	require.NoError(t, ab.Close())
	require.NoError(t, ab.Close())
	require.ErrorIs(t, <-errc, ErrClosed)
	require.ErrorIs(t, ab.Send(ctx, []byte("x")), ErrClosed)
	// The peer still reads what had arrived, then ErrClosed.
	for i := range 3 {
		got, err := ba.Recv(ctx)
		require.NoError(t, err)
		require.Equal(t, numbered(i), got)
	}
	_, err := ba.Recv(ctx)
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, ba.Send(ctx, []byte("x")), ErrClosed)
	assert.Zero(t, n.Conns())
}

func TestMemSendOversizeAndBackPressure(t *testing.T) {
	checkNoLeaks(t)
	n := NewMemNetwork()
	a := newMemNode(t, n, "a", WithMaxFrameSize(10), WithSendQueue(2))
	b := newMemNode(t, n, "b", WithMaxFrameSize(10), WithSendQueue(2))
	ab, ba := a.link(t, b)
	ctx := context.Background()
	require.ErrorIs(t, ab.Send(ctx, make([]byte, 11)), ErrFrameTooLarge)
	require.NoError(t, ab.Send(ctx, make([]byte, 10)))
	require.NoError(t, ab.Send(ctx, make([]byte, 1)))
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	require.ErrorIs(t, ab.Send(tctx, []byte("full")), context.DeadlineExceeded)
	// Reading makes room again.
	_, err := ba.Recv(ctx)
	require.NoError(t, err)
	require.NoError(t, ab.Send(ctx, []byte("room")))

	cctx, ccancel := context.WithCancel(ctx)
	ccancel()
	_, err = newMemPairRecv(t, n)(cctx)
	require.ErrorIs(t, err, context.Canceled)
}

// newMemPairRecv returns the Recv of a fresh idle connection.
func newMemPairRecv(t *testing.T, n *MemNetwork) func(context.Context) ([]byte, error) {
	x, y := newMemNode(t, n, "x"), newMemNode(t, n, "y")
	c, _ := x.link(t, y)
	return c.Recv
}

// sendAndCollect sends count numbered frames a→b, then (faults cleared) an
// end marker, and returns the numbers b received.
func sendAndCollect(t *testing.T, n *MemNetwork, ab, ba Conn, count int) []int {
	t.Helper()
	ctx := context.Background()
	for i := range count {
		require.NoError(t, ab.Send(ctx, numbered(i)))
	}
	n.ClearFaults()
	require.NoError(t, ab.Send(ctx, []byte("end")))
	var got []int
	for {
		f, err := ba.Recv(ctx)
		require.NoError(t, err)
		if string(f) == "end" {
			return got
		}
		got = append(got, int(binary.BigEndian.Uint32(f)))
	}
}

func TestMemDropDeterministic(t *testing.T) {
	checkNoLeaks(t)
	run := func(seed int64) []int {
		n := NewMemNetwork()
		// b's inbox holds the whole run: sendAndCollect reads afterwards.
		a, b := newMemNode(t, n, "a"), newMemNode(t, n, "b", WithSendQueue(4096))
		ab, ba := a.link(t, b)
		require.NoError(t, n.SetLinkFaults("a", "mem://b", Faults{DropRate: 0.3, Seed: seed}))
		return sendAndCollect(t, n, ab, ba, 2000)
	}
	first := run(1)
	assert.InDelta(t, 1400, len(first), 150, "about 30%% dropped")
	for i := 1; i < len(first); i++ {
		require.Less(t, first[i-1], first[i], "survivors stay in order")
	}
	assert.Equal(t, first, run(1), "same seed, same drops")
	assert.NotEqual(t, first, run(2), "another seed, other drops")
}

func TestMemLinkFaultsOverrideGlobal(t *testing.T) {
	checkNoLeaks(t)
	n := NewMemNetwork()
	a, b, c := newMemNode(t, n, "a"), newMemNode(t, n, "b"), newMemNode(t, n, "c")
	ab, ba := a.link(t, b)
	ac, ca := a.link(t, c)
	require.NoError(t, n.SetFaults(Faults{DropRate: 1}))
	require.NoError(t, n.SetLinkFaults("a", "c", Faults{}))
	ctx := context.Background()
	require.NoError(t, ab.Send(ctx, []byte("lost")))
	require.NoError(t, ac.Send(ctx, []byte("kept")))
	got, err := ca.Recv(ctx)
	require.NoError(t, err)
	assert.Equal(t, []byte("kept"), got)
	tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err = ba.Recv(tctx)
	require.ErrorIs(t, err, context.DeadlineExceeded, "a→b drops everything")

	// One direction only.
	require.NoError(t, n.SetDirectedFaults("mem://c", "a", Faults{DropRate: 1}))
	require.NoError(t, ac.Send(ctx, []byte("a to c")))
	require.NoError(t, ca.Send(ctx, []byte("c to a, lost")))
	got, err = ca.Recv(ctx)
	require.NoError(t, err)
	assert.Equal(t, []byte("a to c"), got)
	tctx2, cancel2 := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel2()
	_, err = ac.Recv(tctx2)
	require.ErrorIs(t, err, context.DeadlineExceeded, "c→a drops everything")

	require.Error(t, n.SetFaults(Faults{DropRate: 1.5}))
	require.Error(t, n.SetDirectedFaults("a", "b", Faults{DropRate: math.NaN()}))
	require.Error(t, n.SetLinkFaults("a", "b", Faults{Delay: -time.Second}))
}

func TestMemDelayKeepsOrder(t *testing.T) {
	checkNoLeaks(t)
	n := NewMemNetwork()
	a, b := newMemNode(t, n, "a"), newMemNode(t, n, "b")
	ab, ba := a.link(t, b)
	const delay = 30 * time.Millisecond
	require.NoError(t, n.SetFaults(Faults{Delay: delay}))
	ctx := context.Background()
	start := time.Now()
	for i := range 100 {
		require.NoError(t, ab.Send(ctx, numbered(i)))
	}
	// Faults off: later frames must still queue behind the delayed ones.
	n.ClearFaults()
	for i := 100; i < 200; i++ {
		require.NoError(t, ab.Send(ctx, numbered(i)))
	}
	for i := range 200 {
		f, err := ba.Recv(ctx)
		require.NoError(t, err)
		if i == 0 {
			assert.GreaterOrEqual(t, time.Since(start), delay)
		}
		require.Equal(t, numbered(i), f)
	}
	// Once drained, frames go straight through again.
	require.Eventually(t, func() bool { return ab.(*memConn).pending.Load() == 0 }, 5*time.Second, time.Millisecond)
}

func TestMemDelayedConnCloses(t *testing.T) {
	checkNoLeaks(t)
	n := NewMemNetwork()
	a, b := newMemNode(t, n, "a"), newMemNode(t, n, "b")
	ab, _ := a.link(t, b)
	require.NoError(t, n.SetFaults(Faults{Delay: time.Hour}))
	require.NoError(t, ab.Send(context.Background(), []byte("never")))
	// Close must not wait an hour, and the delay goroutine must go.
	require.NoError(t, ab.Close())
}

func TestMemCutAndRedial(t *testing.T) {
	checkNoLeaks(t)
	n := NewMemNetwork()
	a, b, c := newMemNode(t, n, "a"), newMemNode(t, n, "b"), newMemNode(t, n, "c")
	ab, ba := a.link(t, b)
	ac, _ := a.link(t, c)
	ctx := context.Background()

	assert.Equal(t, 1, n.CutLink("mem://b", "a"))
	for _, conn := range []Conn{ab, ba} {
		_, err := conn.Recv(ctx)
		require.ErrorIs(t, err, ErrClosed)
		require.ErrorIs(t, err, ErrLinkCut)
		require.ErrorIs(t, conn.Send(ctx, []byte("x")), ErrClosed)
	}
	// Other links are untouched, and a and b can dial again at once.
	require.NoError(t, ac.Send(ctx, []byte("still up")))
	ab2, ba2 := a.link(t, b)
	exchange(t, ab2, ba2, 10)

	assert.Equal(t, 2, n.Cut("a"))
	_, err := ab2.Recv(ctx)
	require.ErrorIs(t, err, ErrLinkCut)
	a.link(t, c)
	a.link(t, b)
	assert.Equal(t, 2, n.CutAll())
	assert.Zero(t, n.Conns())
}

func TestMemPartitionAndHeal(t *testing.T) {
	checkNoLeaks(t)
	n := NewMemNetwork()
	a, b, c := newMemNode(t, n, "a"), newMemNode(t, n, "b"), newMemNode(t, n, "c")
	ab, _ := a.link(t, b)
	ctx := context.Background()

	n.Partition("a", "b")
	_, err := ab.Recv(ctx)
	require.ErrorIs(t, err, ErrLinkCut)
	_, err = a.reg.Dial(ctx, "mem://b")
	require.ErrorIs(t, err, ErrUnreachable)
	_, err = b.reg.Dial(ctx, "mem://a")
	require.ErrorIs(t, err, ErrUnreachable)
	a.link(t, c) // unaffected

	n.Heal("b", "a")
	a.link(t, b)
	n.Partition("a", "b")
	n.Partition("a", "c")
	n.HealAll()
	a.link(t, b)
	a.link(t, c)
}

func TestMemDefaultNetwork(t *testing.T) {
	checkNoLeaks(t)
	ctx := context.Background()
	name := fmt.Sprintf("mem://default-net-test-%d", time.Now().UnixNano())
	l, err := Listen(ctx, name)
	require.NoError(t, err)
	defer l.Close()
	c, err := Dial(ctx, name)
	require.NoError(t, err)
	defer c.Close()
	s, err := l.Accept(ctx)
	require.NoError(t, err)
	defer s.Close()
	exchange(t, c, s, 10)
	assert.Same(t, DefaultMemNetwork(), DefaultMemNetwork())
}

// Dials racing with the listener's Close either fail or get a connection
// that is closed: none is left dangling in a dead backlog.
func TestMemDialRacingListenerClose(t *testing.T) {
	checkNoLeaks(t)
	for round := range 20 {
		n := NewMemNetwork()
		tr, err := NewMemTransport(WithMemNetwork(n))
		require.NoError(t, err)
		ctx := context.Background()
		l, err := tr.Listen(ctx, "mem://racy")
		require.NoError(t, err)
		results := make(chan Conn, 100)
		for range 100 {
			go func() {
				c, err := tr.Dial(ctx, "mem://racy?from=d")
				if err != nil {
					assert.ErrorIs(t, err, ErrUnreachable)
				}
				results <- c
			}()
		}
		require.NoError(t, l.Close())
		for range 100 {
			c := <-results
			if c == nil {
				continue
			}
			rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := c.Recv(rctx)
			cancel()
			require.ErrorIs(t, err, ErrClosed, "round %d: nobody accepted, so the link must be closed", round)
			require.NoError(t, c.Close())
		}
		assert.Zero(t, n.Conns())
	}
}

func TestMemIsolateAndRejoin(t *testing.T) {
	checkNoLeaks(t)
	n := NewMemNetwork()
	a, b, c := newMemNode(t, n, "a"), newMemNode(t, n, "b"), newMemNode(t, n, "c")
	ab, _ := a.link(t, b)
	ca, _ := c.link(t, a)
	bc, _ := b.link(t, c)
	ctx := context.Background()

	n.Isolate("mem://a")
	for _, conn := range []Conn{ab, ca} {
		_, err := conn.Recv(ctx)
		require.ErrorIs(t, err, ErrLinkCut)
	}
	for _, dial := range []func() error{
		func() error { _, err := a.reg.Dial(ctx, "mem://b"); return err },
		func() error { _, err := c.reg.Dial(ctx, "mem://a"); return err },
	} {
		require.ErrorIs(t, dial(), ErrUnreachable)
	}
	require.NoError(t, bc.Send(ctx, []byte("b and c still talk")))
	b.link(t, c)

	n.Rejoin("a")
	a.link(t, b)
	n.Isolate("b")
	n.HealAll()
	b.link(t, a)
}
