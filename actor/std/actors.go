package std

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"slices"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/token"
)

func badArg(typ, name string, v any, want string) error {
	return fmt.Errorf("%w: %s %s=%v (%T): want %s", actor.ErrBadArgument, typ, name, v, v, want)
}

func boolArg(typ, name string, m map[string]any, def bool) (bool, error) {
	v, ok := m[name]
	if !ok || v == nil {
		return def, nil
	}
	b, ok := v.(bool)
	if !ok {
		return false, badArg(typ, name, v, "a bool")
	}
	return b, nil
}

// timerRef returns the ref of t, or nil when there is none (managed `null`).
func timerRef(t *actor.Timer) any {
	if t == nil {
		return nil
	}
	return t.Ref()
}

// restoreTimer finds the timer a managed attribute refers to.
func restoreTimer(c *actor.Context, typ, name string, m map[string]any) (*actor.Timer, error) {
	v, ok := m[name]
	if !ok || v == nil {
		return nil, nil
	}
	ref, ok := v.(string)
	if !ok {
		return nil, badArg(typ, name, v, "a system object ref")
	}
	t, ok := c.Timer(ref)
	if !ok {
		return nil, fmt.Errorf("%w: %s %s refers to %q, which is not an open timer", actor.ErrBadState, typ, name, ref)
	}
	return t, nil
}

// restoreSchedule is restoreTimer for schedule objects; a state without one
// gets a fresh schedule, so the actor keeps running.
func restoreSchedule(c *actor.Context, typ string, m map[string]any) (*actor.Timer, error) {
	t, err := restoreTimer(c, typ, "schedule", m)
	if err != nil || t != nil {
		return t, err
	}
	return c.OpenTimer(actor.CapSchedule, map[string]any{})
}

