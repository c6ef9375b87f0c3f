package transport

import (
	"context"
	"errors"
)

// DefaultMaxFrameSize is Calvin's limit: payloads up to and including 20 MiB are accepted.
const DefaultMaxFrameSize = 20 * 1024 * 1024

// Sentinel errors. Implementations wrap them with %w and the failing address.
var (
	ErrClosed         = errors.New("transport: connection closed")
	ErrFrameTooLarge  = errors.New("transport: frame exceeds maximum size")
	ErrTruncatedFrame = errors.New("transport: truncated frame")
	ErrUnknownScheme  = errors.New("transport: unknown URI scheme")
	ErrInvalidURI     = errors.New("transport: invalid URI")
	ErrQueueFull      = errors.New("transport: send queue full")
)

// Conn is one framed, bidirectional connection between two nodes.
//
// Send and Recv may be called concurrently with each other; Send is safe for
// concurrent use by several goroutines, Recv is called by one reader goroutine.
type Conn interface {
	// Send queues one frame for the connection's writer goroutine and takes
	// ownership of the slice. It blocks while the bounded queue is full
	// (back-pressure) until ctx is done. A frame over the maximum size fails
	// locally with ErrFrameTooLarge and the connection stays up.
	Send(ctx context.Context, frame []byte) error
	// Recv returns the next frame. It returns ErrClosed (wrapped) after Close
	// or when the peer went away, ErrFrameTooLarge when the peer broke
	// framing (the connection is then closed). A stream that ends inside a
	// frame (the peer went away mid-frame) gives an error wrapping both
	// ErrClosed and ErrTruncatedFrame.
	Recv(ctx context.Context) ([]byte, error)
	// LocalURI and RemoteURI name the two ends, for logs and link tables.
	LocalURI() string
	RemoteURI() string
	// Close flushes nothing further, unblocks Send and Recv, and is safe to call twice.
	Close() error
}

// Borrower is implemented by connections that can hand out a received frame
// without copying it (calvinip: a view of the read buffer when the whole
// frame is buffered). The frame returned by RecvBorrowed is valid only
// until the next RecvBorrowed or Recv call; the caller copies what it
// keeps. Errors are those of Recv.
type Borrower interface {
	RecvBorrowed(ctx context.Context) ([]byte, error)
}

// Listener accepts incoming connections.
type Listener interface {
	Accept(ctx context.Context) (Conn, error)
	// URI is the URI peers dial, with the port actually bound.
	URI() string
	Close() error
}

// Transport dials and listens for the URI schemes it serves.
type Transport interface {
	Schemes() []string
	Dial(ctx context.Context, uri string) (Conn, error)
	Listen(ctx context.Context, uri string) (Listener, error)
}
