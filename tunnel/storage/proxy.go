package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/tunnel"
)

// ProxyTunnelType is the tunnel type of constrained-runtime support (§6.3).
const ProxyTunnelType = wire.TunnelTypeProxy

// ProxyServer serves the "proxy" tunnel of calvin-constrained runtimes
// (§6.3), which have no registry of their own: CONFIG writes the runtime's
// node-<id> record (with "proxy" naming this node) and its index entries
// through a registry Client and answers with this node's time; WAKEUP
// answers the time, WILL_SLEEP 200, REQ_MATCH 404 (no placement matching),
// GET_ACTOR_MODULE 500 with a null module; DESTROY_REPLY removes the
// records. Messages for the runtime reach it over its direct link, so no
// routing is needed. WILL_SLEEP does not buffer messages for the sleeper.
type ProxyServer struct {
	registry *Client
	nodeID   string
	log      *slog.Logger
	opts     options
	ctx      context.Context
	stop     context.CancelFunc
	work     *workers
	now      func() time.Time

	mu        sync.Mutex
	records   map[string]*NodeRecord // proxied peer -> what CONFIG registered
	closeOnce sync.Once
}

// NewProxyServer registers the proxy tunnel type on m. registry is where the
// proxied runtimes' records go: a local client on a registry node, or a
// remote one.
func NewProxyServer(m *tunnel.Manager, registry *Client, opts ...Option) (*ProxyServer, error) {
	if m == nil || registry == nil {
		return nil, fmt.Errorf("%w: nil manager or registry client", ErrInvalidOption)
	}
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &ProxyServer{
		registry: registry,
		nodeID:   m.NodeID(),
		log:      o.logger.With("node", m.NodeID(), "component", "proxy-server"),
		opts:     o,
		ctx:      ctx,
		stop:     cancel,
		now:      time.Now,
		records:  map[string]*NodeRecord{},
	}
	p.work = newWorkers(o.maxPending, p.serve)
	if err := m.RegisterType(ProxyTunnelType, p); err != nil {
		cancel()
		return nil, err
	}
	return p, nil
}

// Close stops serving; later messages are dropped. Safe to call twice.
func (p *ProxyServer) Close() error {
	p.closeOnce.Do(func() {
		p.stop()
		p.work.close()
	})
	return nil
}

// Accept implements tunnel.TypeHandler: every runtime may use this proxy.
func (p *ProxyServer) Accept(peer, tunnelID string) error { return p.ctx.Err() }

// Up implements tunnel.TypeHandler.
func (p *ProxyServer) Up(*tunnel.Tunnel) {}

// Down implements tunnel.TypeHandler.
func (p *ProxyServer) Down(*tunnel.Tunnel, error) {}

// Data implements tunnel.TypeHandler; the work is done off the reader.
func (p *ProxyServer) Data(t *tunnel.Tunnel, value any) {
	if !p.work.enqueue(t, value) {
		p.log.Warn("proxy message dropped: closed or too many pending", "peer", t.Peer())
	}
}

func (p *ProxyServer) epoch() float64 {
	return float64(p.now().UnixNano()) / 1e9
}

func (p *ProxyServer) serve(t *tunnel.Tunnel, v any) {
	peer := t.Peer()
	var cmd, id string
	var extra map[string]any
	switch x := v.(type) {
	case *wire.ProxyConfig:
		p.reply(t, x.MsgUUID, p.config(peer, x))
		return
	case *wire.ProxyRequest:
		cmd, id, extra = x.Cmd, x.MsgUUID, x.Extra
	case *wire.TunnelReply:
		return // answers to a DESTROY this node does not send
	case wire.SubMessage:
		cmd, id = x.SubHeader().Cmd, x.SubHeader().MsgUUID
	case map[string]any:
		cmd, _ = x["cmd"].(string)
		id, _ = x["msg_uuid"].(string)
	}
	switch cmd {
	case wire.ProxyCmdWakeup:
		p.reply(t, id, wire.NewResponse(wire.StatusOK, map[string]any{"time": p.epoch()}))
	case wire.ProxyCmdWillSleep:
		p.reply(t, id, wire.NewResponse(wire.StatusOK, nil))
	case wire.ProxyCmdReqMatch:
		p.reply(t, id, wire.NewResponse(wire.StatusNotFound, map[string]any{"actor_id": extra["actor_id"]}))
	case wire.ProxyCmdGetActorModule:
		p.reply(t, id, wire.NewResponse(wire.StatusInternalError, map[string]any{"actor_type": extra["actor_type"], "module": nil}))
	case wire.ProxyCmdDestroyReply:
		p.forget(peer)
	case wire.ProxyCmdDestroy:
		// Only a proxy sends DESTROY; a client sending it is ignored.
	default:
		p.log.Info("unknown proxy message", "peer", peer, "cmd", cmd)
		p.reply(t, id, wire.NewResponse(wire.StatusBadRequest, nil))
	}
}

