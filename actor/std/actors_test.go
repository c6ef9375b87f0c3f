package std_test

import (
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/actor/std"
	"github.com/meshkit/meshkit/token"
)

func TestSignaturesAndDescriptors(t *testing.T) {
	want := map[string]string{
		"std.CountTimer":  "3bf2bdf645bf20cb21bd6134d016106923c2697f8694137a471b9121b12cb6aa",
		"std.Counter":     "331d33480afb9f997af83087126e59a40465429e050a8e469d69841007264264",
		"std.Identity":    "1cd0b1f440ac8a5d1ed69108ebce63902b0383778da8ac2d9aa817f021665168",
		"std.Constant":    "fbf51915d742024c29847ed828e3d53e34d126a089540b943c8c8b77f9cbe224",
		"std.Sum":         "3c8c47e7b3e488fd8c98179368a3d2060003de9fc9a3f588f4569f223fb51286",
		"io.Print":        "84d582e5e5c3a95bf20849693d7758370fc724809ffdcb0a4a5be1e96673ac21",
		"test.Sink":       "797d9e5483ae235af0772329ecf3d37bff628542181279a98b73fb8c748a7e7c",
		"flow.Terminator": "d020e4a1dc9953df2924eba3ceed61544fff2bd4fab9f602758cce0e8957d522",
	}
	types := std.Types()
	require.Len(t, types, len(want))
	for _, ty := range types {
		assert.Equal(t, want[ty.Name], ty.Signature(), ty.Name)
	}
	reg, err := std.NewRegistry()
	require.NoError(t, err)
	ct, ok := reg.Lookup(std.CountTimerType)
	require.True(t, ok)
	d := ct.Descriptor()
	assert.Equal(t, map[string]any{"mandatory": []any{}, "optional": map[string]any{"start": int64(1), "sleep": 0.1, "steps": int64(9223372036854775807)}}, d["args"])
	assert.Equal(t, []any{"sys.timer.once", "sys.timer.repeating"}, d["requires"])
	c, _ := reg.Lookup(std.ConstantType)
	assert.Equal(t, []any{"data"}, c.Descriptor()["args"].(map[string]any)["mandatory"])
	s, _ := reg.Lookup(std.SinkType)
	assert.Equal(t, map[string]any{"store_tokens": false, "active": true, "quiet": false}, s.Descriptor()["args"].(map[string]any)["optional"])
	assert.ElementsMatch(t, []string{"sys.schedule", "sys.timer.once", "sys.timer.repeating", "io.stdout"}, std.Capabilities())
	assert.ErrorIs(t, std.Register(reg), actor.ErrDuplicateType)
}

func TestCountTimer(t *testing.T) {
	e := newEnv(t)
	ct := e.create(std.CountTimerType, map[string]any{"sleep": 0.005, "start": int64(10), "steps": int64(5)})
	m := e.managed(ct)
	assert.Equal(t, map[string]any{"start": int64(10), "count": int64(10), "sleep": 0.005, "steps": int64(15), "timer": ct + "#0"}, m)
	sys := e.calvinsys(ct)[ct+"#0"].(map[string]any)
	assert.Equal(t, "sys.timer.once", sys["name"])
	assert.Equal(t, map[string]any{"period": 0.005}, sys["args"])
	obj := sys["obj"].(map[string]any)
	assert.Equal(t, false, obj["repeats"])
	assert.Equal(t, 0.005, obj["timeout"])
	assert.IsType(t, 0.0, obj["nexttrigger"])

	snk := e.sink()
	e.connect(ct, "integer", snk, "token")
	got := e.waitTokens(snk, 5)
	assert.Equal(t, []any{int64(10), int64(11), int64(12), int64(13), int64(14)}, got)
	// The final step closes the timer and counts once more.
	require.Eventually(t, func() bool { return e.managed(ct)["timer"] == nil }, 5*time.Second, time.Millisecond)
	assert.Equal(t, int64(16), e.managed(ct)["count"])
	assert.Empty(t, e.calvinsys(ct))
	assert.Equal(t, int64(6), e.report(ct, nil))
	assert.Len(t, e.report(snk, nil), 5)
}

