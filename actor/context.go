package actor

import (
	"fmt"
	"log/slog"
	"maps"
	"sort"
)

// Context is an actor's handle to its runtime: identity, logger and system
// objects. It is passed to every hook and action and is valid for the
// actor's life on this node.
type Context struct {
	inst *instance
	log  *slog.Logger // derived on first use: most actors never log
}

// ID returns the actor id (kept across migrations).
func (c *Context) ID() string { return c.inst.id }

// Name returns the instance name, e.g. "app:src".
func (c *Context) Name() string { return c.inst.name }

// Type returns the actor type name.
func (c *Context) Type() string { return c.inst.typeName }

// Logger returns a logger carrying the actor id and name.
func (c *Context) Logger() *slog.Logger {
	if c.log == nil {
		c.log = c.inst.rt.log.With("actor", c.inst.id, "name", c.inst.name)
	}
	return c.log
}

// NodeID returns the id of the runtime the actor currently lives on.
func (c *Context) NodeID() string { return c.inst.rt.nodeID }

// nextRef numbers handles as Calvin does: one more than the highest open
// handle, 0 when none is open.
func (c *Context) nextRef() string {
	n := 0
	for ref := range c.inst.sys {
		if k, ok := refNumber(ref); ok && k+1 > n {
			n = k + 1
		}
	}
	return fmt.Sprintf("%s#%d", c.inst.id, n)
}

func (c *Context) sysMap() map[string]*sysObject {
	if c.inst.sys == nil {
		c.inst.sys = map[string]*sysObject{}
	}
	return c.inst.sys
}

// OpenTimer opens a timer system object. capability is CapTimerOnce (args
// {"period": seconds}: armed at once), CapTimerRepeating (args {}: armed by
// Start, re-armed by each Ack) or CapSchedule (armed at once with period 0,
// re-armed by Start). The runtime must offer the capability.
func (c *Context) OpenTimer(capability string, args map[string]any) (*Timer, error) {
	if !c.inst.rt.caps[capability] {
		return nil, errSys(capability, "capability not offered")
	}
	t := &Timer{wake: c.inst.wake}
	switch capability {
	case CapTimerOnce:
		p, ok := number(args["period"])
		if !ok {
			return nil, errSys(capability, "needs a numeric period, got %v", args["period"])
		}
		t.ref = c.nextRef()
		t.Start(p)
		t.toValue = args["period"]
	case CapTimerRepeating:
		t.repeats = true
		t.ref = c.nextRef()
		if p, ok := number(args["period"]); ok {
			t.Start(p)
		}
	case CapSchedule:
		t.schedule = true
		t.ref = c.nextRef()
		t.Start(0)
	default:
		return nil, errSys(capability, "not a timer capability")
	}
	c.sysMap()[t.ref] = &sysObject{ref: t.ref, name: capability, args: maps.Clone(args), timer: t}
	return t, nil
}

// OpenStdout opens an io.stdout object writing to the runtime's output.
func (c *Context) OpenStdout() (*Stdout, error) {
	if !c.inst.rt.caps[CapStdout] {
		return nil, errSys(CapStdout, "capability not offered")
	}
	s := &Stdout{ref: c.nextRef(), mu: &c.inst.rt.stdoutMu, w: c.inst.rt.stdout}
	c.sysMap()[s.ref] = &sysObject{ref: s.ref, name: CapStdout, args: map[string]any{}, stdout: s}
	return s, nil
}

// Timer returns the open timer with handle ref (after a migration the
// runtime has restored it from the state).
func (c *Context) Timer(ref string) (*Timer, bool) {
	o, ok := c.inst.sys[ref]
	if !ok || o.timer == nil {
		return nil, false
	}
	return o.timer, true
}

// Stdout returns the open stdout object with handle ref.
func (c *Context) Stdout(ref string) (*Stdout, bool) {
	o, ok := c.inst.sys[ref]
	if !ok || o.stdout == nil {
		return nil, false
	}
	return o.stdout, true
}

// CloseSys closes the system object ref; unknown refs are ignored.
func (c *Context) CloseSys(ref string) {
	if o, ok := c.inst.sys[ref]; ok {
		o.close()
		delete(c.inst.sys, ref)
	}
}

// SysRefs returns the handles of the open system objects, sorted.
func (c *Context) SysRefs() []string {
	refs := make([]string, 0, len(c.inst.sys))
	for r := range c.inst.sys {
		refs = append(refs, r)
	}
	sort.Strings(refs)
	return refs
}

// InportState returns the live queue state of one of the actor's inports
// in Calvin's layout (spec §7.6), e.g. for a report.
func (c *Context) InportState(name string) (map[string]any, bool) {
	p := c.inst.port(In, name)
	if p == nil {
		return nil, false
	}
	return p.queueState(false), true
}
