// Package wire holds the typed messages of Calvin's runtime-to-runtime
// (RT2RT) protocol and the serializers that put them on the wire.
//
// It is the bottom of the Calvin stack: it knows nothing about links,
// tunnels or actors. A frame payload decodes into a typed Message (one
// struct per command, *Unknown for an unknown cmd); TUNNEL_DATA values
// decode into typed sub-messages (*Token, *TokenReply, *StorageRequest,
// *TunnelReply, *ProxyConfig, *ProxyRequest) or stay generic.
//
// # Lossless round trips
//
// Keys a type does not model, and known keys whose value has an unexpected
// type, are kept in Extra; keys absent from the input are not added when the
// message is encoded again. A forwarded message therefore reaches its target
// unchanged, even through a link with the other coder. The one deliberate
// change is that a CalvinResponse always carries status, data and
// success_list (spec §3.5). Has tells which keys a decoded message carried,
// and the Validate methods report missing required keys so that handlers can
// answer 400 where Calvin stays silent.
//
// # Values
//
// Generic values use one model whatever the coder: nil, bool, string, int64,
// uint64 (above MaxInt64 only), *big.Int (beyond 64 bits), float64, []any and
// map[string]any. Integers never pass through float64, so Calvin's
// 9223372036854775808 survives; floats stay floats. Equal compares values the
// way the golden vectors are compared (spec §14.4).
//
// # Coders
//
// JSON writes what Python's json.dumps would accept and read back: ASCII only
// (\uXXXX escapes), NaN and Infinity literals, exact integers; its output is
// compact and map key order is unspecified. Msgpack writes Calvin's
// u-msgpack compatibility dialect: old-spec raw strings (never str8 or bin),
// the smallest integer encoding with unsigned families for non-negative
// values, float64 floats; it reads every str, raw and bin family, both
// integer families and float32, and ignores bytes after the first object.
// Malformed input gives a *DecodeError wrapping ErrMalformed, never a panic;
// nesting is limited to MaxDepth. A Registry orders serializers by priority
// and picks the coder in the join handshake; users may register their own.
//
// # Performance
//
// Typed messages are encoded by appending, without reflection, and decoded
// straight from the payload into their fields (only unknown keys build
// generic maps). The frames of a token flow (TUNNEL_DATA carrying TOKEN or
// TOKEN_REPLY) take a one-pass path in both directions: a TOKEN frame costs
// two allocations to decode (the strings' backing copy, and the TunnelData
// and Token together) and none to encode. The one-pass decoder gives up on
// any shape it does not expect (unknown or repeated keys, escaped JSON
// strings, unusual number encodings) and the general decoder runs instead,
// so the result never depends on the path taken. Serializers are safe for
// concurrent use.
package wire
