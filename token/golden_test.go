package token

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/rt2rt/wire"
)

type captureLine struct {
	line   int
	Dir    string          `json:"dir"`
	Coder  string          `json:"coder"`
	Raw    string          `json:"raw"`
	RawHex string          `json:"raw_hex"`
	Event  string          `json:"event"`
	Msg    json.RawMessage `json:"msg"`
}

func readCapture(t *testing.T, file string) []captureLine {
	t.Helper()
	f, err := os.Open(filepath.Join(vectorDir, file))
	if os.IsNotExist(err) {
		t.Skipf("golden vectors not available: %v", err)
	}
	require.NoError(t, err)
	defer f.Close()
	var out []captureLine
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for n := 1; sc.Scan(); n++ {
		var c captureLine
		require.NoError(t, json.Unmarshal(sc.Bytes(), &c))
		c.line = n
		out = append(out, c)
	}
	require.NoError(t, sc.Err())
	return out
}

// decodeCaptured decodes a frame payload with the coder it was captured in.
func decodeCaptured(t *testing.T, c captureLine) wire.Message {
	t.Helper()
	var ser wire.Serializer = wire.JSON
	payload := []byte(c.Raw)
	if c.Coder == "msgpack" {
		ser = wire.Msgpack
		var err error
		payload, err = hex.DecodeString(c.RawHex)
		require.NoError(t, err)
	}
	m, err := ser.Decode(payload)
	require.NoError(t, err, "line %d", c.line)
	return m
}

// tokenFrames returns the first run of TOKEN / TOKEN_REPLY frames after
// the first ACTOR_NEW (the sink's first migration), with that ACTOR_NEW.
func tokenFrames(t *testing.T, lines []captureLine) (actorNew *wire.ActorNew, frames []captureLine, values []any) {
	t.Helper()
	for _, c := range lines {
		if c.Event != "" {
			if len(frames) > 0 {
				break // the next driver step: migrations follow
			}
			continue
		}
		m := decodeCaptured(t, c)
		switch x := m.(type) {
		case *wire.ActorNew:
			if actorNew == nil {
				actorNew = x
			}
		case *wire.TunnelData:
			switch x.Value.(type) {
			case *wire.Token, *wire.TokenReply:
				if actorNew != nil {
					frames = append(frames, c)
					values = append(values, x.Value)
				}
			}
		}
	}
	require.NotNil(t, actorNew)
	require.NotEmpty(t, frames)
	return actorNew, frames, values
}

func sinkQueue(t *testing.T, an *wire.ActorNew) (*FIFO, string) {
	t.Helper()
	priv := an.State.ActorState["private"].(map[string]any)
	port := priv["inports"].(map[string]any)["token"].(map[string]any)
	q, err := ImportQueue(port["queue"])
	require.NoError(t, err)
	return q.(*FIFO), port["id"].(string)
}

// stream is one connection's frames in a capture, in order.
type stream struct {
	out, in string // sender's outport, receiver's inport
	tokens  []*wire.Token
	replies []*wire.TokenReply
}

func streams(values []any) []*stream {
	var out []*stream
	by := map[pairKey]*stream{}
	get := func(o, i string) *stream {
		k := pairKey{o, i}
		if by[k] == nil {
			by[k] = &stream{out: o, in: i}
			out = append(out, by[k])
		}
		return by[k]
	}
	for _, v := range values {
		switch x := v.(type) {
		case *wire.Token:
			s := get(x.PortID, x.PeerPortID)
			s.tokens = append(s.tokens, x)
		case *wire.TokenReply:
			s := get(x.PortID, x.PeerPortID)
			s.replies = append(s.replies, x)
		}
	}
	return out
}

// queueAt is a queue with one reader whose stream is at position pos.
func queueAt(t *testing.T, reader string, pos uint64) *FIFO {
	t.Helper()
	ring := make([]any, 5)
	for i := range ring {
		ring[i] = map[string]any{"type": "Token", "data": int64(0)}
	}
	q, err := ImportFIFO(map[string]any{
		"queuetype": "fanout_fifo", "N": int64(5), "fifo": ring, "readers": []any{reader},
		"write_pos": pos, "read_pos": map[string]any{reader: pos}, "tentative_read_pos": map[string]any{reader: pos},
	})
	require.NoError(t, err)
	return q
}

