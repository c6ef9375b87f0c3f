package platform

import (
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// hub serves the /subscribe websocket (spec §10.3): each session picks one
// topic with a text frame and receives the SUCCESS events of that topic.
// Publishing never blocks: a session whose queue is full is closed with
// 1008 instead of slowing the platform down.
type hub struct {
	log       *slog.Logger
	pingEvery time.Duration
	queueLen  int
	upgrader  websocket.Upgrader
	onDrop    func(topic string)

	// topics maps each subscribed topic to its session count; publishers
	// read it without locking to skip encoding events nobody wants
	topics atomic.Pointer[map[string]int]

	mu       sync.Mutex
	sessions map[*wsSession]struct{}
	closed   bool
	wg       sync.WaitGroup
}

type wsSession struct {
	ws    *websocket.Conn
	out   chan []byte
	done  chan struct{}
	once  sync.Once
	mu    sync.Mutex
	topic string
}

func newHub(log *slog.Logger, pingEvery time.Duration, queueLen int) *hub {
	return &hub{
		log:       log,
		pingEvery: pingEvery,
		queueLen:  queueLen,
		sessions:  map[*wsSession]struct{}{},
		upgrader: websocket.Upgrader{
			CheckOrigin:     func(*http.Request) bool { return true },
			ReadBufferSize:  1024,
			WriteBufferSize: 4096,
		},
	}
}

// topicOf returns the first path segment with a leading slash.
func topicOf(path string) string {
	p := strings.TrimPrefix(path, "/")
	if i := strings.IndexByte(p, '/'); i >= 0 {
		p = p[:i]
	}
	return "/" + p
}

func (h *hub) serve(w http.ResponseWriter, r *http.Request) {
	if !websocket.IsWebSocketUpgrade(r) {
		writeError(w, apiErr(http.StatusBadRequest, "/subscribe is a websocket; send an upgrade request."))
		return
	}
	ws, err := h.upgrader.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered already
	}
	s := &wsSession{ws: ws, out: make(chan []byte, h.queueLen), done: make(chan struct{})}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		s.kill(websocket.CloseGoingAway, "shutting down")
		return
	}
	h.sessions[s] = struct{}{}
	h.wg.Add(2)
	h.mu.Unlock()
	go h.writer(s)
	go h.reader(s)
}

func (h *hub) forget(s *wsSession) {
	h.mu.Lock()
	delete(h.sessions, s)
	h.recountLocked()
	h.mu.Unlock()
}

func (h *hub) reader(s *wsSession) {
	defer h.wg.Done()
	defer h.forget(s)
	defer s.kill(websocket.CloseNormalClosure, "")
	s.ws.SetReadLimit(4096)
	for {
		kind, data, err := s.ws.ReadMessage()
		if err != nil {
			return
		}
		if kind == websocket.TextMessage {
			t := strings.TrimSpace(string(data))
			if !strings.HasPrefix(t, "/") {
				t = "/" + t
			}
			h.mu.Lock()
			s.mu.Lock()
			s.topic = topicOf(t)
			s.mu.Unlock()
			h.recountLocked()
			h.mu.Unlock()
		}
	}
}

func (h *hub) writer(s *wsSession) {
	defer h.wg.Done()
	ping := time.NewTicker(h.pingEvery)
	defer ping.Stop()
	for {
		select {
		case <-s.done:
			return
		case msg := <-s.out:
			_ = s.ws.SetWriteDeadline(time.Now().Add(10 * time.Second))
			if err := s.ws.WriteMessage(websocket.TextMessage, msg); err != nil {
				s.kill(websocket.CloseAbnormalClosure, "")
				return
			}
		case <-ping.C:
			if err := s.ws.WriteControl(websocket.PingMessage, nil, time.Now().Add(10*time.Second)); err != nil {
				s.kill(websocket.CloseAbnormalClosure, "")
				return
			}
		}
	}
}

func (s *wsSession) kill(code int, reason string) {
	s.once.Do(func() {
		close(s.done)
		if code != websocket.CloseAbnormalClosure {
			_ = s.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, reason), time.Now().Add(time.Second))
		}
		_ = s.ws.Close()
	})
}

// recountLocked rebuilds the topic counts; h.mu is held.
func (h *hub) recountLocked() {
	m := map[string]int{}
	for s := range h.sessions {
		s.mu.Lock()
		if s.topic != "" {
			m[s.topic]++
		}
		s.mu.Unlock()
	}
	h.topics.Store(&m)
}

// wants reports whether any session listens to the topic of path.
func (h *hub) wants(path string) bool {
	m := h.topics.Load()
	return m != nil && (*m)[topicOf(path)] > 0
}

// publish pushes one event frame to every session subscribed to the topic
// of route ("POST /invoke/Add" → "/invoke").
func (h *hub) publish(path string, frame []byte) {
	topic := topicOf(path)
	h.mu.Lock()
	var slow []*wsSession
	for s := range h.sessions {
		s.mu.Lock()
		match := s.topic == topic
		s.mu.Unlock()
		if !match {
			continue
		}
		select {
		case s.out <- frame:
		default:
			slow = append(slow, s)
		}
	}
	h.mu.Unlock()
	for _, s := range slow {
		h.log.Warn("dropping slow event subscriber", "topic", topic)
		if h.onDrop != nil {
			h.onDrop(topic)
		}
		s.kill(websocket.ClosePolicyViolation, "too slow")
	}
}

// count returns the number of sessions subscribed to topic ("" for all).
func (h *hub) count(topic string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for s := range h.sessions {
		s.mu.Lock()
		if topic == "" || s.topic == topic {
			n++
		}
		s.mu.Unlock()
	}
	return n
}

func (h *hub) close() {
	h.mu.Lock()
	h.closed = true
	all := make([]*wsSession, 0, len(h.sessions))
	for s := range h.sessions {
		all = append(all, s)
	}
	h.mu.Unlock()
	for _, s := range all {
		s.kill(websocket.CloseNormalClosure, "shutting down")
	}
	h.wg.Wait()
}
