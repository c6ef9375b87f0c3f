package platform

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
)

func connected(tp *testPlatform, url string) bool {
	return tp.findPeer(url) != nil
}

func TestConnectAndForward(t *testing.T) {
	a := startPlatform(t)
	b := startPlatform(t)
	ctx := context.Background()
	idA := a.deploy(t, "agentA")
	idB := b.deploy(t, "agentB")

	ok, err := a.c.Connect(ctx, opaca.ConnectionRequest{URL: b.url + "/", ConnectBack: true})
	require.NoError(t, err)
	assert.True(t, ok)
	assert.True(t, connected(a, b.url), "trailing slash normalised")
	assert.True(t, connected(b, a.url), "connect-back")
	ok, err = a.c.Connect(ctx, opaca.ConnectionRequest{URL: b.url})
	require.NoError(t, err)
	assert.False(t, ok, "already connected")
	ok, err = a.c.Connect(ctx, opaca.ConnectionRequest{URL: a.url})
	require.NoError(t, err)
	assert.False(t, ok, "own URL")
	_, err = a.c.Connect(ctx, opaca.ConnectionRequest{URL: "ftp://x"})
	assert.Equal(t, 400, client.StatusCode(err))
	_, err = a.c.Connect(ctx, opaca.ConnectionRequest{URL: "http://127.0.0.1:1"})
	assert.Equal(t, 502, client.StatusCode(err))

	conns, err := a.c.Connections(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{b.url}, conns)
	info, err := a.c.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{b.url}, info.Connections)

	// invoke both ways
	sum, err := client.InvokeAs[int](ctx, a.c, "Add", "agentB", map[string]int{"x": 1, "y": 2})
	require.NoError(t, err)
	assert.Equal(t, 3, sum)
	assert.Equal(t, 1, b.reg.get(idB).invokes)
	sum, err = client.InvokeAs[int](ctx, b.c, "Add", "agentA", map[string]int{"x": 2, "y": 2})
	require.NoError(t, err)
	assert.Equal(t, 4, sum)
	_, err = a.c.Invoke(ctx, "Add", "agentB", map[string]int{"x": 1, "y": 2}, client.Forward(false))
	assert.Equal(t, 404, client.StatusCode(err), "forward=false stays local")
	_, err = a.c.Invoke(ctx, "Add", "agentB", map[string]any{"x": "no"})
	assert.Equal(t, 400, client.StatusCode(err), "validated on the forwarding platform too")
	_, err = a.c.Invoke(ctx, "Add", "", map[string]int{"x": 1, "y": 2}, client.InContainer(idB))
	require.NoError(t, err, "containerId of a connected platform's container")
	_, err = a.c.Invoke(ctx, "Fail", "agentB", nil)
	var se *client.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 502, se.StatusCode)
	require.Len(t, client.Causes(se.Response), 3, "A's 502 ← B's 502 ← the container's 500")
	assert.Equal(t, 500, client.RootCause(se.Response).StatusCode)

	// send, broadcast, streams
	msg := opaca.Message{Payload: []byte(`"hi"`)}
	require.NoError(t, a.c.Send(ctx, "agentB", msg))
	m, _, _ := b.reg.get(idB).counts()
	assert.Equal(t, 1, m)
	require.NoError(t, a.c.Broadcast(ctx, "ch", msg))
	_, bA, _ := a.reg.get(idA).counts()
	_, bB, _ := b.reg.get(idB).counts()
	assert.Equal(t, 1, bA, "broadcast reaches local containers")
	assert.Equal(t, 1, bB, "and every connected platform")
	rc, err := a.c.GetStream(ctx, "GetStream", "agentB")
	require.NoError(t, err)
	data, _ := io.ReadAll(rc)
	rc.Close()
	assert.Equal(t, `{"key":"value"}`, string(data))
	require.NoError(t, b.c.PostStream(ctx, "PostStream", "agentA", strings.NewReader("to A")))
	_, _, posted := a.reg.get(idA).counts()
	assert.Equal(t, 1, posted)

	agents, err := a.c.Agents(ctx, true)
	require.NoError(t, err)
	assert.Len(t, agents, 2)
	agents, err = a.c.Agents(ctx, false)
	require.NoError(t, err)
	assert.Len(t, agents, 1)
	_, found, err := a.c.Agent(ctx, "agentB")
	require.NoError(t, err)
	assert.True(t, found, "agent lookup searches connected platforms")

	// a new container on B reaches A's cache through the /containers events
	b.deploy(t, "agentB2")
	require.Eventually(t, func() bool {
		_, err := a.c.Invoke(ctx, "Add", "agentB2", map[string]int{"x": 1, "y": 1})
		return err == nil
	}, 10*time.Second, 20*time.Millisecond)

	ok, err = a.c.NotifyConnection(ctx, b.url)
	require.NoError(t, err)
	assert.True(t, ok)
	_, err = a.c.NotifyConnection(ctx, "http://127.0.0.1:2")
	assert.Equal(t, 404, client.StatusCode(err))
	ok, err = a.c.NotifyConnection(ctx, a.url)
	require.NoError(t, err)
	assert.False(t, ok)
	_, err = a.c.NotifyConnection(ctx, "not a url")
	assert.Equal(t, 400, client.StatusCode(err))

	// disconnect both ways
	ok, err = a.c.Disconnect(ctx, opaca.ConnectionRequest{URL: b.url, ConnectBack: true})
	require.NoError(t, err)
	assert.True(t, ok)
	assert.False(t, connected(a, b.url))
	assert.False(t, connected(b, a.url))
	assert.False(t, a.users.Exists(b.url), "temporary user of the peer removed")
	ok, err = a.c.Disconnect(ctx, opaca.ConnectionRequest{URL: b.url})
	require.NoError(t, err)
	assert.False(t, ok)
	_, err = a.c.Invoke(ctx, "Add", "agentB", map[string]int{"x": 1, "y": 2})
	assert.Equal(t, 404, client.StatusCode(err))
}

