package actor

import (
	"fmt"
	"io"
	"maps"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Capabilities of the system objects the runtime offers (spec §10.4, §11.11).
const (
	CapTimerOnce      = "sys.timer.once"
	CapTimerRepeating = "sys.timer.repeating"
	CapSchedule       = "sys.schedule"
	CapStdout         = "io.stdout"
)

// Capabilities returns the capabilities every Runtime offers.
func Capabilities() []string {
	return []string{CapSchedule, CapTimerOnce, CapTimerRepeating, CapStdout}
}

// sysObject is one entry of an actor's `_calvinsys`: a timer, a stdout
// handle, or an object of a capability this runtime does not know, which is
// kept verbatim so that it migrates on unchanged.
type sysObject struct {
	ref    string
	name   string
	args   map[string]any
	timer  *Timer
	stdout *Stdout
	opaque any // "obj" of an unknown capability
}

func (o *sysObject) export() map[string]any {
	var obj any
	switch {
	case o.timer != nil:
		obj = o.timer.export()
	case o.stdout != nil:
		obj = nil
	default:
		obj = o.opaque
	}
	args := o.args
	if args == nil {
		args = map[string]any{}
	}
	return map[string]any{"name": o.name, "args": maps.Clone(args), "obj": obj}
}

func (o *sysObject) close() {
	if o.timer != nil {
		o.timer.stop()
	}
}

// Timer is a system timer owned by one actor (sys.timer.once,
// sys.timer.repeating or sys.schedule). When it expires it becomes
// triggered and the actor is scheduled; the actor's guard checks Triggered
// and its action calls Ack, as with Calvin's calvinsys can_read / read.
type Timer struct {
	ref      string
	wake     func()
	mu       sync.Mutex
	trig     bool
	timeout  float64 // seconds; valid when hasTO
	hasTO    bool
	toValue  any // timeout as imported or set, exported unchanged (int stays int)
	repeats  bool
	schedule bool      // sys.schedule: period forced to 0
	due      time.Time // zero when unarmed; kept after expiry until Ack
	dueValue any       // nexttrigger as imported, exported unchanged until re-armed
	t        *time.Timer
	closed   bool
}

// Ref returns the handle "<actor id>#<n>" stored in managed attributes.
func (t *Timer) Ref() string { return t.ref }

// Triggered reports whether the timer has expired and not been acknowledged.
func (t *Timer) Triggered() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.trig
}

// Ack consumes a trigger. A repeating timer re-arms for its timeout.
func (t *Timer) Ack() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.trig {
		return
	}
	t.trig = false
	t.due, t.dueValue = time.Time{}, nil
	if t.repeats && t.hasTO && !t.closed {
		t.armLocked(time.Now().Add(seconds(t.timeout)))
	}
}

// Start arms the timer to expire after timeout seconds (calvinsys write).
func (t *Timer) Start(timeout float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return
	}
	if t.schedule {
		timeout = 0
		t.toValue = int64(0)
	} else {
		t.toValue = timeout
	}
	t.timeout, t.hasTO = timeout, true
	t.trig, t.dueValue = false, nil
	if timeout <= 0 {
		// Due at once: trigger without a timer goroutine, so that schedule
		// objects (re-armed with 0 after every firing) cost nothing.
		if t.t != nil {
			t.t.Stop()
			t.t = nil
		}
		t.trig, t.due = true, time.Now()
		t.wake()
		return
	}
	t.armLocked(time.Now().Add(seconds(timeout)))
}

// Cancel disarms the timer and drops a pending trigger.
func (t *Timer) Cancel() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.trig = false
	t.due, t.dueValue = time.Time{}, nil
	if t.t != nil {
		t.t.Stop()
		t.t = nil
	}
}

func seconds(s float64) time.Duration {
	if s <= 0 || math.IsNaN(s) {
		return 0
	}
	if s > float64(math.MaxInt64/int64(time.Second)) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(s * float64(time.Second))
}

