// Package wire holds the typed messages of Calvin's runtime-to-runtime
// (RT2RT) protocol and the serializers that put them on the wire.
//
// It is the bottom of the Calvin stack: it knows nothing about links,
// tunnels or actors. A frame payload decodes into a typed Message (one
// struct per command, *Unknown for an unknown cmd); TUNNEL_DATA values
// decode into typed sub-messages (*Token, *TokenReply, *StorageRequest,
// *TunnelReply, *ProxyConfig, *ProxyRequest) or stay generic.
//
// Decoding is lossless: keys a type does not model, and known keys whose
// value has an unexpected type, are kept in Extra, and keys absent from the
// input are not added when the message is encoded again, so a forwarded
// message reaches its target unchanged.
//
// Generic values use one model whatever the coder: nil, bool, string, int64,
// uint64 (above MaxInt64 only), *big.Int (beyond 64 bits), float64, []any and
// map[string]any. Integers never pass through float64, so Calvin's
// 9223372036854775808 survives; floats stay floats.
//
// Two serializers are provided: JSON (Python json.dumps compatible, ASCII
// only, NaN and Infinity literals) and Msgpack (Calvin's u-msgpack
// compatibility dialect: old-spec raw strings, smallest integers with
// unsigned families for non-negative values, float64). A Registry orders
// them by priority and picks the coder in the join handshake.
package wire
