package storage

import (
	"fmt"
	"strings"

	"github.com/meshkit/meshkit/rt2rt/wire"
)

// Key prefixes of the registry records (§6.2 "Registry records").
const (
	PrefixNode        = "node-"
	PrefixActor       = "actor-"
	PrefixPort        = "port-"
	PrefixApplication = "application-"
	PrefixActorReq    = "actorreq-"
	PrefixActorType   = "actor_type-"
	// IndexPrefix is the prefix Calvin's client sends with index requests;
	// the server ignores it.
	IndexPrefix = "index-"
)

// Root prefix levels Calvin's client uses when it splits an index path.
const (
	// AttributeRootLevels: "/node/attribute/node_name/..." keeps
	// "node/attribute" as its first level.
	AttributeRootLevels = 2
	// CapabilityRootLevels: "node/capabilities/<cap>" is one level.
	CapabilityRootLevels = 3
)

// IndexLevels splits an index path the way Calvin's client does: on every
// '/' not escaped by a backslash, after dropping leading slashes, and joins
// the first root levels into one. Escapes stay in the levels.
//
//	IndexLevels("/node/attribute/node_name/////nodeB", 2)
//	  = ["node/attribute", "node_name", "", "", "", "", "nodeB"]
func IndexLevels(path string, root int) []string {
	path = strings.TrimLeft(path, "/")
	var parts []string
	start, escaped := 0, false
	for i := 0; i < len(path); i++ {
		switch {
		case escaped:
			escaped = false
		case path[i] == '\\':
			escaped = true
		case path[i] == '/':
			parts = append(parts, path[start:i])
			start = i + 1
		}
	}
	parts = append(parts, path[start:])
	if root <= 1 || len(parts) == 1 {
		return parts
	}
	if root > len(parts) {
		root = len(parts)
	}
	out := make([]string, 0, len(parts)-root+1)
	out = append(out, strings.Join(parts[:root], "/"))
	return append(out, parts[root:]...)
}

// NodeNameIndex returns the indexed_public path of a node name (Calvin's
// node_name attribute: organization, organizational unit, purpose, group,
// name; empty fields stay empty).
func NodeNameIndex(org, unit, purpose, group, name string) string {
	return "/node/attribute/node_name/" + strings.Join([]string{org, unit, purpose, group, name}, "/")
}

// CapabilityIndex returns the index levels under which nodes offering
// capability are listed.
func CapabilityIndex(capability string) []string {
	return []string{"node/capabilities/" + capability}
}

// NodeAttributes is the "attributes" of a node record.
type NodeAttributes struct {
	Public        map[string]any // "public"
	IndexedPublic []string       // "indexed_public": index path strings
}

// NodeRecord is the value of node-<id>.
type NodeRecord struct {
	ID          string   // not part of the value: the key's suffix
	URIs        []string // "uris": calvinip URIs; null for a proxied node
	ControlURIs []string // "control_uris": http URIs of the control API
	Proxy       string   // "proxy": the proxy node's id for a node behind one
	Attributes  NodeAttributes
	// Capabilities are indexed by RegisterNode under node/capabilities/<c>;
	// they are not part of the record value.
	Capabilities []string
	// Extra keeps keys of a parsed record this type does not model.
	Extra map[string]any
}

// Value renders the record as Calvin writes it.
func (r *NodeRecord) Value() map[string]any {
	v := make(map[string]any, 4+len(r.Extra))
	for k, e := range r.Extra {
		v[k] = e
	}
	public := map[string]any{}
	for k, e := range r.Attributes.Public {
		public[k] = e
	}
	indexed := make([]any, 0, len(r.Attributes.IndexedPublic))
	for _, p := range r.Attributes.IndexedPublic {
		indexed = append(indexed, p)
	}
	v["attributes"] = map[string]any{"public": public, "indexed_public": indexed}
	if r.Proxy != "" {
		v["proxy"] = r.Proxy
		v["uris"] = nil
		v["control_uris"] = nil
		return v
	}
	v["uris"] = stringList(r.URIs)
	v["control_uris"] = stringList(r.ControlURIs)
	return v
}

