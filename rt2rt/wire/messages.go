package wire

// Typed RT2RT messages (spec chapter 4). Every type embeds Envelope; keys the
// type does not model, and known keys whose value has an unexpected type,
// stay in Envelope.Extra, so a decoded message re-encodes to the same map.
// An Extra entry overrides the typed field of the same key when encoding.
// Cmd may be left empty in messages built in Go: the encoder then sends the
// type's command.

func cmdOr(cmd, def string) string {
	if cmd == "" {
		return def
	}
	return cmd
}

// fields writes cmd and the post-join envelope keys.
func (e *Envelope) fields(o *obj, def string) {
	o.begin(e.Extra, e.absent)
	o.str(kCmd, cmdOr(e.Cmd, def))
	o.str(kFrom, e.From)
	o.str(kTo, e.To)
	o.optStr(kMsgUUID, e.MsgUUID)
}

func (e *Envelope) decodeEnvelope(d *dec) {
	d.str(kCmd, &e.Cmd)
	d.str(kFrom, &e.From)
	d.str(kTo, &e.To)
	d.optStr(kMsgUUID, &e.MsgUUID)
}

func (e *Envelope) finish(d *dec) {
	e.Extra = d.extra()
	e.absent, e.present = d.absent, d.present
}

// JoinRequest is the first frame of a link (spec §2.2). Join frames carry no
// envelope keys: only Envelope.Cmd (and Extra) are used.
type JoinRequest struct {
	Envelope
	Serializers []string // "serializers": coders the initiator can use
	ID          string   // "id": initiator node id
	SID         string   // "sid": handshake id, echoed in the reply
}

func (m *JoinRequest) wireFields(o *obj) {
	o.begin(m.Extra, m.absent)
	o.str(kCmd, cmdOr(m.Cmd, CmdJoinRequest))
	o.strs(kSerializers, m.Serializers)
	o.str(kID, m.ID)
	o.str(kSID, m.SID)
	o.rest()
}

func (m *JoinRequest) decode(d *dec) {
	d.str(kCmd, &m.Cmd)
	d.strs(kSerializers, &m.Serializers)
	d.str(kID, &m.ID)
	d.str(kSID, &m.SID)
	m.finish(d)
}

// Validate reports the first required key that is missing or has the wrong
// type (spec §2.3); the responder then rejects the join.
func (m *JoinRequest) Validate() error {
	return requireKeys(CmdJoinRequest, m.Extra, m.absent, kSerializers, kID, kSID)
}

// JoinReply answers a JoinRequest (spec §2.5). An empty ID, Serializer or SID
// is sent as null; a reject is ID "" (null) and Serializer "" (null).
type JoinReply struct {
	Envelope
	ID         string // "id": responder node id; "" = null = join refused
	Serializer string // "serializer": chosen coder; "" = null
	SID        string // "sid": echoed from the request; "" = null
}

func (m *JoinReply) wireFields(o *obj) {
	o.begin(m.Extra, m.absent)
	o.str(kCmd, cmdOr(m.Cmd, CmdJoinReply))
	o.nullStr(kID, m.ID)
	o.nullStr(kSerializer, m.Serializer)
	o.nullStr(kSID, m.SID)
	o.rest()
}

func (m *JoinReply) decode(d *dec) {
	d.str(kCmd, &m.Cmd)
	d.nullStr(kID, &m.ID)
	d.nullStr(kSerializer, &m.Serializer)
	d.nullStr(kSID, &m.SID)
	m.finish(d)
}

// Accepted reports whether the reply accepts the join: a non-null id and a
// non-null serializer (spec §2.5; the caller still checks the serializer is known).
func (m *JoinReply) Accepted() bool { return m.ID != "" && m.Serializer != "" }

// Reply answers a request; MsgUUID echoes the request's (spec §3.5).
type Reply struct {
	Envelope
	Value Response // "value"
}

func (m *Reply) wireFields(o *obj) {
	m.fields(o, CmdReply)
	o.sub(kValue, &m.Value)
	o.rest()
}

func (m *Reply) decode(d *dec) {
	m.decodeEnvelope(d)
	if p := d.find(kValue); p != nil {
		if c, ok := d.child(p); ok {
			if r, ok := c.response(); ok {
				m.Value = r
				p.used = true
			}
		}
	}
	m.finish(d)
}

