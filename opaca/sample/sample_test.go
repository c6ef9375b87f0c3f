package sample

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/internal/httpprobe"
	"github.com/meshkit/meshkit/internal/leakcheck"
	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/container"
)

func checkGoroutines(t *testing.T) {
	t.Helper()
	leakcheck.NoGoroutinesMentioning(t, "meshkit/opaca/")
	t.Cleanup(http.DefaultClient.CloseIdleConnections) // before the check
}

type sampleFixture struct {
	c   *container.Container
	url string
}

func newSample(t *testing.T, env map[string]string, opts ...Option) *sampleFixture {
	t.Helper()
	opts = append([]Option{WithEnv(env), WithStartDelay(0), WithoutHelpers()}, opts...)
	c, err := New(opts...)
	require.NoError(t, err)
	srv := httptest.NewServer(c)
	t.Cleanup(func() {
		srv.Close()
		require.NoError(t, c.Close())
	})
	<-c.Ready()
	return &sampleFixture{c: c, url: srv.URL}
}

type resp struct {
	status int
	body   string
}

func call(t *testing.T, method, url, body string, hdr ...string) resp {
	t.Helper()
	r := httpprobe.Do(t, method, url, body, hdr...)
	return resp{r.Status, r.Body}
}

func errMessage(t *testing.T, r resp) string {
	t.Helper()
	var er opaca.ErrorResponse
	require.NoError(t, opaca.DecodeStrict([]byte(r.body), &er), r.body)
	assert.Equal(t, r.status, er.StatusCode)
	return er.Message
}

// specImage is the image of spec §17.1 verbatim.
const specImage = `{
  "imageName": "sample-agent-container-image",
  "requires": ["sample-requirement"],
  "provides": ["sample-provision"],
  "name": "Sample OPACA Agent Container",
  "version": "0.1.9",
  "description": "Just a sample container doing nothing but receiving and reacting to API calls",
  "provider": "DAI-Lab",
  "url": "https://github.com/GT-ARC/opaca-core",
  "apiPort": 8082,
  "extraPorts": {
    "8888": {"protocol": "TCP", "description": "Simple Web Server for testing TCP port"},
    "8889": {"protocol": "UDP", "description": "Simple Web Server for testing UDP port"}
  },
  "parameters": [
    {"name": "database", "type": "string", "required": false, "confidential": false, "defaultValue": "mongodb"},
    {"name": "username", "type": "string", "required": true, "confidential": false},
    {"name": "password", "type": "string", "required": true, "confidential": true}
  ],
  "definitions": {
    "Desk": {
      "$schema": "http://json-schema.org/draft-07/schema#",
      "title": "Desk",
      "type": "object",
      "properties": {
        "deskId": {"type": "integer"},
        "name": {"type": "string"},
        "description": {"type": "string"},
        "position": {"type": "object", "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}}}
      },
      "required": ["deskId"]
    },
    "Car": {
      "$schema": "http://json-schema.org/draft-07/schema#",
      "title": "Car",
      "type": "object",
      "properties": {
        "model": {"type": "string"},
        "passengers": {"type": "array", "items": {"type": "string"}},
        "isFunctional": {"type": "boolean"},
        "constructionYear": {"type": "integer"}
      },
      "required": ["model", "passengers", "isFunctional", "constructionYear"]
    }
  },
  "definitionsByUrl": {}
}`

