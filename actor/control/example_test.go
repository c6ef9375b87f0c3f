package control_test

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/actor/control"
	"github.com/meshkit/meshkit/actor/std"
	"github.com/meshkit/meshkit/rt2rt"
	"github.com/meshkit/meshkit/tunnel/storage"
)

// Mount the control API of a node with a runtime of the standard actors and
// its own registry, create an actor and read its registry record.
func ExampleNewHandler() {
	quiet := slog.New(slog.DiscardHandler)
	node, _ := rt2rt.NewNode(rt2rt.WithLogger(quiet))
	defer node.Close()
	registry, _ := storage.NewLocalClient(storage.NewMemStore())
	records, _ := control.NewRecords(registry, quiet)
	defer records.Close()
	types, _ := std.NewRegistry()
	rt, _ := actor.NewRuntime(actor.WithRegistry(types), actor.WithNodeID(node.ID()), actor.WithObserver(records))
	defer rt.Close()
	records.Attach(rt)

	h, _ := control.NewHandler(node, control.WithLogger(quiet), control.WithRuntime(rt),
		control.WithRegistry(registry), control.WithRecords(records))
	mux := http.NewServeMux()
	mux.Handle("/", h) // or mount it under a prefix with http.StripPrefix
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, _ := http.Post(srv.URL+"/actor", "application/json",
		strings.NewReader(`{"actor_type": "test.Sink", "args": {"name": "snk"}, "deploy_args": null}`))
	resp.Body.Close()
	fmt.Println("POST /actor:", resp.StatusCode)

	id := rt.ActorIDs()[0]
	resp, _ = http.Get(srv.URL + "/actor/" + id)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println("GET /actor/{id}:", resp.StatusCode, strings.Contains(string(body), `"name":"snk"`))

	resp, _ = http.Get(srv.URL + "/actor/" + id + "/report")
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println("GET /actor/{id}/report:", resp.StatusCode, string(body))
	// Output:
	// POST /actor: 200
	// GET /actor/{id}: 200 true
	// GET /actor/{id}/report: 200 []
}
