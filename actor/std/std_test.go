package std_test

import (
	"bytes"
	"context"

	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/actor/std"
	"github.com/meshkit/meshkit/token"
)

var ctx = context.Background()

// feed emits a fixed list of tokens.
type feed struct {
	toks []token.Token
	i    int
}

func (f *feed) Init(_ *actor.Context, args map[string]any) error {
	if v, ok := feeds.Load(args["key"]); ok {
		f.toks = v.([]token.Token)
	}
	return nil
}

func (f *feed) Actions() []actor.Action {
	return []actor.Action{{Name: "emit", Out: []string{"out"},
		Guard: func(*actor.Context, []token.Token) bool { return f.i < len(f.toks) },
		Fire: func(_ *actor.Context, _, out []token.Token) error {
			out[0] = f.toks[f.i]
			f.i++
			return nil
		}}}
}

// lockedBuffer is an io.Writer safe for the stdout of a runtime.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type env struct {
	t     *testing.T
	rt    *actor.Runtime
	out   *lockedBuffer
	feeds map[string][]token.Token
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, out: &lockedBuffer{}, feeds: map[string][]token.Token{}}
	reg, err := std.NewRegistry()
	require.NoError(t, err)
	require.NoError(t, reg.Register(actor.Type{Name: "test.Feed", Outports: []string{"out"},
		Optional: map[string]any{"key": ""},
		New:      func() actor.Actor { return &feed{} }}))
	e.rt, err = actor.NewRuntime(actor.WithRegistry(reg), actor.WithStdout(e.out))
	require.NoError(t, err)
	t.Cleanup(func() { _ = e.rt.Close() })
	return e
}

func (e *env) create(typ string, args map[string]any) string {
	e.t.Helper()
	id, err := e.rt.CreateActor(ctx, typ, args)
	require.NoError(e.t, err)
	return id
}

// feedTo creates a feed of toks connected to the inport of actor id.
func (e *env) feedTo(id, port string, toks ...token.Token) {
	e.t.Helper()
	key := e.t.Name() + id + port
	feeds.Store(key, toks)
	fid := e.create("test.Feed", map[string]any{"key": key})
	e.connect(fid, "out", id, port)
}

var feeds sync.Map

func (e *env) connect(from, fromPort, to, toPort string) {
	e.t.Helper()
	op, err := e.rt.PortID(from, actor.Out, fromPort)
	require.NoError(e.t, err)
	ip, err := e.rt.PortID(to, actor.In, toPort)
	require.NoError(e.t, err)
	require.NoError(e.t, e.rt.Connect(ctx, op, ip))
}

func (e *env) sink() string {
	return e.create(std.SinkType, map[string]any{"store_tokens": true, "quiet": true})
}

func (e *env) report(id string, args map[string]any) any {
	e.t.Helper()
	v, err := e.rt.Report(ctx, id, args)
	require.NoError(e.t, err)
	return v
}

func (e *env) waitTokens(id string, n int) []any {
	e.t.Helper()
	var got []any
	require.Eventually(e.t, func() bool {
		got = e.report(id, nil).([]any)
		return len(got) >= n
	}, 10*time.Second, time.Millisecond)
	return got
}

func (e *env) managed(id string) map[string]any {
	e.t.Helper()
	st, err := e.rt.ExportState(ctx, id)
	require.NoError(e.t, err)
	return st["managed"].(map[string]any)
}

func (e *env) calvinsys(id string) map[string]any {
	e.t.Helper()
	st, err := e.rt.ExportState(ctx, id)
	require.NoError(e.t, err)
	return st["private"].(map[string]any)["_calvinsys"].(map[string]any)
}