func stringList(s []string) []any {
	out := make([]any, len(s))
	for i, e := range s {
		out[i] = e
	}
	return out
}

// ParseNodeRecord reads the value of node-<id>. It is liberal: missing keys
// stay empty and null lists are nil; only a value that is not a map, or
// known keys of the wrong type, are errors (wrapping ErrBadRequest).
func ParseNodeRecord(id string, v any) (*NodeRecord, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: node record %s is %T, not a map", ErrBadRequest, id, v)
	}
	r := &NodeRecord{ID: id}
	var err error
	for k, e := range m {
		switch k {
		case "uris":
			r.URIs, err = optStrings(e)
		case "control_uris":
			r.ControlURIs, err = optStrings(e)
		case "proxy":
			if e != nil {
				s, ok := e.(string)
				if !ok {
					err = fmt.Errorf("proxy is %T", e)
				}
				r.Proxy = s
			}
		case "attributes":
			r.Attributes, err = parseAttributes(e)
		default:
			if r.Extra == nil {
				r.Extra = map[string]any{}
			}
			r.Extra[k] = e
		}
		if err != nil {
			return nil, fmt.Errorf("%w: node record %s: %s: %w", ErrBadRequest, id, k, err)
		}
	}
	return r, nil
}

func parseAttributes(v any) (NodeAttributes, error) {
	var a NodeAttributes
	if v == nil {
		return a, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return a, fmt.Errorf("attributes is %T", v)
	}
	if p, ok := m["public"].(map[string]any); ok {
		a.Public = p
	}
	// indexed_public is a list of path strings in Calvin's node records; a
	// constrained node's CONFIG uses a map, which has no paths to keep.
	if l, ok := m["indexed_public"].([]any); ok {
		for _, e := range l {
			if s, ok := e.(string); ok {
				a.IndexedPublic = append(a.IndexedPublic, s)
			}
		}
	}
	return a, nil
}

func optStrings(v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	l, ok := v.([]any)
	if !ok {
		if s, ok := v.([]string); ok {
			return append([]string(nil), s...), nil
		}
		return nil, fmt.Errorf("%T is not a list", v)
	}
	out := make([]string, 0, len(l))
	for _, e := range l {
		s, ok := e.(string)
		if !ok {
			return nil, fmt.Errorf("list item %T is not a string", e)
		}
		out = append(out, s)
	}
	return out, nil
}

// PortRef names one port of an actor record.
type PortRef struct {
	ID   string // "id"
	Name string // "name"
}

// ActorRecord is the value of actor-<id>.
type ActorRecord struct {
	ID       string    // the key's suffix
	Name     string    // "name"
	Type     string    // "type"
	NodeID   string    // "node_id"
	InPorts  []PortRef // "inports"
	OutPorts []PortRef // "outports"
	IsShadow bool      // "is_shadow"
	Extra    map[string]any
}

// Value renders the record as Calvin writes it.
func (r *ActorRecord) Value() map[string]any {
	v := make(map[string]any, 6+len(r.Extra))
	for k, e := range r.Extra {
		v[k] = e
	}
	v["name"] = r.Name
	v["type"] = r.Type
	v["node_id"] = r.NodeID
	v["inports"] = portRefs(r.InPorts)
	v["outports"] = portRefs(r.OutPorts)
	v["is_shadow"] = r.IsShadow
	return v
}

func portRefs(ps []PortRef) []any {
	out := make([]any, len(ps))
	for i, p := range ps {
		out[i] = map[string]any{"id": p.ID, "name": p.Name}
	}
	return out
}

// ParseActorRecord reads the value of actor-<id>, liberally.
func ParseActorRecord(id string, v any) (*ActorRecord, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: actor record %s is %T, not a map", ErrBadRequest, id, v)
	}
	r := &ActorRecord{ID: id}
	var err error
	for k, e := range m {
		switch k {
		case "name":
			r.Name, err = optString(e)
		case "type":
			r.Type, err = optString(e)
		case "node_id":
			r.NodeID, err = optString(e)
		case "inports":
			r.InPorts, err = parsePortRefs(e)
		case "outports":
			r.OutPorts, err = parsePortRefs(e)
		case "is_shadow":
			r.IsShadow = truthy(e)
		default:
			if r.Extra == nil {
				r.Extra = map[string]any{}
			}
			r.Extra[k] = e
		}
		if err != nil {
			return nil, fmt.Errorf("%w: actor record %s: %s: %w", ErrBadRequest, id, k, err)
		}
	}
	return r, nil
}

