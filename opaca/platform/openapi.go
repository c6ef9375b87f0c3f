package platform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/meshkit/meshkit/opaca"
)

var basicTypes = map[string]bool{"string": true, "number": true, "integer": true, "boolean": true, "object": true}

func openAPIType(typ string, items *opaca.ArrayItems) map[string]any {
	switch {
	case basicTypes[typ]:
		return map[string]any{"type": typ}
	case typ == opaca.TypeArray:
		s := map[string]any{"type": "array"}
		if items != nil {
			s["items"] = openAPIType(items.Type, items.Items)
		} else {
			s["items"] = map[string]any{}
		}
		return s
	case typ == opaca.TypeNull:
		return map[string]any{"nullable": true}
	}
	return map[string]any{"$ref": "#/components/schemas/" + typ}
}

func paramSchema(p opaca.Parameter) map[string]any {
	s := openAPIType(p.Type, p.Items)
	if p.HasDefault() {
		s["default"] = p.DefaultValue
	}
	return s
}

// actionsOpenAPI builds the document of spec §5.9.
func (p *Platform) actionsOpenAPI() map[string]any {
	paths := map[string]any{}
	schemas := map[string]any{
		"Error": map[string]any{"type": "object", "properties": map[string]any{
			"code": map[string]any{"type": "integer"}, "message": map[string]any{"type": "string"}}},
	}
	var tags []any
	seenTag := map[string]bool{}
	for _, e := range p.snapshotContainers() {
		for name, def := range e.info.Image.Definitions {
			schemas[name] = def
		}
		for name, u := range e.info.Image.DefinitionsByURL {
			schemas[name] = map[string]any{"$ref": u}
		}
		for _, a := range e.info.Agents {
			if !seenTag[a.AgentID] {
				seenTag[a.AgentID] = true
				tags = append(tags, map[string]any{"name": a.AgentID, "description": a.Description})
			}
			for _, act := range a.Actions {
				props := map[string]any{}
				required := []string{}
				for n, prm := range act.Parameters {
					props[n] = paramSchema(prm)
					if prm.IsRequired() {
						required = append(required, n)
					}
				}
				sort.Strings(required)
				body := map[string]any{"type": "object", "properties": props}
				if len(required) > 0 {
					body["required"] = required
				}
				result := map[string]any{"type": "object", "nullable": true}
				if act.Result != nil {
					result = paramSchema(*act.Result)
				}
				paths["/invoke/"+act.Name+"/"+a.AgentID] = map[string]any{"post": map[string]any{
					"operationId": e.id + ";" + a.AgentID + ";" + act.Name,
					"tags":        []string{a.AgentID},
					"description": act.Description,
					"parameters": []any{
						map[string]any{"$ref": "#/components/parameters/timeoutParam"},
						map[string]any{"$ref": "#/components/parameters/containerIdParam"},
						map[string]any{"$ref": "#/components/parameters/forwardParam"},
					},
					"requestBody": map[string]any{"required": true, "content": map[string]any{
						"application/json": map[string]any{"schema": body}}},
					"responses": map[string]any{
						"200":     map[string]any{"description": "result of the action", "content": map[string]any{"application/json": map[string]any{"schema": result}}},
						"default": map[string]any{"description": "error", "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}},
					},
				}}
			}
		}
	}
	if tags == nil {
		tags = []any{}
	}
	components := map[string]any{
		"schemas": schemas,
		"parameters": map[string]any{
			"timeoutParam":     map[string]any{"name": "timeout", "in": "query", "required": false, "schema": map[string]any{"type": "integer"}},
			"containerIdParam": map[string]any{"name": "containerId", "in": "query", "required": false, "schema": map[string]any{"type": "string"}},
			"forwardParam":     map[string]any{"name": "forward", "in": "query", "required": false, "schema": map[string]any{"type": "boolean"}},
		},
	}
	doc := map[string]any{
		"openapi": "3.0.1",
		"info":    map[string]any{"title": "OPACA actions", "version": "1.0", "description": "Actions of the agents on " + p.cfg.publicURL},
		"servers": []any{map[string]any{"url": p.cfg.publicURL}},
		"tags":    tags,
		"paths":   paths,
	}
	if p.cfg.requireAuth {
		components["securitySchemes"] = map[string]any{"bearerAuth": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
		doc["security"] = []any{map[string]any{"bearerAuth": []any{}}}
	}
	doc["components"] = components
	return doc
}

func (p *Platform) handleActionsOpenAPI(w http.ResponseWriter, r *http.Request) {
	format := strings.ToUpper(r.URL.Query().Get("format"))
	doc := p.actionsOpenAPI()
	switch format {
	case "", "JSON":
		writeJSON(w, http.StatusOK, doc)
	case "YAML":
		b, err := json.Marshal(doc)
		if err == nil {
			var v any
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.UseNumber()
			if err = dec.Decode(&v); err == nil {
				var buf bytes.Buffer
				writeYAML(&buf, v, 0, false)
				w.Header().Set("Content-Type", "application/yaml")
				_, _ = w.Write(buf.Bytes())
				return
			}
		}
		writeError(w, apiErr(http.StatusInternalServerError, "encoding YAML failed: %v", err))
	default:
		writeError(w, apiErr(http.StatusBadRequest, "Unknown format %q (JSON or YAML).", format))
	}
}

// writeYAML emits a decoded JSON value as block YAML. Strings use JSON
// quoting, which is valid YAML double-quoted style, so no escaping rules
// of our own are needed.
func writeYAML(buf *bytes.Buffer, v any, indent int, inList bool) {
	pad := strings.Repeat("  ", indent)
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 0 {
			buf.WriteString(" {}\n")
			return
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		if !inList {
			buf.WriteString("\n")
		}
		for i, k := range keys {
			if !(inList && i == 0) {
				buf.WriteString(pad)
			}
			kb, _ := json.Marshal(k)
			buf.Write(kb)
			buf.WriteString(":")
			writeYAML(buf, x[k], indent+1, false)
		}
	case []any:
		if len(x) == 0 {
			buf.WriteString(" []\n")
			return
		}
		buf.WriteString("\n")
		for _, item := range x {
			buf.WriteString(pad + "- ")
			switch it := item.(type) {
			case map[string]any:
				if len(it) == 0 {
					buf.WriteString("{}\n")
					continue
				}
				writeYAML(buf, item, indent+1, true)
			case []any:
				b, _ := json.Marshal(item)
				buf.Write(b)
				buf.WriteString("\n")
			default:
				writeScalar(buf, item)
			}
		}
	default:
		buf.WriteString(" ")
		writeScalar(buf, x)
	}
}

func writeScalar(buf *bytes.Buffer, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		b = []byte(fmt.Sprintf("%q", fmt.Sprint(v)))
	}
	buf.Write(b)
	buf.WriteString("\n")
}
