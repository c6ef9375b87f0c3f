package control

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/actor/std"
	"github.com/meshkit/meshkit/rt2rt"
	"github.com/meshkit/meshkit/tunnel/storage"
)

// FuzzDecodeDeploy feeds arbitrary JSON bodies to the /deploy decoder: it
// must never panic, and every refusal must carry a Calvin status and body.
func FuzzDecodeDeploy(f *testing.F) {
	for _, seed := range []string{
		`{"name": "xflow", "app_info": {"name": "xflow", "valid": true, "actors": {"xflow:src": {"actor_type": "std.CountTimer", "args": {"sleep": 0.5}, "signature": "3b"}, "xflow:snk": {"actor_type": "test.Sink", "args": {"store_tokens": true}}}, "connections": {"xflow:src.integer": ["xflow:snk.token"]}, "port_properties": {"xflow:src": [{"port": "integer", "direction": "out", "properties": {"nbr_peers": 1}}]}}, "deploy_info": null, "check": true}`,
		`{"name": "x", "script": "a : std.Counter()"}`,
		`{"name": "x", "app_info": {"valid": false}}`,
		`{"name": "x", "app_info": {"actors": {"a": 1}}}`,
		`{"name": "x", "app_info": {"connections": {"a.b": ["c"]}}}`,
		`{"name": "x", "app_info": {"connections": {".b": "c.d"}}}`,
		`{"name": "x", "app_info": {"port_properties": {"a": [1]}}}`,
		`{"app_info": {}}`,
		`[]`, `null`, `12345678901234567890123`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) != nil {
			return
		}
		d, err := decodeDeploy(wireValue(v))
		if err != nil {
			var de *deployError
			if !errors.As(err, &de) || (de.status != 400 && de.status != 500) || de.body == nil {
				t.Fatalf("refusal without Calvin status and body: %v", err)
			}
			if _, err := json.Marshal(de.body); err != nil {
				t.Fatalf("refusal body not JSON: %v", err)
			}
			return
		}
		if d.Name == "" && !bytes.Contains(body, []byte(`"name"`)) {
			t.Fatalf("accepted a body without name")
		}
		for _, c := range d.Connections {
			if c.FromActor == "" || c.FromPort == "" || c.ToActor == "" || c.ToPort == "" {
				t.Fatalf("empty connection part: %+v", c)
			}
		}
	})
}

// FuzzPostRoutes sends arbitrary bodies to the POST routes of a handler
// with a runtime and a registry: whatever the body, the answer is one of
// the statuses Calvin gives, never a crash. $SRC, $SNK, $IN and $OUT in a
// body stand for the ids of a connected CountTimer → Sink pair.
func FuzzPostRoutes(f *testing.F) {
	routes := []string{"/actor", "/actor/$SNK/report", "/actor/$SNK/migrate", "/connect", "/disconnect", "/deploy"}
	allowed := map[int]bool{200: true, 204: true, 400: true, 404: true, 500: true, 501: true}
	for _, seed := range []struct {
		route uint8
		body  string
	}{
		{0, `{"actor_type": "test.Sink", "args": {"name": "x", "store_tokens": true}, "deploy_args": null}`},
		{0, `{"actor_type": "std.CountTimer", "args": {"sleep": "x", "steps": -1}}`},
		{0, `{"actor_type": "std.Constant", "args": {"data": [1, {"a": null}]}, "deploy_args": {"app_id": 7}}`},
		{1, `{"active": false}`},
		{1, `{"port": null}`},
		{2, `{"peer_node_id": "$SRC"}`},
		{2, `{"requirements": [{"op": "node_attr_match"}], "move": true}`},
		{3, `{"actor_id": "$SNK", "port_name": "token", "port_dir": "in", "peer_port_id": "$OUT"}`},
		{3, `{"port_id": "$IN", "peer_actor_id": "$SRC", "peer_port_name": "integer", "peer_port_dir": "out", "peer_node_id": 5}`},
		{4, `{"actor_id": "$SNK", "terminate": "EXHAUST"}`},
		{4, `{"port_id": "$OUT", "port_dir": 3}`},
		{5, `{"name": "a", "app_info": {"actors": {"a:b": {"actor_type": "no.Such", "args": {}}}, "connections": {"a:b.out": ["a:b.in"]}}}`},
		{5, `{"name": "a", "app_info": {"actors": {"a:s": {"actor_type": "test.Sink", "args": {}}}, "port_properties": {"a:s": [{"port": "token", "direction": "out"}]}}}`},
	} {
		f.Add(seed.route, []byte(seed.body))
	}
	node, err := rt2rt.NewNode(rt2rt.WithLogger(quiet()))
	require.NoError(f, err)
	defer node.Close()
	reg, err := storage.NewLocalClient(storage.NewMemStore())
	require.NoError(f, err)
	records, err := NewRecords(reg, quiet())
	require.NoError(f, err)
	defer records.Close()
	types, err := std.NewRegistry()
	require.NoError(f, err)
	rt, err := actor.NewRuntime(actor.WithRegistry(types), actor.WithNodeID(node.ID()), actor.WithObserver(records), actor.WithWorkers(1))
	require.NoError(f, err)
	defer rt.Close()
	records.Attach(rt)
	h, err := NewHandler(node, WithLogger(quiet()), WithRuntime(rt), WithRegistry(reg), WithRecords(records),
		WithJoinTimeout(time.Millisecond))
	require.NoError(f, err)
	ctx := context.Background()
	src, err := rt.CreateActor(ctx, "std.CountTimer", map[string]any{"sleep": 10.0})
	require.NoError(f, err)
	snk, err := rt.CreateActor(ctx, "test.Sink", nil)
	require.NoError(f, err)
	out, _ := rt.PortID(src, actor.Out, "integer")
	in, _ := rt.PortID(snk, actor.In, "token")
	ids := strings.NewReplacer("$SRC", src, "$SNK", snk, "$IN", in, "$OUT", out)

	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		path := ids.Replace(routes[int(route)%len(routes)])
		req := httptest.NewRequest("POST", path, strings.NewReader(ids.Replace(string(body))))
		w := httptest.NewRecorder()
		// A call that blocks is a failure, reported with every goroutine.
		done := make(chan struct{})
		go func() {
			h.ServeHTTP(w, req)
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			buf := make([]byte, 1<<20)
			t.Fatalf("POST %s %q blocked:\n%s", path, body, buf[:runtime.Stack(buf, true)])
		}
		if !allowed[w.Code] {
			t.Fatalf("POST %s %q: status %d", path, body, w.Code)
		}
		// Keep the pair connected and remove whatever the call created.
		for _, id := range rt.ActorIDs() {
			if id != src && id != snk {
				_ = rt.DeleteActor(ctx, id)
			}
		}
		for _, a := range rt.Apps() {
			_, _ = rt.DestroyApp(ctx, a.ID, nil)
		}
		_ = rt.Connect(ctx, out, in)
	})
}
