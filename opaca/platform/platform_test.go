package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
)

func TestContainerLifecycle(t *testing.T) {
	tp := startPlatform(t)
	ctx := context.Background()
	id := tp.deploy(t, "")

	list, err := tp.c.Containers(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	ac := list[0]
	assert.Equal(t, id, ac.ContainerID)
	assert.Equal(t, "", ac.Owner)
	require.NotNil(t, ac.Connectivity)
	assert.Equal(t, "http://127.0.0.1", ac.Connectivity.PublicURL)
	assert.Greater(t, ac.Connectivity.APIPortMapping, 0)

	// the container got its environment (§8.4)
	f := tp.reg.get(id)
	require.NotNil(t, f)
	assert.Equal(t, id, f.env["CONTAINER_ID"])
	assert.Equal(t, tp.url, f.env["PLATFORM_URL"])
	assert.Equal(t, "agent1", f.env["AGENT"], "default value of an optional parameter")
	assert.NotContains(t, f.env, "secret")
	assert.Equal(t, fmt.Sprint(fakeAPIPort)+":"+f.env["API_PORT"], f.env["PORT_MAPPING"])

	// direct access at publicUrl:apiPortMapping (§8.5)
	cc, err := client.NewContainer(ac.Connectivity.PublicURL + ":" + f.env["API_PORT"])
	require.NoError(t, err)
	direct, err := cc.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, id, direct.ContainerID)

	got, found, err := tp.c.Container(ctx, id)
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, id, got.ContainerID)
	_, found, err = tp.c.Container(ctx, "nope")
	require.NoError(t, err)
	assert.False(t, found, "unknown container is an empty 200")

	info, err := tp.c.Info(ctx)
	require.NoError(t, err)
	assert.Equal(t, tp.ID(), info.PlatformID)
	assert.Equal(t, tp.url, info.BaseURL)
	assert.Contains(t, info.Provides, "image:fake-image")
	assert.Contains(t, info.Provides, "fake-provision")
	assert.Contains(t, info.Provides, "action:Add")
	assert.Contains(t, info.Provides, "agent:FakeAgent")
	assert.Equal(t, "config:container-env=DOCKER", info.Provides[0])
	assert.Equal(t, []string{}, info.Connections)

	agents, err := tp.c.Agents(ctx, false)
	require.NoError(t, err)
	require.Len(t, agents, 1)
	a, found, err := tp.c.Agent(ctx, "agent1")
	require.NoError(t, err)
	require.True(t, found)
	assert.Equal(t, "FakeAgent", a.AgentType)
	_, found, err = tp.c.Agent(ctx, "ghost")
	require.NoError(t, err)
	assert.False(t, found)

	// a confidential argument reported by the container is never served
	req := fakePost("agentS")
	req.Arguments["secret"] = "hunter2"
	sid, err := tp.c.PostContainer(ctx, req, 0)
	require.NoError(t, err)
	assert.Equal(t, "hunter2", tp.reg.get(sid).env["secret"], "the container gets the value")
	sc, _, err := tp.c.Container(ctx, sid)
	require.NoError(t, err)
	assert.NotContains(t, sc.Arguments, "secret")
	_, err = tp.c.DeleteContainer(ctx, sid)
	require.NoError(t, err)

	// a temporary user exists for the container (§8.2 step 7)
	assert.True(t, tp.users.Exists(id))

	ok, err := tp.c.DeleteContainer(ctx, id)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = tp.c.DeleteContainer(ctx, id)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.False(t, tp.users.Exists(id))
	list, err = tp.c.Containers(ctx)
	require.NoError(t, err)
	assert.Empty(t, list)
}