// TunnelNew asks the peer to create a tunnel (spec §4.1, §5.1).
type TunnelNew struct {
	Envelope
	TunnelID string // "tunnel_id"
	Type     string // "type": token, storage, proxy or control
	Policy   any    // "policy": never read; nil is sent as {}
}

func (m *TunnelNew) wireFields(o *obj) {
	m.fields(o, CmdTunnelNew)
	o.str(kTunnelID, m.TunnelID)
	o.str(kType, m.Type)
	o.emptyMapOr(kPolicy, m.Policy)
	o.rest()
}

func (m *TunnelNew) decode(d *dec) {
	m.decodeEnvelope(d)
	d.str(kTunnelID, &m.TunnelID)
	d.str(kType, &m.Type)
	d.val(kPolicy, &m.Policy)
	m.finish(d)
}

// Validate reports a missing tunnel_id, type or policy (Go answers 400, §4.1).
func (m *TunnelNew) Validate() error {
	return requireKeys(CmdTunnelNew, m.Extra, m.absent, kTunnelID, kType, kPolicy)
}

// TunnelDestroy closes a tunnel (spec §4.2).
type TunnelDestroy struct {
	Envelope
	TunnelID string // "tunnel_id"
}

func (m *TunnelDestroy) wireFields(o *obj) {
	m.fields(o, CmdTunnelDestroy)
	o.str(kTunnelID, m.TunnelID)
	o.rest()
}

func (m *TunnelDestroy) decode(d *dec) {
	m.decodeEnvelope(d)
	d.str(kTunnelID, &m.TunnelID)
	m.finish(d)
}

// TunnelData carries one sub-protocol message (spec §4.3). Value is a typed
// sub-message (*Token, *TokenReply, *StorageRequest, *TunnelReply,
// *ProxyConfig, *ProxyRequest) or, for an unknown sub-command, the generic
// decoded value. Never replied to; MsgUUID is optional.
type TunnelData struct {
	Envelope
	TunnelID string // "tunnel_id"
	Value    any    // "value"
}

func (m *TunnelData) wireFields(o *obj) {
	m.fields(o, CmdTunnelData)
	o.str(kTunnelID, m.TunnelID)
	o.val(kValue, m.Value)
	o.rest()
}

func (m *TunnelData) decode(d *dec) {
	m.decodeEnvelope(d)
	d.str(kTunnelID, &m.TunnelID)
	if p := d.find(kValue); p != nil {
		m.Value = d.subMessage(p)
		p.used = true
	}
	m.finish(d)
}

// PortConnect connects the sender's port to a port on the receiver (spec
// §8.1). PortID and PortProperties describe the sender's port; PeerPortID
// (or PeerActorID + PeerPortName + PeerPortProperties.direction) names the
// receiver's port. Empty strings and nil PeerPortProperties are sent as null.
type PortConnect struct {
	Envelope
	TunnelID           string         // "tunnel_id"
	PortID             string         // "port_id"
	PortProperties     map[string]any // "port_properties"
	PeerPortID         string         // "peer_port_id"; "" = null
	PeerActorID        string         // "peer_actor_id"; "" = null
	PeerPortName       string         // "peer_port_name"; "" = null
	PeerPortProperties map[string]any // "peer_port_properties"; nil = null
}

func (m *PortConnect) wireFields(o *obj) {
	m.fields(o, CmdPortConnect)
	o.str(kTunnelID, m.TunnelID)
	o.str(kPortID, m.PortID)
	o.emptyMapOr(kPortProperties, mapOrNil(m.PortProperties))
	o.nullStr(kPeerPortID, m.PeerPortID)
	o.nullStr(kPeerActorID, m.PeerActorID)
	o.nullStr(kPeerPortName, m.PeerPortName)
	o.nullMap(kPeerPortProperties, m.PeerPortProperties)
	o.rest()
}

func (m *PortConnect) decode(d *dec) {
	m.decodeEnvelope(d)
	d.str(kTunnelID, &m.TunnelID)
	d.str(kPortID, &m.PortID)
	d.mapVal(kPortProperties, &m.PortProperties)
	d.nullStr(kPeerPortID, &m.PeerPortID)
	d.nullStr(kPeerActorID, &m.PeerActorID)
	d.nullStr(kPeerPortName, &m.PeerPortName)
	d.nullMap(kPeerPortProperties, &m.PeerPortProperties)
	m.finish(d)
}

