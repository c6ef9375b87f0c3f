package platform

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
)

func TestEventLogRing(t *testing.T) {
	l := newEventLog(3)
	for i := 0; i < 5; i++ {
		l.add(opaca.Event{ID: strconv.Itoa(i)})
	}
	var ids []string
	for _, e := range l.list() {
		ids = append(ids, e.ID)
	}
	assert.Equal(t, []string{"2", "3", "4"}, ids, "oldest dropped, oldest first")
	none := newEventLog(0)
	none.add(opaca.Event{ID: "x"})
	assert.Empty(t, none.list())
	all := newEventLog(-1)
	for i := 0; i < 100; i++ {
		all.add(opaca.Event{ID: strconv.Itoa(i)})
	}
	assert.Len(t, all.list(), 100)
}

type recordingObserver struct {
	NopObserver
	mu       sync.Mutex
	requests []string
	forwards []string
	started  int
	stopped  int
	conns    []string
}

func (o *recordingObserver) Request(route string, status int, _ time.Duration) {
	o.mu.Lock()
	o.requests = append(o.requests, route+" "+strconv.Itoa(status))
	o.mu.Unlock()
}

func (o *recordingObserver) Forward(route, receiver string, err error, _ time.Duration) {
	o.mu.Lock()
	o.forwards = append(o.forwards, route)
	o.mu.Unlock()
}

func (o *recordingObserver) ContainerStarted(string, string) { o.mu.Lock(); o.started++; o.mu.Unlock() }
func (o *recordingObserver) ContainerStopped(string)         { o.mu.Lock(); o.stopped++; o.mu.Unlock() }
func (o *recordingObserver) Connected(peer string) {
	o.mu.Lock()
	o.conns = append(o.conns, "+"+peer)
	o.mu.Unlock()
}
func (o *recordingObserver) Disconnected(peer string) {
	o.mu.Lock()
	o.conns = append(o.conns, "-"+peer)
	o.mu.Unlock()
}

func TestObserver(t *testing.T) {
	obs := &recordingObserver{}
	tp := startPlatform(t, WithObserver(obs))
	b := startPlatform(t)
	ctx := context.Background()
	id := tp.deploy(t, "")
	_, err := tp.c.Invoke(ctx, "Add", "", map[string]int{"x": 1, "y": 1})
	require.NoError(t, err)
	_, err = tp.c.Connect(ctx, opaca.ConnectionRequest{URL: b.url})
	require.NoError(t, err)
	_, err = tp.c.Disconnect(ctx, opaca.ConnectionRequest{URL: b.url})
	require.NoError(t, err)
	_, err = tp.c.DeleteContainer(ctx, id)
	require.NoError(t, err)
	obs.mu.Lock()
	defer obs.mu.Unlock()
	assert.Contains(t, obs.requests, "POST /invoke/Add 200")
	assert.Contains(t, obs.forwards, "POST /invoke/Add")
	assert.Equal(t, 1, obs.started)
	assert.Equal(t, 1, obs.stopped)
	assert.Equal(t, []string{"+" + b.url, "-" + b.url}, obs.conns)
}

func TestConnectWithCredentials(t *testing.T) {
	a := startPlatform(t)
	b := startPlatform(t, WithRequireAuth(true))
	// the older credential form: A logs in at B with them
	code, body := rawCall(t, "POST", a.url+"/connections", "", `{"url":"`+b.url+`","username":"admin","password":"adminpw"}`)
	require.Equal(t, 200, code, body)
	assert.Equal(t, "true", body)
	pe := a.findPeer(b.url)
	require.NotNil(t, pe)
	assert.NotEmpty(t, pe.cl.Token(), "token from B's /login used for the connection")
	code, _ = rawCall(t, "POST", a.url+"/connections", "", `{"url":"http://127.0.0.1:1","username":"admin","password":"x"}`)
	assert.Equal(t, 502, code, "login at the peer failed")
	code, _ = rawCall(t, "POST", a.url+"/connections", "", `{"url":"http://x","bogus":1}`)
	assert.Equal(t, 422, code, "unknown field")
	code, _ = rawCall(t, "POST", a.url+"/connections", "", `{"connectBack":true}`)
	assert.Equal(t, 400, code, "missing url")
}

