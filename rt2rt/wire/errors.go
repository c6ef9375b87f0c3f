package wire

import (
	"errors"
	"fmt"
)

// Sentinel errors. Decoding errors wrap ErrMalformed; encoding errors wrap
// ErrUnencodable. Use errors.Is to test for them.
var (
	// ErrMalformed reports a payload that is not a valid message in the coder's format.
	ErrMalformed = errors.New("wire: malformed payload")
	// ErrUnencodable reports a value the coder cannot represent (for example a
	// non-UTF-8 string on a JSON link, or an integer beyond 64 bits in msgpack).
	ErrUnencodable = errors.New("wire: value cannot be encoded")
	// ErrMissingField reports a message lacking a key the protocol requires.
	ErrMissingField = errors.New("wire: required field missing")
	// ErrDuplicateSerializer reports a Register call for a name already registered.
	ErrDuplicateSerializer = errors.New("wire: serializer already registered")
)

// MaxDepth is the deepest nesting of maps and lists a decoder accepts and an
// encoder produces. Deeper input is rejected so that hostile frames cannot
// exhaust the stack.
const MaxDepth = 100

// DecodeError describes why a payload could not be decoded. It wraps
// ErrMalformed, so errors.Is(err, ErrMalformed) holds; errors.As gives the
// coder and the byte offset for logs.
type DecodeError struct {
	Coder  string // "json" or "msgpack"
	Offset int    // byte offset in the payload where decoding failed
	Reason string
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("wire: malformed %s payload at offset %d: %s", e.Coder, e.Offset, e.Reason)
}

// Unwrap returns ErrMalformed.
func (e *DecodeError) Unwrap() error { return ErrMalformed }
