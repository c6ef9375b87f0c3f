package wire

import "fmt"

// keyID numbers the wire keys the typed messages know, so that "this key was
// absent when decoded" fits in one bit mask.
type keyID uint8

const (
	kCmd keyID = iota
	kFrom
	kTo
	kMsgUUID
	kSerializers
	kID
	kSID
	kSerializer
	kValue
	kTunnelID
	kType
	kPolicy
	kPortID
	kPortProperties
	kPeerPortID
	kPeerActorID
	kPeerPortName
	kPeerPortProperties
	kPeerPortDir
	kTerminate
	kRemainingTokens
	kState
	kActorType
	kActorState
	kPrevConnections
	kConnectionList
	kActorID
	kPeerNodeID
	kRequirements
	kExtend
	kMove
	kAppUUID
	kActorUUIDs
	kDisconnect
	kReplicationID
	kPressure
	kTypeCmd
	kData
	kJWT
	kCertName
	kSequenceNbr
	kToken
	kKey
	kPrefix
	kIndex
	kResponse
	kAttributes
	kCapabilities
	kPortPropertyCapability
	kTime
	kMaxPlacements
	kCompiler
	kMethod
	kStatus
	kSuccessList
	numKeys
)

var keyNames = [numKeys]string{
	kCmd:                    "cmd",
	kFrom:                   "from_rt_uuid",
	kTo:                     "to_rt_uuid",
	kMsgUUID:                "msg_uuid",
	kSerializers:            "serializers",
	kID:                     "id",
	kSID:                    "sid",
	kSerializer:             "serializer",
	kValue:                  "value",
	kTunnelID:               "tunnel_id",
	kType:                   "type",
	kPolicy:                 "policy",
	kPortID:                 "port_id",
	kPortProperties:         "port_properties",
	kPeerPortID:             "peer_port_id",
	kPeerActorID:            "peer_actor_id",
	kPeerPortName:           "peer_port_name",
	kPeerPortProperties:     "peer_port_properties",
	kPeerPortDir:            "peer_port_dir",
	kTerminate:              "terminate",
	kRemainingTokens:        "remaining_tokens",
	kState:                  "state",
	kActorType:              "actor_type",
	kActorState:             "actor_state",
	kPrevConnections:        "prev_connections",
	kConnectionList:         "connection_list",
	kActorID:                "actor_id",
	kPeerNodeID:             "peer_node_id",
	kRequirements:           "requirements",
	kExtend:                 "extend",
	kMove:                   "move",
	kAppUUID:                "app_uuid",
	kActorUUIDs:             "actor_uuids",
	kDisconnect:             "disconnect",
	kReplicationID:          "replication_id",
	kPressure:               "pressure",
	kTypeCmd:                "type_cmd",
	kData:                   "data",
	kJWT:                    "jwt",
	kCertName:               "cert_name",
	kSequenceNbr:            "sequencenbr",
	kToken:                  "token",
	kKey:                    "key",
	kPrefix:                 "prefix",
	kIndex:                  "index",
	kResponse:               "response",
	kAttributes:             "attributes",
	kCapabilities:           "capabilities",
	kPortPropertyCapability: "port_property_capability",
	kTime:                   "time",
	kMaxPlacements:          "max_placements",
	kCompiler:               "compiler",
	kMethod:                 "method",
	kStatus:                 "status",
	kSuccessList:            "success_list",
}

var _ = [64 - numKeys]struct{}{} // keyMask must hold every key

// keyMask is a set of keyIDs.
type keyMask uint64

func (m keyMask) has(k keyID) bool { return m&(1<<k) != 0 }

// fielder is implemented by every typed message and sub-message: it lists
// its map entries to an obj, which either counts them (msgpack needs the
// count up front) or writes them.
type fielder interface {
	wireFields(o *obj)
}

// obj emits the entries of one map. Keys present in extra override the typed
// field of the same name; keys marked absent (absent on decode) are skipped,
// so a decoded message re-encodes to the same set of keys.
type obj struct {
	w      *writer // nil while counting
	n      int
	extra  map[string]any
	absent keyMask
}

