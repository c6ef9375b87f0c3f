package actor_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math/big"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/token"
)

// source emits 1..n as fast as its outport accepts.
type source struct {
	n, next int64
}

func (s *source) Init(_ *actor.Context, args map[string]any) error {
	if v, ok := args["n"].(int64); ok {
		s.n = v
	}
	if v, ok := args["n"].(int); ok {
		s.n = int64(v)
	}
	return nil
}

func (s *source) Actions() []actor.Action {
	return []actor.Action{{Name: "emit", Out: []string{"out"},
		Guard: func(*actor.Context, []token.Token) bool { return s.next < s.n },
		Fire: func(_ *actor.Context, _, out []token.Token) error {
			s.next++
			out[0] = token.New(s.next)
			return nil
		}}}
}

func (s *source) Managed() map[string]any { return map[string]any{"n": s.n, "next": s.next} }
func (s *source) Restore(_ *actor.Context, m map[string]any) error {
	s.n, _ = m["n"].(int64)
	s.next, _ = m["next"].(int64)
	return nil
}

// collector records everything it receives in a shared, locked slice.
type collector struct {
	mu  *sync.Mutex
	got *[]any
}

func (c *collector) Actions() []actor.Action {
	return []actor.Action{{Name: "take", In: []string{"in"},
		Fire: func(_ *actor.Context, in, _ []token.Token) error {
			c.mu.Lock()
			*c.got = append(*c.got, in[0].Data)
			c.mu.Unlock()
			return nil
		}}}
}

type sinkBox struct {
	mu  sync.Mutex
	got []any
}

func (b *sinkBox) snapshot() []any {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]any(nil), b.got...)
}

func (b *sinkBox) len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.got)
}

// double forwards twice its integer input.
type double struct{}

func (double) Actions() []actor.Action {
	return []actor.Action{{Name: "double", In: []string{"in"}, Out: []string{"out"},
		Fire: func(_ *actor.Context, in, out []token.Token) error {
			out[0] = token.New(in[0].Data.(int64) * 2)
			return nil
		}}}
}

// testRuntime returns a runtime with test types; boxes maps a collector
// type name to its box.
func testRuntime(t testing.TB, opts ...actor.Option) (*actor.Runtime, map[string]*sinkBox) {
	t.Helper()
	boxes := map[string]*sinkBox{"test.A": {}, "test.B": {}}
	reg, err := actor.NewRegistry(
		actor.Type{Name: "test.Source", Outports: []string{"out"}, Optional: map[string]any{"n": int64(10)},
			New: func() actor.Actor { return &source{} }},
		actor.Type{Name: "test.Double", Inports: []string{"in"}, Outports: []string{"out"},
			New: func() actor.Actor { return double{} }},
	)
	require.NoError(t, err)
	for name, b := range boxes {
		require.NoError(t, reg.Register(actor.Type{Name: name, Inports: []string{"in"},
			New: func() actor.Actor { return &collector{mu: &b.mu, got: &b.got} }}))
	}
	rt, err := actor.NewRuntime(append([]actor.Option{actor.WithRegistry(reg)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rt.Close() })
	return rt, boxes
}

// decodeGeneric decodes JSON into the wire's generic values: integers as
// int64, uint64 or *big.Int, other numbers as float64.
func decodeGeneric(t testing.TB, b []byte) any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	require.NoError(t, d.Decode(&v))
	return convertNumbers(v)
}

func convertNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if strings.ContainsAny(s, ".eE") {
			f, _ := x.Float64()
			return f
		}
		b, ok := new(big.Int).SetString(s, 10)
		if !ok {
			return s
		}
		if b.IsInt64() {
			return b.Int64()
		}
		if b.IsUint64() {
			return b.Uint64()
		}
		return b
	case []any:
		for i := range x {
			x[i] = convertNumbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = convertNumbers(x[k])
		}
	}
	return v
}

type vectorState struct {
	file  string
	line  int
	state map[string]any
}

// actorNewStates returns the `state` of every ACTOR_NEW in the captures.
func actorNewStates(t testing.TB) []vectorState {
	t.Helper()
	var out []vectorState
	for _, f := range []string{"json-two-nodes.jsonl", "msgpack-two-nodes.jsonl", "msgpack-constrained.jsonl"} {
		fh, err := os.Open("/work/shared/vectors/calvin/" + f)
		if err != nil {
			t.Skipf("vectors not available: %v", err)
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		line := 0
		for sc.Scan() {
			line++
			if !bytes.Contains(sc.Bytes(), []byte(`"ACTOR_NEW"`)) {
				continue
			}
			rec := decodeGeneric(t, sc.Bytes()).(map[string]any)
			msg, _ := rec["msg"].(map[string]any)
			if msg == nil || msg["cmd"] != "ACTOR_NEW" {
				continue
			}
			out = append(out, vectorState{file: f, line: line, state: msg["state"].(map[string]any)})
		}
		require.NoError(t, sc.Err())
		fh.Close()
	}
	return out
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }

func connectStd(t *testing.T, rt *actor.Runtime, from, fromPort, to, toPort string) {
	t.Helper()
	op, err := rt.PortID(from, actor.Out, fromPort)
	require.NoError(t, err)
	ip, err := rt.PortID(to, actor.In, toPort)
	require.NoError(t, err)
	require.NoError(t, rt.Connect(context.Background(), op, ip))
}

func waitReport(t *testing.T, rt *actor.Runtime, id string, cond func(any) bool) {
	t.Helper()
	require.Eventually(t, func() bool {
		v, err := rt.Report(context.Background(), id, nil)
		return err == nil && cond(v)
	}, 5*time.Second, time.Millisecond)
}
