package rt2rt

import "time"

// Observer is told about the node's important events so they can be bridged
// to metrics or tracing without the library depending on either. Methods are
// called from the node's goroutines and must not block; embed NopObserver to
// implement only some of them.
type Observer interface {
	// Joined: a handshake completed (initiator tells whether this node dialled).
	Joined(peer, uri, serializer string, initiator bool, rtt time.Duration)
	// JoinFailed: a handshake in either role failed.
	JoinFailed(uri string, err error)
	// LinkUp / LinkDown: the link table gained or lost the peer. err is the
	// reason the connection ended (nil on a local close).
	LinkUp(peer, uri string)
	LinkDown(peer string, err error)
	// LinkReplaced: a duplicate connection replaced the link (§2.8).
	LinkReplaced(peer string)
	// RequestTimeout: a request got no REPLY in time.
	RequestTimeout(peer, cmd, msgUUID string)
	// Forwarded: a message for another node was relayed (§3.8).
	Forwarded(from, to, cmd string)
	// Dropped: an incoming message was discarded (reason says why).
	Dropped(peer, cmd string, reason error)
}

// NopObserver implements Observer with methods that do nothing.
type NopObserver struct{}

func (NopObserver) Joined(string, string, string, bool, time.Duration) {}
func (NopObserver) JoinFailed(string, error)                           {}
func (NopObserver) LinkUp(string, string)                              {}
func (NopObserver) LinkDown(string, error)                             {}
func (NopObserver) LinkReplaced(string)                                {}
func (NopObserver) RequestTimeout(string, string, string)              {}
func (NopObserver) Forwarded(string, string, string)                   {}
func (NopObserver) Dropped(string, string, error)                      {}
