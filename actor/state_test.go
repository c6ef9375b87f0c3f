package actor_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/actor/std"
	"github.com/meshkit/meshkit/rt2rt/wire"
)

func stdRuntime(t testing.TB, opts ...actor.Option) *actor.Runtime {
	t.Helper()
	reg, err := std.NewRegistry()
	require.NoError(t, err)
	rt, err := actor.NewRuntime(append([]actor.Option{actor.WithRegistry(reg)}, opts...)...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = rt.Close() })
	return rt
}

// deepClone copies a generic value so that the original can be compared
// after the runtime has held the imported one.
func deepClone(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = deepClone(e)
		}
		return m
	case []any:
		l := make([]any, len(x))
		for i, e := range x {
			l[i] = deepClone(e)
		}
		return l
	}
	return v
}

func show(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// addDefaults adds what §10.5 lets a Go re-export add to constrained's
// state: reader_offset 0 for every reader of every fanout_fifo.
func addDefaults(st map[string]any) {
	priv := st["private"].(map[string]any)
	for _, side := range []string{"inports", "outports"} {
		for _, p := range priv[side].(map[string]any) {
			q := p.(map[string]any)["queue"].(map[string]any)
			if q["queuetype"] != "fanout_fifo" {
				continue
			}
			if _, ok := q["reader_offset"]; !ok {
				off := map[string]any{}
				for _, r := range q["readers"].([]any) {
					off[r.(string)] = int64(0)
				}
				q["reader_offset"] = off
			}
		}
	}
}

func TestVectorStatesRoundTrip(t *testing.T) {
	states := actorNewStates(t)
	require.Len(t, states, 8, "three ACTOR_NEW in each two-node capture, two in constrained")
	for _, vs := range states {
		for _, shadow := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s:%d/shadow=%v", vs.file, vs.line, shadow), func(t *testing.T) {
				rt := stdRuntime(t)
				typ := vs.state["actor_type"].(string)
				orig := vs.state["actor_state"].(map[string]any)
				in := deepClone(orig).(map[string]any)
				var opts []actor.ImportOption
				if shadow {
					opts = append(opts, actor.ImportShadow())
				}
				isShadow, err := rt.ImportActor(ctx, typ, in, opts...)
				require.NoError(t, err)
				assert.Equal(t, shadow, isShadow)
				id := orig["private"].(map[string]any)["_id"].(string)
				info, ok := rt.Actor(id)
				require.True(t, ok)
				assert.Equal(t, typ, info.Type)
				assert.Equal(t, shadow, info.Shadow)

				out, err := rt.ExportState(ctx, id)
				require.NoError(t, err)
				want := deepClone(orig).(map[string]any)
				if vs.file == "msgpack-constrained.jsonl" {
					addDefaults(want)
				}
				if !wire.Equal(want, out) {
					for k := range want {
						if !wire.Equal(want[k], out[k]) {
							t.Errorf("%s differs\nwant %s\n got %s", k, show(want[k]), show(out[k]))
						}
					}
					t.Fatalf("re-export differs")
				}
			})
		}
	}
}

func TestVectorStatesRunAfterImport(t *testing.T) {
	// The Sink of json-two-nodes.jsonl:657 has consumed 1..5; fed 6..8
	// locally it must continue the stream and its queue positions.
	var sinkState map[string]any
	for _, vs := range actorNewStates(t) {
		if vs.file == "json-two-nodes.jsonl" && vs.line == 657 {
			sinkState = deepClone(vs.state["actor_state"]).(map[string]any)
		}
	}
	require.NotNil(t, sinkState)
	rt := stdRuntime(t)
	_, err := rt.ImportActor(ctx, std.SinkType, sinkState)
	require.NoError(t, err)
	id := sinkState["private"].(map[string]any)["_id"].(string)
	src, err := rt.CreateActor(ctx, std.CounterType, nil)
	require.NoError(t, err)
	// Counter emits 1, 2, ... ; the sink's inport continues at position 5.
	connectStd(t, rt, src, "integer", id, "token")
	waitReport(t, rt, id, func(v any) bool { return len(v.([]any)) >= 8 })
	rep, err := rt.Report(ctx, id, nil)
	require.NoError(t, err)
	assert.Equal(t, []any{int64(1), int64(2), int64(3), int64(4), int64(5), int64(1), int64(2), int64(3)}, rep.([]any)[:8])
	q, err := rt.Report(ctx, id, map[string]any{"port": nil})
	require.NoError(t, err)
	wp, _ := q.(map[string]any)["write_pos"].(int64)
	assert.GreaterOrEqual(t, wp, int64(8))
}

