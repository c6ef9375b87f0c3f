package actor

import (
	"encoding/json"
	"testing"
)

// FuzzParsePrev feeds prev_connections / connection_list of ACTOR_NEW
// (network input) to the parser: errors are fine, panics are not, and every
// parsed connection names a port and a peer port.
func FuzzParsePrev(f *testing.F) {
	f.Add([]byte(`{"prev":{"inports":{"p":[["n","q"]]},"outports":{}},"list":null}`))
	f.Add([]byte(`{"prev":{"inports":{"p":[[null,"q"]]}},"list":null}`))
	f.Add([]byte(`{"prev":{},"list":[["me","p","n","q"]]}`))
	f.Add([]byte(`{"prev":{"outports":{"p":[["n"]]}},"list":7}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var v struct {
			Prev map[string]any `json:"prev"`
			List any            `json:"list"`
		}
		if json.Unmarshal(b, &v) != nil {
			return
		}
		conns, err := parsePrev(v.Prev, v.List)
		if err != nil {
			return
		}
		for _, c := range conns {
			if c.port == "" || c.peer == "" {
				t.Fatalf("empty id in %+v", c)
			}
		}
	})
}
