package token

import (
	"fmt"

	"github.com/meshkit/meshkit/rt2rt/wire"
)

// Canonical type names of encoded tokens (spec §7.2).
const (
	TypeToken     = "Token"
	TypeException = "ExceptionToken"
	TypeEOS       = "EOSToken"
)

// Default data values, as Calvin creates them.
const (
	DefaultExceptionData = "Exception"
	DefaultEOSData       = "End of stream"
	// BadTokenData replaces the data of an encoded token without a data key.
	BadTokenData = "Bad Token"
)

// Kind tells ordinary tokens from exception tokens.
type Kind uint8

// Token kinds. EOS is a kind of exception.
const (
	KindToken Kind = iota
	KindException
	KindEOS
)

// String returns the canonical wire type name of the kind.
func (k Kind) String() string {
	switch k {
	case KindToken:
		return TypeToken
	case KindEOS:
		return TypeEOS
	default:
		return TypeException
	}
}

// Token is one dataflow value. It is a small value type so that queues can
// hold tokens without allocating. Data is any generic value the coders carry
// (nil, bool, string, int64, uint64, *big.Int, float64, []any, map[string]any).
type Token struct {
	Kind Kind
	Data any
}

// New returns an ordinary token carrying data.
func New(data any) Token { return Token{Kind: KindToken, Data: data} }

// NewException returns an exception token; nil data becomes "Exception" as in Calvin.
func NewException(data any) Token {
	if data == nil {
		data = DefaultExceptionData
	}
	return Token{Kind: KindException, Data: data}
}

// NewEOS returns an end-of-stream token with Calvin's default data.
func NewEOS() Token { return Token{Kind: KindEOS, Data: DefaultEOSData} }

// Type returns the canonical wire type name ("Token", "ExceptionToken", "EOSToken").
func (t Token) Type() string { return t.Kind.String() }

// IsException reports whether t is an exception token (EOS included).
func (t Token) IsException() bool { return t.Kind != KindToken }

// IsEOS reports whether t marks the end of a stream.
func (t Token) IsEOS() bool { return t.Kind == KindEOS }

// String is for logs.
func (t Token) String() string { return fmt.Sprintf("%s(%v)", t.Type(), t.Data) }

// Encode returns the wire form {"type": ..., "data": ...} with the canonical type name.
func (t Token) Encode() map[string]any {
	return map[string]any{"type": t.Type(), "data": t.Data}
}

// FromTypeData builds a token from a decoded type name and data with Calvin's
// rules: an unknown or empty type gives an exception token that keeps the data.
func FromTypeData(typ string, data any) Token {
	switch typ {
	case TypeToken:
		return Token{Kind: KindToken, Data: data}
	case TypeEOS:
		return Token{Kind: KindEOS, Data: data}
	default:
		return Token{Kind: KindException, Data: data}
	}
}

// Decode parses an encoded token (a generic map). A missing or non-string type
// gives an exception token, a missing data key gives "Bad Token" (spec §7.2).
// Only a value that is not a map at all is an error (wrapping ErrMalformedToken).
func Decode(v any) (Token, error) {
	var typ, data any
	var hasData bool
	switch m := v.(type) {
	case map[string]any:
		typ = m["type"]
		data, hasData = m["data"]
	case map[any]any:
		typ = m["type"]
		data, hasData = m["data"]
	default:
		return Token{}, fmt.Errorf("%w: %T is not a map", ErrMalformedToken, v)
	}
	if !hasData {
		data = BadTokenData
	}
	name, _ := typ.(string)
	return FromTypeData(name, data), nil
}

// Payload converts t to the wire's encoded token.
func (t Token) Payload() wire.TokenPayload {
	return wire.TokenPayload{Type: t.Type(), Data: t.Data}
}

// FromPayload converts a decoded wire token with Calvin's type rules.
func FromPayload(p wire.TokenPayload) Token { return FromTypeData(p.Type, p.Data) }