func TestImportRejectsBadStates(t *testing.T) {
	base := func() map[string]any {
		return map[string]any{
			"private": map[string]any{"_id": "a1", "inports": map[string]any{}, "outports": map[string]any{}},
			"managed": map[string]any{}, "security": map[string]any{}, "custom": map[string]any{},
		}
	}
	cases := map[string]func(m map[string]any){
		"no private":  func(m map[string]any) { delete(m, "private") },
		"no managed":  func(m map[string]any) { m["managed"] = nil },
		"no security": func(m map[string]any) { delete(m, "security") },
		"custom list": func(m map[string]any) { m["custom"] = []any{} },
		"no id":       func(m map[string]any) { delete(m["private"].(map[string]any), "_id") },
		"no inports":  func(m map[string]any) { delete(m["private"].(map[string]any), "inports") },
		"port not map": func(m map[string]any) {
			m["private"].(map[string]any)["inports"] = map[string]any{"token": 1}
		},
		"port without id": func(m map[string]any) {
			m["private"].(map[string]any)["inports"] = map[string]any{"token": map[string]any{"name": "token"}}
		},
		"bad queue": func(m map[string]any) {
			m["private"].(map[string]any)["inports"] = map[string]any{"token": map[string]any{"id": "p", "queue": map[string]any{"queuetype": "fanout_fifo", "N": 5}}}
		},
		"bad ref": func(m map[string]any) {
			m["private"].(map[string]any)["_calvinsys"] = map[string]any{"other#0": map[string]any{"name": "io.stdout"}}
		},
		"bad timer": func(m map[string]any) {
			m["private"].(map[string]any)["_calvinsys"] = map[string]any{"a1#0": map[string]any{"name": "sys.timer.once", "obj": map[string]any{"triggered": false}}}
		},
		"bad managed": func(m map[string]any) { m["managed"] = map[string]any{"tokens": "x"} },
	}
	for name, mutate := range cases {
		t.Run(name, func(t *testing.T) {
			rt := stdRuntime(t)
			st := base()
			mutate(st)
			_, err := rt.ImportActor(ctx, std.SinkType, st)
			require.Error(t, err)
			assert.ErrorIs(t, err, actor.ErrBadState)
			assert.Empty(t, rt.ActorIDs())
		})
	}
	rt := stdRuntime(t)
	_, err := rt.ImportActor(ctx, std.SinkType, base())
	require.NoError(t, err, "the minimal state is accepted")
	_, err = rt.ImportActor(ctx, std.SinkType, base())
	assert.ErrorIs(t, err, actor.ErrDuplicateActor)
}

