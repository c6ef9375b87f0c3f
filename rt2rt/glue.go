package rt2rt

import (
	"fmt"
	"unicode/utf8"

	"github.com/meshkit/meshkit/rt2rt/wire"
)

// serializerRef is a coder chosen for a link.
type serializerRef = wire.Serializer

// serializers is the node's coder priority list (§2.4) plus the JSON coder
// used for the join frames whatever is negotiated.
type serializers struct {
	order []wire.Serializer
	json  wire.Serializer
}

func newSerializers(reg *wire.Registry, names []string) (*serializers, error) {
	if reg == nil {
		reg = wire.DefaultRegistry()
	}
	if names == nil {
		names = reg.Names()
	}
	s := &serializers{}
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			return nil, fmt.Errorf("%w: serializer %q listed twice", ErrInvalidOption, name)
		}
		seen[name] = true
		ser, ok := reg.Lookup(name)
		if !ok {
			return nil, fmt.Errorf("%w: unknown serializer %q", ErrInvalidOption, name)
		}
		s.order = append(s.order, ser)
	}
	if len(s.order) == 0 {
		return nil, fmt.Errorf("%w: no serializer", ErrInvalidOption)
	}
	json, ok := reg.Lookup(wire.NameJSON)
	if !ok {
		json = wire.JSON
	}
	s.json = json
	return s, nil
}

func (s *serializers) names() []string {
	out := make([]string, len(s.order))
	for i, ser := range s.order {
		out[i] = ser.Name()
	}
	return out
}

func (s *serializers) get(name string) wire.Serializer {
	for _, ser := range s.order {
		if ser.Name() == name {
			return ser
		}
	}
	return nil
}

// choose walks this node's priority list and returns the first coder the
// peer also offers; the peer's order does not matter (§2.4).
func (s *serializers) choose(offered []string) wire.Serializer {
	for _, ser := range s.order {
		for _, o := range offered {
			if o == ser.Name() {
				return ser
			}
		}
	}
	return nil
}

func newJoinRequest(id, sid string, sers []string) wire.Message {
	return &wire.JoinRequest{Envelope: wire.Envelope{Cmd: wire.CmdJoinRequest}, Serializers: sers, ID: id, SID: sid}
}

// newJoinReply builds a JOIN_REPLY; empty strings go out as null (a reject
// is id null, serializer null).
func newJoinReply(id, serializer, sid string) wire.Message {
	return &wire.JoinReply{Envelope: wire.Envelope{Cmd: wire.CmdJoinReply}, ID: id, Serializer: serializer, SID: sid}
}

// joinRequestFields reads a first frame. ok is false when it is not a valid
// JOIN_REQUEST; peer and sid are returned whenever they could be read.
func joinRequestFields(m wire.Message) (req *wire.JoinRequest, peer, sid string, offered []string, ok bool) {
	req, isReq := m.(*wire.JoinRequest)
	if !isReq {
		// Another cmd decodes as another type; id and sid are then in
		// Extra, and the sid is still echoed in the reject.
		h := m.Header()
		peer, _ = h.Extra["id"].(string)
		sid, _ = h.Extra["sid"].(string)
		if !utf8.ValidString(sid) || !utf8.ValidString(peer) {
			return nil, "", "", nil, false
		}
		return nil, peer, sid, nil, false
	}
	if !utf8.ValidString(req.SID) || !utf8.ValidString(req.ID) {
		// The wire keeps raw bytes, but a reply cannot echo them on a
		// JSON link: reject without a sid rather than fail to answer.
		return req, "", "", nil, false
	}
	if req.Cmd != wire.CmdJoinRequest || req.Validate() != nil || req.ID == "" {
		return req, req.ID, req.SID, nil, false
	}
	return req, req.ID, req.SID, req.Serializers, true
}

// joinReplyFields reads a JOIN_REPLY whatever its cmd (§2.6).
func joinReplyFields(m wire.Message) (peer, serializer string) {
	switch r := m.(type) {
	case *wire.JoinReply:
		return r.ID, r.Serializer
	default:
		// A reply with another cmd decodes as another type; its keys are
		// then in Extra.
		h := m.Header()
		id, _ := h.Extra["id"].(string)
		ser, _ := h.Extra["serializer"].(string)
		return id, ser
	}
}

func response(status int, data any) wire.Response {
	return wire.NewResponse(status, data)
}

func newReply(from, to, msgUUID string, resp wire.Response) wire.Message {
	if resp.SuccessList == nil {
		resp.SuccessList = wire.DefaultSuccessList()
	}
	return &wire.Reply{Envelope: wire.Envelope{Cmd: wire.CmdReply, From: from, To: to, MsgUUID: msgUUID}, Value: resp}
}

// replyValue extracts the CalvinResponse of a REPLY; ok is false when the
// value was missing or malformed (the zero response is then 500).
func replyValue(m wire.Message) (wire.Response, bool) {
	r, isReply := m.(*wire.Reply)
	if !isReply || !r.Has("value") || r.Value.Status == 0 {
		return wire.NewResponse(wire.StatusInternalError, nil), false
	}
	if r.Value.SuccessList == nil {
		r.Value.SuccessList = wire.DefaultSuccessList()
	}
	return r.Value, true
}

func leaderElectedFields(m wire.Message) (typ, typeCmd string) {
	if le, ok := m.(*wire.LeaderElected); ok {
		return le.Type, le.TypeCmd
	}
	return "", ""
}