// PortDisconnect disconnects the sender's port PortID from a port on the
// receiver (spec §8.3). TunnelID is sent only when set (constrained sends it,
// Calvin does not).
type PortDisconnect struct {
	Envelope
	TunnelID        string         // "tunnel_id"; omitted when ""
	PortID          string         // "port_id"
	PeerPortID      string         // "peer_port_id"; "" = null
	PeerActorID     string         // "peer_actor_id"; "" = null
	PeerPortName    string         // "peer_port_name"; "" = null
	PeerPortDir     string         // "peer_port_dir"; "" = null
	Terminate       int            // "terminate": a Disconnect* value
	RemainingTokens map[string]any // "remaining_tokens"; nil is sent as {}
}

// DISCONNECT values carried in "terminate" (spec §8.3).
const (
	DisconnectTemporary   = 0
	DisconnectTerminate   = 1
	DisconnectExhaust     = 2
	DisconnectExhaustPeer = 3
)

func (m *PortDisconnect) wireFields(o *obj) {
	m.fields(o, CmdPortDisconnect)
	o.optStr(kTunnelID, m.TunnelID)
	o.str(kPortID, m.PortID)
	o.nullStr(kPeerPortID, m.PeerPortID)
	o.nullStr(kPeerActorID, m.PeerActorID)
	o.nullStr(kPeerPortName, m.PeerPortName)
	o.nullStr(kPeerPortDir, m.PeerPortDir)
	o.int(kTerminate, int64(m.Terminate))
	o.emptyMapOr(kRemainingTokens, mapOrNil(m.RemainingTokens))
	o.rest()
}

func (m *PortDisconnect) decode(d *dec) {
	m.decodeEnvelope(d)
	d.optStr(kTunnelID, &m.TunnelID)
	d.str(kPortID, &m.PortID)
	d.nullStr(kPeerPortID, &m.PeerPortID)
	d.nullStr(kPeerActorID, &m.PeerActorID)
	d.nullStr(kPeerPortName, &m.PeerPortName)
	d.nullStr(kPeerPortDir, &m.PeerPortDir)
	d.intVal(kTerminate, &m.Terminate)
	d.mapVal(kRemainingTokens, &m.RemainingTokens)
	m.finish(d)
}

// PortRemoteConnect asks the receiver to connect its port PortID to
// PeerPortID, wherever that lives (spec §8.5).
type PortRemoteConnect struct {
	Envelope
	PortID     string // "port_id"
	PeerPortID string // "peer_port_id"
}

func (m *PortRemoteConnect) wireFields(o *obj) {
	m.fields(o, CmdPortRemoteConnect)
	o.str(kPortID, m.PortID)
	o.str(kPeerPortID, m.PeerPortID)
	o.rest()
}

func (m *PortRemoteConnect) decode(d *dec) {
	m.decodeEnvelope(d)
	d.str(kPortID, &m.PortID)
	d.str(kPeerPortID, &m.PeerPortID)
	m.finish(d)
}

// ActorNew carries a migrating actor (spec §9.2).
type ActorNew struct {
	Envelope
	State ActorNewState // "state"
}

// ActorNewState is ACTOR_NEW's "state" map.
type ActorNewState struct {
	ActorType       string         // "actor_type"
	ActorState      map[string]any // "actor_state" (spec chapter 10)
	PrevConnections any            // "prev_connections": map or null
	ConnectionList  any            // "connection_list": null or list
	Extra           map[string]any
	absent          keyMask
	present         keyMask
}

// Has reports whether a decoded state carried key.
func (s *ActorNewState) Has(key string) bool { return hasKey(s.Extra, s.present, key) }

func (s *ActorNewState) wireFields(o *obj) {
	o.begin(s.Extra, s.absent)
	o.str(kActorType, s.ActorType)
	o.emptyMapOr(kActorState, mapOrNil(s.ActorState))
	o.val(kPrevConnections, s.PrevConnections)
	o.val(kConnectionList, s.ConnectionList)
	o.rest()
}

func (m *ActorNew) wireFields(o *obj) {
	m.fields(o, CmdActorNew)
	o.sub(kState, &m.State)
	o.rest()
}

