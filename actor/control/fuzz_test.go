package control

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
)

// FuzzDecodeDeploy feeds arbitrary JSON bodies to the /deploy decoder: it
// must never panic, and every refusal must carry a Calvin status and body.
func FuzzDecodeDeploy(f *testing.F) {
	for _, seed := range []string{
		`{"name": "xflow", "app_info": {"name": "xflow", "valid": true, "actors": {"xflow:src": {"actor_type": "std.CountTimer", "args": {"sleep": 0.5}, "signature": "3b"}, "xflow:snk": {"actor_type": "test.Sink", "args": {"store_tokens": true}}}, "connections": {"xflow:src.integer": ["xflow:snk.token"]}, "port_properties": {"xflow:src": [{"port": "integer", "direction": "out", "properties": {"nbr_peers": 1}}]}}, "deploy_info": null, "check": true}`,
		`{"name": "x", "script": "a : std.Counter()"}`,
		`{"name": "x", "app_info": {"valid": false}}`,
		`{"name": "x", "app_info": {"actors": {"a": 1}}}`,
		`{"name": "x", "app_info": {"connections": {"a.b": ["c"]}}}`,
		`{"name": "x", "app_info": {"connections": {".b": "c.d"}}}`,
		`{"name": "x", "app_info": {"port_properties": {"a": [1]}}}`,
		`{"app_info": {}}`,
		`[]`, `null`, `12345678901234567890123`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		var v any
		if dec.Decode(&v) != nil {
			return
		}
		d, err := decodeDeploy(wireValue(v))
		if err != nil {
			var de *deployError
			if !errors.As(err, &de) || (de.status != 400 && de.status != 500) || de.body == nil {
				t.Fatalf("refusal without Calvin status and body: %v", err)
			}
			if _, err := json.Marshal(de.body); err != nil {
				t.Fatalf("refusal body not JSON: %v", err)
			}
			return
		}
		if d.Name == "" && !bytes.Contains(body, []byte(`"name"`)) {
			t.Fatalf("accepted a body without name")
		}
		for _, c := range d.Connections {
			if c.FromActor == "" || c.FromPort == "" || c.ToActor == "" || c.ToPort == "" {
				t.Fatalf("empty connection part: %+v", c)
			}
		}
	})
}
