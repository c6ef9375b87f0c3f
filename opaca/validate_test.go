package opaca

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sampleValidator(t testing.TB) *Validator {
	t.Helper()
	doc, err := os.ReadFile("testdata/sample_image.json")
	require.NoError(t, err)
	var img AgentContainerImage
	require.NoError(t, DecodeStrict(doc, &img))
	v, err := NewImageValidator(img)
	require.NoError(t, err)
	require.Empty(t, v.Problems())
	return v
}

var (
	addParams = map[string]Parameter{"x": NewParameter(TypeInteger), "y": NewParameter(TypeInteger)}

	validatorTestParams = map[string]Parameter{
		"car":         NewParameter("Car"),
		"listOfLists": ArrayParameter(ArrayItems{Type: TypeArray, Items: &ArrayItems{Type: TypeInteger}}),
		"decimal":     mustParam(NewParameter(TypeNumber).WithDefault(3.14)),
		"desk":        NewParameter("Desk").Optional(),
	}
)

const carOK = `{"model":"Golf","passengers":["a","b"],"isFunctional":true,"constructionYear":2010}`

func TestValidateArguments(t *testing.T) {
	v := sampleValidator(t)
	all := map[string]Parameter{
		"i": NewParameter(TypeInteger), "n": NewParameter(TypeNumber), "b": NewParameter(TypeBoolean),
		"s": NewParameter(TypeString), "z": NewParameter(TypeNull), "o": NewParameter(TypeObject),
		"a": NewParameter(TypeArray), "opt": NewParameter(TypeString).Optional(),
		"unk": NewParameter("Int").Optional(),
	}
	base := `"i":1,"n":1.5e3,"b":false,"s":"x","z":null,"o":{},"a":[1,"x",null]`
	tests := []struct {
		name   string
		params map[string]Parameter
		body   string
		arg    string // "" = valid
		path   string
	}{
		{"add ok", addParams, `{"x":1,"y":-2}`, "", ""},
		{"add int32 bounds", addParams, `{"x":2147483647,"y":-2147483648}`, "", ""},
		{"add too big", addParams, `{"x":3000000000,"y":1}`, "x", ""},
		{"add below int32", addParams, `{"x":1,"y":-2147483649}`, "y", ""},
		{"add fraction", addParams, `{"x":5.0,"y":1}`, "x", ""},
		{"add exponent", addParams, `{"x":5e0,"y":1}`, "x", ""},
		{"add string", addParams, `{"x":"5","y":1}`, "x", ""},
		{"add missing", addParams, `{"x":1}`, "y", ""},
		{"add both missing reports first sorted", addParams, `{}`, "x", ""},
		{"add unknown", addParams, `{"x":1,"y":2,"z":3}`, "z", ""},
		{"add null required", addParams, `{"x":null,"y":2}`, "x", ""},
		{"all kinds ok", all, `{` + base + `}`, "", ""},
		{"optional null ok", all, `{` + base + `,"opt":null}`, "", ""},
		{"optional wrong", all, `{` + base + `,"opt":1}`, "opt", ""},
		{"unknown type accepted", all, `{` + base + `,"unk":{"any":"thing"}}`, "", ""},
		{"number string", all, `{"i":1,"n":"1","b":false,"s":"x","z":null,"o":{},"a":[]}`, "n", ""},
		{"boolean number", all, `{"i":1,"n":1,"b":0,"s":"x","z":null,"o":{},"a":[]}`, "b", ""},
		{"null not null", all, `{"i":1,"n":1,"b":true,"s":"x","z":0,"o":{},"a":[]}`, "z", ""},
		{"object array", all, `{"i":1,"n":1,"b":true,"s":"x","z":null,"o":[],"a":[]}`, "o", ""},
		{"array object", all, `{"i":1,"n":1,"b":true,"s":"x","z":null,"o":{},"a":{}}`, "a", ""},
		{"validator test ok", validatorTestParams, `{"car":` + carOK + `,"listOfLists":[[1,2],[3]]}`, "", ""},
		{"validator test with desk", validatorTestParams, `{"car":` + carOK + `,"listOfLists":[],"decimal":2,"desk":{"deskId":1,"position":{"x":1,"y":2}}}`, "", ""},
		{"car missing field", validatorTestParams, `{"car":{"model":"Golf","passengers":[],"isFunctional":true},"listOfLists":[]}`, "car", ""},
		{"car wrong passenger", validatorTestParams, `{"car":{"model":"Golf","passengers":["a",3],"isFunctional":true,"constructionYear":1},"listOfLists":[]}`, "car", "passengers[1]"},
		{"car not object", validatorTestParams, `{"car":"Golf","listOfLists":[]}`, "car", ""},
		{"car year fraction", validatorTestParams, `{"car":{"model":"Golf","passengers":[],"isFunctional":true,"constructionYear":1.5},"listOfLists":[]}`, "car", "constructionYear"},
		{"car year 2010.0 is a schema integer", validatorTestParams, `{"car":{"model":"Golf","passengers":[],"isFunctional":true,"constructionYear":2010.0},"listOfLists":[]}`, "", ""},
		{"desk nested position", validatorTestParams, `{"car":` + carOK + `,"listOfLists":[],"desk":{"deskId":1,"position":{"x":"left"}}}`, "desk", "position.x"},
		{"desk missing id", validatorTestParams, `{"car":` + carOK + `,"listOfLists":[],"desk":{}}`, "desk", ""},
		{"list of lists flat", validatorTestParams, `{"car":` + carOK + `,"listOfLists":[1,2]}`, "listOfLists", "[0]"},
		{"list of lists null element", validatorTestParams, `{"car":` + carOK + `,"listOfLists":[[1],null]}`, "listOfLists", "[1]"},
		{"list of lists inner string", validatorTestParams, `{"car":` + carOK + `,"listOfLists":[[1],[2,"3"]]}`, "listOfLists", "[1][1]"},
		{"decimal wrong", validatorTestParams, `{"car":` + carOK + `,"listOfLists":[],"decimal":"pi"}`, "decimal", ""},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			check := func(err error) {
				t.Helper()
				if tt.arg == "" {
					assert.NoError(t, err)
					return
				}
				var ae *ArgumentError
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, tt.arg, ae.Argument)
				assert.Equal(t, tt.path, ae.Path)
				assert.NotEmpty(t, ae.Reason)
				assert.ErrorIs(t, err, ErrInvalidArgument)
				assert.ErrorIs(t, err, ErrBadRequest)
				assert.Equal(t, 400, HTTPStatus(err))
			}
			check(v.ValidateBody(ctx, tt.params, []byte(tt.body)))
			var args map[string]json.RawMessage
			require.NoError(t, json.Unmarshal([]byte(tt.body), &args))
			check(v.ValidateArguments(ctx, tt.params, args))
		})
	}
}