// text renders a value the way io.Print and test.Sink show it: strings as
// they are, everything else as compact JSON.
func text(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// CountTimer is std.CountTimer (spec §11.3): emits start, start+1, … one
// every sleep seconds, steps tokens in total. Like Calvin it uses a one-shot
// timer for the first three tokens and a repeating one afterwards, so its
// migrated state is the one Calvin expects.
type CountTimer struct {
	start, count, steps *big.Int
	sleep               any // as given, so that an integer stays an integer
	sleepS              float64
	timer               *actor.Timer
}

// Init reads start, sleep and steps and arms the first timer.
func (a *CountTimer) Init(c *actor.Context, args map[string]any) error {
	var ok bool
	if a.start, ok = bigOf(args["start"]); !ok {
		return badArg(CountTimerType, "start", args["start"], "an integer")
	}
	steps, ok := bigOf(args["steps"])
	if !ok || steps.Sign() < 0 {
		return badArg(CountTimerType, "steps", args["steps"], "a non-negative integer")
	}
	if err := a.setSleep(args["sleep"]); err != nil {
		return err
	}
	a.count = new(big.Int).Set(a.start)
	a.steps = steps.Add(steps, a.start)
	t, err := c.OpenTimer(actor.CapTimerOnce, map[string]any{"period": a.sleep})
	if err != nil {
		return err
	}
	a.timer = t
	return nil
}

func (a *CountTimer) setSleep(v any) error {
	f, ok := floatOf(v)
	if !ok || f < 0 {
		return badArg(CountTimerType, "sleep", v, "a non-negative number")
	}
	a.sleep, a.sleepS = v, f
	return nil
}

func (a *CountTimer) offset(n int64) *big.Int { return new(big.Int).Add(a.start, big.NewInt(n)) }

// Actions: the first three tokens, the periodic ones, the final stop.
func (a *CountTimer) Actions() []actor.Action {
	return []actor.Action{
		{Name: "step_no_periodic", Out: []string{"integer"},
			Guard: func(*actor.Context, []token.Token) bool {
				return a.timer != nil && a.timer.Triggered() && a.count.Cmp(a.offset(3)) < 0 && a.count.Cmp(a.steps) < 0
			},
			Fire: func(c *actor.Context, _, out []token.Token) error {
				a.timer.Ack()
				if a.count.Cmp(a.offset(2)) == 0 {
					c.CloseSys(a.timer.Ref())
					t, err := c.OpenTimer(actor.CapTimerRepeating, map[string]any{})
					if err != nil {
						return err
					}
					a.timer = t
				}
				a.timer.Start(a.sleepS)
				out[0] = token.New(intValue(a.count))
				a.count.Add(a.count, big.NewInt(1))
				return nil
			}},
		{Name: "step_periodic", Out: []string{"integer"},
			Guard: func(*actor.Context, []token.Token) bool {
				return a.timer != nil && a.timer.Triggered() && a.count.Cmp(a.offset(3)) >= 0 && a.count.Cmp(a.steps) < 0
			},
			Fire: func(_ *actor.Context, _, out []token.Token) error {
				a.timer.Ack()
				out[0] = token.New(intValue(a.count))
				a.count.Add(a.count, big.NewInt(1))
				return nil
			}},
		{Name: "stop",
			Guard: func(*actor.Context, []token.Token) bool {
				return a.timer != nil && a.count.Cmp(a.steps) == 0
			},
			Fire: func(c *actor.Context, _, _ []token.Token) error {
				c.CloseSys(a.timer.Ref())
				a.timer = nil
				a.count.Add(a.count, big.NewInt(1))
				return nil
			}},
	}
}

// Managed returns start, count, sleep, steps and timer.
func (a *CountTimer) Managed() map[string]any {
	return map[string]any{"start": intValue(a.start), "count": intValue(a.count), "sleep": a.sleep,
		"steps": intValue(a.steps), "timer": timerRef(a.timer)}
}

// Restore applies the managed attributes of a migrated CountTimer.
func (a *CountTimer) Restore(c *actor.Context, m map[string]any) error {
	var ok bool
	a.start = big.NewInt(1)
	if v, has := m["start"]; has && v != nil {
		if a.start, ok = bigOf(v); !ok {
			return badArg(CountTimerType, "start", v, "an integer")
		}
	}
	a.count = new(big.Int).Set(a.start)
	if v, has := m["count"]; has && v != nil {
		if a.count, ok = bigOf(v); !ok {
			return badArg(CountTimerType, "count", v, "an integer")
		}
	}
	a.steps = new(big.Int).Add(big.NewInt(maxSize), a.start)
	if v, has := m["steps"]; has && v != nil {
		if a.steps, ok = bigOf(v); !ok {
			return badArg(CountTimerType, "steps", v, "an integer")
		}
	}
	sleep, has := m["sleep"]
	if !has || sleep == nil {
		sleep = 0.1
	}
	if err := a.setSleep(sleep); err != nil {
		return err
	}
	t, err := restoreTimer(c, CountTimerType, "timer", m)
	a.timer = t
	return err
}

// Report returns count − start; {"stopped": true} closes the timer for good.
func (a *CountTimer) Report(c *actor.Context, args map[string]any) (any, error) {
	if s, _ := args["stopped"].(bool); s && a.timer != nil {
		c.CloseSys(a.timer.Ref())
		a.timer = nil
	}
	return intValue(new(big.Int).Sub(a.count, a.start)), nil
}

// Counter is std.Counter (spec §11.4): emits 1, 2, 3, … as fast as its
// outport accepts, unless stopped through its report.
type Counter struct {
	count    int64
	stopped  bool
	schedule *actor.Timer
}

// Init opens the schedule object.
func (a *Counter) Init(c *actor.Context, _ map[string]any) (err error) {
	a.schedule, err = c.OpenTimer(actor.CapSchedule, map[string]any{})
	return err
}

// Actions: one counting action.
func (a *Counter) Actions() []actor.Action {
	return []actor.Action{{Name: "cnt", Out: []string{"integer"},
		Guard: func(*actor.Context, []token.Token) bool {
			return !a.stopped && a.schedule != nil && a.schedule.Triggered()
		},
		Fire: func(_ *actor.Context, _, out []token.Token) error {
			a.schedule.Ack()
			a.count++
			a.schedule.Start(0)
			out[0] = token.New(a.count)
			return nil
		}}}
}

// Managed returns count, stopped and schedule.
func (a *Counter) Managed() map[string]any {
	return map[string]any{"count": a.count, "stopped": a.stopped, "schedule": timerRef(a.schedule)}
}

// Restore applies the managed attributes of a migrated Counter.
func (a *Counter) Restore(c *actor.Context, m map[string]any) (err error) {
	if v, has := m["count"]; has && v != nil {
		b, ok := bigOf(v)
		if !ok || !b.IsInt64() {
			return badArg(CounterType, "count", v, "an int64")
		}
		a.count = b.Int64()
	}
	if a.stopped, err = boolArg(CounterType, "stopped", m, false); err != nil {
		return err
	}
	a.schedule, err = restoreSchedule(c, CounterType, m)
	return err
}

// Report returns count; {"stopped": bool} pauses or resumes.
func (a *Counter) Report(_ *actor.Context, args map[string]any) (any, error) {
	if s, ok := args["stopped"].(bool); ok {
		a.stopped = s
	}
	return a.count, nil
}

// Identity is std.Identity (spec §11.5): forwards every token unchanged,
// exception tokens included.
type Identity struct {
	dump bool
	last any
}

// Init reads dump.
func (a *Identity) Init(_ *actor.Context, args map[string]any) (err error) {
	a.dump, err = boolArg(IdentityType, "dump", args, false)
	return err
}

// Actions: one forwarding action.
func (a *Identity) Actions() []actor.Action {
	return []actor.Action{{Name: "identity", In: []string{"token"}, Out: []string{"token"},
		Fire: func(c *actor.Context, in, out []token.Token) error {
			out[0] = in[0]
			if !in[0].IsException() {
				a.last = in[0].Data
			}
			if a.dump {
				c.Logger().Info("identity", "token", in[0].String())
			}
			return nil
		}}}
}

// Managed returns dump and last.
func (a *Identity) Managed() map[string]any { return map[string]any{"dump": a.dump, "last": a.last} }

// Restore applies dump and last (constrained sends last as null).
func (a *Identity) Restore(_ *actor.Context, m map[string]any) (err error) {
	a.last = m["last"]
	a.dump, err = boolArg(IdentityType, "dump", m, false)
	return err
}

// Report returns last; it takes no arguments.
func (a *Identity) Report(_ *actor.Context, args map[string]any) (any, error) {
	if len(args) > 0 {
		return nil, fmt.Errorf("%w: %s report takes no arguments", actor.ErrNoReport, IdentityType)
	}
	return a.last, nil
}

// Constant is std.Constant (spec §11.6): emits data for ever.
type Constant struct {
	data     any
	schedule *actor.Timer
}

// Init reads data and opens the schedule object.
func (a *Constant) Init(c *actor.Context, args map[string]any) (err error) {
	a.data = args["data"]
	a.schedule, err = c.OpenTimer(actor.CapSchedule, map[string]any{})
	return err
}

// Actions: one emitting action.
func (a *Constant) Actions() []actor.Action {
	return []actor.Action{{Name: "send", Out: []string{"token"},
		Guard: func(*actor.Context, []token.Token) bool { return a.schedule != nil && a.schedule.Triggered() },
		Fire: func(_ *actor.Context, _, out []token.Token) error {
			a.schedule.Ack()
			a.schedule.Start(0)
			out[0] = token.New(a.data)
			return nil
		}}}
}

// Managed returns data and schedule.
func (a *Constant) Managed() map[string]any {
	return map[string]any{"data": a.data, "schedule": timerRef(a.schedule)}
}

// Restore applies data and schedule.
func (a *Constant) Restore(c *actor.Context, m map[string]any) (err error) {
	a.data = m["data"]
	a.schedule, err = restoreSchedule(c, ConstantType, m)
	return err
}

// Sum is std.Sum (spec §11.7): emits the running total of its inputs.
type Sum struct{ sum any }

// Init starts the total at 0.
func (a *Sum) Init(*actor.Context, map[string]any) error { a.sum = int64(0); return nil }

// Actions: one summing action; exception tokens pass unchanged.
func (a *Sum) Actions() []actor.Action {
	return []actor.Action{{Name: "sum", In: []string{"integer"}, Out: []string{"integer"},
		Fire: func(_ *actor.Context, in, out []token.Token) error {
			if in[0].IsException() {
				out[0] = in[0]
				return nil
			}
			s, err := add(a.sum, in[0].Data)
			if err != nil {
				return err
			}
			a.sum = s
			out[0] = token.New(s)
			return nil
		}}}
}

// Managed returns sum.
func (a *Sum) Managed() map[string]any { return map[string]any{"sum": a.sum} }

// Restore applies sum.
func (a *Sum) Restore(_ *actor.Context, m map[string]any) error {
	v, has := m["sum"]
	if !has || v == nil {
		a.sum = int64(0)
		return nil
	}
	if _, err := add(v, int64(0)); err != nil {
		return badArg(SumType, "sum", v, "a number")
	}
	a.sum = v
	return nil
}

// Report returns sum.
func (a *Sum) Report(*actor.Context, map[string]any) (any, error) { return a.sum, nil }

// Print is io.Print (spec §11.8): one line per token on the runtime's
// standard output; exception tokens print nothing.
type Print struct{ stdout *actor.Stdout }

// Init opens the stdout object.
func (a *Print) Init(c *actor.Context, _ map[string]any) (err error) {
	a.stdout, err = c.OpenStdout()
	return err
}

// Actions: one printing action.
func (a *Print) Actions() []actor.Action {
	return []actor.Action{{Name: "print", In: []string{"token"},
		Fire: func(_ *actor.Context, in, _ []token.Token) error {
			if in[0].IsException() {
				return nil
			}
			return a.stdout.WriteLine(text(in[0].Data))
		}}}
}

// Managed returns the stdout ref.
func (a *Print) Managed() map[string]any {
	var ref any
	if a.stdout != nil {
		ref = a.stdout.Ref()
	}
	return map[string]any{"stdout": ref}
}

// Restore finds the stdout object (or opens one when the state has none).
func (a *Print) Restore(c *actor.Context, m map[string]any) (err error) {
	if ref, ok := m["stdout"].(string); ok {
		if s, ok := c.Stdout(ref); ok {
			a.stdout = s
			return nil
		}
	}
	a.stdout, err = c.OpenStdout()
	return err
}

// Sink is test.Sink (spec §11.9): consumes tokens while active, storing
// them when asked to, logging each one.
type Sink struct {
	tokens []any
	store  bool
	quiet  bool
	active bool
	level  slog.Level
}

// Init reads store_tokens, quiet and active.
func (a *Sink) Init(_ *actor.Context, args map[string]any) error {
	a.tokens = []any{}
	return a.flags(args)
}

func (a *Sink) flags(m map[string]any) (err error) {
	if a.store, err = boolArg(SinkType, "store_tokens", m, false); err != nil {
		return err
	}
	if a.quiet, err = boolArg(SinkType, "quiet", m, false); err != nil {
		return err
	}
	a.active, err = boolArg(SinkType, "active", m, true)
	return err
}

// Setup derives the log level from quiet, on creation and after a migration.
func (a *Sink) Setup(*actor.Context) error {
	a.level = slog.LevelInfo
	if a.quiet {
		a.level = slog.LevelDebug
	}
	return nil
}

// Actions: one consuming action, guarded by active.
func (a *Sink) Actions() []actor.Action {
	return []actor.Action{{Name: "log", In: []string{"token"},
		Guard: func(*actor.Context, []token.Token) bool { return a.active },
		Fire: func(c *actor.Context, in, _ []token.Token) error {
			v := in[0].Data
			if in[0].IsException() {
				// Calvin stores the token object; its text form keeps the
				// state serializable and the report identical.
				v = "<" + in[0].Type() + "> " + text(in[0].Data)
			}
			if a.store {
				a.tokens = append(a.tokens, v)
			}
			c.Logger().Log(context.Background(), a.level, "sink", "token", v)
			return nil
		}}}
}

// Managed returns tokens, store_tokens, quiet and active.
func (a *Sink) Managed() map[string]any {
	return map[string]any{"tokens": slices.Clone(a.tokens), "store_tokens": a.store, "quiet": a.quiet, "active": a.active}
}

// Restore applies the managed attributes of a migrated Sink.
func (a *Sink) Restore(_ *actor.Context, m map[string]any) error {
	a.tokens = []any{}
	if v, has := m["tokens"]; has && v != nil {
		l, ok := v.([]any)
		if !ok {
			return badArg(SinkType, "tokens", v, "a list")
		}
		a.tokens = slices.Clone(l)
	}
	return a.flags(m)
}

// Report returns tokens; {"active": bool} sets active first; a "port" key
// returns the inport's queue state instead.
func (a *Sink) Report(c *actor.Context, args map[string]any) (any, error) {
	if _, ok := args["port"]; ok {
		st, _ := c.InportState("token")
		return st, nil
	}
	if v, ok := args["active"].(bool); ok {
		a.active = v
	}
	return slices.Clone(a.tokens), nil
}

// Terminator is flow.Terminator (spec §11.10): discards every token.
type Terminator struct{}

// Actions: one discarding action.
func (Terminator) Actions() []actor.Action {
	return []actor.Action{{Name: "discard", In: []string{"void"},
		Fire: func(*actor.Context, []token.Token, []token.Token) error { return nil }}}
}