func TestContainerStartErrors(t *testing.T) {
	tp := startPlatform(t, WithInProcessImage("dead-image", func(map[string]string) (InProcessContainer, error) {
		return &deadContainer{}, nil
	}), WithInProcessImage("silent-image", func(map[string]string) (InProcessContainer, error) {
		return HandlerContainer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusServiceUnavailable)
		})), nil
	}), WithInProcessImage("malformed-image", func(map[string]string) (InProcessContainer, error) {
		return HandlerContainer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, `{"containerId": 5`)
		})), nil
	}))
	ctx := context.Background()
	post := func(req opaca.PostAgentContainer, timeout int) int {
		_, err := tp.c.PostContainer(ctx, req, timeout)
		return client.StatusCode(err)
	}
	assert.Equal(t, 404, post(opaca.PostAgentContainer{Image: opaca.AgentContainerImage{ImageName: "no-such-image"}}, 0))
	req := fakePost("")
	req.Image.Parameters = append(req.Image.Parameters, opaca.ImageParameter{Name: "needed", Type: "string", Required: true})
	assert.Equal(t, 400, post(req, 0), "missing required parameter")
	req = fakePost("")
	req.Image.Requires = []string{"unicorn"}
	assert.Equal(t, 400, post(req, 0), "unmet requirement")
	req = fakePost("")
	req.ClientConfig = &opaca.ClientConfig{Type: opaca.ContainerKubernetes}
	assert.Equal(t, 400, post(req, 0), "client config of another environment")
	assert.Equal(t, 502, post(opaca.PostAgentContainer{Image: opaca.AgentContainerImage{ImageName: "dead-image"}}, 0))
	start := time.Now()
	assert.Equal(t, 502, post(opaca.PostAgentContainer{Image: opaca.AgentContainerImage{ImageName: "silent-image"}}, 1))
	assert.Less(t, time.Since(start), 4*time.Second, "timeout query honoured")
	_, err := tp.c.PostContainer(ctx, opaca.PostAgentContainer{Image: opaca.AgentContainerImage{ImageName: "malformed-image"}}, 0)
	require.Error(t, err)
	var se *client.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 502, se.StatusCode)
	assert.Contains(t, se.Response.Message, "malformed /info")

	for body, want := range map[string]int{
		``:                                      400,
		`{`:                                     422,
		`{"image":{"imageName":"x"},"bogus":1}`: 422,
		`{"image":{}}`:                          422,
		`[1]`:                                   422,
	} {
		code, _ := rawCall(t, "POST", tp.url+"/containers", "", body)
		assert.Equal(t, want, code, "body %q", body)
	}
	// nothing leaked: no containers, only the admin user
	list, err := tp.c.Containers(ctx)
	require.NoError(t, err)
	assert.Empty(t, list)
	users, err := tp.c.Users(ctx)
	require.NoError(t, err)
	assert.Len(t, users, 1)
	tp.ports.mu.Lock()
	assert.Empty(t, tp.ports.reserved)
	tp.ports.mu.Unlock()
}

// deadContainer stops serving at once, like a process that crashed.
type deadContainer struct{}

func (deadContainer) Serve(ln net.Listener) error    { return ln.Close() }
func (deadContainer) Shutdown(context.Context) error { return nil }

func TestPutContainer(t *testing.T) {
	tp := startPlatform(t)
	ctx := context.Background()
	req := fakePost("")
	_, err := tp.c.PutContainer(ctx, req, 0)
	assert.Equal(t, 400, client.StatusCode(err), "no container to replace")
	old := tp.deploy(t, "")
	newID, err := tp.c.PutContainer(ctx, fakePost("agentX"), 0)
	require.NoError(t, err)
	assert.NotEqual(t, old, newID)
	list, err := tp.c.Containers(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, newID, list[0].ContainerID)
	assert.Equal(t, "agentX", list[0].Agents[0].AgentID)
	tp.deploy(t, "")
	_, err = tp.c.PutContainer(ctx, req, 0)
	assert.Equal(t, 400, client.StatusCode(err), "two containers of that image")
}

