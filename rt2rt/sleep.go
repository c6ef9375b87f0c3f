package rt2rt

import (
	"fmt"
	"time"

	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/transport"
)

// maxSleepQueue and maxSleepBytes bound the frames held for one sleeping
// peer, maxSleepBytesTotal those held for all of them.
const (
	maxSleepQueue      = 4096
	maxSleepBytes      = 16 << 20
	maxSleepBytesTotal = 64 << 20
)

// sleeper holds what is sent to a peer in proxy sleep mode (§6.3) while it
// has no link: frames encoded with ser, delivered in order when it joins
// again. Owned by Node.mu.
type sleeper struct {
	until    time.Time
	ser      wire.Serializer
	queue    [][]byte
	bytes    int // in queue
	flushing bool
}

// Sleep puts peer in proxy sleep mode for at most d (§6.3 WILL_SLEEP):
// while it has no link, messages for it are held instead of re-joining it
// (a sleeping constrained runtime cannot be dialled), requests to it stay
// pending until their timeout instead of failing with ErrLinkDown, and its
// next join replaces any old connection whatever the ids (§2.8). When it
// joins again the held messages go out first, in order, and sleep mode
// ends. d <= 0 ends sleep mode at once and drops what is held.
func (n *Node) Sleep(peer string, d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if d <= 0 {
		if s := n.sleepers[peer]; s != nil && len(s.queue) > 0 {
			n.log.Info("sleep mode ended without reconnect; held messages dropped", "peer", peer, "frames", len(s.queue))
		}
		n.deleteSleeperLocked(peer)
		return
	}
	s := n.sleepers[peer]
	if s == nil {
		s = &sleeper{}
		n.sleepers[peer] = s
		n.nSleepers.Add(1)
	}
	s.until = time.Now().Add(d)
	switch {
	case n.links[peer] != nil:
		s.ser = n.links[peer].ser
	case s.ser == nil:
		s.ser = n.sers.order[0]
	}
}

// asleepLocked returns peer's sleeper when messages for it must be held:
// sleep mode is on and there is no link. An expired sleep mode is ended.
func (n *Node) asleepLocked(peer string) *sleeper {
	s := n.sleepers[peer]
	if s == nil || n.links[peer] != nil {
		return nil
	}
	if time.Now().After(s.until) {
		if len(s.queue) > 0 {
			n.log.Info("sleeping peer did not come back; held messages dropped", "peer", peer, "frames", len(s.queue))
		}
		n.deleteSleeperLocked(peer)
		return nil
	}
	return s
}

// holdIfAsleep holds m for a sleeping peer without a link. held reports
// whether it did (or failed trying, with err); register, when not nil, is
// run under the lock just before the frame is queued (Request adds its
// pending entry there); its error fails the hold.
func (n *Node) holdIfAsleep(peer string, m wire.Message, register func() error) (held bool, err error) {
	if n.nSleepers.Load() == 0 {
		return false, nil // the common case, without taking the lock
	}
	n.mu.Lock()
	s := n.asleepLocked(peer)
	if s == nil {
		n.mu.Unlock()
		return false, nil
	}
	ser := s.ser
	n.mu.Unlock()
	frame, err := encodeFrame(ser, m)
	if err != nil {
		return true, fmt.Errorf("%w: encode %s: %w", ErrInvalidMessage, m.Header().Cmd, err)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.asleepLocked(peer) != s || s.ser != ser {
		return false, nil // woke up meanwhile: send normally
	}
	if len(s.queue) >= maxSleepQueue || s.bytes+len(frame) > maxSleepBytes {
		return true, fmt.Errorf("%w: %d messages (%d bytes) held for sleeping peer", transport.ErrQueueFull, len(s.queue), s.bytes)
	}
	if n.sleepBytes+len(frame) > maxSleepBytesTotal {
		return true, fmt.Errorf("%w: %d bytes held for sleeping peers", transport.ErrQueueFull, n.sleepBytes)
	}
	if register != nil {
		if err := register(); err != nil {
			return true, err
		}
	}
	s.queue = append(s.queue, frame)
	s.bytes += len(frame)
	n.sleepBytes += len(frame)
	return true, nil
}

// flushSleeperLocked is called by install with n.mu held for a new link of
// a peer in sleep mode. It sends the held frames on the new link, with the
// lock released while sending (messages sent meanwhile are held too, so the
// order is kept), and returns with the lock held and sleep mode ended.
func (n *Node) flushSleeperLocked(l *link) {
	s := n.sleepers[l.peer]
	if s == nil || s.flushing {
		return
	}
	s.flushing = true
	for len(s.queue) > 0 {
		batch := s.queue
		s.queue = nil
		n.sleepBytes -= s.bytes
		s.bytes = 0
		ser := s.ser
		n.mu.Unlock()
		for _, frame := range batch {
			if ser.Name() != l.ser.Name() {
				m, err := ser.Decode(frame)
				if err == nil {
					frame, err = encodeFrame(l.ser, m)
				}
				if err != nil {
					n.log.Info("held message cannot be re-encoded; dropped", "peer", l.peer, "err", err)
					continue
				}
			}
			if err := l.sendFrame(n.ctx, frame); err != nil {
				n.log.Info("sending held messages failed", "peer", l.peer, "err", err)
				break
			}
		}
		n.mu.Lock()
	}
	if n.sleepers[l.peer] == s {
		n.deleteSleeperLocked(l.peer)
	}
}

func (n *Node) deleteSleeperLocked(peer string) {
	if s, ok := n.sleepers[peer]; ok {
		n.sleepBytes -= s.bytes
		delete(n.sleepers, peer)
		n.nSleepers.Add(-1)
	}
}
