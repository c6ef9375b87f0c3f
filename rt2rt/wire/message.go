package wire

// Command strings of the RT2RT protocol.
const (
	CmdJoinRequest       = "JOIN_REQUEST"
	CmdJoinReply         = "JOIN_REPLY"
	CmdReply             = "REPLY"
	CmdTunnelNew         = "TUNNEL_NEW"
	CmdTunnelDestroy     = "TUNNEL_DESTROY"
	CmdTunnelData        = "TUNNEL_DATA"
	CmdPortConnect       = "PORT_CONNECT"
	CmdPortDisconnect    = "PORT_DISCONNECT"
	CmdPortRemoteConnect = "PORT_REMOTE_CONNECT"
	CmdActorNew          = "ACTOR_NEW"
	CmdActorMigrate      = "ACTOR_MIGRATE"
	CmdAppDestroy        = "APP_DESTROY"

	// Replication, election and security commands (spec §4.5). The Go node
	// answers them but never sends them.
	CmdQueuePressure          = "QUEUE_PRESSURE"
	CmdLeaderElected          = "LEADER_ELECTED"
	CmdAuthenticationDecision = "AUTHENTICATION_DECISION"
	CmdAuthorizationRegister  = "AUTHORIZATION_REGISTER"
	CmdAuthorizationDecision  = "AUTHORIZATION_DECISION"
	CmdAuthorizationSearch    = "AUTHORIZATION_SEARCH"
)

// Envelope holds the keys every post-join message carries. Typed messages
// embed it. Extra keeps keys the typed message does not model, so that a
// forwarded or re-encoded message is not altered.
type Envelope struct {
	Cmd     string // "cmd"
	From    string // "from_rt_uuid"
	To      string // "to_rt_uuid"
	MsgUUID string // "msg_uuid"; empty when absent
	Extra   map[string]any

	// absent records known keys missing from a decoded message, so that
	// re-encoding does not add them. Zero for messages built in Go.
	absent  keyMask
	present keyMask
}

// Header returns the envelope itself; it lets every typed message satisfy Message.
func (e *Envelope) Header() *Envelope { return e }

// Has reports whether a decoded message carried key, either in a typed field
// or in Extra, whatever its value (null included). Handlers use it to tell a
// missing required key (answer 400) from an empty one.
func (e *Envelope) Has(key string) bool {
	return hasKey(e.Extra, e.present, key)
}

func hasKey(extra map[string]any, present keyMask, key string) bool {
	if _, ok := extra[key]; ok {
		return true
	}
	for i, n := range keyNames {
		if n == key {
			return present.has(keyID(i))
		}
	}
	return false
}

// Message is any typed RT2RT message.
type Message interface {
	Header() *Envelope
}

// Serializer encodes and decodes whole messages for one coder ("json", "msgpack", ...).
type Serializer interface {
	Name() string
	// Encode appends the encoded message to dst and returns the extended slice.
	Encode(dst []byte, m Message) ([]byte, error)
	// Decode parses one payload into its typed message (an *Unknown for an
	// unrecognised cmd). Errors wrap ErrMalformed.
	Decode(payload []byte) (Message, error)
}