func TestInfo(t *testing.T) {
	checkGoroutines(t)
	f := newSample(t, map[string]string{"CONTAINER_ID": "sc", "OWNER": "alice", "username": "bob", "password": "pw"})
	r := call(t, "GET", f.url+"/info", "")
	require.Equal(t, 200, r.status)
	var info struct {
		ContainerID  string            `json:"containerId"`
		Image        json.RawMessage   `json:"image"`
		Arguments    map[string]string `json:"arguments"`
		Agents       []json.RawMessage `json:"agents"`
		Owner        string            `json:"owner"`
		RunningSince string            `json:"runningSince"`
		Connectivity *json.RawMessage  `json:"connectivity"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.body), &info))
	assert.JSONEq(t, specImage, string(info.Image))
	assert.Equal(t, map[string]string{"database": "mongodb", "username": "bob"}, info.Arguments)
	assert.Equal(t, "sc", info.ContainerID)
	assert.Equal(t, "alice", info.Owner)
	assert.Nil(t, info.Connectivity)
	assert.NotContains(t, r.body, `"pw"`)

	r = call(t, "GET", f.url+"/agents", "")
	var agents []opaca.AgentDescription
	require.NoError(t, opaca.DecodeStrict([]byte(r.body), &agents))
	require.Len(t, agents, 2)
	for i, id := range []string{"sample1", "sample2"} {
		a := agents[i]
		assert.Equal(t, id, a.AgentID)
		assert.Equal(t, AgentType, a.AgentType)
		var names []string
		for _, act := range a.Actions {
			names = append(names, act.Name)
		}
		assert.Equal(t, []string{"DoThis", "GetInfo", "OutboundInvokeTest", "GetEnv", "Add", "Fail", "CreateAction", "SpawnAgent", "Deregister", "ErrorTest", "ValidatorTest", "LoginTest"}, names)
		assert.Equal(t, []opaca.Stream{
			{Name: "GetStream", Mode: opaca.StreamGET, Description: "Returns a small JSON document as bytes"},
			{Name: "PostStream", Mode: opaca.StreamPOST, Description: "Stores the posted bytes as text"},
		}, a.Streams)
	}
	// Declarations of spec §17.3 in JSON.
	decl := func(action, param string) string {
		act, ok := agents[0].Action(action)
		require.True(t, ok)
		var v any = act.Result
		if param != "" {
			v = act.Parameters[param]
		}
		b, err := json.Marshal(v)
		require.NoError(t, err)
		return string(b)
	}
	assert.JSONEq(t, `{"type":"integer","required":true}`, decl("DoThis", "sleep_seconds"))
	assert.JSONEq(t, `{"type":"array","required":true,"items":{"type":"array","items":{"type":"integer"}}}`, decl("ValidatorTest", "listOfLists"))
	assert.JSONEq(t, `{"type":"number","required":false,"defaultValue":3.14}`, decl("ValidatorTest", "decimal"))
	assert.JSONEq(t, `{"type":"Desk","required":false}`, decl("ValidatorTest", "desk"))
	assert.JSONEq(t, `{"type":"Car","required":true}`, decl("ValidatorTest", "car"))
	assert.JSONEq(t, `{"type":"boolean","required":false,"defaultValue":true}`, decl("CreateAction", "notify"))
	assert.JSONEq(t, `{"type":"object","required":true}`, decl("GetInfo", ""))
	assert.JSONEq(t, `{"type":"object","required":true}`, decl("GetEnv", ""))
	assert.JSONEq(t, `null`, decl("Fail", ""))
	assert.JSONEq(t, `null`, decl("Deregister", ""))
}

func TestActions(t *testing.T) {
	checkGoroutines(t)
	f := newSample(t, map[string]string{"CONTAINER_ID": "sc", "TOKEN": "", "PORT_MAPPING": "8082:8090"})
	car := `{"model":"Golf","passengers":["ann","bob"],"isFunctional":true,"constructionYear":2010}`
	tests := []struct {
		name, path, body string
		status           int
		want             string // JSON result or error message substring
	}{
		{"DoThis", "/invoke/DoThis/sample2", `{"message":"hi","sleep_seconds":0}`, 200, `"Action 'DoThis' of sample2 called with message=hi and sleep_seconds=0"`},
		{"DoThis missing sleep", "/invoke/DoThis", `{"message":"hi"}`, 400, `sleep_seconds`},
		{"Add", "/invoke/Add", `{"x":42,"y":23}`, 200, `65`},
		{"Add large", "/invoke/Add", `{"x":2147483647,"y":2147483647}`, 200, `4294967294`},
		{"Add bad", "/invoke/Add", `{"x":1.5,"y":1}`, 400, `argument "x"`},
		{"Fail", "/invoke/Fail", `{}`, 500, `Action Failed (as expected)`},
		{"ErrorTest no-error", "/invoke/ErrorTest", `{"hint":"no-error"}`, 200, `"no error"`},
		{"ErrorTest not-found", "/invoke/ErrorTest", `{"hint":"not-found-error"}`, 500, `does not exist`},
		{"ErrorTest io", "/invoke/ErrorTest", `{"hint":"io-error"}`, 500, `io exception`},
		{"ErrorTest runtime", "/invoke/ErrorTest", `{"hint":"runtime-error"}`, 500, `some runtime error`},
		{"ErrorTest custom", "/invoke/ErrorTest", `{"hint":"custom-error"}`, 500, `custom exception`},
		{"ErrorTest other", "/invoke/ErrorTest", `{"hint":"what"}`, 200, `"default"`},
		{"ValidatorTest", "/invoke/ValidatorTest", `{"car":` + car + `,"listOfLists":[[1,2],[3]]}`, 200, ""},
		{"ValidatorTest bad car", "/invoke/ValidatorTest", `{"car":{"model":"Golf"},"listOfLists":[]}`, 400, `argument "car"`},
		{"ValidatorTest bad passenger", "/invoke/ValidatorTest", `{"car":{"model":"Golf","passengers":[1],"isFunctional":true,"constructionYear":1},"listOfLists":[]}`, 400, `passengers[0]`},
		{"ValidatorTest bad list", "/invoke/ValidatorTest", `{"car":` + car + `,"listOfLists":[[1,"2"]]}`, 400, `argument "listOfLists" at [0][1]`},
		{"ValidatorTest bad desk", "/invoke/ValidatorTest", `{"car":` + car + `,"listOfLists":[],"desk":{"name":"d"}}`, 400, `argument "desk"`},
		{"LoginTest anonymous", "/invoke/LoginTest", `{}`, 200, `"Not logged in"`},
		{"unknown action", "/invoke/Nope", `{}`, 404, `Nope`},
		{"unknown agent", "/invoke/Add/sample9", `{"x":1,"y":2}`, 404, `sample9`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := call(t, "POST", f.url+tt.path, tt.body)
			require.Equal(t, tt.status, r.status, r.body)
			switch {
			case tt.status != 200:
				assert.Contains(t, errMessage(t, r), tt.want)
			case tt.want != "":
				assert.JSONEq(t, tt.want, r.body)
			}
		})
	}
	r := call(t, "POST", f.url+"/invoke/ValidatorTest", `{"car":`+car+`,"listOfLists":[[1,2],[3]]}`)
	var text string
	require.NoError(t, json.Unmarshal([]byte(r.body), &text))
	assert.True(t, strings.HasPrefix(text, "ValidatorTest:"), text)
	assert.Contains(t, text, `"model":"Golf"`)
	assert.Contains(t, text, `[[1,2],[3]]`)
	assert.Contains(t, text, `decimal=3.14`, "default filled in")

	// DoThis honours the invoke timeout.
	start := time.Now()
	r = call(t, "POST", f.url+"/invoke/DoThis?timeout=1", `{"message":"x","sleep_seconds":30}`)
	assert.Equal(t, 500, r.status)
	assert.Contains(t, errMessage(t, r), "timed out")
	assert.Less(t, time.Since(start), 10*time.Second)
}

func TestStateAndStreams(t *testing.T) {
	checkGoroutines(t)
	env := map[string]string{"CONTAINER_ID": "sc", "OWNER": "alice", "PORT_MAPPING": "8082:8090"}
	f := newSample(t, env)
	getInfo := func(agent string) map[string]any {
		r := call(t, "POST", f.url+"/invoke/GetInfo/"+agent, ``)
		require.Equal(t, 200, r.status, r.body)
		var m map[string]any
		require.NoError(t, json.Unmarshal([]byte(r.body), &m))
		return m
	}
	info := getInfo("sample1")
	assert.Equal(t, map[string]any{
		"name": "sample1", "lastMessage": nil, "lastBroadcast": nil, "lastPostedStream": nil, "lastEvent": nil,
		"CONTAINER_ID": "sc", "PLATFORM_URL": nil, "OWNER": "alice", "TOKEN": nil, "PORT_MAPPING": "8082:8090",
	}, info)

	require.Equal(t, 200, call(t, "POST", f.url+"/send/sample1", `{"payload":{"text":"hello"},"replyTo":"me"}`).status)
	require.Equal(t, 200, call(t, "POST", f.url+"/broadcast/topic", `{"payload":[1,2],"replyTo":""}`).status)
	require.Equal(t, 200, call(t, "POST", f.url+"/stream/PostStream/sample2", "posted bytes").status)
	f.c.DeliverEvent(opaca.Event{ID: "ev1", Timestamp: 5, EventType: opaca.EventSuccess, Route: "POST /invoke/DoThis/sample1"})
	f.c.DeliverEvent(opaca.Event{ID: "ev2", Timestamp: 6, EventType: opaca.EventSuccess, Route: "POST /invoke/Add"})

	info = getInfo("sample1")
	assert.Equal(t, map[string]any{"text": "hello"}, info["lastMessage"])
	assert.Equal(t, []any{1.0, 2.0}, info["lastBroadcast"])
	assert.Nil(t, info["lastPostedStream"])
	assert.Equal(t, map[string]any{"id": "ev1", "timestamp": 5.0, "eventType": "SUCCESS", "route": "POST /invoke/DoThis/sample1"}, info["lastEvent"])
	info = getInfo("sample2")
	assert.Nil(t, info["lastMessage"])
	assert.Equal(t, []any{1.0, 2.0}, info["lastBroadcast"])
	assert.Equal(t, "posted bytes", info["lastPostedStream"])

	r := call(t, "GET", f.url+"/stream/GetStream", "")
	assert.Equal(t, 200, r.status)
	assert.Equal(t, `{"key":"value"}`, r.body)
	r = call(t, "GET", f.url+"/stream/GetStream/sample2", "")
	assert.Equal(t, `{"key":"value"}`, r.body)
	assert.Equal(t, 404, call(t, "GET", f.url+"/stream/Nope", "").status)

	r = call(t, "POST", f.url+"/invoke/GetEnv", ``)
	var gotEnv map[string]string
	require.NoError(t, json.Unmarshal([]byte(r.body), &gotEnv))
	assert.Equal(t, env, gotEnv, "in-process: only the injected map")
}

func TestRuntimeChanges(t *testing.T) {
	checkGoroutines(t)
	f := newSample(t, map[string]string{"CONTAINER_ID": "sc"})
	r := call(t, "POST", f.url+"/invoke/CreateAction/sample1", `{"name":"Extra","notify":false}`)
	require.Equal(t, 200, r.status, r.body)
	assert.Equal(t, "null", r.body)
	r = call(t, "POST", f.url+"/invoke/Extra", ``)
	require.Equal(t, 200, r.status)
	assert.Equal(t, `"Called extra action Extra"`, r.body)
	r = call(t, "POST", f.url+"/invoke/Extra/sample2", ``)
	assert.Equal(t, 404, r.status, "only the agent that created it")

	r = call(t, "POST", f.url+"/invoke/SpawnAgent", `{"name":"sample3"}`)
	require.Equal(t, 200, r.status, r.body)
	r = call(t, "GET", f.url+"/agents/sample3", "")
	require.Equal(t, 200, r.status)
	assert.Contains(t, r.body, AgentType)
	r = call(t, "POST", f.url+"/invoke/DoThis/sample3", `{"message":"m","sleep_seconds":0}`)
	assert.Contains(t, r.body, "of sample3")
	r = call(t, "POST", f.url+"/invoke/SpawnAgent", `{"name":"sample3"}`)
	assert.Equal(t, 500, r.status, "id in use")

	r = call(t, "POST", f.url+"/invoke/Deregister/sample3", ``)
	require.Equal(t, 200, r.status)
	assert.Equal(t, "null", r.body)
	assert.Equal(t, 404, call(t, "GET", f.url+"/agents/sample3", "").status)
	r = call(t, "GET", f.url+"/agents", "")
	assert.NotContains(t, r.body, "sample3")
}

func TestLogin(t *testing.T) {
	checkGoroutines(t)
	f := newSample(t, map[string]string{})
	assert.Equal(t, 401, call(t, "POST", f.url+"/login", `{"username":"invalid","password":"x"}`).status)
	assert.Equal(t, 501, call(t, "POST", f.url+"/login", `{"username":"not-supported","password":"x"}`).status)
	r := call(t, "POST", f.url+"/login", `{"username":"carol","password":"x"}`)
	require.Equal(t, 200, r.status)
	token := r.body
	r = call(t, "POST", f.url+"/invoke/LoginTest", ``, "ContainerLoginToken", token)
	assert.Equal(t, `"Logged in as carol"`, r.body)
	r = call(t, "POST", f.url+"/invoke/LoginTest", ``, "ContainerLoginToken", `"`+token+`"`)
	assert.Equal(t, `"Logged in as carol"`, r.body, "quoted token accepted")
	r = call(t, "POST", f.url+"/invoke/LoginTest", ``, "ContainerLoginToken", "bogus")
	assert.Equal(t, `"Unknown token: bogus"`, r.body)
	assert.Equal(t, "true", call(t, "POST", f.url+"/logout", ``, "ContainerLoginToken", token).body)
	assert.Equal(t, "false", call(t, "POST", f.url+"/logout", ``, "ContainerLoginToken", token).body)
	r = call(t, "POST", f.url+"/invoke/LoginTest", ``, "ContainerLoginToken", token)
	assert.Equal(t, `"Unknown token: `+token+`"`, r.body)
}

func TestOutboundInvoke(t *testing.T) {
	checkGoroutines(t)
	var mu sync.Mutex
	var seen []*http.Request
	var bodies []string
	platform := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, r.Clone(context.Background()))
		bodies = append(bodies, string(b))
		mu.Unlock()
		switch r.URL.Path {
		case "/invoke/Add/sample2":
			_, _ = w.Write([]byte("65"))
		case "/subscribe":
			http.Error(w, "no websocket here", http.StatusNotFound)
		default:
			opaca.WriteError(w, 404, "agent not found")
		}
	}))
	defer platform.Close()
	f := newSample(t, map[string]string{"CONTAINER_ID": "sc", "PLATFORM_URL": platform.URL, "TOKEN": "tkn"},
		WithContainerOptions(container.WithSubscribeRetry(time.Hour), container.WithoutAutoNotify()))

	r := call(t, "POST", f.url+"/invoke/OutboundInvokeTest/sample1", `{"agentId":"sample2"}`, "Authorization", "Bearer tkn")
	require.Equal(t, 200, r.status, r.body)
	assert.Equal(t, `"Result of outbound Invoke Add(42, 23): 65"`, r.body)
	mu.Lock()
	var inv *http.Request
	var body string
	for i, s := range seen {
		if s.URL.Path == "/invoke/Add/sample2" {
			inv, body = s, bodies[i]
		}
	}
	mu.Unlock()
	require.NotNil(t, inv)
	assert.Equal(t, "POST", inv.Method)
	assert.Equal(t, "Bearer tkn", inv.Header.Get("Authorization"))
	assert.Equal(t, "sc", inv.Header.Get("sender-id"))
	assert.JSONEq(t, `{"x":42,"y":23}`, body)

	r = call(t, "POST", f.url+"/invoke/OutboundInvokeTest", `{"agentId":"ghost"}`, "Authorization", "Bearer tkn")
	assert.Equal(t, 500, r.status)
	assert.Contains(t, errMessage(t, r), "outbound invoke failed")
	assert.Equal(t, 403, call(t, "GET", f.url+"/info", "").status, "bearer check with TOKEN set")

	// Without a platform the action fails cleanly.
	g := newSample(t, map[string]string{})
	r = call(t, "POST", g.url+"/invoke/OutboundInvokeTest", `{"agentId":"sample2"}`)
	assert.Equal(t, 500, r.status)
	assert.Contains(t, errMessage(t, r), "PLATFORM_URL")
}

func freePort(t *testing.T, network string) int {
	t.Helper()
	if network == "udp" {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		require.NoError(t, err)
		defer pc.Close()
		return pc.LocalAddr().(*net.UDPAddr).Port
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestHelperPorts(t *testing.T) {
	checkGoroutines(t)
	tcp, udp := freePort(t, "tcp"), freePort(t, "udp")
	mapping := "8082:8082,8888:" + strconv.Itoa(tcp) + ",8889:" + strconv.Itoa(udp)
	c, err := New(WithEnv(map[string]string{"PORT_MAPPING": mapping}), WithStartDelay(0), WithHelperHost("127.0.0.1"))
	require.NoError(t, err)
	defer func() { require.NoError(t, c.Close()) }()

	r, err := http.Get("http://127.0.0.1:" + strconv.Itoa(tcp) + "/anything")
	require.NoError(t, err)
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	assert.Equal(t, ItWorks, string(b))

	conn, err := net.Dial("udp", "127.0.0.1:"+strconv.Itoa(udp))
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(5*time.Second)))
	_, err = conn.Write([]byte("abc"))
	require.NoError(t, err)
	buf := make([]byte, 64)
	n, err := conn.Read(buf)
	require.NoError(t, err)
	assert.Equal(t, "abcabc", string(buf[:n]))

	// A port that is taken is logged, not fatal.
	d, err := New(WithEnv(map[string]string{"PORT_MAPPING": mapping}), WithStartDelay(0), WithHelperHost("127.0.0.1"))
	require.NoError(t, err)
	require.NoError(t, d.Close())
	http.DefaultClient.CloseIdleConnections()
}

func TestStartDelayAndOptions(t *testing.T) {
	checkGoroutines(t)
	assert.Equal(t, 2*time.Second, StartDelay)
	c, err := New(WithEnv(nil), WithoutHelpers(), WithStartDelay(150*time.Millisecond))
	require.NoError(t, err)
	srv := httptest.NewServer(c)
	defer srv.Close()
	defer c.Close()
	assert.Equal(t, 503, call(t, "GET", srv.URL+"/info", "").status)
	<-c.Ready()
	assert.Equal(t, 200, call(t, "GET", srv.URL+"/info", "").status)

	for _, o := range []Option{nil, WithLogger(nil), WithStartDelay(-1)} {
		_, err := New(o)
		assert.Error(t, err)
	}
	_, err = New(WithEnv(map[string]string{"PORT_MAPPING": "bad"}), WithoutHelpers())
	assert.Error(t, err)
}

func TestImageFile(t *testing.T) {
	b, err := os.ReadFile("image.json")
	require.NoError(t, err)
	img := Image()
	assert.Equal(t, ImageName, img.ImageName)
	var back opaca.AgentContainerImage
	require.NoError(t, opaca.DecodeStrict(b, &back))
	assert.Equal(t, img.Parameters, back.Parameters)
}