func (m *ActorNew) decode(d *dec) {
	m.decodeEnvelope(d)
	if p := d.find(kState); p != nil {
		if sd, ok := d.child(p); ok {
			sd.str(kActorType, &m.State.ActorType)
			sd.mapVal(kActorState, &m.State.ActorState)
			sd.val(kPrevConnections, &m.State.PrevConnections)
			sd.val(kConnectionList, &m.State.ConnectionList)
			m.State.Extra = sd.extra()
			m.State.absent, m.State.present = sd.absent, sd.present
			p.used = true
		}
	}
	m.finish(d)
}

// ActorMigrate asks the receiver to migrate one of its actors (spec §9.4):
// either to PeerNodeID (direct form) or by Requirements (with Extend, Move).
// The requirements form is sent when Requirements is not nil.
type ActorMigrate struct {
	Envelope
	ActorID      string // "actor_id"
	PeerNodeID   string // "peer_node_id"; omitted when ""
	Requirements any    // "requirements": list of rules; omitted when nil
	Extend       bool   // "extend" (requirements form)
	Move         bool   // "move" (requirements form)
}

func (m *ActorMigrate) wireFields(o *obj) {
	m.fields(o, CmdActorMigrate)
	o.str(kActorID, m.ActorID)
	o.optStr(kPeerNodeID, m.PeerNodeID)
	if m.Requirements != nil {
		o.val(kRequirements, m.Requirements)
		o.bool(kExtend, m.Extend)
		o.bool(kMove, m.Move)
	}
	o.rest()
}

func (m *ActorMigrate) decode(d *dec) {
	m.decodeEnvelope(d)
	d.str(kActorID, &m.ActorID)
	d.optStr(kPeerNodeID, &m.PeerNodeID)
	d.nonNull(kRequirements, &m.Requirements)
	if m.Requirements != nil {
		d.bool(kExtend, &m.Extend)
		d.bool(kMove, &m.Move)
	}
	m.finish(d)
}

// AppDestroy destroys the listed actors of an application (spec §9.5).
type AppDestroy struct {
	Envelope
	AppUUID       string   // "app_uuid"
	ActorUUIDs    []string // "actor_uuids"
	Disconnect    *int     // "disconnect": optional DISCONNECT value
	ReplicationID any      // "replication_id": optional; omitted when nil
}

func (m *AppDestroy) wireFields(o *obj) {
	m.fields(o, CmdAppDestroy)
	o.str(kAppUUID, m.AppUUID)
	o.strs(kActorUUIDs, m.ActorUUIDs)
	if m.Disconnect != nil {
		o.int(kDisconnect, int64(*m.Disconnect))
	}
	if m.ReplicationID != nil {
		o.val(kReplicationID, m.ReplicationID)
	}
	o.rest()
}

func (m *AppDestroy) decode(d *dec) {
	m.decodeEnvelope(d)
	d.str(kAppUUID, &m.AppUUID)
	d.strs(kActorUUIDs, &m.ActorUUIDs)
	if p := d.find(kDisconnect); p != nil {
		if i, _, kind := d.intOf(p); kind == isInt64 && int64(int(i)) == i {
			n := int(i)
			m.Disconnect = &n
			p.used = true
		}
	}
	d.nonNull(kReplicationID, &m.ReplicationID)
	m.finish(d)
}

// QueuePressure is a replication request (spec §4.5); Go answers 501.
type QueuePressure struct {
	Envelope
	ActorID       string // "actor_id"
	ReplicationID string // "replication_id"
	Pressure      any    // "pressure"
}

func (m *QueuePressure) wireFields(o *obj) {
	m.fields(o, CmdQueuePressure)
	o.str(kActorID, m.ActorID)
	o.str(kReplicationID, m.ReplicationID)
	o.val(kPressure, m.Pressure)
	o.rest()
}

func (m *QueuePressure) decode(d *dec) {
	m.decodeEnvelope(d)
	d.str(kActorID, &m.ActorID)
	d.str(kReplicationID, &m.ReplicationID)
	d.val(kPressure, &m.Pressure)
	m.finish(d)
}

// LeaderElected is an election notice (spec §4.5); Go answers 501 for type
// "replication" and 400 otherwise.
type LeaderElected struct {
	Envelope
	Type    string // "type"
	TypeCmd string // "type_cmd"
	Data    any    // "data"
}

