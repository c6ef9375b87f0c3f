package opaca

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Examples of spec chapter 3, with the placeholders filled in.
const (
	specAgentDescription = `{
  "agentId": "sample1",
  "agentType": "de.gtarc.opaca.sample.SampleAgent",
  "description": "…",
  "actions": [
    {
      "name": "Add",
      "description": "adds two numbers",
      "parameters": {
        "x": { "type": "integer", "required": true },
        "y": { "type": "integer", "required": true }
      },
      "result": { "type": "integer", "required": true }
    }
  ],
  "streams": [ { "name": "GetStream", "mode": "GET", "description": "…" } ]
}`
	specImage = `{
  "imageName": "registry.example.org/team/my-container:1.2",
  "requires": [ "action:Translate" ],
  "provides": [ "my-provision" ],
  "name": "My Container",
  "version": "1.2",
  "description": "…",
  "provider": "…",
  "url": "https://example.org/my-container",
  "apiPort": 8082,
  "extraPorts": { "8888": { "protocol": "TCP", "description": "web UI" } },
  "parameters": [
    { "name": "database", "type": "string", "required": false, "confidential": false, "defaultValue": "mongodb" }
  ],
  "definitions": { "Desk": { "$schema": "http://json-schema.org/draft-07/schema#", "type": "object" } },
  "definitionsByUrl": { "Car": "https://example.org/schemas/Car.json" }
}`
	specContainer = `{
  "containerId": "3f1c",
  "image": ` + specImage + `,
  "arguments": { "database": "mongodb", "username": "alice" },
  "agents": [ ` + specAgentDescription + ` ],
  "owner": "alice",
  "runningSince": "2026-01-01T12:00:01.234Z",
  "connectivity": {
    "publicUrl": "http://10.0.0.5",
    "apiPortMapping": 8083,
    "extraPortMappings": { "8888": { "protocol": "TCP", "description": "web UI" } }
  }
}`
	specPlatform = `{
  "platformId": "7b0c1f9e-1d2a-4c8e-9d55-0e3c2f7a1b11",
  "baseUrl": "http://10.0.0.5:8000",
  "containers": [ ` + specContainer + ` ],
  "provides": [ "config:container-env=DOCKER", "image:sample-agent-container-image" ],
  "connections": [ "http://10.0.0.6:8000" ],
  "runningSince": "2026-01-01T12:00:00.000Z"
}`
	specPost = `{
  "image": ` + specImage + `,
  "arguments": { "username": "alice", "password": "secret" },
  "pull": null,
  "clientConfig": { "type": "DOCKER" }
}`
	specEvent = `{
  "id": "1d0e",
  "timestamp": 1767268800000,
  "eventType": "ERROR",
  "route": "POST /invoke/Add",
  "senderId": "http://10.0.0.6:8000",
  "receiver": null,
  "statusCode": 404,
  "relatedId": "9a7c"
}`
	specEventOut   = `{"id":"1d0e","timestamp":1767268800000,"eventType":"ERROR","route":"POST /invoke/Add","senderId":"http://10.0.0.6:8000","statusCode":404,"relatedId":"9a7c"}`
	specConnection = `{"url": "http://other:8000", "connectBack": false, "token": null}`
	specLogin      = `{"username": "alice", "password": "pw"}`
	specUser       = `{"username": "bob", "password": "h", "role": "CONTRIBUTOR", "privileges": ["p1"], "containerLoginTokens": {"c1": "t1"}}`
	specError      = `{"statusCode": 502, "message": "downstream failed", "cause": {"statusCode": 404, "message": "no such agent", "cause": null}}`
	specMessage    = `{"payload": {"n": 12345678901234567890}, "replyTo": "sample2"}`
	specKubernetes = `{"image": {"imageName": "x"}, "arguments": {}, "pull": true, "clientConfig": {"type": "KUBERNETES", "nodeName": "n1", "hostNetwork": true}}`
)