func TestShadowArgsAndUnknownType(t *testing.T) {
	rt := stdRuntime(t)
	st := map[string]any{
		"private":  map[string]any{"_id": "c1", "inports": map[string]any{}, "outports": map[string]any{}, "_extra": "kept"},
		"managed":  map[string]any{"_shadow_args": map[string]any{"data": "hi"}, "future": int64(7)},
		"security": map[string]any{"_subject_attributes": nil}, "custom": map[string]any{},
		"replication": map[string]any{"x": true},
	}
	_, err := rt.ImportActor(ctx, std.ConstantType, deepClone(st).(map[string]any))
	require.NoError(t, err)
	out, err := rt.ExportState(ctx, "c1")
	require.NoError(t, err)
	managed := out["managed"].(map[string]any)
	assert.Equal(t, "hi", managed["data"], "initialised with the shadow arguments")
	assert.Equal(t, int64(7), managed["future"], "unknown managed keys are kept")
	assert.NotContains(t, managed, "_shadow_args")
	assert.Equal(t, "kept", out["private"].(map[string]any)["_extra"])
	assert.Equal(t, map[string]any{"x": true}, out["replication"])
	ports := out["private"].(map[string]any)["outports"].(map[string]any)
	require.Contains(t, ports, "token", "declared ports missing from the state are created")
	assert.Equal(t, map[string]any{"queuetype": "none"}, ports["token"].(map[string]any)["queue"])

	shadow, err := rt.ImportActor(ctx, "vendor.Unknown", map[string]any{
		"private": map[string]any{"_id": "u1", "inports": map[string]any{}, "outports": map[string]any{},
			"_calvinsys": map[string]any{"u1#0": map[string]any{"name": "sys.gpio", "args": map[string]any{"pin": int64(3)}, "obj": "opaque"}}},
		"managed": map[string]any{"x": int64(1)}, "security": map[string]any{}, "custom": map[string]any{"c": 1.5},
	})
	require.NoError(t, err)
	assert.True(t, shadow)
	out, err = rt.ExportState(ctx, "u1")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"x": int64(1)}, out["managed"])
	assert.Equal(t, map[string]any{"c": 1.5}, out["custom"])
	sys := out["private"].(map[string]any)["_calvinsys"].(map[string]any)
	assert.Equal(t, map[string]any{"name": "sys.gpio", "args": map[string]any{"pin": int64(3)}, "obj": "opaque"}, sys["u1#0"])
	_, err = rt.Report(ctx, "u1", nil)
	assert.ErrorIs(t, err, actor.ErrNoReport)
	_ = maps.Clone[map[string]any]
}

func FuzzImportState(f *testing.F) {
	for _, vs := range actorNewStates(f) {
		b, err := json.Marshal(vs.state)
		require.NoError(f, err)
		f.Add(b)
	}
	f.Add([]byte(`{"actor_type":"test.Sink","actor_state":{"private":{"_id":"x","inports":{},"outports":{}},"managed":{},"security":{},"custom":{}}}`))
	f.Add([]byte(`{"actor_type":"std.CountTimer","actor_state":{"private":{"_id":"x","inports":{},"outports":{"integer":{"id":"p","queue":{"queuetype":"none"}}},"_calvinsys":{"x#0":{"name":"sys.timer.once","args":{},"obj":{"triggered":true,"timeout":null,"repeats":false,"nexttrigger":null}}}},"managed":{"timer":"x#0"},"security":{},"custom":{}}}`))
	reg, err := std.NewRegistry()
	require.NoError(f, err)
	f.Fuzz(func(t *testing.T, b []byte) {
		d := json.NewDecoder(bytesReader(b))
		d.UseNumber()
		var v any
		if d.Decode(&v) != nil {
			return
		}
		m, ok := convertNumbers(v).(map[string]any)
		if !ok {
			return
		}
		typ, _ := m["actor_type"].(string)
		st, _ := m["actor_state"].(map[string]any)
		rt, err := actor.NewRuntime(actor.WithRegistry(reg), actor.WithWorkers(1))
		require.NoError(t, err)
		defer rt.Close()
		if _, err := rt.ImportActor(ctx, typ, st); err != nil {
			return
		}
		for _, id := range rt.ActorIDs() {
			out, err := rt.ExportState(ctx, id)
			require.NoError(t, err)
			// What we export we must accept again.
			rt2, err := actor.NewRuntime(actor.WithRegistry(reg), actor.WithWorkers(1))
			require.NoError(t, err)
			_, err = rt2.ImportActor(ctx, typ, out)
			require.NoError(t, err, "re-import of %s", show(out))
			require.NoError(t, rt2.Close())
		}
	})
}