func TestValidateBodyShape(t *testing.T) {
	ctx := context.Background()
	var v *Validator // nil validator: no custom definitions
	assert.NoError(t, v.ValidateBody(ctx, nil, nil), "empty body is {}")
	assert.NoError(t, v.ValidateBody(ctx, map[string]Parameter{"o": NewParameter(TypeString).Optional()}, []byte("  ")))
	for _, body := range []string{`[]`, `"x"`, `{"x":1`, `{"x":1} {}`, `{"x":01}`, `nul`} {
		err := v.ValidateBody(ctx, addParams, []byte(body))
		var ae *ArgumentError
		require.ErrorAs(t, err, &ae, body)
		assert.Empty(t, ae.Argument, body)
	}
	// Duplicate keys are not counted twice towards the required ones.
	err := v.ValidateBody(ctx, addParams, []byte(`{"x":1,"x":2}`))
	var ae *ArgumentError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "y", ae.Argument)
	// Escaped keys are decoded.
	assert.NoError(t, v.ValidateBody(ctx, addParams, []byte(`{"\u0078":1,"y":2}`)))
	assert.Contains(t, (&ArgumentError{Argument: "car", Path: "a[1]", Reason: "bad"}).Error(), `argument "car" at a[1]: bad`)
}

func TestObjectDefinition(t *testing.T) {
	ctx := context.Background()
	v, err := NewValidator(map[string]json.RawMessage{"object": json.RawMessage(`{"type":"object","required":["k"]}`)}, nil)
	require.NoError(t, err)
	p := map[string]Parameter{"o": NewParameter(TypeObject)}
	assert.NoError(t, v.ValidateBody(ctx, p, []byte(`{"o":{"k":1}}`)))
	assert.Error(t, v.ValidateBody(ctx, p, []byte(`{"o":{}}`)))
	assert.Error(t, v.ValidateBody(ctx, p, []byte(`{"o":5}`)))
}

