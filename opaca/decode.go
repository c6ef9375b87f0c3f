package opaca

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strings"
)

// Checker is implemented by models that have required fields.
type Checker interface {
	// Check reports a missing required field.
	Check() error
}

// DecodeStrict decodes a request body sent to our own APIs the way the
// reference does (spec §2.1): unknown fields, syntax errors, values of the
// wrong kind, trailing data and missing required fields are all errors
// matching ErrUnprocessable.
func DecodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := decode(dec, v); err != nil {
		return err
	}
	if t := reflect.TypeOf(v); t != nil {
		if err := checkExactKeys(data, t, 0); err != nil {
			return fmt.Errorf("%w: %v", ErrUnprocessable, err)
		}
	}
	return nil
}

// DecodeLenient decodes a document read from a peer: unknown fields are
// ignored, but syntax and kind errors and missing required fields are
// errors matching ErrUnprocessable.
func DecodeLenient(data []byte, v any) error {
	return decode(json.NewDecoder(bytes.NewReader(data)), v)
}

func decode(dec *json.Decoder, v any) error {
	if err := dec.Decode(v); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: empty body", ErrUnprocessable)
		}
		return fmt.Errorf("%w: %s", ErrUnprocessable, cleanJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("%w: trailing data after JSON value", ErrUnprocessable)
	}
	if c, ok := v.(Checker); ok {
		if err := c.Check(); err != nil {
			return err
		}
	}
	return nil
}

func cleanJSONError(err error) string {
	return strings.TrimPrefix(err.Error(), "json: ")
}

func missing(model, field string) error {
	return fmt.Errorf("%w: %s: missing required field %q", ErrUnprocessable, model, field)
}

// Check reports a missing platformId or baseUrl, or a bad container.
func (p *RuntimePlatform) Check() error {
	if p.PlatformID == "" {
		return missing("RuntimePlatform", "platformId")
	}
	if p.BaseURL == "" {
		return missing("RuntimePlatform", "baseUrl")
	}
	for i := range p.Containers {
		if err := p.Containers[i].Check(); err != nil {
			return err
		}
	}
	return nil
}

// Check reports a missing containerId or runningSince, or a bad image or
// agent.
func (c *AgentContainer) Check() error {
	if c.ContainerID == "" {
		return missing("AgentContainer", "containerId")
	}
	if c.RunningSince.IsZero() {
		return missing("AgentContainer", "runningSince")
	}
	if err := c.Image.Check(); err != nil {
		return err
	}
	for i := range c.Agents {
		if err := c.Agents[i].Check(); err != nil {
			return err
		}
	}
	return nil
}

// Check reports a missing imageName or parameter name.
func (i *AgentContainerImage) Check() error {
	if i.ImageName == "" {
		return missing("AgentContainerImage", "imageName")
	}
	for _, p := range i.Parameters {
		if p.Name == "" {
			return missing("ImageParameter", "name")
		}
	}
	return nil
}

// Check reports a missing image name.
func (p *PostAgentContainer) Check() error { return p.Image.Check() }

// Check reports a missing agentId or a bad action or stream.
func (a *AgentDescription) Check() error {
	if a.AgentID == "" {
		return missing("AgentDescription", "agentId")
	}
	for i := range a.Actions {
		if err := a.Actions[i].Check(); err != nil {
			return err
		}
	}
	for _, s := range a.Streams {
		if s.Name == "" {
			return missing("Stream", "name")
		}
		if s.Mode == "" {
			return missing("Stream", "mode")
		}
	}
	return nil
}

// Check reports a missing name or a parameter without type.
func (a *Action) Check() error {
	if a.Name == "" {
		return missing("Action", "name")
	}
	for name, p := range a.Parameters {
		if err := p.Check(); err != nil {
			return fmt.Errorf("parameter %q: %w", name, err)
		}
	}
	if a.Result != nil {
		if err := a.Result.Check(); err != nil {
			return fmt.Errorf("result: %w", err)
		}
	}
	return nil
}

// Check reports a missing type at any nesting level.
func (p *Parameter) Check() error {
	if p.Type == "" {
		return missing("Parameter", "type")
	}
	for it, depth := p.Items, 0; it != nil; it, depth = it.Items, depth+1 {
		if it.Type == "" {
			return missing("ArrayItems", "type")
		}
	}
	return nil
}

// Check reports a missing url.
func (c *ConnectionRequest) Check() error {
	if c.URL == "" {
		return missing("ConnectionRequest", "url")
	}
	return nil
}

// Check reports a missing id or eventType.
func (e *Event) Check() error {
	if e.ID == "" {
		return missing("Event", "id")
	}
	if e.EventType == "" {
		return missing("Event", "eventType")
	}
	return nil
}

// UnquoteText reads a raw-or-quoted string body or token (spec §2.2):
// whitespace is trimmed, then one pair of surrounding double quotes is
// stripped.
func UnquoteText(s string) string {
	s = strings.TrimSpace(s)
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		s = s[1 : len(s)-1]
	}
	return s
}