// roundTrip decodes doc strictly into a fresh T, re-encodes it and checks
// the result is JSON-equal to want (doc itself when want is empty).
func roundTrip[T any](t *testing.T, doc, want string) T {
	t.Helper()
	var v T
	require.NoError(t, DecodeStrict([]byte(doc), &v))
	out, err := json.Marshal(v)
	require.NoError(t, err)
	if want == "" {
		want = doc
	}
	assert.JSONEq(t, want, string(out))
	var again T
	require.NoError(t, DecodeStrict(out, &again))
	out2, err := json.Marshal(again)
	require.NoError(t, err)
	assert.Equal(t, string(out), string(out2), "second round trip must be stable")
	return v
}

func TestSpecExamplesRoundTrip(t *testing.T) {
	rp := roundTrip[RuntimePlatform](t, specPlatform, "")
	assert.Equal(t, "7b0c1f9e-1d2a-4c8e-9d55-0e3c2f7a1b11", rp.PlatformID)
	require.Len(t, rp.Containers, 1)
	ac := rp.Containers[0]
	assert.Equal(t, "alice", ac.Arguments["username"])
	assert.Equal(t, time.Date(2026, 1, 1, 12, 0, 1, 234e6, time.UTC), ac.RunningSince.Time)
	assert.Equal(t, 8083, ac.Connectivity.APIPortMapping)
	assert.Equal(t, "https://example.org/schemas/Car.json", ac.Image.DefinitionsByURL["Car"])
	assert.JSONEq(t, `"mongodb"`, string(ac.Image.Parameters[0].DefaultValue))
	act, ok := ac.Agents[0].Action("Add")
	require.True(t, ok)
	assert.True(t, act.Parameters["x"].IsRequired())
	assert.Equal(t, TypeInteger, act.Result.Type)
	st, ok := ac.Agents[0].Stream("GetStream")
	require.True(t, ok)
	assert.Equal(t, StreamGET, st.Mode)

	post := roundTrip[PostAgentContainer](t, specPost, "")
	assert.Nil(t, post.Pull)
	assert.Equal(t, ContainerDocker, post.ClientConfig.Type)
	k := roundTrip[PostAgentContainer](t, specKubernetes, `{"image":{"imageName":"x","requires":[],"provides":[],"name":"","version":"","description":"","provider":"","apiPort":8082,"extraPorts":{},"parameters":[],"definitions":{},"definitionsByUrl":{}},"arguments":{},"pull":true,"clientConfig":{"type":"KUBERNETES","nodeName":"n1","hostNetwork":true}}`)
	assert.Equal(t, "n1", k.ClientConfig.NodeName)

	ev := roundTrip[Event](t, specEvent, specEventOut)
	assert.Equal(t, EventError, ev.EventType)
	assert.Equal(t, "/invoke", ev.Topic())
	name, ok := ev.InvokedAction()
	assert.True(t, ok)
	assert.Equal(t, "Add", name)
	assert.Equal(t, time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC), ev.Time())

	roundTrip[ConnectionRequest](t, specConnection, "")
	roundTrip[ConnectionRequest](t, `{"url":"u","connectBack":true,"token":"tok"}`, "")
	roundTrip[Login](t, specLogin, "")
	u := roundTrip[User](t, specUser, "")
	assert.JSONEq(t, `{"username":"bob","role":"CONTRIBUTOR","privileges":["p1"]}`, mustJSON(t, u.Public()))
	er := roundTrip[ErrorResponse](t, specError, "")
	assert.ErrorIs(t, &er, ErrBadGateway)
	assert.Equal(t, 404, er.Cause.StatusCode)
	m := roundTrip[Message](t, specMessage, "")
	assert.Equal(t, `{"n": 12345678901234567890}`, string(m.Payload), "payload carried unchanged")
	assert.Contains(t, mustJSON(t, m), `12345678901234567890`, "large integers must not be rounded")
}