func parsePortRefs(v any) ([]PortRef, error) {
	if v == nil {
		return nil, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%T is not a list", v)
	}
	out := make([]PortRef, 0, len(l))
	for _, e := range l {
		pm, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("port %T is not a map", e)
		}
		id, _ := pm["id"].(string)
		name, _ := pm["name"].(string)
		out = append(out, PortRef{ID: id, Name: name})
	}
	return out, nil
}

// PortPeer is one entry of a port record's "peers": the peer port's node
// ("local" when Calvin means its own node) and id.
type PortPeer struct {
	NodeID string
	PortID string
}

// PortRecord is the value of port-<id>.
type PortRecord struct {
	ID         string         // the key's suffix
	Name       string         // "name"
	Connected  bool           // "connected" (constrained writes "false" as a string)
	NodeID     string         // "node_id"
	ActorID    string         // "actor_id"
	Properties map[string]any // "properties"
	Peers      []PortPeer     // "peers"; written only when connected
	Extra      map[string]any
}

// Value renders the record as Calvin writes it.
func (r *PortRecord) Value() map[string]any {
	v := make(map[string]any, 6+len(r.Extra))
	for k, e := range r.Extra {
		v[k] = e
	}
	props := map[string]any{}
	for k, e := range r.Properties {
		props[k] = e
	}
	v["name"] = r.Name
	v["connected"] = r.Connected
	v["node_id"] = r.NodeID
	v["actor_id"] = r.ActorID
	v["properties"] = props
	if r.Connected || len(r.Peers) > 0 {
		peers := make([]any, len(r.Peers))
		for i, p := range r.Peers {
			peers[i] = []any{p.NodeID, p.PortID}
		}
		v["peers"] = peers
	}
	return v
}

// ParsePortRecord reads the value of port-<id>, liberally.
func ParsePortRecord(id string, v any) (*PortRecord, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%w: port record %s is %T, not a map", ErrBadRequest, id, v)
	}
	r := &PortRecord{ID: id}
	var err error
	for k, e := range m {
		switch k {
		case "name":
			r.Name, err = optString(e)
		case "connected":
			r.Connected = truthy(e)
		case "node_id":
			r.NodeID, err = optString(e)
		case "actor_id":
			r.ActorID, err = optString(e)
		case "properties":
			if e != nil {
				p, ok := e.(map[string]any)
				if !ok {
					err = fmt.Errorf("%T is not a map", e)
				}
				r.Properties = p
			}
		case "peers":
			r.Peers, err = parsePeers(e)
		default:
			if r.Extra == nil {
				r.Extra = map[string]any{}
			}
			r.Extra[k] = e
		}
		if err != nil {
			return nil, fmt.Errorf("%w: port record %s: %s: %w", ErrBadRequest, id, k, err)
		}
	}
	return r, nil
}

func parsePeers(v any) ([]PortPeer, error) {
	if v == nil {
		return nil, nil
	}
	l, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("%T is not a list", v)
	}
	out := make([]PortPeer, 0, len(l))
	for _, e := range l {
		pair, ok := e.([]any)
		if !ok || len(pair) != 2 {
			return nil, fmt.Errorf("peer %v is not a [node, port] pair", e)
		}
		node, _ := pair[0].(string)
		port, _ := pair[1].(string)
		out = append(out, PortPeer{NodeID: node, PortID: port})
	}
	return out, nil
}

func optString(v any) (string, error) {
	if v == nil {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%T is not a string", v)
	}
	return s, nil
}

// truthy reads a boolean written by Calvin (bool) or constrained (the
// strings "true"/"false", §6.2), and integers as Python would.
func truthy(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return strings.EqualFold(x, "true")
	}
	if i, ok := wire.ToInt64(v); ok {
		return i != 0
	}
	return false
}
