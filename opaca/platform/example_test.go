package platform_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
	"github.com/meshkit/meshkit/opaca/platform"
)

// greeter is a minimal agent container: one agent with an action Greet.
func greeter(env map[string]string) (platform.InProcessContainer, error) {
	str := opaca.NewParameter(opaca.TypeString)
	info := opaca.AgentContainer{
		ContainerID:  env["CONTAINER_ID"],
		Image:        opaca.AgentContainerImage{ImageName: "greeter"},
		RunningSince: opaca.Now(),
		Agents: []opaca.AgentDescription{{AgentID: "greeter", Actions: []opaca.Action{
			{Name: "Greet", Parameters: map[string]opaca.Parameter{"name": str}, Result: &str},
		}}},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /info", func(w http.ResponseWriter, _ *http.Request) { opaca.WriteJSON(w, info) })
	greet := func(w http.ResponseWriter, r *http.Request) {
		var args struct{ Name string }
		body, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(body, &args)
		opaca.WriteJSON(w, "Hello, "+args.Name)
	}
	mux.HandleFunc("POST /invoke/Greet", greet)
	mux.HandleFunc("POST /invoke/Greet/{agent}", greet)
	return platform.HandlerContainer(mux), nil
}

func ExamplePlatform() {
	ctx := context.Background()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	p, err := platform.New(
		platform.WithPublicURL("http://"+ln.Addr().String()),
		platform.WithInProcessImage("greeter", greeter),
	)
	if err != nil {
		panic(err)
	}
	go func() { _ = p.Serve(ln) }()
	if err := p.Start(ctx); err != nil {
		panic(err)
	}
	defer p.Shutdown(ctx)

	c, _ := client.New(p.BaseURL())
	defer c.Close()
	if _, err := c.PostContainer(ctx, opaca.PostAgentContainer{Image: opaca.AgentContainerImage{ImageName: "greeter", APIPort: 28082}}, 0); err != nil {
		panic(err)
	}
	greeting, err := client.InvokeAs[string](ctx, c, "Greet", "", map[string]string{"name": "OPACA"})
	fmt.Println(greeting, err)
	// Output: Hello, OPACA <nil>
}