func TestSchemaKeywords(t *testing.T) {
	defs := map[string]json.RawMessage{
		"T": json.RawMessage(`{
			"definitions": {"pos": {"type":"integer","minimum":0}, "node": {"type":"object","properties":{"next":{"$ref":"#/definitions/node"},"v":{"$ref":"#/definitions/pos"}}}},
			"type": "object",
			"additionalProperties": false,
			"properties": {
				"e": {"enum": ["a", 1, null]},
				"c": {"const": {"k": [1, 2]}},
				"s": {"type": "string", "minLength": 2, "maxLength": 3, "pattern": "^[a-z]+$"},
				"n": {"type": "number", "exclusiveMinimum": 0, "maximum": 10, "multipleOf": 0.5},
				"a": {"type": "array", "items": {"type": "integer"}, "minItems": 1, "maxItems": 2, "uniqueItems": true},
				"t": {"type": "array", "items": [{"type": "string"}], "additionalItems": false},
				"h": {"type": "array", "contains": {"const": 7}},
				"any": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
				"one": {"oneOf": [{"type": "number"}, {"type": "integer"}]},
				"all": {"allOf": [{"type": "string"}, {"minLength": 1}]},
				"not": {"not": {"type": "null"}},
				"cond": {"if": {"type": "string"}, "then": {"minLength": 3}, "else": {"type": "integer"}},
				"m": {"type": "object", "patternProperties": {"^x": {"type": "boolean"}}, "propertyNames": {"maxLength": 3}, "minProperties": 1, "maxProperties": 2},
				"node": {"$ref": "#/definitions/node"},
				"ty": {"type": ["string", "null"]},
				"f": false
			}
		}`),
	}
	v, err := NewValidator(defs, nil)
	require.NoError(t, err)
	require.Empty(t, v.Problems())
	p := NewParameter("T")
	tests := []struct {
		val  string
		ok   bool
		path string
	}{
		{`{}`, true, ""},
		{`{"zz":1}`, false, "zz"},
		{`{"e":"a"}`, true, ""}, {`{"e":1.0}`, true, ""}, {`{"e":null}`, true, ""}, {`{"e":"b"}`, false, "e"},
		{`{"c":{"k":[1,2]}}`, true, ""}, {`{"c":{"k":[2,1]}}`, false, "c"},
		{`{"s":"ab"}`, true, ""}, {`{"s":"a"}`, false, "s"}, {`{"s":"abcd"}`, false, "s"}, {`{"s":"A1"}`, false, "s"}, {`{"s":"\u0061b"}`, true, ""},
		{`{"n":0.5}`, true, ""}, {`{"n":0}`, false, "n"}, {`{"n":10.5}`, false, "n"}, {`{"n":0.7}`, false, "n"},
		{`{"a":[1]}`, true, ""}, {`{"a":[]}`, false, "a"}, {`{"a":[1,2,3]}`, false, "a"}, {`{"a":[1,1]}`, false, "a[1]"}, {`{"a":[1.5]}`, false, "a[0]"},
		{`{"t":["x"]}`, true, ""}, {`{"t":["x",1]}`, false, "t[1]"}, {`{"t":[1]}`, false, "t[0]"},
		{`{"h":[1,7]}`, true, ""}, {`{"h":[1]}`, false, "h"},
		{`{"any":"x"}`, true, ""}, {`{"any":true}`, false, "any"},
		{`{"one":1.5}`, true, ""}, {`{"one":1}`, false, "one"},
		{`{"all":"x"}`, true, ""}, {`{"all":""}`, false, "all"},
		{`{"not":1}`, true, ""}, {`{"not":null}`, false, "not"},
		{`{"cond":"abc"}`, true, ""}, {`{"cond":"ab"}`, false, "cond"}, {`{"cond":5}`, true, ""}, {`{"cond":true}`, false, "cond"},
		{`{"m":{"xa":true}}`, true, ""}, {`{"m":{"xa":1}}`, false, "m.xa"}, {`{"m":{"long":1}}`, false, "m.long"}, {`{"m":{}}`, false, "m"}, {`{"m":{"a":1,"b":2,"c":3}}`, false, "m"},
		{`{"node":{"v":1,"next":{"v":2,"next":{"v":3}}}}`, true, ""}, {`{"node":{"next":{"next":{"v":-1}}}}`, false, "node.next.next.v"},
		{`{"ty":null}`, true, ""}, {`{"ty":1}`, false, "ty"},
		{`{"f":1}`, false, "f"},
	}
	for _, tt := range tests {
		err := v.ValidateValue(context.Background(), p, json.RawMessage(tt.val))
		if tt.ok {
			assert.NoError(t, err, tt.val)
			continue
		}
		var ae *ArgumentError
		if assert.ErrorAs(t, err, &ae, tt.val) {
			assert.Equal(t, tt.path, ae.Path, tt.val)
		}
	}
}

