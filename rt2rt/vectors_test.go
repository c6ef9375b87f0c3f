package rt2rt

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/internal/leakcheck"
	"github.com/meshkit/meshkit/rt2rt/wire"
)

const vectorDir = "../../shared/vectors/calvin"

type vectorLine struct {
	Dir    string         `json:"dir"`
	Len    int            `json:"len"`
	Coder  string         `json:"coder"`
	Msg    map[string]any `json:"msg"`
	Raw    string         `json:"raw"`
	RawHex string         `json:"raw_hex"`
}

func (v vectorLine) payload(t *testing.T) []byte {
	if v.RawHex != "" {
		b, err := hex.DecodeString(v.RawHex)
		require.NoError(t, err)
		return b
	}
	return []byte(v.Raw)
}

// readVectorLines returns the given 1-based lines of a capture.
func readVectorLines(t *testing.T, file string, lines ...int) []vectorLine {
	t.Helper()
	path := filepath.Join(vectorDir, file)
	if _, err := os.Stat(path); err != nil {
		path = filepath.Join("/work/shared/vectors/calvin", file)
	}
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	want := map[int]int{}
	for i, l := range lines {
		want[l] = i
	}
	out := make([]vectorLine, len(lines))
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for n := 1; sc.Scan(); n++ {
		if i, ok := want[n]; ok {
			require.NoError(t, json.Unmarshal(sc.Bytes(), &out[i]), "line %d", n)
		}
	}
	require.NoError(t, sc.Err())
	return out
}

// TestVectorJoinReplay plays the initiator side of each capture's join and
// first request (lines 2-5) against a node that has the responder's id, and
// compares the node's answers with the captured responder's.
func TestVectorJoinReplay(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	for _, tc := range []struct {
		file string
		sers []string // the responder's priority in the capture
	}{
		{"json-two-nodes.jsonl", nil},
		{"msgpack-two-nodes.jsonl", []string{"msgpack", "json"}},
		{"msgpack-constrained.jsonl", nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			v := readVectorLines(t, tc.file, 2, 3, 4, 5)
			joinReq, joinRep, tunnelNew, tunnelRep := v[0], v[1], v[2], v[3]
			require.Equal(t, "to_target", joinReq.Dir)
			require.Equal(t, "JOIN_REQUEST", joinReq.Msg["cmd"])
			require.Equal(t, "TUNNEL_NEW", tunnelNew.Msg["cmd"])

			opts := []Option{WithID(joinRep.Msg["id"].(string))}
			if tc.sers != nil {
				opts = append(opts, WithSerializers(tc.sers...))
			}
			n := tcpNode(t, opts...)
			// Answer TUNNEL_NEW as a tunnel layer does (§5.1).
			n.Handle(wire.CmdTunnelNew, func(ctx context.Context, in *Incoming) {
				tn := in.Msg.(*wire.TunnelNew)
				_ = in.Reply(wire.NewResponse(wire.StatusOK, map[string]any{"tunnel_id": tn.TunnelID}))
			})

			p := dialRaw(t, n.URIs()[0])
			p.write(joinReq.payload(t))
			got := p.read()
			// The JOIN_REPLY is JSON (also in msgpack sessions) and equal to
			// Calvin's key by key; only the separators differ (§14.3).
			var rep map[string]any
			require.NoError(t, json.Unmarshal(got, &rep), "JOIN_REPLY is not JSON: %q", got)
			assert.Equal(t, joinRep.Msg, rep)

			// The next frames use the negotiated coder; the captured request
			// bytes go in unchanged.
			ser, ok := wire.DefaultRegistry().Lookup(joinRep.Msg["serializer"].(string))
			require.True(t, ok)
			require.Equal(t, tunnelNew.Coder, ser.Name())
			p.write(tunnelNew.payload(t))
			reply := p.readMsg(ser)
			want := decodeVectorMsg(t, ser, tunnelRep)
			assert.True(t, wire.Equal(want, reply), "reply\n got %v\nwant %v", reply, want)
			if ser.Name() == wire.NameMsgpack {
				// Same type families as Calvin: with the same map key
				// order the bytes would be equal, so the lengths are.
				assert.Equal(t, tunnelRep.Len, len(reencode(t, ser, reply)))
			}
		})
	}
}

// decodeVectorMsg decodes a captured payload with the capture's coder.
func decodeVectorMsg(t *testing.T, ser wire.Serializer, v vectorLine) map[string]any {
	t.Helper()
	val, err := ser.(wire.ValueCoder).DecodeValue(v.payload(t))
	require.NoError(t, err)
	return val.(map[string]any)
}

func reencode(t *testing.T, ser wire.Serializer, m map[string]any) []byte {
	t.Helper()
	b, err := ser.(wire.ValueCoder).EncodeValue(nil, m)
	require.NoError(t, err)
	return b
}
