package platform

import (
	"context"
	crand "crypto/rand"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/meshkit/meshkit/opaca"
)

const (
	eventCall    = opaca.EventCall
	eventForward = opaca.EventForward
	eventSuccess = opaca.EventSuccess
	eventError   = opaca.EventError
)

// eventLog is the bounded in-memory history (spec §10.2): a ring buffer
// when bounded, so recording never reallocates.
type eventLog struct {
	size int // <0 unbounded, 0 none

	mu    sync.Mutex
	ring  []opaca.Event // bounded: fixed capacity size
	start int           // index of the oldest event in ring
	n     int           // events in ring
	all   []opaca.Event // unbounded
}

func newEventLog(size int) *eventLog {
	l := &eventLog{size: size}
	if size > 0 {
		l.ring = make([]opaca.Event, size)
	}
	return l
}

func (l *eventLog) add(e opaca.Event) {
	if l.size == 0 {
		return
	}
	l.mu.Lock()
	if l.size < 0 {
		l.all = append(l.all, e)
	} else if l.n < l.size {
		l.ring[(l.start+l.n)%l.size] = e
		l.n++
	} else {
		l.ring[l.start] = e // overwrite the oldest
		l.start = (l.start + 1) % l.size
	}
	l.mu.Unlock()
}

func (l *eventLog) list() []opaca.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.size < 0 {
		return append([]opaca.Event{}, l.all...)
	}
	out := make([]opaca.Event, 0, l.n)
	for i := 0; i < l.n; i++ {
		out = append(out, l.ring[(l.start+i)%l.size])
	}
	return out
}

// recordEvent adds an event to the history and pushes SUCCESS events to
// the websocket subscribers of its topic.
func (p *Platform) recordEvent(kind opaca.EventType, route, sender, receiver string, status int, related string) opaca.Event {
	e := opaca.Event{
		ID:         p.ids.next(),
		Timestamp:  time.Now().UnixMilli(),
		EventType:  kind,
		Route:      route,
		SenderID:   sender,
		Receiver:   receiver,
		StatusCode: status,
		RelatedID:  related,
	}
	p.history.add(e)
	if kind == eventSuccess {
		p.push(e)
	}
	return e
}

func (p *Platform) push(e opaca.Event) {
	_, path, _ := strings.Cut(e.Route, " ")
	if !p.hub.wants(path) {
		return // nobody listens: skip the encoding
	}
	b, err := json.Marshal(e)
	if err != nil {
		return
	}
	p.hub.publish(path, b)
}

// recordForward adds the FORWARD event of a call made while serving the
// request in ctx.
func (p *Platform) recordForward(ctx context.Context, receiver string) {
	ri := info(ctx)
	if ri.callID == "" {
		return
	}
	p.recordEvent(eventForward, ri.route, ri.sender, receiver, 0, ri.callID)
}

// announceContainers tells /containers subscribers (connected platforms)
// about a table change that did not come from a /containers request (spec
// §8.2); it is not recorded in the history.
func (p *Platform) announceContainers() {
	p.push(opaca.Event{
		ID:        p.ids.next(),
		Timestamp: time.Now().UnixMilli(),
		EventType: eventSuccess,
		Route:     "POST /containers/notify",
		SenderID:  p.cfg.publicURL,
	})
}

// idGen makes random version-4 UUIDs for events from a ChaCha8 stream
// seeded by crypto/rand: unique like uuid.New, without a system call per
// event on the request path.
type idGen struct {
	mu  sync.Mutex
	rng *rand.ChaCha8
}

func newIDGen() *idGen {
	var seed [32]byte
	_, _ = crand.Read(seed[:])
	return &idGen{rng: rand.NewChaCha8(seed)}
}

func (g *idGen) next() string {
	var u uuid.UUID
	g.mu.Lock()
	_, _ = g.rng.Read(u[:])
	g.mu.Unlock()
	u[6] = (u[6] & 0x0f) | 0x40
	u[8] = (u[8] & 0x3f) | 0x80
	return u.String()
}