func TestBrokenDefinitions(t *testing.T) {
	v, err := NewValidator(map[string]json.RawMessage{
		"Bad":    json.RawMessage(`{"type":"wheel"}`),
		"BadRef": json.RawMessage(`{"$ref":"http://example.org/x.json"}`),
		"NotJS":  json.RawMessage(`[1`),
		"Good":   json.RawMessage(`{"type":"string"}`),
	}, nil)
	require.NoError(t, err)
	assert.Len(t, v.Problems(), 3)
	ctx := context.Background()
	assert.NoError(t, v.ValidateValue(ctx, NewParameter("Bad"), json.RawMessage(`5`)), "unusable definition: accepted")
	assert.Error(t, v.ValidateValue(ctx, NewParameter("Good"), json.RawMessage(`5`)))

	_, err = NewValidator(nil, nil, WithSchemaFetchTimeout(0))
	assert.Error(t, err)
	_, err = NewValidator(nil, nil, nil)
	assert.Error(t, err)
	_, err = NewValidator(nil, nil, WithSchemaClient(nil))
	assert.Error(t, err)
	_, err = NewValidator(nil, nil, WithValidatorLogger(nil))
	assert.Error(t, err)
	_, err = NewValidator(nil, nil, WithSchemaFailureTTL(-time.Second))
	assert.Error(t, err)
}

func TestDefinitionsByURL(t *testing.T) {
	doc, err := os.ReadFile("testdata/sample_image.json")
	require.NoError(t, err)
	var img AgentContainerImage
	require.NoError(t, json.Unmarshal(doc, &img))
	carSchema := img.Definitions["Car"]

	var hits, fail atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if fail.Load() == 1 {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write(carSchema)
	}))
	defer srv.Close()

	now := time.Unix(1000, 0)
	v, err := NewValidator(nil, map[string]string{"Car": srv.URL + "/Car.json"}, WithSchemaClient(srv.Client()))
	require.NoError(t, err)
	v.cfg.now = func() time.Time { return now }
	ctx := context.Background()
	p := NewParameter("Car")

	fail.Store(1)
	assert.NoError(t, v.ValidateValue(ctx, p, json.RawMessage(`"not a car"`)), "unreachable schema: accepted")
	assert.NoError(t, v.ValidateValue(ctx, p, json.RawMessage(`"not a car"`)))
	assert.Equal(t, int32(1), hits.Load(), "failure cached")

	fail.Store(0)
	now = now.Add(DefaultSchemaFailureTTL + time.Second)
	assert.Error(t, v.ValidateValue(ctx, p, json.RawMessage(`"not a car"`)), "retried after the TTL")
	assert.NoError(t, v.ValidateValue(ctx, p, json.RawMessage(carOK)))
	assert.Equal(t, int32(2), hits.Load(), "success cached")

	off, err := NewValidator(nil, map[string]string{"Car": srv.URL}, WithoutSchemaFetch())
	require.NoError(t, err)
	assert.NoError(t, off.ValidateValue(ctx, p, json.RawMessage(`"x"`)))
	assert.Equal(t, int32(2), hits.Load())
}

func TestArgumentErrorIs(t *testing.T) {
	err := error(&ArgumentError{Argument: "x", Reason: "r"})
	assert.True(t, errors.Is(err, ErrInvalidArgument))
	assert.False(t, errors.Is(err, ErrNotFound))
}
