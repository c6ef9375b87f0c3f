package actor_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/token"
)

var ctx = context.Background()

func ints(n int64, mul int64) []any {
	out := make([]any, n)
	for i := range out {
		out[i] = (int64(i) + 1) * mul
	}
	return out
}

func connect(t *testing.T, rt *actor.Runtime, from, fromPort, to, toPort string) {
	t.Helper()
	op, err := rt.PortID(from, actor.Out, fromPort)
	require.NoError(t, err)
	ip, err := rt.PortID(to, actor.In, toPort)
	require.NoError(t, err)
	require.NoError(t, rt.Connect(ctx, op, ip))
}

func TestLocalPipelineDeliversInOrder(t *testing.T) {
	rt, boxes := testRuntime(t, actor.WithWorkers(2))
	src, err := rt.CreateActor(ctx, "test.Source", map[string]any{"n": int64(1000), "name": "app:src"})
	require.NoError(t, err)
	dbl, err := rt.CreateActor(ctx, "test.Double", nil)
	require.NoError(t, err)
	snk, err := rt.CreateActor(ctx, "test.A", nil)
	require.NoError(t, err)
	connect(t, rt, src, "out", dbl, "in")
	connect(t, rt, dbl, "out", snk, "in")

	require.Eventually(t, func() bool { return boxes["test.A"].len() == 1000 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, ints(1000, 2), boxes["test.A"].snapshot())
	info, ok := rt.Actor(src)
	require.True(t, ok)
	assert.Equal(t, "app:src", info.Name)
	assert.True(t, info.Connected)
}

func TestFanOutGivesEveryTokenToEveryReader(t *testing.T) {
	rt, boxes := testRuntime(t)
	src, err := rt.CreateActor(ctx, "test.Source", map[string]any{"n": int64(500)})
	require.NoError(t, err)
	a, err := rt.CreateActor(ctx, "test.A", nil)
	require.NoError(t, err)
	b, err := rt.CreateActor(ctx, "test.B", nil)
	require.NoError(t, err)
	// The source has nbr_peers 1: it may start after the first connection,
	// and the second reader joins at the oldest stored position.
	connect(t, rt, src, "out", a, "in")
	connect(t, rt, src, "out", b, "in")
	require.Eventually(t, func() bool { return boxes["test.A"].len() == 500 }, 5*time.Second, time.Millisecond)
	require.Eventually(t, func() bool {
		got := boxes["test.B"].snapshot()
		return len(got) > 0 && got[len(got)-1] == int64(500)
	}, 5*time.Second, time.Millisecond)
	assert.Equal(t, ints(500, 1), boxes["test.A"].snapshot())
	got := boxes["test.B"].snapshot()
	first := got[0].(int64)
	assert.Equal(t, ints(500, 1)[first-1:], got, "reader B sees an unbroken suffix")
}

func TestActorWaitsForAllPorts(t *testing.T) {
	rt, boxes := testRuntime(t)
	dbl, err := rt.CreateActor(ctx, "test.Double", nil)
	require.NoError(t, err)
	src, err := rt.CreateActor(ctx, "test.Source", map[string]any{"n": int64(3)})
	require.NoError(t, err)
	connect(t, rt, src, "out", dbl, "in")
	info, _ := rt.Actor(dbl)
	assert.False(t, info.Connected)
	// The outport queue exists only after a connect; until the sink is
	// connected nothing reaches it and Double does not fire.
	snk, err := rt.CreateActor(ctx, "test.A", nil)
	require.NoError(t, err)
	assert.Equal(t, 0, boxes["test.A"].len())
	connect(t, rt, dbl, "out", snk, "in")
	require.Eventually(t, func() bool { return boxes["test.A"].len() == 3 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, ints(3, 2), boxes["test.A"].snapshot())
}

func TestCreateErrors(t *testing.T) {
	rt, _ := testRuntime(t)
	_, err := rt.CreateActor(ctx, "no.Such", nil)
	assert.ErrorIs(t, err, actor.ErrUnknownType)
	_, err = rt.CreateActor(ctx, "test.Source", map[string]any{"bogus": 1})
	assert.ErrorIs(t, err, actor.ErrBadArgument)
	id, err := rt.CreateActor(ctx, "test.A", nil, actor.WithActorID("fixed"))
	require.NoError(t, err)
	assert.Equal(t, "fixed", id)
	_, err = rt.CreateActor(ctx, "test.A", nil, actor.WithActorID("fixed"))
	assert.ErrorIs(t, err, actor.ErrDuplicateActor)

	reg, err := actor.NewRegistry(actor.Type{Name: "x.Needs", Requires: []string{"sys.magic"},
		New: func() actor.Actor { return double{} }})
	require.NoError(t, err)
	rt2, err := actor.NewRuntime(actor.WithRegistry(reg))
	require.NoError(t, err)
	defer rt2.Close()
	_, err = rt2.CreateActor(ctx, "x.Needs", nil)
	assert.ErrorIs(t, err, actor.ErrMissingCapability)
}

type badActions struct{}

func (badActions) Actions() []actor.Action {
	return []actor.Action{{Name: "x", In: []string{"nope"}, Fire: func(*actor.Context, []token.Token, []token.Token) error { return nil }}}
}

type panicky struct{}

func (panicky) Init(*actor.Context, map[string]any) error { panic("boom") }
func (panicky) Actions() []actor.Action                   { return nil }

func TestTypeValidation(t *testing.T) {
	_, err := actor.NewRegistry(actor.Type{Name: ""})
	assert.ErrorIs(t, err, actor.ErrInvalidType)
	_, err = actor.NewRegistry(actor.Type{Name: "a.B"})
	assert.ErrorIs(t, err, actor.ErrInvalidType, "no factory")
	_, err = actor.NewRegistry(actor.Type{Name: "a.B", Inports: []string{"x", "x"}, New: func() actor.Actor { return double{} }})
	assert.ErrorIs(t, err, actor.ErrInvalidType)
	_, err = actor.NewRegistry(actor.Type{Name: "a.B", Optional: map[string]any{"name": 1}, New: func() actor.Actor { return double{} }})
	assert.ErrorIs(t, err, actor.ErrInvalidType)
	reg, err := actor.NewRegistry(actor.Type{Name: "a.Bad", New: func() actor.Actor { return badActions{} }},
		actor.Type{Name: "a.Panic", New: func() actor.Actor { return panicky{} }})
	require.NoError(t, err)
	assert.ErrorIs(t, reg.Register(actor.Type{Name: "a.Bad", New: func() actor.Actor { return double{} }}), actor.ErrDuplicateType)
	rt, err := actor.NewRuntime(actor.WithRegistry(reg))
	require.NoError(t, err)
	defer rt.Close()
	_, err = rt.CreateActor(ctx, "a.Bad", nil)
	assert.ErrorIs(t, err, actor.ErrInvalidType)
	_, err = rt.CreateActor(ctx, "a.Panic", nil)
	require.Error(t, err)
	var ae *actor.ActorError
	assert.True(t, errors.As(err, &ae))
	assert.Empty(t, rt.ActorIDs())
}

func TestOptionsValidated(t *testing.T) {
	for _, o := range []actor.Option{actor.WithWorkers(0), actor.WithRegistry(nil), actor.WithLogger(nil),
		actor.WithNodeID(""), actor.WithObserver(nil), actor.WithStdout(nil), actor.WithBurst(0), nil} {
		_, err := actor.NewRuntime(o)
		assert.ErrorIs(t, err, actor.ErrBadOption)
	}
}

func TestConnectErrors(t *testing.T) {
	rt, _ := testRuntime(t)
	src, _ := rt.CreateActor(ctx, "test.Source", nil)
	a, _ := rt.CreateActor(ctx, "test.A", nil)
	src2, _ := rt.CreateActor(ctx, "test.Source", nil)
	op, _ := rt.PortID(src, actor.Out, "out")
	op2, _ := rt.PortID(src2, actor.Out, "out")
	ip, _ := rt.PortID(a, actor.In, "in")
	assert.ErrorIs(t, rt.Connect(ctx, ip, op), actor.ErrBadConnection)
	assert.ErrorIs(t, rt.Connect(ctx, "nope", ip), actor.ErrUnknownPort)
	require.NoError(t, rt.Connect(ctx, op, ip))
	require.NoError(t, rt.Connect(ctx, op, ip), "reconnecting the same pair is fine")
	assert.ErrorIs(t, rt.Connect(ctx, op2, ip), actor.ErrBadConnection, "no fan-in on a default inport")
	_, err := rt.PortID(src, actor.In, "out")
	assert.ErrorIs(t, err, actor.ErrUnknownPort)
}

func TestDisconnectStopsAndReconnectResumes(t *testing.T) {
	rt, boxes := testRuntime(t)
	src, _ := rt.CreateActor(ctx, "test.Source", map[string]any{"n": int64(100000)})
	a, _ := rt.CreateActor(ctx, "test.A", nil)
	op, _ := rt.PortID(src, actor.Out, "out")
	ip, _ := rt.PortID(a, actor.In, "in")
	require.NoError(t, rt.Connect(ctx, op, ip))
	require.Eventually(t, func() bool { return boxes["test.A"].len() > 10 }, 5*time.Second, time.Millisecond)
	require.NoError(t, rt.Disconnect(ctx, op, ip, actor.Temporary))
	info, _ := rt.Actor(src)
	assert.False(t, info.Connected)
	require.NoError(t, rt.Disconnect(ctx, op, ip, actor.Temporary), "disconnecting twice is fine")
	require.NoError(t, rt.Connect(ctx, op, ip))
	require.Eventually(t, func() bool { return boxes["test.A"].len() == 100000 }, 10*time.Second, time.Millisecond)
	assert.Equal(t, ints(100000, 1), boxes["test.A"].snapshot(), "positions survive the temporary disconnect")
}

type countingObserver struct {
	actor.NopObserver
	created, deleted chan string
}

func (o *countingObserver) ActorCreated(id, _ string, _ bool) { o.created <- id }
func (o *countingObserver) ActorDeleted(id string, _ bool)    { o.deleted <- id }

func TestDeleteAppAndObserver(t *testing.T) {
	obs := &countingObserver{created: make(chan string, 10), deleted: make(chan string, 10)}
	rt, _ := testRuntime(t, actor.WithObserver(obs))
	app, err := rt.CreateApp("flow", "")
	require.NoError(t, err)
	src, err := rt.CreateActor(ctx, "test.Source", nil, actor.InApp(app))
	require.NoError(t, err)
	snk, err := rt.CreateActor(ctx, "test.A", nil, actor.InApp(app))
	require.NoError(t, err)
	other, err := rt.CreateActor(ctx, "test.B", nil)
	require.NoError(t, err)
	connect(t, rt, src, "out", snk, "in")
	assert.Equal(t, src, <-obs.created)
	assert.Len(t, rt.Apps(), 1)
	assert.ElementsMatch(t, []string{src, snk}, rt.Apps()[0].Actors)

	missing, err := rt.DestroyApp(ctx, app, []string{src, "gone-elsewhere"})
	require.NoError(t, err)
	assert.Equal(t, []string{"gone-elsewhere"}, missing)
	assert.Equal(t, src, <-obs.deleted)
	info, ok := rt.Actor(snk)
	require.True(t, ok, "actors not listed stay")
	assert.False(t, info.Connected, "its peer is gone")
	assert.Empty(t, rt.Apps())
	missing, err = rt.DestroyApp(ctx, "unknown", []string{})
	require.NoError(t, err)
	assert.Empty(t, missing)
	assert.ErrorIs(t, rt.DeleteActor(ctx, src), actor.ErrUnknownActor)
	require.NoError(t, rt.DeleteActor(ctx, other))
}

func TestCloseTwiceNoLeak(t *testing.T) {
	before := runtime.NumGoroutine()
	rt, _ := testRuntime(t, actor.WithWorkers(8))
	src, _ := rt.CreateActor(ctx, "test.Source", map[string]any{"n": int64(1 << 40)})
	a, _ := rt.CreateActor(ctx, "test.A", nil)
	connect(t, rt, src, "out", a, "in")
	require.NoError(t, rt.Close())
	require.NoError(t, rt.Close())
	_, err := rt.CreateActor(ctx, "test.A", nil)
	assert.ErrorIs(t, err, actor.ErrClosed)
	noLeak(t, before)
}

// ticker emits a token on each timer trigger; its timer is a system object,
// so it survives export/import.
type ticker struct {
	timer *actor.Timer
	n     int64
}

func (k *ticker) Init(c *actor.Context, _ map[string]any) (err error) {
	k.timer, err = c.OpenTimer(actor.CapTimerRepeating, map[string]any{})
	if err == nil {
		k.timer.Start(0.001)
	}
	return err
}

func (k *ticker) Actions() []actor.Action {
	return []actor.Action{{Name: "tick", Out: []string{"out"},
		Guard: func(*actor.Context, []token.Token) bool { return k.timer.Triggered() },
		Fire: func(_ *actor.Context, _, out []token.Token) error {
			k.timer.Ack()
			k.n++
			out[0] = token.New(k.n)
			return nil
		}}}
}

func (k *ticker) Managed() map[string]any { return map[string]any{"timer": k.timer.Ref(), "n": k.n} }
func (k *ticker) Restore(c *actor.Context, m map[string]any) error {
	ref, _ := m["timer"].(string)
	t, ok := c.Timer(ref)
	if !ok {
		return errors.New("no timer")
	}
	k.timer, k.n = t, m["n"].(int64)
	return nil
}

func TestTimerDrivenActor(t *testing.T) {
	rt, boxes := testRuntime(t)
	require.NoError(t, rt.Registry().Register(actor.Type{Name: "test.Ticker", Outports: []string{"out"},
		Requires: []string{actor.CapTimerRepeating}, New: func() actor.Actor { return &ticker{} }}))
	tk, err := rt.CreateActor(ctx, "test.Ticker", nil)
	require.NoError(t, err)
	a, _ := rt.CreateActor(ctx, "test.A", nil)
	connect(t, rt, tk, "out", a, "in")
	require.Eventually(t, func() bool { return boxes["test.A"].len() >= 5 }, 5*time.Second, time.Millisecond)
	got := boxes["test.A"].snapshot()
	assert.Equal(t, ints(int64(len(got)), 1), got)

	st, err := rt.ExportState(ctx, tk)
	require.NoError(t, err)
	sys := st["private"].(map[string]any)["_calvinsys"].(map[string]any)
	require.Contains(t, sys, tk+"#0")
	entry := sys[tk+"#0"].(map[string]any)
	assert.Equal(t, actor.CapTimerRepeating, entry["name"])
	obj := entry["obj"].(map[string]any)
	assert.Equal(t, true, obj["repeats"])
	assert.Equal(t, false, obj["triggered"])
	assert.Equal(t, 0.001, obj["timeout"])
}

// noLeak waits (without sleeping) until the goroutine count is back to before.
func noLeak(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("goroutines: %d before, %d now\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
	}
}
