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

// TestGoldenReceiver plays the migrated sink (node B) of the captures: our
// receiver, started from the inport queue state of the ACTOR_NEW, gets
// Calvin's TOKENs and must answer exactly the TOKEN_REPLYs Calvin's node B
// sent.
func TestGoldenReceiver(t *testing.T) {
	for _, file := range []string{"json-two-nodes.jsonl", "msgpack-two-nodes.jsonl"} {
		t.Run(file, func(t *testing.T) {
			an, frames, values := tokenFrames(t, readCapture(t, file))
			q, inport := sinkQueue(t, an)
			f, err := NewFlow()
			require.NoError(t, err)
			defer f.Close()
			first := values[0].(*wire.Token)
			l := &captureLink{peer: "A", ch: make(chan any, 64)}
			f.LinkUp(l)
			_, err = f.AddReceiver(ReceiverConfig{Peer: "A", PortID: inport, PeerPortID: first.PortID, Queue: q})
			require.NoError(t, err)
			assert.Equal(t, q.WritePos(), first.SequenceNbr, "the queue state expects the first wire token")
			var want []*wire.TokenReply
			for i, v := range values {
				switch x := v.(type) {
				case *wire.Token:
					require.Equal(t, "from_target", frames[i].Dir)
					f.Deliver(l, x)
					tok, err := q.Read(inport) // test.Sink consumes at once
					require.NoError(t, err)
					assert.Equal(t, FromPayload(x.Token), tok)
				case *wire.TokenReply:
					want = append(want, x)
				}
			}
			require.NotEmpty(t, want)
			for _, w := range want {
				select {
				case v := <-l.ch:
					got := v.(*wire.TokenReply)
					assert.Equal(t, []any{w.PortID, w.PeerPortID, w.SequenceNbr, w.Value},
						[]any{got.PortID, got.PeerPortID, got.SequenceNbr, got.Value})
				case <-time.After(5 * time.Second):
					t.Fatal("no reply")
				}
			}
		})
	}
}

// TestGoldenSender plays the source (node A): our sender, at the position
// the capture starts from, must send the TOKENs Calvin's node A sent, and
// Calvin's TOKEN_REPLYs must acknowledge every one of them.
func TestGoldenSender(t *testing.T) {
	for _, file := range []string{"json-two-nodes.jsonl", "msgpack-two-nodes.jsonl"} {
		t.Run(file, func(t *testing.T) {
			_, _, values := tokenFrames(t, readCapture(t, file))
			var tokens []*wire.Token
			var replies []*wire.TokenReply
			for _, v := range values {
				switch x := v.(type) {
				case *wire.Token:
					tokens = append(tokens, x)
				case *wire.TokenReply:
					replies = append(replies, x)
				}
			}
			first := tokens[0]
			// The source outport before the first wire token: every earlier
			// token was consumed by the sink while it was local.
			ring := make([]any, 5)
			for i := range ring {
				ring[i] = map[string]any{"type": "Token", "data": int64(0)}
			}
			q, err := ImportFIFO(map[string]any{
				"queuetype": "fanout_fifo", "N": int64(5), "fifo": ring,
				"readers":   []any{first.PeerPortID},
				"write_pos": first.SequenceNbr, "read_pos": map[string]any{first.PeerPortID: first.SequenceNbr},
				"tentative_read_pos": map[string]any{first.PeerPortID: first.SequenceNbr},
			})
			require.NoError(t, err)
			f, err := NewFlow()
			require.NoError(t, err)
			defer f.Close()
			l := &captureLink{peer: "B", ch: make(chan any, 64)}
			f.LinkUp(l)
			s, err := f.AddSender(SenderConfig{Peer: "B", PortID: first.PortID, PeerPortID: first.PeerPortID, Queue: q})
			require.NoError(t, err)
			for i, want := range tokens {
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
				f.Deliver(l, replies[i])
			}
			st := s.Stats()
			assert.Equal(t, st.Write, st.Read, "Calvin's replies acknowledged every token")
			assert.Zero(t, st.Retransmitted)
		})
	}
}
