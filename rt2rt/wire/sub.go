package wire

// Tunnel types (spec chapter 5).
const (
	TunnelTypeToken   = "token"
	TunnelTypeStorage = "storage"
	TunnelTypeProxy   = "proxy"
	TunnelTypeControl = "control"
)

// Sub-protocol commands carried in TunnelData.Value (spec chapters 6 and 7).
const (
	SubToken      = "TOKEN"
	SubTokenReply = "TOKEN_REPLY"
	SubReply      = "REPLY" // storage and proxy replies

	// storage tunnel requests (spec §6.2)
	StorageSet         = "SET"
	StorageGet         = "GET"
	StorageDelete      = "DELETE"
	StorageAppend      = "APPEND"
	StorageRemove      = "REMOVE"
	StorageGetConcat   = "GET_CONCAT"
	StorageAddIndex    = "ADD_INDEX"
	StorageRemoveIndex = "REMOVE_INDEX"
	StorageGetIndex    = "GET_INDEX"

	// proxy tunnel messages (spec §6.3)
	ProxyCmdConfig         = "CONFIG"
	ProxyCmdReqMatch       = "REQ_MATCH"
	ProxyCmdWillSleep      = "WILL_SLEEP"
	ProxyCmdWakeup         = "WAKEUP"
	ProxyCmdGetActorModule = "GET_ACTOR_MODULE"
	ProxyCmdDestroy        = "DESTROY"
	ProxyCmdDestroyReply   = "DESTROY_REPLY"
)

// TOKEN_REPLY values (spec §7.1).
const (
	TokenACK   = "ACK"
	TokenNACK  = "NACK"
	TokenABORT = "ABORT"
)

// Token type names (spec §7.2).
const (
	TokenTypeToken     = "Token"
	TokenTypeException = "ExceptionToken"
	TokenTypeEOS       = "EOSToken"
)

// SubEnvelope holds the keys common to tunnel sub-messages. MsgUUID is the
// sub-protocol's own request id (storage, proxy), unrelated to the
// enclosing TUNNEL_DATA's; it is sent only when not empty. Extra keeps
// unknown keys and known keys with unexpected value types.
type SubEnvelope struct {
	Cmd     string // "cmd"
	MsgUUID string // "msg_uuid"; empty when absent
	Extra   map[string]any

	absent  keyMask
	present keyMask
}

// SubHeader returns the sub-envelope itself.
func (e *SubEnvelope) SubHeader() *SubEnvelope { return e }

// Has reports whether a decoded sub-message carried key.
func (e *SubEnvelope) Has(key string) bool { return hasKey(e.Extra, e.present, key) }

// SubMessage is a typed tunnel sub-message.
type SubMessage interface {
	SubHeader() *SubEnvelope
}

func (e *SubEnvelope) fields(o *obj, def string) {
	o.begin(e.Extra, e.absent)
	o.str(kCmd, cmdOr(e.Cmd, def))
	o.optStr(kMsgUUID, e.MsgUUID)
}

func (e *SubEnvelope) decodeSub(d *dec) {
	d.str(kCmd, &e.Cmd)
	d.optStr(kMsgUUID, &e.MsgUUID)
}

func (e *SubEnvelope) finish(d *dec) {
	e.Extra = d.extra()
	e.absent, e.present = d.absent, d.present
}

// Token carries one token from the sender's outport PortID to the
// receiver's inport PeerPortID (spec §7.1).
type Token struct {
	SubEnvelope
	PortID      string       // "port_id": the sender's (out)port
	PeerPortID  string       // "peer_port_id": the receiver's (in)port
	SequenceNbr uint64       // "sequencenbr"
	Token       TokenPayload // "token"
}

// TokenPayload is an encoded token {"type", "data"} (spec §7.2).
type TokenPayload struct {
	Type  string // "type": Token, ExceptionToken or EOSToken
	Data  any    // "data": any generic value
	Extra map[string]any

	absent keyMask
}

func (t *TokenPayload) wireFields(o *obj) {
	o.begin(t.Extra, t.absent)
	o.str(kType, t.Type)
	o.val(kData, t.Data)
	o.rest()
}

func (m *Token) wireFields(o *obj) {
	m.fields(o, SubToken)
	o.str(kPortID, m.PortID)
	o.str(kPeerPortID, m.PeerPortID)
	o.uint(kSequenceNbr, m.SequenceNbr)
	o.sub(kToken, &m.Token)
	o.rest()
}

