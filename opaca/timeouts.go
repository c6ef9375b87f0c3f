package opaca

import (
	"fmt"
	"time"
)

// Server timeouts against slow or idle clients, shared by the platform and
// the agent container servers.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultBodyReadTimeout   = 30 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
)

// ServerTimeouts bounds how long a client may take to send its request
// headers (ReadHeader) and a JSON request body (BodyRead), and how long a
// keep-alive connection may stay idle (Idle).
type ServerTimeouts struct {
	ReadHeader, BodyRead, Idle time.Duration
}

// DefaultServerTimeouts returns 10 s, 30 s and 120 s.
func DefaultServerTimeouts() ServerTimeouts {
	return ServerTimeouts{ReadHeader: DefaultReadHeaderTimeout, BodyRead: DefaultBodyReadTimeout, Idle: DefaultIdleTimeout}
}

// With returns t with every non-zero argument replacing its field; a
// negative argument is an error.
func (t ServerTimeouts) With(readHeader, bodyRead, idle time.Duration) (ServerTimeouts, error) {
	if readHeader < 0 || bodyRead < 0 || idle < 0 {
		return t, fmt.Errorf("server timeouts must not be negative")
	}
	if readHeader > 0 {
		t.ReadHeader = readHeader
	}
	if bodyRead > 0 {
		t.BodyRead = bodyRead
	}
	if idle > 0 {
		t.Idle = idle
	}
	return t, nil
}