func TestCountTimerSwitchesToRepeatingAndDefaults(t *testing.T) {
	e := newEnv(t)
	ct := e.create(std.CountTimerType, map[string]any{"sleep": 0.002})
	m := e.managed(ct)
	assert.Equal(t, uint64(1<<63), m["steps"], "default steps + start is 2^63")
	snk := e.sink()
	e.connect(ct, "integer", snk, "token")
	e.waitTokens(snk, 4)
	sys := e.calvinsys(ct)
	require.Len(t, sys, 1)
	entry := sys[ct+"#0"].(map[string]any)
	assert.Equal(t, "sys.timer.repeating", entry["name"], "the ref restarts at #0")
	assert.Equal(t, map[string]any{}, entry["args"])
	assert.Equal(t, true, entry["obj"].(map[string]any)["repeats"])

	n := e.report(ct, map[string]any{"stopped": true})
	assert.Nil(t, e.managed(ct)["timer"])
	assert.GreaterOrEqual(t, n.(int64), int64(4))
}

func TestCountTimerMigratesBetweenRuntimes(t *testing.T) {
	a, b := newEnv(t), newEnv(t)
	ct := a.create(std.CountTimerType, map[string]any{"sleep": 0.003})
	snk := a.sink()
	a.connect(ct, "integer", snk, "token")
	a.waitTokens(snk, 4)
	st, err := a.rt.ExportState(ctx, ct)
	require.NoError(t, err)
	require.NoError(t, a.rt.DeleteActor(ctx, ct))
	count := st["managed"].(map[string]any)["count"].(int64)

	_, err = b.rt.ImportActor(ctx, std.CountTimerType, st)
	require.NoError(t, err)
	snk2 := b.sink()
	b.connect(ct, "integer", snk2, "token")
	got := b.waitTokens(snk2, 3)
	// The outport queue came along (write_pos etc.): the new sink reads from
	// the position after the tokens the old one consumed, and the timer
	// keeps counting from where it was.
	assert.Equal(t, count, got[len(got)-1].(int64)-int64(len(got))+1, "continuous after %v", got)
}

func TestCounterAndConstant(t *testing.T) {
	e := newEnv(t)
	c := e.create(std.CounterType, nil)
	snk := e.sink()
	e.connect(c, "integer", snk, "token")
	got := e.waitTokens(snk, 50)
	for i, v := range got {
		require.Equal(t, int64(i+1), v)
	}
	e.report(c, map[string]any{"stopped": true})
	n1 := e.report(c, nil).(int64)
	// Once stopped the count no longer changes.
	assert.Equal(t, n1, e.report(c, nil))
	m := e.managed(c)
	assert.Equal(t, true, m["stopped"])
	assert.Equal(t, c+"#0", m["schedule"])
	entry := e.calvinsys(c)[c+"#0"].(map[string]any)
	assert.Equal(t, "sys.schedule", entry["name"])
	obj := entry["obj"].(map[string]any)
	assert.Equal(t, int64(0), obj["timeout"])
	assert.Equal(t, false, obj["repeats"])
	assert.Equal(t, false, obj["triggered"])
	assert.InDelta(t, float64(time.Now().UnixNano())/1e9, obj["nexttrigger"].(float64), 60)
	e.report(c, map[string]any{"stopped": false})
	e.waitTokens(snk, int(n1)+10)

	k := e.create(std.ConstantType, map[string]any{"data": map[string]any{"a": []any{int64(1)}}})
	snk2 := e.sink()
	e.connect(k, "token", snk2, "token")
	for _, v := range e.waitTokens(snk2, 10) {
		assert.Equal(t, map[string]any{"a": []any{int64(1)}}, v)
	}
	_, err := e.rt.Report(ctx, k, nil)
	assert.ErrorIs(t, err, actor.ErrNoReport)
	_, err = e.rt.CreateActor(ctx, std.ConstantType, nil)
	assert.ErrorIs(t, err, actor.ErrBadArgument, "data is mandatory")
}

func TestIdentity(t *testing.T) {
	e := newEnv(t)
	id := e.create(std.IdentityType, map[string]any{"dump": true})
	assert.Nil(t, e.report(id, nil))
	snk := e.sink()
	e.feedTo(id, "token", token.New(int64(1)), token.New("two"), token.NewEOS(), token.New(3.5))
	e.connect(id, "token", snk, "token")
	got := e.waitTokens(snk, 4)
	assert.Equal(t, []any{int64(1), "two", "<EOSToken> End of stream", 3.5}, got)
	assert.Equal(t, 3.5, e.report(id, nil))
	_, err := e.rt.Report(ctx, id, map[string]any{"x": 1})
	assert.ErrorIs(t, err, actor.ErrNoReport)
	assert.Equal(t, map[string]any{"dump": true, "last": 3.5}, e.managed(id))
	_, err = e.rt.CreateActor(ctx, std.IdentityType, map[string]any{"dump": "yes"})
	assert.ErrorIs(t, err, actor.ErrBadArgument)
}