func (m *Token) decode(d *dec) {
	m.decodeSub(d)
	d.str(kPortID, &m.PortID)
	d.str(kPeerPortID, &m.PeerPortID)
	d.uint(kSequenceNbr, &m.SequenceNbr)
	if p := d.find(kToken); p != nil {
		if td, ok := d.child(p); ok {
			td.str(kType, &m.Token.Type)
			td.val(kData, &m.Token.Data)
			m.Token.Extra = td.extra()
			m.Token.absent = td.absent
			p.used = true
		}
	}
	m.finish(d)
}

// TokenReply acknowledges a token (spec §7.1): PortID and PeerPortID are
// echoed as received; Value is ACK, NACK or ABORT.
type TokenReply struct {
	SubEnvelope
	PortID      string // "port_id"
	PeerPortID  string // "peer_port_id"
	SequenceNbr uint64 // "sequencenbr"
	Value       string // "value"
}

func (m *TokenReply) wireFields(o *obj) {
	m.fields(o, SubTokenReply)
	o.str(kPortID, m.PortID)
	o.str(kPeerPortID, m.PeerPortID)
	o.uint(kSequenceNbr, m.SequenceNbr)
	o.str(kValue, m.Value)
	o.rest()
}

func (m *TokenReply) decode(d *dec) {
	m.decodeSub(d)
	d.str(kPortID, &m.PortID)
	d.str(kPeerPortID, &m.PeerPortID)
	d.uint(kSequenceNbr, &m.SequenceNbr)
	d.str(kValue, &m.Value)
	m.finish(d)
}

// StorageRequest is a request on the storage tunnel (spec §6.2). Cmd selects
// the keys that are sent: Key for SET, GET, DELETE, APPEND, REMOVE and
// GET_CONCAT; Prefix and Index for ADD_INDEX, REMOVE_INDEX and GET_INDEX;
// Value for SET, APPEND, REMOVE, ADD_INDEX and REMOVE_INDEX.
type StorageRequest struct {
	SubEnvelope
	Key    string   // "key"
	Value  any      // "value": the value, or the list of set items
	Prefix string   // "prefix": "index-"
	Index  []string // "index": level strings
}

// IsStorageCmd reports whether cmd is one of the nine storage requests.
func IsStorageCmd(cmd string) bool {
	switch cmd {
	case StorageSet, StorageGet, StorageDelete, StorageAppend, StorageRemove, StorageGetConcat,
		StorageAddIndex, StorageRemoveIndex, StorageGetIndex:
		return true
	}
	return false
}

func storageShape(cmd string) (key, index, value bool) {
	switch cmd {
	case StorageSet, StorageAppend, StorageRemove:
		return true, false, true
	case StorageGet, StorageDelete, StorageGetConcat:
		return true, false, false
	case StorageAddIndex, StorageRemoveIndex:
		return false, true, true
	case StorageGetIndex:
		return false, true, false
	}
	return false, false, false
}

func (m *StorageRequest) wireFields(o *obj) {
	m.fields(o, m.Cmd)
	key, index, value := storageShape(m.Cmd)
	if key {
		o.str(kKey, m.Key)
	}
	if index {
		o.str(kPrefix, m.Prefix)
		o.strs(kIndex, m.Index)
	}
	if value {
		o.val(kValue, m.Value)
	}
	o.rest()
}

func (m *StorageRequest) decode(d *dec) {
	m.decodeSub(d)
	key, index, value := storageShape(m.Cmd)
	if key {
		d.str(kKey, &m.Key)
	}
	if index {
		d.str(kPrefix, &m.Prefix)
		d.strs(kIndex, &m.Index)
	}
	if value {
		d.val(kValue, &m.Value)
	}
	m.finish(d)
}

// Validate reports a missing or mistyped key required by the request's Cmd;
// the server answers such a request with response 400 (spec §6.2).
func (m *StorageRequest) Validate() error {
	key, index, value := storageShape(m.Cmd)
	keys := make([]keyID, 0, 3)
	if key {
		keys = append(keys, kKey)
	}
	if index {
		keys = append(keys, kIndex)
	}
	if value {
		keys = append(keys, kValue)
	}
	return requireKeys(m.Cmd, m.Extra, m.absent, keys...)
}

