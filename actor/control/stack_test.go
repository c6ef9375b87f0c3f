package control

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/actor/std"
	"github.com/meshkit/meshkit/rt2rt"
	"github.com/meshkit/meshkit/token"
	"github.com/meshkit/meshkit/tunnel"
	"github.com/meshkit/meshkit/tunnel/storage"
)

// stack is one node with the whole Calvin stack and its control API served
// over loopback HTTP.
type stack struct {
	node    *rt2rt.Node
	mgr     *tunnel.Manager
	flow    *token.Flow
	rt      *actor.Runtime
	net     *actor.Network
	store   *storage.MemStore // the registry, on a master
	reg     *storage.Client
	records *Records
	url     string
	stopped chan ShutdownMode
}

// newStack starts a node. With master nil it is a registry master;
// otherwise it joins master and uses its registry over a storage tunnel.
func newStack(t *testing.T, master *stack) *stack {
	t.Helper()
	s := &stack{stopped: make(chan ShutdownMode, 4)}
	var err error
	s.node, err = rt2rt.NewNode(rt2rt.WithLogger(quiet()), rt2rt.WithListen("calvinip://127.0.0.1:0"),
		rt2rt.WithJoinTimeout(2*time.Second))
	require.NoError(t, err)
	s.mgr, err = tunnel.NewManager(s.node, tunnel.WithLogger(quiet()))
	require.NoError(t, err)
	s.flow, err = token.NewFlow(token.WithLogger(quiet()))
	require.NoError(t, err)
	require.NoError(t, s.flow.Register(s.mgr))
	var srv *storage.Server
	if master == nil {
		s.store = storage.NewMemStore()
		srv, err = storage.NewServer(s.mgr, storage.WithStore(s.store), storage.WithLogger(quiet()))
		require.NoError(t, err)
		s.reg, err = storage.NewLocalClient(s.store, storage.WithLogger(quiet()))
		require.NoError(t, err)
	} else {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		id, err := s.node.Join(ctx, master.node.URIs()[0])
		require.NoError(t, err)
		s.reg, err = storage.NewClient(s.mgr, id, storage.WithLogger(quiet()))
		require.NoError(t, err)
		s.node.SetResolver(s.reg)
	}
	s.records, err = NewRecords(s.reg, quiet())
	require.NoError(t, err)
	types, err := std.NewRegistry()
	require.NoError(t, err)
	s.rt, err = actor.NewRuntime(actor.WithRegistry(types), actor.WithNodeID(s.node.ID()), actor.WithObserver(s.records))
	require.NoError(t, err)
	s.records.Attach(s.rt)
	s.net, err = actor.NewNetwork(s.rt, s.records.Watch(s.node), s.mgr, s.flow, actor.WithLocator(Locator{Registry: s.reg}), actor.WithRecorder(s.records),
		actor.WithNetworkLogger(quiet()))
	require.NoError(t, err)
	h, err := NewHandler(s.node, WithLogger(quiet()), WithRuntime(s.rt), WithNetwork(s.net), WithRegistry(s.reg),
		WithRecords(s.records), WithShutdown(func(m ShutdownMode) { s.stopped <- m }))
	require.NoError(t, err)
	s.url = serve(t, h)
	t.Cleanup(func() {
		_ = s.net.Close()
		_ = s.rt.Close()
		_ = s.records.Close()
		if srv != nil {
			_ = srv.Close()
		}
		_ = s.reg.Close()
		_ = s.flow.Close()
		_ = s.mgr.Close()
		_ = s.node.Close()
	})
	return s
}

// do sends a request with a JSON body (v marshalled unless it is a string)
// and decodes a JSON answer into out when out is not nil.
func (s *stack) do(t *testing.T, method, path string, v any, out any) answer {
	t.Helper()
	body := ""
	switch b := v.(type) {
	case nil:
	case string:
		body = b
	default:
		raw, err := json.Marshal(v)
		require.NoError(t, err)
		body = string(raw)
	}
	r := call(t, method, s.url+path, body)
	if out != nil && r.body != "" {
		require.NoError(t, json.Unmarshal([]byte(r.body), out), r.body)
	}
	return r
}

// createActor creates an actor through POST /actor.
func (s *stack) createActor(t *testing.T, typ string, args map[string]any) string {
	t.Helper()
	var out map[string]string
	r := s.do(t, http.MethodPost, "/actor", map[string]any{"actor_type": typ, "args": args, "deploy_args": nil}, &out)
	require.Equal(t, http.StatusOK, r.status, r.body)
	require.NotEmpty(t, out["actor_id"])
	return out["actor_id"]
}

// sinkTokens reads a test.Sink's report on s.
func (s *stack) sinkTokens(t *testing.T, id string) []int {
	t.Helper()
	var toks []int
	r := s.do(t, http.MethodGet, "/actor/"+id+"/report", nil, &toks)
	if r.status != http.StatusOK {
		return nil
	}
	return toks
}

// registryGet reads a key from the registry the stack uses.
func (s *stack) registryGet(t *testing.T, key string) (any, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return s.reg.Get(ctx, key)
}

// isSequence reports whether toks is 1, 2, ..., len(toks).
func isSequence(toks []int) bool {
	for i, v := range toks {
		if v != i+1 {
			return false
		}
	}
	return true
}
