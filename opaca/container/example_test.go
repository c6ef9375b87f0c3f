package container_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/container"
)

func ExampleNew() {
	c, err := container.New(opaca.AgentContainerImage{ImageName: "calculator"},
		container.WithEnv(map[string]string{"CONTAINER_ID": "calc-1"}))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	agent, _ := container.NewAgent(container.WithID("calc"))
	type addArgs struct {
		X int `json:"x"`
		Y int `json:"y"`
	}
	_ = container.AddFunc(agent, "Add", func(_ context.Context, in addArgs) (int, error) { return in.X + in.Y, nil })
	_ = c.AddAgent(agent)

	// The container is an http.Handler serving the Agent Container API.
	srv := httptest.NewServer(c)
	defer srv.Close()
	resp, err := http.Post(srv.URL+"/invoke/Add", "application/json", strings.NewReader(`{"x":2,"y":3}`))
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))

	resp, _ = http.Post(srv.URL+"/invoke/Add", "application/json", strings.NewReader(`{"x":"2","y":3}`))
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))
	// Output:
	// 200 5
	// 400 {"statusCode":400,"message":"argument \"x\": expected integer (32-bit, no fraction or exponent), got string \"2\"","cause":null}
}

func ExampleNewAgent() {
	agent, _ := container.NewAgent(container.WithID("greeter"), container.WithType("example.Greeter"))
	_ = agent.AddAction("Greet", func(_ context.Context, inv *container.Invocation) (any, error) {
		name, err := container.Arg[string](inv, "name")
		return "hello " + name, err
	}, container.Param("name", opaca.NewParameter(opaca.TypeString)), container.Result(opaca.NewParameter(opaca.TypeString)))
	agent.OnMessage(func(_ context.Context, m opaca.Message) error {
		fmt.Println("message from", m.ReplyTo, string(m.Payload))
		return nil
	})
	d, _ := json.Marshal(agent.Description())
	fmt.Println(string(d))

	c, _ := container.New(opaca.AgentContainerImage{ImageName: "greeter"}, container.WithEnv(nil))
	defer c.Close()
	_ = c.AddAgent(agent)
	_ = c.Send(context.Background(), "greeter", opaca.Message{Payload: json.RawMessage(`"hi"`), ReplyTo: "bob"})
	// Output:
	// {"agentId":"greeter","agentType":"example.Greeter","description":"","actions":[{"name":"Greet","description":"","parameters":{"name":{"type":"string","required":true}},"result":{"type":"string","required":true}}],"streams":[]}
	// message from bob "hi"
}

func ExampleAgent_AddAction() {
	c, _ := container.New(opaca.AgentContainerImage{ImageName: "shop"}, container.WithEnv(nil))
	defer c.Close()
	agent, _ := container.NewAgent(container.WithID("shop"))
	qty, _ := opaca.NewParameter(opaca.TypeInteger).WithDefault(1)
	_ = agent.AddAction("Order", func(_ context.Context, inv *container.Invocation) (any, error) {
		var item string
		var n int
		if err := inv.Decode("item", &item); err != nil {
			return nil, err
		}
		if err := inv.Decode("quantity", &n); err != nil {
			return nil, err
		}
		if item == "unicorn" {
			return nil, opaca.NewError(http.StatusConflict, "sold out")
		}
		return map[string]any{"item": item, "quantity": n}, nil
	}, container.Description("orders an item"),
		container.Param("item", opaca.NewParameter(opaca.TypeString)),
		container.Param("quantity", qty),
		container.Result(opaca.NewParameter(opaca.TypeObject)))
	_ = c.AddAgent(agent)

	res, err := c.Invoke(context.Background(), "Order", "", []byte(`{"item":"tea"}`), container.InvokeOptions{})
	fmt.Println(string(res), err)
	_, err = c.Invoke(context.Background(), "Order", "shop", []byte(`{"item":"unicorn"}`), container.InvokeOptions{})
	fmt.Println(opaca.HTTPStatus(err), err)
	// Output:
	// {"item":"tea","quantity":1} <nil>
	// 409 sold out
}

func ExampleAddFunc() {
	type args struct {
		Text  string   `json:"text"`
		Times *int     `json:"times"`
		Tags  []string `json:"tags" opaca:",optional"`
	}
	params, _ := container.ParamsOf[args]()
	b, _ := json.Marshal(params)
	fmt.Println(string(b))
	// Output:
	// {"tags":{"type":"array","required":false,"items":{"type":"string"}},"text":{"type":"string","required":true},"times":{"type":"integer","required":false}}
}