func TestSum(t *testing.T) {
	e := newEnv(t)
	s := e.create(std.SumType, nil)
	snk := e.sink()
	huge := new(big.Int).Lsh(big.NewInt(1), 70)
	e.feedTo(s, "integer", token.New(int64(1)), token.New(int64(2)), token.NewException(nil), token.New(int64(3)),
		token.New("x"), token.New(int64(9223372036854775807)), token.New(huge), token.New(0.5))
	e.connect(s, "integer", snk, "token")
	got := e.waitTokens(snk, 7)
	max := big.NewInt(9223372036854775807)
	s6 := new(big.Int).Add(max, big.NewInt(6))
	s7 := new(big.Int).Add(s6, huge)
	f, _ := new(big.Float).SetInt(s7).Float64()
	assert.Equal(t, int64(1), got[0])
	assert.Equal(t, int64(3), got[1])
	assert.Equal(t, "<ExceptionToken> Exception", got[2], "exceptions pass unchanged")
	assert.Equal(t, int64(6), got[3], "the non-numeric token is lost, the total unchanged")
	assert.Equal(t, s6.Uint64(), got[4], "beyond int64 stays exact")
	assert.Equal(t, 0, s7.Cmp(got[5].(*big.Int)))
	assert.Equal(t, f+0.5, got[6], "a float makes the total a float")
	assert.Equal(t, f+0.5, e.report(s, nil))
}

func TestPrint(t *testing.T) {
	e := newEnv(t)
	p := e.create(std.PrintType, nil)
	e.feedTo(p, "token", token.New("hello"), token.New(int64(42)), token.NewEOS(), token.New(map[string]any{"k": []any{true, nil}}), token.New("end"))
	require.Eventually(t, func() bool { return strings.HasSuffix(e.out.String(), "end\n") }, 5*time.Second, time.Millisecond)
	assert.Equal(t, "hello\n42\n{\"k\":[true,null]}\nend\n", e.out.String())
	m := e.managed(p)
	assert.Equal(t, p+"#0", m["stdout"])
	assert.Equal(t, map[string]any{"name": "io.stdout", "args": map[string]any{}, "obj": nil}, e.calvinsys(p)[p+"#0"])
	_, err := e.rt.Report(ctx, p, nil)
	assert.ErrorIs(t, err, actor.ErrNoReport)
}

func TestSinkActiveStoreAndPort(t *testing.T) {
	e := newEnv(t)
	s := e.create(std.SinkType, map[string]any{"store_tokens": true, "active": false})
	toks := make([]token.Token, 10)
	for i := range toks {
		toks[i] = token.New(int64(i))
	}
	e.feedTo(s, "token", toks...)
	// Inactive: the queue fills (4 slots) and nothing is consumed.
	require.Eventually(t, func() bool {
		q := e.report(s, map[string]any{"port": true}).(map[string]any)
		return q["write_pos"] == int64(4)
	}, 5*time.Second, time.Millisecond)
	assert.Empty(t, e.report(s, nil))
	e.report(s, map[string]any{"active": true})
	got := e.waitTokens(s, 10)
	assert.Len(t, got, 10)
	q := e.report(s, map[string]any{"port": nil}).(map[string]any)
	assert.Equal(t, "fanout_fifo", q["queuetype"])
	assert.Equal(t, int64(5), q["N"])
	assert.Equal(t, map[string]any{"tokens": got, "store_tokens": true, "quiet": false, "active": true}, e.managed(s))

	quiet := e.create(std.SinkType, nil)
	e.feedTo(quiet, "token", token.New(int64(1)))
	require.Eventually(t, func() bool {
		q := e.report(quiet, map[string]any{"port": true}).(map[string]any)
		return q["read_pos"].(map[string]any)[q["readers"].([]any)[0].(string)] == int64(1)
	}, 5*time.Second, time.Millisecond)
	assert.Equal(t, []any{}, e.report(quiet, nil), "store_tokens false keeps nothing")
}

func TestTerminator(t *testing.T) {
	e := newEnv(t)
	term := e.create(std.TerminatorType, nil)
	toks := []token.Token{token.New(int64(1)), token.NewEOS(), token.New("x")}
	e.feedTo(term, "void", toks...)
	pid, err := e.rt.PortID(term, actor.In, "void")
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		q, err := e.rt.PortState(pid)
		return err == nil && q["read_pos"].(map[string]any)[pid] == int64(3)
	}, 5*time.Second, time.Millisecond)
	assert.Equal(t, map[string]any{}, e.managed(term))
}
