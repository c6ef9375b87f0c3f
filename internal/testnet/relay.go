package testnet

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// dialTimeout bounds the relay's dial of its target (loopback: it answers
// at once or not at all).
const dialTimeout = 5 * time.Second

// Relay is a loopback TCP proxy to one target address. Every connection
// accepted on Addr is paired with a new connection to the target and bytes
// are copied both ways until either side ends; then both sockets close.
//
// Kill closes the relayed connections from outside; Refuse makes the relay
// close new connections as soon as it accepts them. Close stops the relay
// and waits for all its goroutines. All methods are safe for concurrent use.
type Relay struct {
	ln     net.Listener
	target string

	mu       sync.Mutex
	conns    map[*relayed]struct{}
	refusing int  // Refuse calls not yet released
	closed   bool // Close was called
	wg       sync.WaitGroup

	accepted, refused, killed atomic.Int64
}

// relayed is one accepted connection and its connection to the target.
type relayed struct {
	in, out net.Conn
}

func (p *relayed) close() {
	_ = p.in.Close()
	_ = p.out.Close()
}

// NewRelay listens on 127.0.0.1 with an OS-chosen port and relays every
// connection to target (host:port).
func NewRelay(target string) (*Relay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &Relay{ln: ln, target: target, conns: map[*relayed]struct{}{}}
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

// Addr is the host:port the relay listens on.
func (r *Relay) Addr() string { return r.ln.Addr().String() }

// Target is the host:port the relay connects to.
func (r *Relay) Target() string { return r.target }

func (r *Relay) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(5 * time.Millisecond) // out of descriptors or the like: try again
			continue
		}
		r.mu.Lock()
		refuse := r.refusing > 0 || r.closed
		r.mu.Unlock()
		if refuse {
			r.refused.Add(1)
			_ = c.Close()
			continue
		}
		d, err := net.DialTimeout("tcp", r.target, dialTimeout)
		if err != nil {
			r.refused.Add(1)
			_ = c.Close()
			continue
		}
		p := &relayed{in: c, out: d}
		r.mu.Lock()
		if r.refusing > 0 || r.closed {
			// Refused or closed while dialling: this connection never was.
			r.mu.Unlock()
			r.refused.Add(1)
			p.close()
			continue
		}
		r.conns[p] = struct{}{}
		r.wg.Add(2)
		r.mu.Unlock()
		r.accepted.Add(1)
		go r.copy(p, p.out, p.in)
		go r.copy(p, p.in, p.out)
	}
}

// copy copies from src to dst until either ends, then closes both sockets
// (so the other direction ends too) and forgets p.
func (r *Relay) copy(p *relayed, dst, src net.Conn) {
	defer r.wg.Done()
	_, _ = io.Copy(dst, src)
	p.close()
	r.mu.Lock()
	delete(r.conns, p)
	r.mu.Unlock()
}

// Kill closes every connection relayed now, both sockets of each, and
// reports how many it closed. New connections are relayed as before.
func (r *Relay) Kill() int {
	n := r.closeAll()
	r.killed.Add(int64(n))
	return n
}

func (r *Relay) closeAll() int {
	r.mu.Lock()
	ps := make([]*relayed, 0, len(r.conns))
	for p := range r.conns {
		ps = append(ps, p)
	}
	clear(r.conns)
	r.mu.Unlock()
	for _, p := range ps {
		p.close()
	}
	return len(ps)
}

// Refuse makes the relay close every new connection as soon as it accepts
// it (the dialer sees the connection end before any answer), until release
// is called; connections relayed already are left alone (Kill them too for
// a partition). Refusals nest: the relay relays again once every release
// returned by Refuse was called. Calling a release twice has no effect.
func (r *Relay) Refuse() (release func()) {
	r.mu.Lock()
	r.refusing++
	r.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			r.refusing--
			r.mu.Unlock()
		})
	}
}

// Stats are a relay's counts since it started.
type Stats struct {
	Accepted int64 // connections relayed
	Refused  int64 // connections closed at once (refused, or the target could not be dialled)
	Killed   int64 // connections closed by Kill
}

// Stats returns the relay's counts.
func (r *Relay) Stats() Stats {
	return Stats{Accepted: r.accepted.Load(), Refused: r.refused.Load(), Killed: r.killed.Load()}
}

// Close stops listening, closes every relayed connection and waits until
// the relay's goroutines have ended. It is safe to call twice.
func (r *Relay) Close() error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	err := r.ln.Close()
	r.closeAll()
	r.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}
