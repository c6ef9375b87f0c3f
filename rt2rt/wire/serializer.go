package wire

import (
	"fmt"
	"sync"
)

// Coder names used in the join handshake (spec §2.4).
const (
	NameJSON    = "json"
	NameMsgpack = "msgpack"
)

// ValueCoder encodes and decodes generic values (see the value model in
// value.go) in one coder's format. JSON and Msgpack implement it.
type ValueCoder interface {
	EncodeValue(dst []byte, v any) ([]byte, error)
	DecodeValue(payload []byte) (any, error)
}

// JSONSerializer is the "json" coder: Python json.dumps compatible output
// (compact, ASCII only, NaN/Infinity literals), lossless integers.
type JSONSerializer struct{}

// MsgpackSerializer is the "msgpack" coder in Calvin's u-msgpack
// compatibility dialect: old-spec raw strings, smallest integer encodings
// (unsigned families for non-negative values), float64 floats. Decoding
// accepts every str/raw/bin family and ignores trailing bytes.
type MsgpackSerializer struct{}

// The two built-in coders.
var (
	JSON    JSONSerializer
	Msgpack MsgpackSerializer
)

var (
	_ Serializer = JSON
	_ Serializer = Msgpack
	_ ValueCoder = JSON
	_ ValueCoder = Msgpack
)

// Name returns "json".
func (JSONSerializer) Name() string { return NameJSON }

// Name returns "msgpack".
func (MsgpackSerializer) Name() string { return NameMsgpack }

// Encode appends m as JSON to dst.
func (JSONSerializer) Encode(dst []byte, m Message) ([]byte, error) {
	return encodeMessage(dst, m, false)
}

// Encode appends m as msgpack to dst.
func (MsgpackSerializer) Encode(dst []byte, m Message) ([]byte, error) {
	return encodeMessage(dst, m, true)
}

// Decode parses a JSON payload into its typed message.
func (JSONSerializer) Decode(payload []byte) (Message, error) {
	f := newFastJSON(payload)
	if m, ok := fastTunnelData(&f); ok {
		return m, nil
	}
	return decodeJSONMessage(payload, backingFor(payload))
}

// decodeJSONMessage is the general decoder (backing as from backingFor).
func decodeJSONMessage(payload []byte, backing string) (Message, error) {
	c := getCtx()
	defer putCtx(c)
	c.jr = jsonReader{b: payload, backing: backing}
	return decodeSpan(c, NameJSON, &c.jr, func() (any, error) { return decodeJSON(payload) })
}

// Decode parses a msgpack payload into its typed message. Bytes after the
// first object are ignored.
func (MsgpackSerializer) Decode(payload []byte) (Message, error) {
	f := newFastMP(payload)
	if m, ok := fastTunnelData(&f); ok {
		return m, nil
	}
	return decodeMsgpackMessage(payload, backingFor(payload))
}

// decodeMsgpackMessage is the general decoder (backing as from backingFor).
func decodeMsgpackMessage(payload []byte, backing string) (Message, error) {
	c := getCtx()
	defer putCtx(c)
	c.mr = mpReader{b: payload, backing: backing}
	return decodeSpan(c, NameMsgpack, &c.mr, func() (any, error) {
		v, _, err := decodeMsgpack(payload)
		return v, err
	})
}

// EncodeValue appends the generic value v as JSON to dst.
func (JSONSerializer) EncodeValue(dst []byte, v any) ([]byte, error) {
	return encodeValue(dst, v, false)
}

// EncodeValue appends the generic value v as msgpack to dst.
func (MsgpackSerializer) EncodeValue(dst []byte, v any) ([]byte, error) {
	return encodeValue(dst, v, true)
}

// DecodeValue decodes one JSON value into the generic value model.
func (JSONSerializer) DecodeValue(payload []byte) (any, error) {
	return decodeJSON(payload)
}