func TestRestoreAdoptedReattached(t *testing.T) {
	f := newFakeAC(map[string]string{"AGENT": "kept", "CONTAINER_ID": "x"})
	srv := httptest.NewServer(f)
	defer srv.Close()
	state := filepath.Join(t.TempDir(), "state.json")
	addr := freeAddr(t)
	ctx := context.Background()
	a := startAt(t, addr, WithStateFile(state), WithSessionPolicy("reconnect"))
	id, err := a.c.PostContainer(ctx, opaca.PostAgentContainer{Image: opaca.AgentContainerImage{ImageName: srv.URL}}, 0)
	require.NoError(t, err)
	require.NoError(t, a.Close())
	a2 := startAt(t, addr, WithStateFile(state), WithSessionPolicy("reconnect"))
	list, err := a2.c.Containers(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, id, list[0].ContainerID)
	assert.Equal(t, KindAdopted, a2.container(id).runner.Kind())
	_, err = client.InvokeAs[int](ctx, a2.c, "Add", "kept", map[string]int{"x": 1, "y": 1})
	require.NoError(t, err)
}

func TestPeerContainerRemovalPropagates(t *testing.T) {
	a := startPlatform(t)
	b := startPlatform(t)
	ctx := context.Background()
	id := b.deploy(t, "gone")
	_, err := a.c.Connect(ctx, opaca.ConnectionRequest{URL: b.url})
	require.NoError(t, err)
	require.Eventually(t, func() bool { return b.hub.count("/containers") == 1 }, 5*time.Second, 5*time.Millisecond)
	_, err = a.c.Invoke(ctx, "Add", "gone", map[string]int{"x": 1, "y": 1})
	require.NoError(t, err)
	_, err = b.c.DeleteContainer(ctx, id)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := a.c.Invoke(ctx, "Add", "gone", map[string]int{"x": 1, "y": 1})
		return client.StatusCode(err) == 404
	}, 10*time.Second, 20*time.Millisecond)
}

func TestParallelStarts(t *testing.T) {
	tp := startPlatform(t)
	ctx := context.Background()
	const n = 4
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ids[i], errs[i] = tp.c.PostContainer(ctx, fakePost("p"+strconv.Itoa(i)), 0)
		}(i)
	}
	wg.Wait()
	ports := map[int]bool{}
	for i := 0; i < n; i++ {
		require.NoError(t, errs[i])
		e := tp.container(ids[i])
		require.NotNil(t, e)
		assert.False(t, ports[e.api.HostPort], "distinct host ports")
		ports[e.api.HostPort] = true
		sum, err := client.InvokeAs[int](ctx, tp.c, "Add", "p"+strconv.Itoa(i), map[string]int{"x": i, "y": 1})
		require.NoError(t, err)
		assert.Equal(t, i+1, sum)
	}
}

func TestFailoverToNextCandidate(t *testing.T) {
	tp := startPlatform(t)
	ctx := context.Background()
	first := tp.deploy(t, "same")
	second := tp.deploy(t, "same")
	e := tp.container(first)
	require.NoError(t, e.runner.Stop(ctx, e.handle)) // first target now fails
	sum, err := client.InvokeAs[int](ctx, tp.c, "Add", "same", map[string]int{"x": 1, "y": 2})
	require.NoError(t, err, "the next full match answers")
	assert.Equal(t, 3, sum)
	assert.Equal(t, 1, tp.reg.get(second).invokes)
	require.NoError(t, tp.c.Send(ctx, "same", opaca.Message{Payload: []byte(`1`)}))
	m, _, _ := tp.reg.get(second).counts()
	assert.Equal(t, 1, m)
	rc, err := tp.c.GetStream(ctx, "GetStream", "same")
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	// broadcast: one target failed, one succeeded → 200
	require.NoError(t, tp.c.Broadcast(ctx, "ch", opaca.Message{Payload: []byte(`1`)}))
	// all targets failed → 502 with the last error
	e2 := tp.container(second)
	require.NoError(t, e2.runner.Stop(ctx, e2.handle))
	err = tp.c.Broadcast(ctx, "ch", opaca.Message{Payload: []byte(`1`)})
	assert.Equal(t, 502, client.StatusCode(err))
	_, err = tp.c.Invoke(ctx, "Add", "same", map[string]int{"x": 1, "y": 2})
	assert.Equal(t, 502, client.StatusCode(err))
}
