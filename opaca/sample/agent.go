package sample

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/container"
)

type jsonRaw = json.RawMessage

// state is what a sample agent remembers (spec §17.2); nil means null.
type state struct {
	mu               sync.Mutex
	lastMessage      any
	lastBroadcast    any
	lastPostedStream any
	lastEvent        any
}

func (s *state) set(f func(*state)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	f(s)
}

// Messages of the sample's actions (spec §17.3).
const (
	failMessage = "Action Failed (as expected)"
)

var (
	paramString  = opaca.NewParameter(opaca.TypeString)
	paramInteger = opaca.NewParameter(opaca.TypeInteger)
	paramObject  = opaca.NewParameter(opaca.TypeObject)
)

func withDefault(p opaca.Parameter, v any) opaca.Parameter {
	p, err := p.WithDefault(v)
	if err != nil {
		panic(err) // constant defaults only
	}
	return p
}

// newAgent builds one sample agent with every action, stream and handler.
func newAgent(id string) (*container.Agent, error) {
	a, err := container.NewAgent(container.WithID(id), container.WithType(AgentType),
		container.WithDescription("Sample agent doing nothing but reacting to API calls"))
	if err != nil {
		return nil, err
	}
	st := &state{}
	type decl struct {
		name string
		h    container.ActionHandler
		opts []container.ActionOption
	}
	actions := []decl{
		{"DoThis", doThis, []container.ActionOption{
			container.Description("Sleeps for the given time, then answers with the message"),
			container.Param("message", paramString), container.Param("sleep_seconds", paramInteger),
			container.Result(paramString)}},
		{"GetInfo", getInfo(st), []container.ActionOption{
			container.Description("Returns the agent's state and the container's environment"),
			container.Result(paramObject)}},
		{"OutboundInvokeTest", outboundInvokeTest, []container.ActionOption{
			container.Description("Invokes Add(42, 23) on another agent through the platform"),
			container.Param("agentId", paramString), container.Result(paramString)}},
		{"GetEnv", getEnv, []container.ActionOption{
			container.Description("Returns the container's environment"), container.Result(paramObject)}},
		{"Add", add, []container.ActionOption{
			container.Description("Adds two integers"),
			container.Param("x", paramInteger), container.Param("y", paramInteger), container.Result(paramInteger)}},
		{"Fail", fail, []container.ActionOption{container.Description("Always fails")}},
		{"CreateAction", createAction, []container.ActionOption{
			container.Description("Adds an action to this agent"),
			container.Param("name", paramString),
			container.Param("notify", withDefault(opaca.NewParameter(opaca.TypeBoolean), true))}},
		{"SpawnAgent", spawnAgent, []container.ActionOption{
			container.Description("Adds a new sample agent to the container"),
			container.Param("name", paramString)}},
		{"Deregister", deregister, []container.ActionOption{
			container.Description("Removes this agent from the container without notifying the platform")}},
		{"ErrorTest", errorTest, []container.ActionOption{
			container.Description("Fails in different ways depending on the hint"),
			container.Param("hint", paramString), container.Result(paramString)}},
		{"ValidatorTest", validatorTest, []container.ActionOption{
			container.Description("Checks custom and nested parameter types"),
			container.Param("car", opaca.NewParameter("Car")),
			container.Param("listOfLists", opaca.ArrayParameter(opaca.ArrayItems{Type: opaca.TypeArray, Items: &opaca.ArrayItems{Type: opaca.TypeInteger}})),
			container.Param("decimal", withDefault(opaca.NewParameter(opaca.TypeNumber), 3.14)),
			container.Param("desk", opaca.NewParameter("Desk").Optional()),
			container.Result(paramString)}},
		{"LoginTest", loginTest, []container.ActionOption{
			container.Description("Tells whether the caller is logged in to the container"),
			container.Result(paramString)}},
	}
	for _, d := range actions {
		if err := a.AddAction(d.name, d.h, d.opts...); err != nil {
			return nil, err
		}
	}
	if err := a.AddGetStream("GetStream", "Returns a small JSON document as bytes", func(context.Context, *container.Invocation) (io.Reader, error) {
		return strings.NewReader(`{"key":"value"}`), nil
	}); err != nil {
		return nil, err
	}
	if err := a.AddPostStream("PostStream", "Stores the posted bytes as text", func(_ context.Context, _ *container.Invocation, body io.Reader) error {
		b, err := io.ReadAll(body)
		if err != nil {
			return err
		}
		st.set(func(s *state) { s.lastPostedStream = strings.ToValidUTF8(string(b), "\uFFFD") })
		return nil
	}); err != nil {
		return nil, err
	}
	a.OnMessage(func(_ context.Context, m opaca.Message) error {
		st.set(func(s *state) { s.lastMessage = rawOrNull(m.Payload) })
		return nil
	})
	if err := a.Subscribe("topic", func(_ context.Context, m opaca.Message) error {
		st.set(func(s *state) { s.lastBroadcast = rawOrNull(m.Payload) })
		return nil
	}); err != nil {
		return nil, err
	}
	a.OnEvent("DoThis", func(_ context.Context, ev opaca.Event) {
		st.set(func(s *state) { s.lastEvent = ev })
	})
	return a, nil
}

