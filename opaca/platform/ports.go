package platform

import (
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
)

// portAllocator hands out host ports (spec §8.5): start at the container
// port and count up until a port is neither reserved by this platform nor
// in use on the host.
type portAllocator struct {
	host string // where in-process and local-process containers listen

	mu       sync.Mutex
	reserved map[int]string // host port -> container id
}

func newPortAllocator(host string) *portAllocator {
	return &portAllocator{host: host, reserved: map[int]string{}}
}

// reserve finds and reserves a host port for containerPort. bindCheck adds a
// bind attempt on the listen host (in-process and local-process runners).
func (a *portAllocator) reserve(owner string, containerPort int, udp, bindCheck bool) (int, error) {
	if containerPort <= 0 || containerPort > 65535 {
		return 0, fmt.Errorf("%w: port %d out of range", ErrInvalidParameters, containerPort)
	}
	for p := containerPort; p <= 65535; p++ {
		a.mu.Lock()
		_, taken := a.reserved[p]
		if !taken {
			a.reserved[p] = owner // hold it while probing, so parallel starts skip it
		}
		a.mu.Unlock()
		if taken {
			continue
		}
		if !a.inUse(p, udp, bindCheck) {
			return p, nil
		}
		a.mu.Lock()
		delete(a.reserved, p)
		a.mu.Unlock()
	}
	return 0, fmt.Errorf("%w: no free host port from %d", ErrRunnerFailed, containerPort)
}

// claim marks a port as reserved without probing (restored sessions).
func (a *portAllocator) claim(owner string, port int) {
	a.mu.Lock()
	a.reserved[port] = owner
	a.mu.Unlock()
}

func (a *portAllocator) release(ports ...int) {
	a.mu.Lock()
	for _, p := range ports {
		delete(a.reserved, p)
	}
	a.mu.Unlock()
}

func (a *portAllocator) inUse(port int, udp, bindCheck bool) bool {
	addr := net.JoinHostPort(a.host, strconv.Itoa(port))
	if udp {
		if bindCheck {
			pc, err := net.ListenPacket("udp", addr)
			if err != nil {
				return true
			}
			_ = pc.Close()
		}
		return false
	}
	if c, err := net.DialTimeout("tcp", net.JoinHostPort(dialHost(a.host), strconv.Itoa(port)), time.Second); err == nil {
		_ = c.Close()
		return true
	}
	if bindCheck {
		l, err := net.Listen("tcp", addr)
		if err != nil {
			return true
		}
		_ = l.Close()
	}
	return false
}

// dialHost turns an unspecified listen host into loopback for dialling.
func dialHost(h string) string {
	if h == "" || h == "0.0.0.0" || h == "::" {
		return "127.0.0.1"
	}
	return h
}