var goldenFiles = []string{"json-two-nodes.jsonl", "msgpack-two-nodes.jsonl", "msgpack-constrained.jsonl"}

// TestGoldenQueuePositions: the migrated sink's queue state expects exactly
// the first TOKEN that goes over the wire after the migration (§7.3).
func TestGoldenQueuePositions(t *testing.T) {
	for _, file := range goldenFiles {
		an, _, values := tokenFrames(t, readCapture(t, file))
		q, inport := sinkQueue(t, an)
		for _, s := range streams(values) {
			if s.in == inport {
				assert.Equal(t, q.WritePos(), s.tokens[0].SequenceNbr, file)
			}
		}
	}
}

// TestGoldenReceiver plays the receiving side of every token stream in the
// captures (Calvin's node B, or the constrained runtime): fed the captured
// TOKENs, our receiver must answer exactly the captured TOKEN_REPLYs.
func TestGoldenReceiver(t *testing.T) {
	for _, file := range goldenFiles {
		_, _, values := tokenFrames(t, readCapture(t, file))
		for _, st := range streams(values) {
			t.Run(file+"/"+st.in[:8], func(t *testing.T) {
				require.Len(t, st.replies, len(st.tokens))
				q := queueAt(t, st.in, st.tokens[0].SequenceNbr)
				f, err := NewFlow()
				require.NoError(t, err)
				defer f.Close()
				l := &captureLink{peer: "peer", ch: make(chan any, 64)}
				f.LinkUp(l)
				_, err = f.AddReceiver(ReceiverConfig{Peer: "peer", PortID: st.in, PeerPortID: st.out, Queue: q})
				require.NoError(t, err)
				for i, tok := range st.tokens {
					f.Deliver(l, tok)
					got, err := q.Read(st.in) // the consumer takes it at once
					require.NoError(t, err)
					assert.Equal(t, FromPayload(tok.Token), got)
					var rep *wire.TokenReply
					select {
					case v := <-l.ch:
						rep = v.(*wire.TokenReply)
					case <-time.After(5 * time.Second):
						t.Fatal("no reply")
					}
					w := st.replies[i]
					assert.Equal(t, []any{w.PortID, w.PeerPortID, w.SequenceNbr, w.Value},
						[]any{rep.PortID, rep.PeerPortID, rep.SequenceNbr, rep.Value})
				}
			})
		}
	}
}

// TestGoldenSender plays the sending side of every token stream: our sender,
// at the position the stream starts from, must send the captured TOKENs,
// and the captured TOKEN_REPLYs must acknowledge every one of them.
func TestGoldenSender(t *testing.T) {
	for _, file := range goldenFiles {
		_, _, values := tokenFrames(t, readCapture(t, file))
		for _, st := range streams(values) {
			t.Run(file+"/"+st.out[:8], func(t *testing.T) {
				require.Len(t, st.replies, len(st.tokens))
				q := queueAt(t, st.in, st.tokens[0].SequenceNbr)
				f, err := NewFlow()
				require.NoError(t, err)
				defer f.Close()
				l := &captureLink{peer: "peer", ch: make(chan any, 64)}
				f.LinkUp(l)
				s, err := f.AddSender(SenderConfig{Peer: "peer", PortID: st.out, PeerPortID: st.in, Queue: q})
				require.NoError(t, err)
				for i, want := range st.tokens {
					require.NoError(t, q.Write(FromPayload(want.Token)))
					s.Notify()
					var got *wire.Token
					select {
					case v := <-l.ch:
						got = v.(*wire.Token)
					case <-time.After(5 * time.Second):
						t.Fatal("no token sent")
					}
					assert.Equal(t, []any{want.PortID, want.PeerPortID, want.SequenceNbr, want.Token.Type, want.Token.Data},
						[]any{got.PortID, got.PeerPortID, got.SequenceNbr, got.Token.Type, got.Token.Data})
					f.Deliver(l, st.replies[i])
				}
				stats := s.Stats()
				assert.Equal(t, stats.Write, stats.Read, "the captured replies acknowledged every token")
				assert.Zero(t, stats.Retransmitted)
			})
		}
	}
}