// DecodeValue decodes the first msgpack object of payload into the generic
// value model; trailing bytes are ignored.
func (MsgpackSerializer) DecodeValue(payload []byte) (any, error) {
	v, _, err := decodeMsgpack(payload)
	return v, err
}

func encodeValue(dst []byte, v any, mp bool) ([]byte, error) {
	w := getWriter(dst, mp)
	w.value(v)
	b, err := w.release()
	if err != nil {
		return dst, err
	}
	return b, nil
}

func encodeMessage(dst []byte, m Message, mp bool) ([]byte, error) {
	if m == nil {
		return dst, fmt.Errorf("%w: nil message", ErrUnencodable)
	}
	var f fielder
	if x, ok := m.(fielder); ok {
		f = x
	} else {
		h := m.Header()
		if h == nil {
			return dst, fmt.Errorf("%w: %T has no envelope", ErrUnencodable, m)
		}
		f = envelopeOnly{h}
	}
	w := getWriter(dst, mp)
	if td, ok := m.(*TunnelData); !ok || !w.tokenFrame(td) {
		w.object(f)
	}
	b, err := w.release()
	if err != nil {
		return dst, fmt.Errorf("encode %s: %w", m.Header().Cmd, err)
	}
	return b, nil
}

// DecodeJoinReply decodes a JSON join reply whatever its cmd (Calvin does not
// check it, spec §2.6).
func DecodeJoinReply(payload []byte) (*JoinReply, error) {
	v, err := decodeJSON(payload)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, notAMap(NameJSON, v)
	}
	c := getCtx()
	defer putCtx(c)
	r := new(JoinReply)
	r.decode(c.mapRoot(m, 1))
	return r, nil
}

// Registry is an ordered set of serializers: the order is this node's
// priority list for the join (spec §2.4). It is safe for concurrent use.
type Registry struct {
	mu   sync.RWMutex
	list []Serializer
}

// NewRegistry returns a registry with s in priority order (first = most
// preferred). Later duplicates of a name are ignored.
func NewRegistry(s ...Serializer) *Registry {
	r := &Registry{}
	for _, x := range s {
		_ = r.Register(x)
	}
	return r
}

// DefaultRegistry returns a new registry with json then msgpack, Calvin's
// default priority.
func DefaultRegistry() *Registry { return NewRegistry(JSON, Msgpack) }

// Register appends s at the lowest priority. It fails for a nil serializer,
// an empty name, or a name already registered.
func (r *Registry) Register(s Serializer) error {
	if s == nil || s.Name() == "" {
		return fmt.Errorf("wire: register: serializer without a name")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, x := range r.list {
		if x.Name() == s.Name() {
			return fmt.Errorf("%w: %q", ErrDuplicateSerializer, s.Name())
		}
	}
	r.list = append(r.list, s)
	return nil
}

// Lookup returns the serializer called name.
func (r *Registry) Lookup(name string) (Serializer, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, x := range r.list {
		if x.Name() == name {
			return x, true
		}
	}
	return nil, false
}

// Names returns the registered names in priority order (what a JOIN_REQUEST offers).
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, len(r.list))
	for i, x := range r.list {
		out[i] = x.Name()
	}
	return out
}

// Choose walks the registry's priority list and returns the first serializer
// that offered also names (the responder's rule, spec §2.4). The order of
// offered does not matter.
func (r *Registry) Choose(offered []string) (Serializer, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, x := range r.list {
		for _, o := range offered {
			if o == x.Name() {
				return x, true
			}
		}
	}
	return nil, false
}

// TrailingBytes returns how many bytes of payload follow its first msgpack
// object (0 when payload is malformed), so that a receiver can log frames
// like constrained's CONFIG (spec §2.10) that Decode accepts.
func (MsgpackSerializer) TrailingBytes(payload []byte) int {
	r := mpReader{b: payload}
	if err := r.skip(); err != nil {
		return 0
	}
	return len(payload) - r.i
}