func TestSimultaneousConnect(t *testing.T) {
	for round := 0; round < 3; round++ {
		a := startPlatform(t)
		b := startPlatform(t)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var wg sync.WaitGroup
		var errA, errB error
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, errA = a.c.Connect(ctx, opaca.ConnectionRequest{URL: b.url, ConnectBack: true})
		}()
		go func() {
			defer wg.Done()
			_, errB = b.c.Connect(ctx, opaca.ConnectionRequest{URL: a.url, ConnectBack: true})
		}()
		wg.Wait()
		cancel()
		require.NoError(t, errA)
		require.NoError(t, errB)
		assert.True(t, connected(a, b.url))
		assert.True(t, connected(b, a.url))
		assert.Len(t, a.snapshotPeers(), 1)
		assert.Len(t, b.snapshotPeers(), 1)
	}
}

func TestOlderPeerHandshake(t *testing.T) {
	// We connect with connectBack to an older peer; it asks us to connect
	// to it while our procedure is in flight. That nested request must
	// find the peer pending and be answered at once (no loop, no deadlock).
	a := startPlatform(t)
	older := newOlderPeer(t, a.url)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ok, err := a.c.Connect(ctx, opaca.ConnectionRequest{URL: older.srv.URL, ConnectBack: true})
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, true, older.nestedAnswer.Load(), "nested request answered true from the pending set")
	assert.Equal(t, int32(1), older.requests.Load(), "exactly one nested request")
	assert.True(t, connected(a, older.srv.URL))
	assert.Len(t, a.snapshotPeers(), 1)

	// an older client posting the bare URL connects one-way
	b := startPlatform(t)
	code, body := rawCall(t, "POST", b.url+"/connections", "", `"`+a.url+`"`)
	assert.Equal(t, 200, code)
	assert.Equal(t, "true", body)
	assert.True(t, connected(b, a.url))
	assert.False(t, connected(a, b.url))
}

