package rt2rt

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/transport"
)

// vectorPayloads returns every captured frame payload of a coder, as seeds.
func vectorPayloads(f *testing.F, coder string) [][]byte {
	var out [][]byte
	for _, file := range []string{"json-two-nodes.jsonl", "msgpack-two-nodes.jsonl", "msgpack-constrained.jsonl"} {
		path := filepath.Join(vectorDir, file)
		fh, err := os.Open(path)
		if err != nil {
			f.Logf("no vectors: %v", err)
			continue
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<24)
		for sc.Scan() {
			var v vectorLine
			if json.Unmarshal(sc.Bytes(), &v) != nil || v.Coder != coder {
				continue
			}
			if v.RawHex != "" {
				b, err := hex.DecodeString(v.RawHex)
				if err == nil {
					out = append(out, b)
				}
			} else if v.Raw != "" {
				out = append(out, []byte(v.Raw))
			}
		}
		fh.Close()
	}
	return out
}

// FuzzJoinFirstFrame feeds arbitrary first frames to the responder's join
// logic: it must never panic, accept only a well-formed JOIN_REQUEST with a
// serializer both sides have, and always be able to answer.
func FuzzJoinFirstFrame(f *testing.F) {
	for _, p := range vectorPayloads(f, "json") {
		f.Add(p)
	}
	f.Add([]byte(`{"cmd": "JOIN_REQUEST", "serializers": ["cbor"], "id": "x", "sid": "y"}`))
	f.Add([]byte(`{"cmd": "JOIN_REQUEST", "serializers": "json", "id": 1, "sid": null}`))
	f.Add([]byte(`[]`))
	f.Add([]byte{0xff, 0x00})
	n, err := NewNode(WithListen(), WithLogger(quietLogger()), WithID("fuzz-node"))
	if err != nil {
		f.Fatal(err)
	}
	defer n.Close()
	f.Fuzz(func(t *testing.T, payload []byte) {
		peer, ser, sid, err := n.evaluateJoin(payload)
		if err == nil {
			if peer == "" || peer == n.ID() || ser == nil {
				t.Fatalf("accepted join with peer %q serializer %v", peer, ser)
			}
			m, derr := wire.JSON.Decode(payload)
			req, ok := m.(*wire.JoinRequest)
			if derr != nil || !ok || req.Cmd != wire.CmdJoinRequest {
				t.Fatalf("accepted a first frame that is not a JOIN_REQUEST: %q", payload)
			}
		}
		id, serName := n.id, ""
		if ser != nil {
			serName = ser.Name()
		} else {
			id = ""
		}
		if _, err := n.sers.json.Encode(nil, newJoinReply(id, serName, sid)); err != nil {
			t.Fatalf("cannot answer first frame %q: %v", payload, err)
		}
	})
}

// sinkConn is a transport.Conn that records what the node sends on it.
type sinkConn struct {
	mu     sync.Mutex
	frames [][]byte
}

func (c *sinkConn) Send(ctx context.Context, frame []byte) error {
	c.mu.Lock()
	c.frames = append(c.frames, frame)
	c.mu.Unlock()
	return nil
}
func (c *sinkConn) Recv(ctx context.Context) ([]byte, error) {
	<-ctx.Done()
	return nil, transport.ErrClosed
}
func (c *sinkConn) LocalURI() string  { return "sink://local" }
func (c *sinkConn) RemoteURI() string { return "sink://remote" }
func (c *sinkConn) Close() error      { return nil }

// FuzzReceive feeds arbitrary post-join frames to the receive path on a
// json and a msgpack link: no panic, and every answer the node sends is a
// REPLY that decodes with the link's coder and has the full CalvinResponse.
func FuzzReceive(f *testing.F) {
	for _, p := range vectorPayloads(f, "json") {
		f.Add(false, p)
	}
	for _, p := range vectorPayloads(f, "msgpack") {
		f.Add(true, p)
	}
	f.Add(false, []byte(`{"cmd": "TUNNEL_NEW", "to_rt_uuid": "31d7387a-f848-41f1-89d1-c2eeb8c11ed5", "msg_uuid": "m"}`))
	f.Add(false, []byte(`{"cmd": "LEADER_ELECTED", "to_rt_uuid": "31d7387a-f848-41f1-89d1-c2eeb8c11ed5", "msg_uuid": "m", "type": 1}`))
	// The capture's node A id, so captured requests reach the handlers.
	n, err := NewNode(WithListen(), WithLogger(quietLogger()), WithForwarding(false),
		WithID("31d7387a-f848-41f1-89d1-c2eeb8c11ed5"))
	if err != nil {
		f.Fatal(err)
	}
	defer n.Close()
	n.Handle(wire.CmdTunnelData, func(ctx context.Context, in *Incoming) {})
	n.Handle(wire.CmdPortConnect, echoPortConnect)
	f.Fuzz(func(t *testing.T, msgpack bool, payload []byte) {
		ser := wire.Serializer(wire.JSON)
		if msgpack {
			ser = wire.Msgpack
		}
		conn := &sinkConn{}
		l := newLink(n, "fuzz-peer", conn, ser, "sink://remote", false, 0)
		n.receive(l, payload, false)
		conn.mu.Lock()
		defer conn.mu.Unlock()
		if len(conn.frames) > 1 {
			t.Fatalf("%d answers to one frame", len(conn.frames))
		}
		for _, fr := range conn.frames {
			m, err := ser.Decode(fr)
			if err != nil {
				t.Fatalf("node sent an undecodable frame: %v", err)
			}
			r, ok := m.(*wire.Reply)
			if !ok || !r.Has("value") || r.Value.Status == 0 || r.Value.SuccessList == nil {
				t.Fatalf("node sent something other than a full REPLY: %#v", m)
			}
		}
	})
}