// config registers the proxied runtime (§6.3 CONFIG).
func (p *ProxyServer) config(peer string, c *wire.ProxyConfig) wire.Response {
	fail := wire.NewResponse(wire.StatusInternalError, map[string]any{"peer_node_id": peer})
	// The decoder keeps mistyped known keys in Extra.
	for _, k := range []string{"attributes", "capabilities", "port_property_capability"} {
		if v, bad := c.Extra[k]; bad {
			p.log.Info("malformed CONFIG", "peer", peer, "key", k, "type", fmt.Sprintf("%T", v))
			return fail
		}
	}
	rec := &NodeRecord{ID: peer, Proxy: p.nodeID}
	if c.Attributes != "" {
		var attrs map[string]any
		if err := json.Unmarshal([]byte(c.Attributes), &attrs); err != nil {
			p.log.Info("CONFIG attributes are not a JSON object", "peer", peer, "err", err)
			return fail
		}
		rec.Attributes = ProxyAttributes(attrs)
	}
	rec.Capabilities = append(rec.Capabilities, c.Capabilities...)
	if c.PortPropertyCapability != "" {
		rec.Capabilities = append(rec.Capabilities, c.PortPropertyCapability)
	}
	ctx, cancel := context.WithTimeout(p.ctx, p.opts.timeout)
	defer cancel()
	if err := p.registry.RegisterNode(ctx, rec); err != nil {
		p.log.Warn("proxied runtime not registered", "peer", peer, "err", err)
		return fail
	}
	p.mu.Lock()
	p.records[peer] = rec
	p.mu.Unlock()
	return wire.NewResponse(wire.StatusOK, map[string]any{"time": p.epoch()})
}

func (p *ProxyServer) forget(peer string) {
	p.mu.Lock()
	rec := p.records[peer]
	delete(p.records, peer)
	p.mu.Unlock()
	if rec == nil {
		return
	}
	ctx, cancel := context.WithTimeout(p.ctx, p.opts.timeout)
	defer cancel()
	if err := p.registry.UnregisterNode(ctx, rec); err != nil {
		p.log.Info("proxied runtime records not removed", "peer", peer, "err", err)
	}
}

// reply sends a proxy REPLY: the CalvinResponse goes under "value" (§6.3).
func (p *ProxyServer) reply(t *tunnel.Tunnel, msgUUID string, r wire.Response) {
	if msgUUID == "" {
		return
	}
	sl := make([]any, len(r.SuccessList))
	for i, s := range r.SuccessList {
		sl[i] = int64(s)
	}
	reply := &wire.TunnelReply{
		SubEnvelope: wire.SubEnvelope{Cmd: wire.SubReply, MsgUUID: msgUUID},
		Value:       map[string]any{"status": int64(r.Status), "data": r.Data, "success_list": sl},
	}
	ctx, cancel := context.WithTimeout(p.ctx, p.opts.timeout)
	defer cancel()
	if err := t.Send(ctx, reply); err != nil {
		p.log.Info("proxy reply not sent", "peer", t.Peer(), "msg_uuid", msgUUID, "err", err)
	}
}

// attributeFields are the fields of Calvin's indexed attributes, in path
// order.
var attributeFields = map[string][]string{
	"node_name": {"organization", "organizationalUnit", "purpose", "group", "name"},
	"owner":     {"organization", "organizationalUnit", "role", "personOrGroup"},
	"address":   {"country", "stateOrProvince", "locality", "street", "streetNumber", "building", "floor", "room"},
}

// ProxyAttributes turns the attributes a runtime sends in CONFIG
// ({"indexed_public": {"node_name": {"name": …}}, "public": {…}}) into node
// record attributes with index path strings, as Calvin's attribute resolver
// does. Unknown indexed attributes are left out.
func ProxyAttributes(attrs map[string]any) NodeAttributes {
	var a NodeAttributes
	if pub, ok := attrs["public"].(map[string]any); ok {
		a.Public = pub
	}
	switch ix := attrs["indexed_public"].(type) {
	case []any: // already paths
		for _, e := range ix {
			if s, ok := e.(string); ok {
				a.IndexedPublic = append(a.IndexedPublic, s)
			}
		}
	case map[string]any:
		names := make([]string, 0, len(ix))
		for k := range ix {
			names = append(names, k)
		}
		sort.Strings(names)
		for _, name := range names {
			fields, known := attributeFields[name]
			values, ok := ix[name].(map[string]any)
			if !known || !ok {
				continue
			}
			parts := make([]string, len(fields))
			for i, f := range fields {
				if s, ok := values[f].(string); ok {
					parts[i] = escapeLevel(s)
				}
			}
			a.IndexedPublic = append(a.IndexedPublic, "/node/attribute/"+name+"/"+strings.Join(parts, "/"))
		}
	}
	return a
}

// escapeLevel escapes the characters that would split an index level.
func escapeLevel(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, `\`, `\\`), "/", `\/`)
}
