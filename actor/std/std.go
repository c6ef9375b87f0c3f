package std

import (
	"github.com/meshkit/meshkit/actor"
)

// Type names (spec §11).
const (
	CountTimerType = "std.CountTimer"
	CounterType    = "std.Counter"
	IdentityType   = "std.Identity"
	ConstantType   = "std.Constant"
	SumType        = "std.Sum"
	PrintType      = "io.Print"
	SinkType       = "test.Sink"
	TerminatorType = "flow.Terminator"
)

// maxSize is Python's sys.maxsize, CountTimer's default number of steps.
const maxSize = int64(9223372036854775807)

// Types returns the eight standard actor types.
func Types() []actor.Type {
	return []actor.Type{
		{Name: CountTimerType, Outports: []string{"integer"},
			Optional: map[string]any{"start": int64(1), "sleep": 0.1, "steps": maxSize},
			Requires: []string{actor.CapTimerOnce, actor.CapTimerRepeating},
			New:      func() actor.Actor { return &CountTimer{} }},
		{Name: CounterType, Outports: []string{"integer"}, Optional: map[string]any{},
			Requires: []string{actor.CapSchedule},
			New:      func() actor.Actor { return &Counter{} }},
		{Name: IdentityType, Inports: []string{"token"}, Outports: []string{"token"},
			Optional: map[string]any{"dump": false},
			New:      func() actor.Actor { return &Identity{} }},
		{Name: ConstantType, Outports: []string{"token"}, Mandatory: []string{"data"}, Optional: map[string]any{},
			Requires: []string{actor.CapSchedule},
			New:      func() actor.Actor { return &Constant{} }},
		{Name: SumType, Inports: []string{"integer"}, Outports: []string{"integer"}, Optional: map[string]any{},
			New: func() actor.Actor { return &Sum{} }},
		{Name: PrintType, Inports: []string{"token"}, Optional: map[string]any{},
			Requires: []string{actor.CapStdout},
			New:      func() actor.Actor { return &Print{} }},
		{Name: SinkType, Inports: []string{"token"},
			Optional: map[string]any{"store_tokens": false, "active": true, "quiet": false},
			New:      func() actor.Actor { return &Sink{} }},
		{Name: TerminatorType, Inports: []string{"void"}, Optional: map[string]any{},
			New: func() actor.Actor { return &Terminator{} }},
	}
}

// Register adds the standard types to reg.
func Register(reg *actor.Registry) error {
	for _, t := range Types() {
		if err := reg.Register(t); err != nil {
			return err
		}
	}
	return nil
}

// NewRegistry returns a registry holding the standard types.
func NewRegistry() (*actor.Registry, error) {
	return actor.NewRegistry(Types()...)
}

// Capabilities lists the capabilities the standard types need (spec
// §11.11); every actor.Runtime offers them.
func Capabilities() []string { return actor.Capabilities() }