// isKnownCommand reports whether cmd is one of the RT2RT commands a node
// answers (§4); anything else is logged and dropped (§4.6).
func isKnownCommand(cmd string) bool {
	switch cmd {
	case wire.CmdTunnelNew, wire.CmdTunnelDestroy, wire.CmdTunnelData,
		wire.CmdPortConnect, wire.CmdPortDisconnect, wire.CmdPortRemoteConnect,
		wire.CmdActorNew, wire.CmdActorMigrate, wire.CmdAppDestroy,
		wire.CmdQueuePressure, wire.CmdLeaderElected,
		wire.CmdAuthenticationDecision, wire.CmdAuthorizationRegister,
		wire.CmdAuthorizationDecision, wire.CmdAuthorizationSearch:
		return true
	}
	return false
}

// validateRequest checks the keys a known command needs; a failure is
// answered 400 when the request has a msg_uuid (§4.6). Only presence is
// checked, as Calvin does; handlers judge values.
func validateRequest(m wire.Message) error {
	h := m.Header()
	need := func(keys ...string) error {
		for _, k := range keys {
			if !h.Has(k) {
				return fmt.Errorf("%w: %s without %q", wire.ErrMissingField, h.Cmd, k)
			}
		}
		return nil
	}
	either := func(one string, all ...string) error {
		if h.Has(one) {
			return nil
		}
		if err := need(all...); err != nil {
			return fmt.Errorf("%w: %s names no peer port (%q or %v)", wire.ErrMissingField, h.Cmd, one, all)
		}
		return nil
	}
	switch h.Cmd {
	case wire.CmdTunnelNew:
		return need("tunnel_id", "type", "policy")
	case wire.CmdTunnelDestroy:
		return need("tunnel_id")
	case wire.CmdTunnelData:
		return need("tunnel_id", "value")
	case wire.CmdPortConnect:
		if err := either("peer_port_id", "peer_actor_id", "peer_port_name", "peer_port_properties"); err != nil {
			return err
		}
		return need("port_id", "tunnel_id")
	case wire.CmdPortDisconnect:
		if err := either("peer_port_id", "peer_actor_id", "peer_port_name", "peer_port_dir"); err != nil {
			return err
		}
		return need("port_id")
	case wire.CmdPortRemoteConnect:
		return need("port_id", "peer_port_id")
	case wire.CmdActorNew:
		if err := need("state"); err != nil {
			return err
		}
		if an, ok := m.(*wire.ActorNew); ok && (!an.State.Has("actor_type") || !an.State.Has("actor_state")) {
			return fmt.Errorf("%w: ACTOR_NEW state without actor_type or actor_state", wire.ErrMissingField)
		}
	case wire.CmdActorMigrate:
		if err := need("actor_id"); err != nil {
			return err
		}
		if !h.Has("peer_node_id") && !h.Has("requirements") {
			return fmt.Errorf("%w: ACTOR_MIGRATE without peer_node_id or requirements", wire.ErrMissingField)
		}
	case wire.CmdAppDestroy:
		return need("actor_uuids")
	}
	return nil
}

// unhandledAnswer is what a node without the subsystem for a command
// answers (there is no tunnel, port or actor with that id here).
func unhandledAnswer(m wire.Message) (status int, data any, silent bool) {
	switch msg := m.(type) {
	case *wire.TunnelNew:
		// No handler for any tunnel type: unknown type (§5.1).
		return wire.StatusInternalError, map[string]any{"tunnel_id": msg.TunnelID}, false
	case *wire.TunnelDestroy:
		return wire.StatusNotFound, nil, false // unknown tunnel (§4.2)
	case *wire.TunnelData:
		return 0, nil, true // unknown tunnel: dropped, never answered (§4.3)
	case *wire.PortConnect, *wire.PortDisconnect, *wire.PortRemoteConnect:
		return wire.StatusNotFound, nil, false // port not found (§8.1, §8.3, §8.5)
	case *wire.ActorNew:
		return wire.StatusInternalError, nil, false // cannot create the actor (§9.2)
	case *wire.ActorMigrate:
		return wire.StatusInternalError, nil, false // unknown actor (§9.4)
	case *wire.AppDestroy:
		// Every listed actor is missing (§9.5).
		missing := append([]string{}, msg.ActorUUIDs...)
		if msg.Disconnect != nil {
			if len(missing) == 0 {
				return wire.StatusOK, nil, false
			}
			return wire.StatusInternalError, map[string]any{"missing": toAny(missing)}, false
		}
		if len(missing) == 0 {
			return wire.StatusOK, []any{}, false
		}
		return wire.StatusInternalError, toAny(missing), false
	}
	return 0, nil, true
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}

// fillCmd sets the envelope's cmd from the message type when the caller
// left it empty (wire's encoder would, but the node logs and routes by it).
func fillCmd(m wire.Message) bool {
	h := m.Header()
	if h.Cmd != "" {
		return true
	}
	switch m.(type) {
	case *wire.TunnelData:
		h.Cmd = wire.CmdTunnelData
	case *wire.TunnelNew:
		h.Cmd = wire.CmdTunnelNew
	case *wire.TunnelDestroy:
		h.Cmd = wire.CmdTunnelDestroy
	case *wire.PortConnect:
		h.Cmd = wire.CmdPortConnect
	case *wire.PortDisconnect:
		h.Cmd = wire.CmdPortDisconnect
	case *wire.PortRemoteConnect:
		h.Cmd = wire.CmdPortRemoteConnect
	case *wire.ActorNew:
		h.Cmd = wire.CmdActorNew
	case *wire.ActorMigrate:
		h.Cmd = wire.CmdActorMigrate
	case *wire.AppDestroy:
		h.Cmd = wire.CmdAppDestroy
	case *wire.Reply:
		h.Cmd = wire.CmdReply
	case *wire.QueuePressure:
		h.Cmd = wire.CmdQueuePressure
	case *wire.LeaderElected:
		h.Cmd = wire.CmdLeaderElected
	default:
		return false
	}
	return true
}