func (o *obj) begin(extra map[string]any, absent keyMask) {
	o.extra, o.absent = extra, absent
}

func (o *obj) key(k keyID) bool {
	if o.absent.has(k) {
		return false
	}
	if o.extra != nil {
		if _, ok := o.extra[keyNames[k]]; ok {
			return false
		}
	}
	if o.w == nil {
		o.n++
		return false
	}
	o.w.key(keyNames[k])
	return true
}

// str writes a string that is always sent.
func (o *obj) str(k keyID, v string) {
	if o.key(k) {
		o.w.str(v)
	}
}

// nullStr writes a string whose empty value is sent as null.
func (o *obj) nullStr(k keyID, v string) {
	if o.key(k) {
		if v == "" {
			o.w.null()
		} else {
			o.w.str(v)
		}
	}
}

// optStr writes a string only when it is not empty.
func (o *obj) optStr(k keyID, v string) {
	if v != "" {
		o.str(k, v)
	}
}

func (o *obj) int(k keyID, v int64) {
	if o.key(k) {
		o.w.int(v)
	}
}

func (o *obj) uint(k keyID, v uint64) {
	if o.key(k) {
		o.w.uint(v)
	}
}

func (o *obj) bool(k keyID, v bool) {
	if o.key(k) {
		o.w.bool(v)
	}
}

func (o *obj) val(k keyID, v any) {
	if o.key(k) {
		o.w.value(v)
	}
}

// emptyMapOr writes v, or {} when v is nil.
func (o *obj) emptyMapOr(k keyID, v any) {
	if o.key(k) {
		if v == nil {
			o.w.mapHeader(0)
			o.w.mapEnd()
		} else {
			o.w.value(v)
		}
	}
}

func (o *obj) strs(k keyID, v []string) {
	if o.key(k) {
		o.w.strings(v)
	}
}

func (o *obj) ints(k keyID, v []int) {
	if o.key(k) {
		o.w.arrayHeader(len(v))
		for _, e := range v {
			o.w.elem()
			o.w.int(int64(e))
		}
		o.w.arrayEnd()
	}
}

func (o *obj) sub(k keyID, f fielder) {
	if o.key(k) {
		o.w.value(f)
	}
}

// rest writes every Extra entry.
func (o *obj) rest() {
	if o.w == nil {
		o.n += len(o.extra)
		return
	}
	for k, v := range o.extra {
		o.w.key(k)
		o.w.value(v)
		if o.w.err != nil {
			return
		}
	}
}

// object writes f as one map. The obj values come from the writer's
// arena: passing them to an interface method would otherwise put each on
// the heap.
func (w *writer) object(f fielder) {
	var o *obj
	if w.nobj < len(w.objs) {
		o = &w.objs[w.nobj]
	} else {
		o = new(obj)
	}
	w.nobj++
	if w.mp {
		*o = obj{}
		f.wireFields(o)
		w.mapHeader(o.n)
	} else {
		w.mapHeader(0)
	}
	*o = obj{w: w}
	f.wireFields(o)
	*o = obj{}
	w.nobj--
	w.mapEnd()
}

// nullMap writes a map whose nil value is sent as null.
func (o *obj) nullMap(k keyID, v map[string]any) {
	if o.key(k) {
		if v == nil {
			o.w.null()
		} else {
			o.w.value(v)
		}
	}
}

// requireKeys reports the first key that was absent from a decoded message
// or had a value of the wrong type (left in Extra). Messages built in Go
// always pass.
func requireKeys(cmd string, extra map[string]any, absent keyMask, keys ...keyID) error {
	for _, k := range keys {
		if absent.has(k) {
			return fmt.Errorf("%w: %s has no %q", ErrMissingField, cmd, keyNames[k])
		}
		if v, ok := extra[keyNames[k]]; ok {
			return fmt.Errorf("%w: %s key %q has unexpected type %T", ErrMissingField, cmd, keyNames[k], v)
		}
	}
	return nil
}
