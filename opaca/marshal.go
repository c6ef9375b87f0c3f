package opaca

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// The MarshalJSON methods below exist only to turn nil collections into
// [] and {} (spec §2.1) and to apply the defaults the reference expects;
// decoding uses the plain struct so that DecodeStrict can reject unknown
// fields at every level.

// MarshalJSON emits the platform with empty collections as [].
func (p RuntimePlatform) MarshalJSON() ([]byte, error) {
	type plain RuntimePlatform
	x := plain(p)
	x.Containers = nonNilSlice(x.Containers)
	x.Provides = nonNilSlice(x.Provides)
	x.Connections = nonNilSlice(x.Connections)
	return json.Marshal(x)
}

// MarshalJSON emits the container with empty collections as [] / {}.
func (c AgentContainer) MarshalJSON() ([]byte, error) {
	type plain AgentContainer
	x := plain(c)
	x.Arguments = nonNilMap(x.Arguments)
	x.Agents = nonNilSlice(x.Agents)
	return json.Marshal(x)
}

// MarshalJSON emits the connectivity with an empty port map as {}.
func (c Connectivity) MarshalJSON() ([]byte, error) {
	type plain Connectivity
	x := plain(c)
	x.ExtraPortMappings = nonNilMap(x.ExtraPortMappings)
	return json.Marshal(x)
}

// MarshalJSON emits the image with empty collections as [] / {} and
// apiPort defaulted to 8082.
func (i AgentContainerImage) MarshalJSON() ([]byte, error) {
	type plain AgentContainerImage
	x := plain(i)
	x.Requires = nonNilSlice(x.Requires)
	x.Provides = nonNilSlice(x.Provides)
	x.ExtraPorts = nonNilMap(x.ExtraPorts)
	x.Parameters = nonNilSlice(x.Parameters)
	x.Definitions = nonNilMap(x.Definitions)
	x.DefinitionsByURL = nonNilMap(x.DefinitionsByURL)
	x.APIPort = i.EffectiveAPIPort()
	return json.Marshal(x)
}

// MarshalJSON omits a null defaultValue.
func (p ImageParameter) MarshalJSON() ([]byte, error) {
	type plain ImageParameter
	x := plain(p)
	if isNullRaw(x.DefaultValue) {
		x.DefaultValue = nil
	}
	return json.Marshal(x)
}

// MarshalJSON emits the start request with empty arguments as {}.
func (p PostAgentContainer) MarshalJSON() ([]byte, error) {
	type plain PostAgentContainer
	x := plain(p)
	x.Arguments = nonNilMap(x.Arguments)
	return json.Marshal(x)
}

// MarshalJSON emits the description with empty lists as [].
func (a AgentDescription) MarshalJSON() ([]byte, error) {
	type plain AgentDescription
	x := plain(a)
	x.Actions = nonNilSlice(x.Actions)
	x.Streams = nonNilSlice(x.Streams)
	return json.Marshal(x)
}

// MarshalJSON emits the action with empty parameters as {}.
func (a Action) MarshalJSON() ([]byte, error) {
	type plain Action
	x := plain(a)
	x.Parameters = nonNilMap(x.Parameters)
	return json.Marshal(x)
}

// MarshalJSON always emits required as a boolean and omits a null default.
func (p Parameter) MarshalJSON() ([]byte, error) {
	x := struct {
		Type         string          `json:"type"`
		Required     bool            `json:"required"`
		DefaultValue json.RawMessage `json:"defaultValue,omitempty"`
		Items        *ArrayItems     `json:"items,omitempty"`
	}{p.Type, p.IsRequired(), p.DefaultValue, p.Items}
	if isNullRaw(x.DefaultValue) {
		x.DefaultValue = nil
	}
	return json.Marshal(x)
}

// MarshalJSON emits a missing payload as null.
func (m Message) MarshalJSON() ([]byte, error) {
	type plain Message
	x := plain(m)
	if len(bytes.TrimSpace(x.Payload)) == 0 {
		x.Payload = nil
	}
	return json.Marshal(x)
}

// MarshalJSON emits an empty token as null.
func (c ConnectionRequest) MarshalJSON() ([]byte, error) {
	x := struct {
		URL         string  `json:"url"`
		ConnectBack bool    `json:"connectBack"`
		Token       *string `json:"token"`
	}{URL: c.URL, ConnectBack: c.ConnectBack}
	if c.Token != "" {
		x.Token = &c.Token
	}
	return json.Marshal(x)
}

// MarshalJSON emits privileges as a list.
func (u User) MarshalJSON() ([]byte, error) {
	type plain User
	x := plain(u)
	x.Privileges = nonNilSlice(x.Privileges)
	return json.Marshal(x)
}

// Arguments maps image parameter names to their string values. It accepts
// JSON numbers and booleans as values and keeps their JSON text (spec
// §3.4); null values are dropped; objects and arrays are rejected.
type Arguments map[string]string

// UnmarshalJSON decodes the map, converting scalar values to strings.
func (a *Arguments) UnmarshalJSON(data []byte) error {
	if isNullRaw(data) {
		*a = nil
		return nil
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return err
	}
	out := make(Arguments, len(raw))
	for k, v := range raw {
		v = bytes.TrimSpace(v)
		switch {
		case isNullRaw(v):
		case len(v) > 0 && (v[0] == '{' || v[0] == '['):
			return fmt.Errorf("argument %q: objects and arrays are not allowed", k)
		default:
			out[k] = RawToString(v)
		}
	}
	*a = out
	return nil
}

// RawToString returns a JSON string's content, or any other value's JSON
// text (the environment form of a value, spec §8.4).
func RawToString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
	}
	return string(raw)
}

func isNullRaw(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) == 0 || string(b) == "null"
}

// toRaw marshals v; a json.RawMessage is checked and passed through.
func toRaw(v any) (json.RawMessage, error) {
	switch x := v.(type) {
	case json.RawMessage:
		if x == nil {
			return json.RawMessage("null"), nil
		}
		if !json.Valid(x) {
			return nil, fmt.Errorf("%w: invalid JSON value", ErrUnprocessable)
		}
		return x, nil
	case nil:
		return json.RawMessage("null"), nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return b, nil
}

func nonNilSlice[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func nonNilMap[K comparable, V any](m map[K]V) map[K]V {
	if m == nil {
		return map[K]V{}
	}
	return m
}