func TestSampleImageRoundTrip(t *testing.T) {
	doc, err := os.ReadFile("testdata/sample_image.json")
	require.NoError(t, err)
	img := roundTrip[AgentContainerImage](t, string(doc), "")
	assert.True(t, img.ExtraPorts["8889"].IsUDP())
	assert.False(t, img.ExtraPorts["8888"].IsUDP())
	def, ok := img.Parameters[0].DefaultString()
	assert.True(t, ok)
	assert.Equal(t, "mongodb", def)
	_, ok = img.Parameters[1].DefaultString()
	assert.False(t, ok)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func TestEmissionRules(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"empty platform", RuntimePlatform{PlatformID: "p", BaseURL: "b", RunningSince: NewTime(time.Date(2026, 1, 1, 12, 0, 0, 123456789, time.UTC))},
			`{"platformId":"p","baseUrl":"b","containers":[],"provides":[],"connections":[],"runningSince":"2026-01-01T12:00:00.123Z"}`},
		{"empty container", AgentContainer{ContainerID: "c"},
			`{"containerId":"c","image":{"imageName":"","requires":[],"provides":[],"name":"","version":"","description":"","provider":"","apiPort":8082,"extraPorts":{},"parameters":[],"definitions":{},"definitionsByUrl":{}},"arguments":{},"agents":[],"owner":"","runningSince":"0001-01-01T00:00:00.000Z","connectivity":null}`},
		{"empty connectivity", Connectivity{PublicURL: "http://h"}, `{"publicUrl":"http://h","apiPortMapping":0,"extraPortMappings":{}}`},
		{"image parameter null default", ImageParameter{Name: "a", Type: "string", DefaultValue: json.RawMessage("null")}, `{"name":"a","type":"string","required":false,"confidential":false}`},
		{"empty agent", AgentDescription{AgentID: "a"}, `{"agentId":"a","agentType":"","description":"","actions":[],"streams":[]}`},
		{"action without result", Action{Name: "Fail"}, `{"name":"Fail","description":"","parameters":{},"result":null}`},
		{"parameter default required", Parameter{Type: "integer"}, `{"type":"integer","required":true}`},
		{"parameter optional with default", mustParam(NewParameter(TypeNumber).WithDefault(3.14)), `{"type":"number","required":false,"defaultValue":3.14}`},
		{"parameter null default omitted", Parameter{Type: "string", DefaultValue: json.RawMessage(" null ")}, `{"type":"string","required":true}`},
		{"nested arrays", ArrayParameter(ArrayItems{Type: "array", Items: &ArrayItems{Type: "integer"}}), `{"type":"array","required":true,"items":{"type":"array","items":{"type":"integer"}}}`},
		{"message without payload", Message{}, `{"payload":null,"replyTo":""}`},
		{"event nulls omitted", Event{ID: "e", Timestamp: 5, EventType: EventSuccess}, `{"id":"e","timestamp":5,"eventType":"SUCCESS"}`},
		{"error cause null", ErrorResponse{StatusCode: 404, Message: "x"}, `{"statusCode":404,"message":"x","cause":null}`},
		{"user empty", User{Username: "u"}, `{"username":"u","privileges":[]}`},
		{"connection no token", ConnectionRequest{URL: "u"}, `{"url":"u","connectBack":false,"token":null}`},
		{"post empty", PostAgentContainer{Image: AgentContainerImage{ImageName: "i", URL: ""}}, `{"image":{"imageName":"i","requires":[],"provides":[],"name":"","version":"","description":"","provider":"","apiPort":8082,"extraPorts":{},"parameters":[],"definitions":{},"definitionsByUrl":{}},"arguments":{},"pull":null,"clientConfig":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.JSONEq(t, tt.want, mustJSON(t, tt.v))
			assert.Equal(t, tt.want, mustJSON(t, tt.v), "field order")
		})
	}
}

func mustParam(p Parameter, err error) Parameter {
	if err != nil {
		panic(err)
	}
	return p
}

func TestDecodeStrictRejects(t *testing.T) {
	tests := []struct {
		name string
		doc  string
		v    any
	}{
		{"unknown top-level field", `{"url":"u","extra":1}`, &ConnectionRequest{}},
		{"field name in other case", `{"url":"u","connectback":true}`, &ConnectionRequest{}},
		{"nested field name in other case", `{"image":{"imageName":"i","parameters":[{"name":"p","Type":"string"}]}}`, &PostAgentContainer{}},
		{"unknown nested field", `{"image":{"imageName":"i","bogus":true}}`, &PostAgentContainer{}},
		{"unknown field in parameter", `{"agentId":"a","actions":[{"name":"n","parameters":{"x":{"type":"integer","items":null,"foo":1}}}]}`, &AgentDescription{}},
		{"syntax", `{"url":`, &ConnectionRequest{}},
		{"wrong kind", `{"url":5}`, &ConnectionRequest{}},
		{"trailing data", `{"url":"u"} {}`, &ConnectionRequest{}},
		{"empty", ``, &ConnectionRequest{}},
		{"missing url", `{"connectBack":true}`, &ConnectionRequest{}},
		{"missing image name", `{"image":{}}`, &PostAgentContainer{}},
		{"object argument", `{"image":{"imageName":"i"},"arguments":{"a":{}}}`, &PostAgentContainer{}},
		{"array argument", `{"image":{"imageName":"i"},"arguments":{"a":[1]}}`, &PostAgentContainer{}},
		{"missing agent id", `{"agentType":"t"}`, &AgentDescription{}},
		{"parameter without type", `{"agentId":"a","actions":[{"name":"n","parameters":{"x":{}}}]}`, &AgentDescription{}},
		{"nested items without type", `{"agentId":"a","actions":[{"name":"n","parameters":{"x":{"type":"array","items":{"type":"array","items":{}}}}}]}`, &AgentDescription{}},
		{"stream without mode", `{"agentId":"a","streams":[{"name":"s"}]}`, &AgentDescription{}},
		{"container without running since", `{"containerId":"c","image":{"imageName":"i"}}`, &AgentContainer{}},
		{"platform without id", `{"baseUrl":"b"}`, &RuntimePlatform{}},
		{"bad timestamp", `{"containerId":"c","image":{"imageName":"i"},"runningSince":"yesterday"}`, &AgentContainer{}},
		{"event without type", `{"id":"x","timestamp":1}`, &Event{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := DecodeStrict([]byte(tt.doc), tt.v)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrUnprocessable)
			assert.Equal(t, 422, HTTPStatus(err))
		})
	}
}

func TestDecodeLenientAcceptsPeerQuirks(t *testing.T) {
	// Python peers add "items": null and unknown fields; the reference may
	// send null collections and timestamps in other precisions.
	doc := `{"containerId":"c","image":{"imageName":"i","requires":null,"parameters":[{"name":"p","type":"string","required":false,"confidential":false,"items":null}],"extra":1},
	"arguments":{"n":5,"b":true,"s":"x","z":null},"agents":null,"owner":null,"runningSince":"2026-01-01T12:00:01.234567+02:00","detail":{}}`
	var ac AgentContainer
	require.NoError(t, DecodeLenient([]byte(doc), &ac))
	assert.Equal(t, Arguments{"n": "5", "b": "true", "s": "x"}, ac.Arguments)
	assert.Equal(t, time.Date(2026, 1, 1, 10, 0, 1, 234567000, time.UTC), ac.RunningSince.Time)
	assert.Equal(t, "2026-01-01T10:00:01.234Z", ac.RunningSince.String())
	out := mustJSON(t, ac)
	assert.Contains(t, out, `"agents":[]`)
	assert.Contains(t, out, `"requires":[]`)
	assert.Error(t, DecodeStrict([]byte(doc), &AgentContainer{}))
}

func TestTimeLenient(t *testing.T) {
	for _, in := range []string{`"2026-01-01T12:00:00Z"`, `"2026-01-01T12:00:00.000Z"`, `"2026-01-01T12:00:00.000000001Z"`, `"2026-01-01T13:00:00+01:00"`, `"2026-01-01T12:00:00"`, `1767268800000`} {
		var tm Time
		require.NoError(t, json.Unmarshal([]byte(in), &tm), in)
		assert.Equal(t, "2026-01-01T12:00:00.000Z", tm.String(), in)
	}
	var tm Time
	assert.Error(t, json.Unmarshal([]byte(`"noon"`), &tm))
	assert.Error(t, json.Unmarshal([]byte(`1.5e3x`), &tm))
}

func TestErrors(t *testing.T) {
	err := fmt.Errorf("agent %q: %w", "a1", NewError(404, "no such agent"))
	assert.ErrorIs(t, err, ErrNotFound)
	assert.Equal(t, 404, HTTPStatus(err))
	assert.Equal(t, 500, HTTPStatus(errors.New("boom")))
	assert.Equal(t, 200, HTTPStatus(nil))
	assert.Equal(t, 400, HTTPStatus(fmt.Errorf("x: %w", ErrInvalidArgument)))
	assert.ErrorIs(t, ErrInvalidArgument, ErrBadRequest)
	wrapped := WithStatus(501, errors.New("login not supported"))
	assert.ErrorIs(t, wrapped, ErrNotImplemented)
	assert.Equal(t, "login not supported", wrapped.Error())
	assert.Nil(t, WithStatus(500, nil))

	down := &ErrorResponse{StatusCode: 404, Message: "gone"}
	r := NewErrorResponse(502, "container failed", fmt.Errorf("call: %w", down))
	assert.Equal(t, 404, r.Cause.StatusCode)
	assert.Equal(t, 404, HTTPStatus(fmt.Errorf("call: %w", down)))
	assert.Contains(t, (&r).Error(), "cause 404: gone")
}

func TestUnquoteText(t *testing.T) {
	for in, want := range map[string]string{`abc`: "abc", ` "abc" `: "abc", `""x""`: `"x"`, `"`: `"`, "\n\"id\"\n": "id", ``: ``} {
		assert.Equal(t, want, UnquoteText(in), in)
	}
}

func TestPortMapping(t *testing.T) {
	m, err := ParsePortMapping("8082:8083, 8888:8888,8889:8890")
	require.NoError(t, err)
	assert.Equal(t, map[int]int{8082: 8083, 8888: 8888, 8889: 8890}, m)
	assert.Equal(t, "8082:8083,8888:8888,8889:8890", FormatPortMapping(8082, m))
	m, err = ParsePortMapping("")
	require.NoError(t, err)
	assert.Empty(t, m)
	for _, bad := range []string{"8082", "a:b", "0:1", "1:70000", "8082:"} {
		_, err := ParsePortMapping(bad)
		assert.ErrorIs(t, err, ErrBadRequest, bad)
	}
}

func TestEnums(t *testing.T) {
	r, err := ParseRole("contributor")
	require.NoError(t, err)
	assert.Equal(t, RoleContributor, r)
	assert.True(t, RoleAdmin.Includes(RoleUser))
	assert.False(t, RoleGuest.Includes(RoleUser))
	assert.False(t, Role("X").Includes(RoleGuest))
	_, err = ParseRole("root")
	assert.Error(t, err)
	p, err := ParseSessionPolicy("Reconnect")
	require.NoError(t, err)
	assert.Equal(t, SessionReconnect, p)
	m, err := ParseStreamMode("post")
	require.NoError(t, err)
	assert.Equal(t, StreamPOST, m)
	_, err = ParseContainerEnvironment("podman")
	assert.Error(t, err)
	_, err = ParsePlatformEnvironment("native")
	assert.NoError(t, err)
	_, err = ParseEventType("forward")
	assert.NoError(t, err)
}

func TestRouteTopic(t *testing.T) {
	for route, want := range map[string]string{"POST /invoke/Add/sample1": "/invoke", "GET /token": "/token", "POST /containers?x=1": "/containers", "GET /": "", "": ""} {
		assert.Equal(t, want, RouteTopic(route), route)
	}
	_, ok := Event{Route: "POST /send/a"}.InvokedAction()
	assert.False(t, ok)
}