func doThis(ctx context.Context, inv *container.Invocation) (any, error) {
	msg, err := container.Arg[string](inv, "message")
	if err != nil {
		return nil, err
	}
	secs, err := container.Arg[int](inv, "sleep_seconds")
	if err != nil {
		return nil, err
	}
	if secs > 0 {
		t := time.NewTimer(time.Duration(secs) * time.Second)
		defer t.Stop()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
	}
	return fmt.Sprintf("Action 'DoThis' of %s called with message=%s and sleep_seconds=%d", inv.Agent.ID(), msg, secs), nil
}

func getInfo(st *state) container.ActionHandler {
	return func(_ context.Context, inv *container.Invocation) (any, error) {
		info := map[string]any{"name": inv.Agent.ID()}
		st.mu.Lock()
		info["lastMessage"] = st.lastMessage
		info["lastBroadcast"] = st.lastBroadcast
		info["lastPostedStream"] = st.lastPostedStream
		info["lastEvent"] = st.lastEvent
		st.mu.Unlock()
		env := containerOf(inv).Env()
		for _, k := range []string{opaca.EnvContainerID, opaca.EnvPlatformURL, opaca.EnvOwner, opaca.EnvToken, opaca.EnvPortMapping} {
			if v, ok := env.Lookup(k); ok {
				info[k] = v
			} else {
				info[k] = nil
			}
		}
		return info, nil
	}
}

// containerOf returns the agent's container; an agent removed while its
// action runs has none, which is an error.
func containerOf(inv *container.Invocation) *container.Container {
	return inv.Agent.Container()
}

var errNoContainer = errors.New("agent is no longer part of a container")

func outboundInvokeTest(ctx context.Context, inv *container.Invocation) (any, error) {
	target, err := container.Arg[string](inv, "agentId")
	if err != nil {
		return nil, err
	}
	res, err := inv.Agent.Platform().Invoke(ctx, "Add", target, map[string]int{"x": 42, "y": 23})
	if err != nil {
		return nil, fmt.Errorf("outbound invoke failed: %w", err)
	}
	return fmt.Sprintf("Result of outbound Invoke Add(42, 23): %s", strings.TrimSpace(string(res))), nil
}

func getEnv(_ context.Context, inv *container.Invocation) (any, error) {
	c := containerOf(inv)
	if c == nil {
		return nil, errNoContainer
	}
	return c.Env().All(), nil
}

func add(_ context.Context, inv *container.Invocation) (any, error) {
	x, err := container.Arg[int64](inv, "x")
	if err != nil {
		return nil, err
	}
	y, err := container.Arg[int64](inv, "y")
	if err != nil {
		return nil, err
	}
	return x + y, nil
}

func fail(context.Context, *container.Invocation) (any, error) {
	//lint:ignore ST1005 the message text is fixed by spec §17.3
	return nil, errors.New(failMessage)
}

func createAction(_ context.Context, inv *container.Invocation) (any, error) {
	name, err := container.Arg[string](inv, "name")
	if err != nil {
		return nil, err
	}
	notify := true
	if err := inv.Decode("notify", &notify); err != nil {
		return nil, err
	}
	var change []container.ChangeOption
	if !notify {
		change = append(change, container.WithoutNotify())
	}
	return nil, inv.Agent.AddActionWith(name, func(context.Context, *container.Invocation) (any, error) {
		return "Called extra action " + name, nil
	}, change, container.Description("Action created at run time"), container.Result(paramString))
}

func spawnAgent(_ context.Context, inv *container.Invocation) (any, error) {
	name, err := container.Arg[string](inv, "name")
	if err != nil {
		return nil, err
	}
	c := containerOf(inv)
	if c == nil {
		return nil, errNoContainer
	}
	a, err := newAgent(name)
	if err != nil {
		return nil, opaca.WithStatus(400, err)
	}
	if err := c.AddAgent(a); err != nil {
		return nil, err
	}
	return nil, nil
}

func deregister(_ context.Context, inv *container.Invocation) (any, error) {
	if c := containerOf(inv); c != nil {
		c.RemoveAgent(inv.Agent.ID(), container.WithoutNotify())
	}
	return nil, nil
}

func errorTest(_ context.Context, inv *container.Invocation) (any, error) {
	hint, err := container.Arg[string](inv, "hint")
	if err != nil {
		return nil, err
	}
	// The reference throws different exception kinds (and a custom code
	// 666); all of them surface as 500.
	switch hint {
	case "no-error":
		return "no error", nil
	case "not-found-error":
		return nil, errors.New("does not exist")
	case "io-error":
		return nil, errors.New("io exception")
	case "runtime-error":
		return nil, errors.New("some runtime error")
	case "custom-error":
		return nil, errors.New("custom exception")
	}
	return "default", nil
}

func validatorTest(_ context.Context, inv *container.Invocation) (any, error) {
	text := func(name string) string {
		if raw, ok := inv.Args[name]; ok {
			return string(raw)
		}
		return "null"
	}
	return fmt.Sprintf("ValidatorTest: car=%s, listOfLists=%s, decimal=%s, desk=%s",
		text("car"), text("listOfLists"), text("decimal"), text("desk")), nil
}

func loginTest(_ context.Context, inv *container.Invocation) (any, error) {
	switch {
	case inv.LoginToken == "":
		return "Not logged in", nil
	case inv.Login != nil:
		return fmt.Sprintf("Logged in as %v", inv.Login), nil
	}
	return "Unknown token: " + inv.LoginToken, nil
}