func (m *LeaderElected) wireFields(o *obj) {
	m.fields(o, CmdLeaderElected)
	o.str(kType, m.Type)
	o.str(kTypeCmd, m.TypeCmd)
	o.val(kData, m.Data)
	o.rest()
}

func (m *LeaderElected) decode(d *dec) {
	m.decodeEnvelope(d)
	d.str(kType, &m.Type)
	d.str(kTypeCmd, &m.TypeCmd)
	d.val(kData, &m.Data)
	m.finish(d)
}

// SecurityRequest is AUTHENTICATION_DECISION or one of the AUTHORIZATION_*
// commands (spec §4.5); Cmd says which. Go answers 404.
type SecurityRequest struct {
	Envelope
	JWT      string // "jwt"
	CertName string // "cert_name"
}

func (m *SecurityRequest) wireFields(o *obj) {
	m.fields(o, CmdAuthenticationDecision)
	o.str(kJWT, m.JWT)
	o.str(kCertName, m.CertName)
	o.rest()
}

func (m *SecurityRequest) decode(d *dec) {
	m.decodeEnvelope(d)
	d.str(kJWT, &m.JWT)
	d.str(kCertName, &m.CertName)
	m.finish(d)
}

// Unknown is a message whose cmd is missing or unknown. The envelope fields
// are filled (so it can be forwarded by To); every other key is in Extra.
type Unknown struct {
	Envelope
}

func (m *Unknown) wireFields(o *obj) {
	o.begin(m.Extra, m.absent)
	o.str(kCmd, m.Cmd)
	o.str(kFrom, m.From)
	o.str(kTo, m.To)
	o.optStr(kMsgUUID, m.MsgUUID)
	o.rest()
}

func (m *Unknown) decode(d *dec) {
	m.decodeEnvelope(d)
	m.finish(d)
}

// envelopeOnly encodes a Message type defined outside this package by its
// envelope and Extra.
type envelopeOnly struct{ e *Envelope }

func (m envelopeOnly) wireFields(o *obj) {
	u := Unknown{Envelope: *m.e}
	u.wireFields(o)
}

type decoder interface {
	Message
	decode(d *dec)
}

func newMessage(cmd string) decoder {
	switch cmd {
	case CmdTunnelData:
		return new(TunnelData)
	case CmdReply:
		return new(Reply)
	case CmdJoinRequest:
		return new(JoinRequest)
	case CmdJoinReply:
		return new(JoinReply)
	case CmdTunnelNew:
		return new(TunnelNew)
	case CmdTunnelDestroy:
		return new(TunnelDestroy)
	case CmdPortConnect:
		return new(PortConnect)
	case CmdPortDisconnect:
		return new(PortDisconnect)
	case CmdPortRemoteConnect:
		return new(PortRemoteConnect)
	case CmdActorNew:
		return new(ActorNew)
	case CmdActorMigrate:
		return new(ActorMigrate)
	case CmdAppDestroy:
		return new(AppDestroy)
	case CmdQueuePressure:
		return new(QueuePressure)
	case CmdLeaderElected:
		return new(LeaderElected)
	case CmdAuthenticationDecision, CmdAuthorizationRegister, CmdAuthorizationDecision, CmdAuthorizationSearch:
		return new(SecurityRequest)
	}
	return new(Unknown)
}

// FromMap builds the typed message for a generic decoded map. The map is
// consumed: its remaining entries become Extra.
func FromMap(m map[string]any) Message {
	c := getCtx()
	defer putCtx(c)
	// Map mode decodes nothing, so it cannot fail.
	msg, _ := decodeTyped(c.mapRoot(m, 1))
	return msg
}

// ToMap renders a typed message as a generic map (what its encoding decodes
// to), for logging, tests and tools.
func ToMap(m Message) (map[string]any, error) {
	// msgpack keeps non-UTF-8 strings, JSON keeps integers beyond 64 bits:
	// between them every message that can be sent at all is rendered.
	var c interface {
		Serializer
		ValueCoder
	} = Msgpack
	b, err := c.Encode(nil, m)
	if err != nil {
		c = JSON
		if b, err = c.Encode(nil, m); err != nil {
			return nil, err
		}
	}
	v, err := c.DecodeValue(b)
	if err != nil {
		return nil, err
	}
	return v.(map[string]any), nil
}

func mapOrNil(m map[string]any) any {
	if m == nil {
		return nil
	}
	return m
}
