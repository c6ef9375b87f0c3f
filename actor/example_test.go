package actor_test

import (
	"context"
	"fmt"
	"os"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/actor/std"
	"github.com/meshkit/meshkit/token"
)

// Scale multiplies every integer by its "factor" argument. Its factor is a
// managed attribute, so it survives migration.
type Scale struct{ factor int64 }

// Init reads the creation arguments (defaults are merged in by the runtime).
func (s *Scale) Init(_ *actor.Context, args map[string]any) error {
	f, ok := args["factor"].(int64)
	if !ok {
		return fmt.Errorf("%w: factor must be an integer", actor.ErrBadArgument)
	}
	s.factor = f
	return nil
}

// Actions has one action: read "in", write "out". Exception tokens pass.
func (s *Scale) Actions() []actor.Action {
	return []actor.Action{{
		Name: "scale", In: []string{"in"}, Out: []string{"out"},
		Fire: func(_ *actor.Context, in, out []token.Token) error {
			v, ok := in[0].Data.(int64)
			if in[0].IsException() || !ok {
				out[0] = in[0]
				return nil
			}
			out[0] = token.New(v * s.factor)
			return nil
		},
	}}
}

// Managed and Restore carry the factor across migrations.
func (s *Scale) Managed() map[string]any { return map[string]any{"factor": s.factor} }

// Restore applies the managed attributes on arrival.
func (s *Scale) Restore(_ *actor.Context, m map[string]any) error {
	s.factor, _ = m["factor"].(int64)
	return nil
}

// Example_customActor shows how a user writes, registers and runs an actor
// next to the standard ones: Counter → Scale → io.Print.
func Example_customActor() {
	reg, _ := std.NewRegistry()
	_ = reg.Register(actor.Type{
		Name:     "example.Scale",
		Inports:  []string{"in"},
		Outports: []string{"out"},
		Optional: map[string]any{"factor": int64(10)},
		New:      func() actor.Actor { return &Scale{} },
	})
	done := make(chan struct{})
	rt, _ := actor.NewRuntime(actor.WithRegistry(reg), actor.WithStdout(&lineLimit{w: os.Stdout, n: 3, done: done}))
	defer rt.Close()

	ctx := context.Background()
	cnt, _ := rt.CreateActor(ctx, "std.Counter", map[string]any{"name": "demo:count"})
	scale, _ := rt.CreateActor(ctx, "example.Scale", map[string]any{"factor": int64(100)})
	prt, _ := rt.CreateActor(ctx, "io.Print", nil)
	link := func(from, out, to, in string) {
		op, _ := rt.PortID(from, actor.Out, out)
		ip, _ := rt.PortID(to, actor.In, in)
		_ = rt.Connect(ctx, op, ip)
	}
	link(cnt, "integer", scale, "in")
	link(scale, "out", prt, "token")
	<-done
	// Output:
	// 100
	// 200
	// 300
}

// lineLimit passes the first n lines to w and then signals done.
type lineLimit struct {
	w    *os.File
	n    int
	done chan struct{}
}

func (l *lineLimit) Write(p []byte) (int, error) {
	if l.n > 0 {
		l.w.Write(p)
		l.n--
		if l.n == 0 {
			close(l.done)
		}
	}
	return len(p), nil
}

// ExampleRuntime_ExportState exports an actor in calvin-base's layout and
// re-creates it on a second runtime, as migration does.
func ExampleRuntime_ExportState() {
	reg, _ := std.NewRegistry()
	a, _ := actor.NewRuntime(actor.WithRegistry(reg))
	defer a.Close()
	b, _ := actor.NewRuntime(actor.WithRegistry(reg))
	defer b.Close()
	ctx := context.Background()

	id, _ := a.CreateActor(ctx, "test.Sink", map[string]any{"name": "app:snk", "store_tokens": true})
	state, _ := a.ExportState(ctx, id)
	_ = a.DeleteActor(ctx, id)

	shadow, _ := b.ImportActor(ctx, "test.Sink", state)
	info, _ := b.Actor(id)
	fmt.Println(info.Name, info.Type, shadow)
	fmt.Println(state["managed"])
	// Output:
	// app:snk test.Sink false
	// map[active:true quiet:false store_tokens:true tokens:[]]
}