func TestPeerUnreachableDropped(t *testing.T) {
	a := startPlatform(t, WithPeerDropAfter(300*time.Millisecond))
	b := startPlatform(t)
	ctx := context.Background()
	ok, err := a.c.Connect(ctx, opaca.ConnectionRequest{URL: b.url})
	require.NoError(t, err)
	require.True(t, ok)
	require.Eventually(t, func() bool { return b.hub.count("/containers") == 1 }, 5*time.Second, 5*time.Millisecond)
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, b.Shutdown(sctx))
	require.Eventually(t, func() bool { return !connected(a, b.url) }, 15*time.Second, 20*time.Millisecond)
}

func TestShutdownTellsPeers(t *testing.T) {
	a := startPlatform(t)
	b := startPlatform(t)
	ctx := context.Background()
	_, err := a.c.Connect(ctx, opaca.ConnectionRequest{URL: b.url, ConnectBack: true})
	require.NoError(t, err)
	require.True(t, connected(b, a.url))
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	require.NoError(t, a.Shutdown(sctx))
	assert.False(t, connected(b, a.url), "without persistence peers are asked to drop us")
}

func TestAuthConnections(t *testing.T) {
	a := startPlatform(t, WithRequireAuth(true))
	b := startPlatform(t, WithRequireAuth(true))
	ctx := context.Background()
	ca := login(t, a.url, "admin", "adminpw")
	cb := login(t, b.url, "admin", "adminpw")
	_, err := cb.PostContainer(ctx, fakePost("agentB"), 0)
	require.NoError(t, err)
	_, err = ca.PostContainer(ctx, fakePost("agentA"), 0)
	require.NoError(t, err)
	ok, err := ca.Connect(ctx, opaca.ConnectionRequest{URL: b.url, ConnectBack: true, Token: cb.Token()})
	require.NoError(t, err)
	require.True(t, ok)
	require.True(t, connected(b, a.url))
	// both directions work with the exchanged tokens
	_, err = client.InvokeAs[int](ctx, ca, "Add", "agentB", map[string]int{"x": 1, "y": 2})
	require.NoError(t, err)
	_, err = client.InvokeAs[int](ctx, cb, "Add", "agentA", map[string]int{"x": 1, "y": 2})
	require.NoError(t, err)
	// a connect with no token fails at B's /info: 502
	a2 := startPlatform(t, WithRequireAuth(true))
	ca2 := login(t, a2.url, "admin", "adminpw")
	_, err = ca2.Connect(ctx, opaca.ConnectionRequest{URL: b.url})
	assert.Equal(t, 502, client.StatusCode(err))
	// a failed connect-back leaves no temporary user behind
	_, err = cb.CreateUser(ctx, opaca.User{Username: "g", Password: "g", Role: opaca.RoleGuest})
	require.NoError(t, err)
	g := login(t, b.url, "g", "g")
	_, err = ca2.Connect(ctx, opaca.ConnectionRequest{URL: b.url, ConnectBack: true, Token: g.Token()})
	assert.Equal(t, 502, client.StatusCode(err), "GUEST may not POST /connections at B")
	assert.False(t, a2.users.Exists(b.url))
}

func TestPeerTokenRenewed(t *testing.T) {
	a := startPlatform(t)
	b := startPlatform(t, WithRequireAuth(true))
	short, err := b.signer.Issue("admin", 2*time.Second) // renewed at half its lifetime
	require.NoError(t, err)
	ok, err := a.c.Connect(context.Background(), opaca.ConnectionRequest{URL: b.url, Token: short})
	require.NoError(t, err)
	require.True(t, ok)
	pe := a.findPeer(b.url)
	require.NotNil(t, pe)
	require.Eventually(t, func() bool { return pe.cl.Token() != short }, 10*time.Second, 20*time.Millisecond)
	iat, exp, ok := client.TokenTimes(pe.cl.Token())
	require.True(t, ok)
	assert.Greater(t, exp.Sub(iat), time.Hour, "a fresh /token token replaced the short one")
	_, err = a.c.Agents(context.Background(), true)
	require.NoError(t, err)
}
