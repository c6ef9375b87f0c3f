package tunnel

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/internal/leakcheck"
)

type capturedFrame struct {
	no  int
	dir string
	msg map[string]any
}

// readFrames returns the frame lines of a golden capture (§14.1) with the
// decoded message as the capture renders it.
func readFrames(t *testing.T, name string) []capturedFrame {
	t.Helper()
	var path string
	for _, dir := range []string{filepath.Join("..", "..", "shared", "vectors", "calvin"), "/work/shared/vectors/calvin"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			path = filepath.Join(dir, name)
			break
		}
	}
	require.NotEmpty(t, path, "golden vector %s", name)
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []capturedFrame
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for no := 1; sc.Scan(); no++ {
		var line struct {
			Dir string         `json:"dir"`
			Msg map[string]any `json:"msg"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &line), "line %d", no)
		if line.Msg != nil {
			out = append(out, capturedFrame{no: no, dir: line.Dir, msg: line.Msg})
		}
	}
	require.NoError(t, sc.Err())
	return out
}

// TestGoldenTunnelCommands plays the requester side of every TUNNEL_NEW and
// TUNNEL_DESTROY in the captures (Calvin's and constrained's) against a Go
// node: its REPLY values must equal those of the captured Calvin node.
func TestGoldenTunnelCommands(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	// storage and token TUNNEL_NEW from Calvin; storage, proxy and token
	// TUNNEL_NEW and the token TUNNEL_DESTROY from constrained.
	for file, count := range map[string]int{"json-two-nodes.jsonl": 2, "msgpack-two-nodes.jsonl": 2, "msgpack-constrained.jsonl": 4} {
		t.Run(file, func(t *testing.T) {
			frames := readFrames(t, file)
			replies := map[string]map[string]any{}
			var initiator string
			for _, f := range frames {
				if f.msg["cmd"] == "REPLY" && f.dir == "from_target" {
					replies[f.msg["msg_uuid"].(string)] = f.msg
				}
				if f.msg["cmd"] == "JOIN_REQUEST" {
					initiator = f.msg["id"].(string)
				}
			}
			n := tcpNode(t)
			m := newManager(t, n)
			for _, typ := range []string{"token", "storage", "proxy"} {
				require.NoError(t, m.RegisterType(typ, &recorder{}))
			}
			p := dialRawPeerAs(t, n, initiator)
			played := 0
			for _, f := range frames {
				cmd := f.msg["cmd"]
				if f.dir != "to_target" || (cmd != "TUNNEL_NEW" && cmd != "TUNNEL_DESTROY") {
					continue
				}
				want, ok := replies[f.msg["msg_uuid"].(string)]
				require.True(t, ok, "line %d answered in the capture", f.no)
				req := map[string]any{}
				for k, v := range f.msg {
					req[k] = v
				}
				p.send(req)
				got := p.recv()
				assert.Equal(t, "REPLY", got["cmd"], "line %d", f.no)
				assert.Equal(t, want["msg_uuid"], got["msg_uuid"], "line %d", f.no)
				assert.Equal(t, want["value"], got["value"], "line %d: %s", f.no, cmd)
				played++
			}
			assert.Equal(t, count, played)
		})
	}
}