func TestInvokeSendBroadcastStreams(t *testing.T) {
	tp := startPlatform(t)
	ctx := context.Background()
	id1 := tp.deploy(t, "agent1")
	id2 := tp.deploy(t, "agent2")

	res, err := tp.c.Invoke(ctx, "Add", "", map[string]int{"x": 2, "y": 3})
	require.NoError(t, err)
	assert.JSONEq(t, "5", string(res))
	sum, err := client.InvokeAs[int](ctx, tp.c, "Add", "agent2", map[string]int{"x": 40, "y": 2})
	require.NoError(t, err)
	assert.Equal(t, 42, sum)
	assert.Equal(t, 1, tp.reg.get(id2).invokes)

	_, err = tp.c.Invoke(ctx, "Add", "", map[string]any{"x": "two", "y": 3})
	assert.Equal(t, 400, client.StatusCode(err), "argument mismatch")
	_, err = tp.c.Invoke(ctx, "Add", "", map[string]any{"x": 1})
	assert.Equal(t, 400, client.StatusCode(err), "missing argument")
	_, err = tp.c.Invoke(ctx, "Nope", "", nil)
	assert.Equal(t, 404, client.StatusCode(err))
	_, err = tp.c.Invoke(ctx, "Add", "ghost", map[string]int{"x": 1, "y": 1})
	assert.Equal(t, 404, client.StatusCode(err))
	_, err = tp.c.Invoke(ctx, "Add", "", map[string]int{"x": 1, "y": 1}, client.InContainer(id2))
	require.NoError(t, err)
	_, err = tp.c.Invoke(ctx, "Add", "agent1", map[string]int{"x": 1, "y": 1}, client.InContainer(id2))
	assert.Equal(t, 404, client.StatusCode(err), "agent1 is not in container 2")
	code, _ := rawCall(t, "POST", tp.url+"/invoke/Add", "", `[1,2]`)
	assert.Equal(t, 422, code)
	code, _ = rawCall(t, "POST", tp.url+"/invoke/Whoami", "", ``)
	assert.Equal(t, 200, code, "empty body is {}")

	_, err = tp.c.Invoke(ctx, "Fail", "", nil)
	var se *client.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 502, se.StatusCode)
	require.NotNil(t, se.Response)
	require.NotNil(t, se.Response.Cause)
	assert.Equal(t, 500, se.Response.Cause.StatusCode)
	assert.Equal(t, "Action Failed (as expected)", se.Response.Cause.Message)

	msg, err := opaca.NewMessage(map[string]string{"hello": "world"}, "me")
	require.NoError(t, err)
	require.NoError(t, tp.c.Send(ctx, "agent2", msg))
	m, _, _ := tp.reg.get(id2).counts()
	assert.Equal(t, 1, m)
	assert.Equal(t, 404, client.StatusCode(tp.c.Send(ctx, "ghost", msg)))
	code, _ = rawCall(t, "POST", tp.url+"/send/agent1", "", `{"payload":1,"extra":2}`)
	assert.Equal(t, 422, code)

	require.NoError(t, tp.c.Broadcast(ctx, "topic", msg))
	_, b1, _ := tp.reg.get(id1).counts()
	_, b2, _ := tp.reg.get(id2).counts()
	assert.Equal(t, 1, b1, "broadcast reaches every container")
	assert.Equal(t, 1, b2)
	require.NoError(t, tp.c.Broadcast(ctx, "topic", msg, client.InContainer(id1)))
	_, b2, _ = tp.reg.get(id2).counts()
	assert.Equal(t, 1, b2, "containerId restricts the broadcast")

	rc, err := tp.c.GetStream(ctx, "GetStream", "agent1")
	require.NoError(t, err)
	data, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	assert.Equal(t, `{"key":"value"}`, string(data))
	_, err = tp.c.GetStream(ctx, "NoStream", "")
	assert.Equal(t, 404, client.StatusCode(err))
	rc, err = tp.c.GetStream(ctx, "GetStream", "") // any agent with the stream
	require.NoError(t, err)
	data, err = io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	assert.Equal(t, `{"key":"value"}`, string(data))
	require.NoError(t, tp.c.PostStream(ctx, "PostStream", "", strings.NewReader("first match")))
	f1 := tp.reg.get(id1)
	f1.mu.Lock()
	assert.Equal(t, []string{"first match"}, f1.posted, "without agent id the first container in start order")
	f1.mu.Unlock()
	require.NoError(t, tp.c.PostStream(ctx, "PostStream", "agent2", strings.NewReader("hello stream")))
	f2 := tp.reg.get(id2)
	f2.mu.Lock()
	assert.Equal(t, []string{"hello stream"}, f2.posted)
	f2.mu.Unlock()
	assert.Equal(t, 404, client.StatusCode(tp.c.PostStream(ctx, "Nope", "", strings.NewReader("x"))))
}

func TestContainerLoginLogout(t *testing.T) {
	tp := startPlatform(t)
	ctx := context.Background()
	id := tp.deploy(t, "")
	tok, err := tp.c.ContainerLogin(ctx, id, "alice", "pw")
	require.NoError(t, err)
	assert.Equal(t, "tok-alice", tok, "quotes stripped")
	who, err := client.InvokeAs[string](ctx, tp.c, "Whoami", "", nil)
	require.NoError(t, err)
	assert.Equal(t, "alice", who, "ContainerLoginToken forwarded on invoke")

	_, err = tp.c.ContainerLogin(ctx, id, "invalid", "pw")
	var se *client.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 502, se.StatusCode)
	assert.Equal(t, 401, se.Response.Cause.StatusCode)
	_, err = tp.c.ContainerLogin(ctx, id, "not-supported", "pw")
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 501, se.Response.Cause.StatusCode)
	_, err = tp.c.ContainerLogin(ctx, "ghost", "a", "b")
	assert.Equal(t, 404, client.StatusCode(err))

	ok, err := tp.c.ContainerLogout(ctx, id)
	require.NoError(t, err)
	assert.True(t, ok)
	ok, err = tp.c.ContainerLogout(ctx, id)
	require.NoError(t, err)
	assert.False(t, ok, "no stored token any more")
	_, err = tp.c.ContainerLogout(ctx, "ghost")
	assert.Equal(t, 404, client.StatusCode(err))
}

