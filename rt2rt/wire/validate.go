package wire

import "fmt"

// Validate methods apply the "required key" rules of the spec to a decoded
// request, so a handler can answer 400 instead of staying silent as Calvin
// does (spec §4.6). A key counts as missing when it was absent from the
// decoded message or had a value of the wrong type. Messages built in Go
// always pass.

// Validate checks tunnel_id (spec §4.2).
func (m *TunnelDestroy) Validate() error {
	return requireKeys(CmdTunnelDestroy, m.Extra, m.absent, kTunnelID)
}

// Validate checks tunnel_id and value (spec §4.3).
func (m *TunnelData) Validate() error {
	return requireKeys(CmdTunnelData, m.Extra, m.absent, kTunnelID, kValue)
}

// Validate applies the 400 rules of spec §8.1: port_id and tunnel_id are
// required, and the receiver's port must be named by peer_port_id or by
// peer_actor_id + peer_port_name + peer_port_properties (null values pass).
func (m *PortConnect) Validate() error {
	if err := requireKeys(CmdPortConnect, m.Extra, m.absent, kPortID, kTunnelID); err != nil {
		return err
	}
	return namedPeer(CmdPortConnect, m.absent, kPeerPortProperties)
}

// Validate applies the 400 rules of spec §8.3: port_id is required, and
// the receiver's port must be named by peer_port_id or by peer_actor_id +
// peer_port_name + peer_port_dir.
func (m *PortDisconnect) Validate() error {
	if err := requireKeys(CmdPortDisconnect, m.Extra, m.absent, kPortID); err != nil {
		return err
	}
	return namedPeer(CmdPortDisconnect, m.absent, kPeerPortDir)
}

func namedPeer(cmd string, absent keyMask, third keyID) error {
	if !absent.has(kPeerPortID) {
		return nil
	}
	for _, k := range []keyID{kPeerActorID, kPeerPortName, third} {
		if absent.has(k) {
			return fmt.Errorf("%w: %s has neither %q nor %q", ErrMissingField, cmd, keyNames[kPeerPortID], keyNames[k])
		}
	}
	return nil
}

// Validate checks port_id and peer_port_id (spec §8.5).
func (m *PortRemoteConnect) Validate() error {
	return requireKeys(CmdPortRemoteConnect, m.Extra, m.absent, kPortID, kPeerPortID)
}

// Validate applies the structural checks of spec §9.3: state.actor_type is
// a string; actor_state has the private (with _id, inports, outports),
// managed, security and custom maps; prev_connections is null or a map with
// inports and outports maps.
func (m *ActorNew) Validate() error {
	if err := requireKeys(CmdActorNew, m.Extra, m.absent, kState); err != nil {
		return err
	}
	s := &m.State
	if err := requireKeys(CmdActorNew+" state", s.Extra, s.absent, kActorType, kActorState); err != nil {
		return err
	}
	for _, part := range []string{"private", "managed", "security", "custom"} {
		if _, ok := s.ActorState[part].(map[string]any); !ok {
			return fmt.Errorf("%w: %s actor_state has no %q map", ErrMissingField, CmdActorNew, part)
		}
	}
	private := s.ActorState["private"].(map[string]any)
	if _, ok := private["_id"].(string); !ok {
		return fmt.Errorf("%w: %s actor_state.private has no string %q", ErrMissingField, CmdActorNew, "_id")
	}
	for _, k := range []string{"inports", "outports"} {
		if _, ok := private[k].(map[string]any); !ok {
			return fmt.Errorf("%w: %s actor_state.private has no %q map", ErrMissingField, CmdActorNew, k)
		}
	}
	switch pc := s.PrevConnections.(type) {
	case nil:
	case map[string]any:
		for _, k := range []string{"inports", "outports"} {
			if _, ok := pc[k].(map[string]any); !ok {
				return fmt.Errorf("%w: %s prev_connections has no %q map", ErrMissingField, CmdActorNew, k)
			}
		}
	default:
		return fmt.Errorf("%w: %s prev_connections is %T", ErrMissingField, CmdActorNew, pc)
	}
	return nil
}

// Validate checks actor_id, and for the requirements form (spec §9.4) that
// requirements is a list.
func (m *ActorMigrate) Validate() error {
	if err := requireKeys(CmdActorMigrate, m.Extra, m.absent, kActorID); err != nil {
		return err
	}
	if v, ok := m.Extra[keyNames[kRequirements]]; ok {
		return fmt.Errorf("%w: %s requirements is %T, not a list", ErrMissingField, CmdActorMigrate, v)
	}
	if m.Requirements != nil {
		if _, ok := m.Requirements.([]any); !ok {
			return fmt.Errorf("%w: %s requirements is %T, not a list", ErrMissingField, CmdActorMigrate, m.Requirements)
		}
	}
	return nil
}

// Validate checks app_uuid and actor_uuids (spec §9.5).
func (m *AppDestroy) Validate() error {
	return requireKeys(CmdAppDestroy, m.Extra, m.absent, kAppUUID, kActorUUIDs)
}