func (t *Timer) armLocked(at time.Time) {
	if t.t != nil {
		t.t.Stop()
	}
	t.due = at
	d := time.Until(at)
	if d < 0 {
		d = 0
	}
	var tm *time.Timer
	tm = time.AfterFunc(d, func() {
		t.mu.Lock()
		if t.closed || t.t != tm {
			t.mu.Unlock()
			return
		}
		t.trig = true
		t.t = nil
		t.mu.Unlock()
		t.wake()
	})
	t.t = tm
}

func (t *Timer) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	if t.t != nil {
		t.t.Stop()
		t.t = nil
	}
}

// export writes Calvin's timer state. A timer that has expired but not been
// acknowledged is exported as armed for the time it expired (already due),
// so the destination fires it at once (spec §10.4).
func (t *Timer) export() map[string]any {
	t.mu.Lock()
	defer t.mu.Unlock()
	var next any
	to := t.toValue
	switch {
	case t.due.IsZero():
	case t.dueValue != nil:
		next = t.dueValue
	default:
		next = float64(t.due.UnixNano()) / 1e9
	}
	return map[string]any{"triggered": false, "timeout": to, "repeats": t.repeats, "nexttrigger": next}
}

// Stdout is an io.stdout system object: each Write is one line on the
// runtime's standard output.
type Stdout struct {
	ref string
	mu  *sync.Mutex
	w   io.Writer
}

// Ref returns the handle "<actor id>#<n>".
func (s *Stdout) Ref() string { return s.ref }

// WriteLine writes line and a newline.
func (s *Stdout) WriteLine(line string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := io.WriteString(s.w, line+"\n")
	return err
}

// refNumber parses the n of "<id>#<n>".
func refNumber(ref string) (int, bool) {
	i := strings.LastIndexByte(ref, '#')
	if i < 0 {
		return 0, false
	}
	n, err := strconv.Atoi(ref[i+1:])
	return n, err == nil && n >= 0
}

// importTimer rebuilds a timer from Calvin's state; all four keys are
// required, as Calvin reads them without defaults.
func importTimer(path string, capability string, obj any, wake func()) (*Timer, error) {
	m, ok := obj.(map[string]any)
	if !ok {
		return nil, stateErr(path+".obj", "timer state is %T, want a map", obj)
	}
	for _, k := range []string{"triggered", "timeout", "repeats", "nexttrigger"} {
		if _, ok := m[k]; !ok {
			return nil, stateErr(path+".obj", "timer state lacks %q", k)
		}
	}
	t := &Timer{wake: wake}
	trig, ok := m["triggered"].(bool)
	if !ok {
		return nil, stateErr(path+".obj.triggered", "not a bool")
	}
	t.repeats, ok = m["repeats"].(bool)
	if !ok {
		return nil, stateErr(path+".obj.repeats", "not a bool")
	}
	if m["timeout"] != nil {
		f, ok := number(m["timeout"])
		if !ok {
			return nil, stateErr(path+".obj.timeout", "not a number")
		}
		t.timeout, t.hasTO, t.toValue = f, true, m["timeout"]
	}
	if capability == CapSchedule {
		t.repeats, t.schedule = false, true
	}
	var due time.Time
	if m["nexttrigger"] != nil {
		f, ok := number(m["nexttrigger"])
		if !ok || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e11 {
			return nil, stateErr(path+".obj.nexttrigger", "not a usable epoch time")
		}
		sec, frac := math.Modf(f)
		due = time.Unix(int64(sec), int64(math.Round(frac*1e9)))
		t.dueValue = m["nexttrigger"]
	}
	t.trig = trig
	switch {
	case trig:
		// An event is pending: keep it; it is due now.
		if due.IsZero() {
			due = time.Now()
			t.dueValue = nil
		}
		t.due = due
	case !due.IsZero():
		t.due = due
	}
	return t, nil
}

// startImported arms a restored timer once the actor exists.
func (t *Timer) startImported() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.trig {
		t.wake()
		return
	}
	if !t.due.IsZero() {
		t.armLocked(t.due)
	}
}

func errSys(ref, format string, args ...any) error {
	return fmt.Errorf("%w %s: "+format, append([]any{ErrSysObject, ref}, args...)...)
}