// TunnelReply is a REPLY inside a tunnel (spec §6.2, §6.3). Storage replies
// carry either Value (GET, GET_CONCAT, GET_INDEX data) or Response, and echo
// Key for key-based commands; proxy replies carry a CalvinResponse in Value
// (see ValueResponse). Response is sent when not nil, Value when Response is
// nil or Value is not nil.
type TunnelReply struct {
	SubEnvelope
	Key      string    // "key"; omitted when ""
	Value    any       // "value"
	Response *Response // "response"
}

func (m *TunnelReply) wireFields(o *obj) {
	m.fields(o, SubReply)
	o.optStr(kKey, m.Key)
	if m.Response != nil {
		o.sub(kResponse, m.Response)
	}
	if m.Response == nil || m.Value != nil {
		o.val(kValue, m.Value)
	}
	o.rest()
}

func (m *TunnelReply) decode(d *dec) {
	m.decodeSub(d)
	d.optStr(kKey, &m.Key)
	if p := d.find(kResponse); p != nil {
		if c, ok := d.child(p); ok {
			if r, ok := c.response(); ok {
				m.Response = &r
				p.used = true
			}
		}
	}
	if p := d.find(kValue); p != nil && (m.Response == nil || !d.isNull(p)) {
		m.Value = d.valueOf(p)
		p.used = true
	}
	m.finish(d)
}

// ValueResponse interprets Value as a CalvinResponse (the proxy tunnel's reply form).
func (m *TunnelReply) ValueResponse() (Response, bool) {
	if r, ok := m.Value.(Response); ok {
		return r, true
	}
	if r, ok := m.Value.(*Response); ok && r != nil {
		return *r, true
	}
	return ResponseFrom(m.Value)
}

// ProxyConfig is the proxy tunnel's CONFIG request (spec §6.3). Attributes
// is a JSON text; constrained's extra "redeploy" stays in Extra.
type ProxyConfig struct {
	SubEnvelope
	Attributes             string   // "attributes" (a JSON string)
	Capabilities           []string // "capabilities"
	PortPropertyCapability string   // "port_property_capability"
}

func (m *ProxyConfig) wireFields(o *obj) {
	m.fields(o, ProxyCmdConfig)
	o.str(kAttributes, m.Attributes)
	o.strs(kCapabilities, m.Capabilities)
	o.str(kPortPropertyCapability, m.PortPropertyCapability)
	o.rest()
}

func (m *ProxyConfig) decode(d *dec) {
	m.decodeSub(d)
	d.str(kAttributes, &m.Attributes)
	d.strs(kCapabilities, &m.Capabilities)
	d.str(kPortPropertyCapability, &m.PortPropertyCapability)
	m.finish(d)
}

// ProxyRequest is any other proxy tunnel message (REQ_MATCH, WILL_SLEEP,
// WAKEUP, GET_ACTOR_MODULE, DESTROY, DESTROY_REPLY): Cmd and MsgUUID are
// typed, the command's fields ("actor_id", "time", ...) are in Extra.
type ProxyRequest struct {
	SubEnvelope
}

func (m *ProxyRequest) wireFields(o *obj) {
	m.fields(o, m.Cmd)
	o.rest()
}

func (m *ProxyRequest) decode(d *dec) {
	m.decodeSub(d)
	m.finish(d)
}

type subDecoder interface {
	SubMessage
	decode(d *dec)
}

// subMessage decodes a TUNNEL_DATA value: its typed sub-message when it is
// a map with a known cmd, the generic value otherwise.
func (d *dec) subMessage(p *pair) any {
	c, ok := d.child(p)
	if !ok {
		return d.valueOf(p)
	}
	var cmd string
	if cp := c.lookup(keyNames[kCmd]); cp != nil {
		cmd, _ = c.strOf(cp)
	}
	var s subDecoder
	switch {
	case cmd == SubToken:
		s = new(Token)
	case cmd == SubTokenReply:
		s = new(TokenReply)
	case cmd == SubReply:
		s = new(TunnelReply)
	case IsStorageCmd(cmd):
		s = new(StorageRequest)
	case cmd == ProxyCmdConfig:
		s = new(ProxyConfig)
	case cmd == ProxyCmdReqMatch, cmd == ProxyCmdWillSleep, cmd == ProxyCmdWakeup,
		cmd == ProxyCmdGetActorModule, cmd == ProxyCmdDestroy, cmd == ProxyCmdDestroyReply:
		s = new(ProxyRequest)
	default:
		return d.valueOf(p)
	}
	s.decode(c)
	return s
}