func TestNotifyContainer(t *testing.T) {
	tp := startPlatform(t)
	ctx := context.Background()
	id := tp.deploy(t, "")
	ok, err := tp.c.NotifyContainer(ctx, id)
	require.NoError(t, err)
	assert.True(t, ok)
	code, body := rawCall(t, "POST", tp.url+"/containers/notify", "", `"`+id+`"`)
	assert.Equal(t, 200, code)
	assert.Equal(t, "true", body, "quoted body accepted")
	_, err = tp.c.NotifyContainer(ctx, "ghost")
	assert.Equal(t, 404, client.StatusCode(err))

	// a container that went away is removed completely on notify
	e := tp.container(id)
	require.NoError(t, e.runner.Stop(ctx, e.handle))
	ok, err = tp.c.NotifyContainer(ctx, id)
	require.NoError(t, err)
	assert.False(t, ok)
	assert.Nil(t, tp.container(id))
	assert.False(t, tp.users.Exists(id))
}

func TestInfoRoutes(t *testing.T) {
	tp := startPlatform(t)
	ctx := context.Background()
	tp.deploy(t, "")
	cfg, err := tp.c.Config(ctx)
	require.NoError(t, err)
	assert.Equal(t, tp.url, cfg["publicUrl"])
	assert.Equal(t, true, cfg["dbEmbed"])
	assert.Equal(t, "SHUTDOWN", cfg["sessionPolicy"])
	raw, _ := json.Marshal(cfg)
	assert.NotContains(t, string(raw), "test-secret")
	assert.NotContains(t, string(raw), "adminpw")

	doc, err := tp.c.ActionsOpenAPI(ctx, "")
	require.NoError(t, err)
	var api map[string]any
	require.NoError(t, json.Unmarshal(doc, &api))
	paths := api["paths"].(map[string]any)
	require.Contains(t, paths, "/invoke/Add/agent1")
	post := paths["/invoke/Add/agent1"].(map[string]any)["post"].(map[string]any)
	assert.True(t, strings.HasSuffix(post["operationId"].(string), ";agent1;Add"))
	yaml, err := tp.c.ActionsOpenAPI(ctx, "yaml")
	require.NoError(t, err)
	assert.Contains(t, string(yaml), `"/invoke/Add/agent1":`)
	_, err = tp.c.ActionsOpenAPI(ctx, "xml")
	assert.Equal(t, 400, client.StatusCode(err))

	code, body := rawCall(t, "GET", tp.url+"/", "", "")
	assert.Equal(t, 200, code)
	assert.Contains(t, body, "OPACA Runtime Platform")
	code, body = rawCall(t, "GET", tp.url+"/v3/api-docs", "", "")
	assert.Equal(t, 200, code)
	assert.Contains(t, body, `"openapi"`)
	code, body = rawCall(t, "GET", tp.url+"/no/such/route", "", "")
	assert.Equal(t, 404, code)
	assert.JSONEq(t, `{"statusCode":404,"message":"Requested resource not found.","cause":null}`, body)
	code, body = rawCall(t, "GET", tp.url+"/login", "", "")
	assert.Equal(t, 405, code)
	assert.Contains(t, body, `"statusCode":405`)
	req, _ := http.NewRequest(http.MethodOptions, tp.url+"/info", nil)
	req.Header.Set("Origin", "http://ui.example")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))

	code, _ = rawCall(t, "POST", tp.url+"/send/agent1", "", strings.Repeat(" ", 17<<20))
	assert.Equal(t, 413, code)
}

func TestStoppedInProcessContainerUnreachable(t *testing.T) {
	tp := startPlatform(t)
	ctx := context.Background()
	id := tp.deploy(t, "")
	e := tp.container(id)
	require.NoError(t, e.runner.Stop(ctx, e.handle))
	_, err := tp.c.Invoke(ctx, "Add", "", map[string]int{"x": 1, "y": 1})
	var se *client.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 502, se.StatusCode)
	assert.Nil(t, se.Response.Cause, "no answer: cause null")
	_, err = tp.c.GetStream(ctx, "GetStream", "")
	require.ErrorAs(t, err, &se)
	assert.Equal(t, 502, se.StatusCode)
	assert.Nil(t, se.Response.Cause)
}
