package opaca

import (
	"context"
	"encoding/json"
	"os"
	"testing"
)

// fuzzModel checks that decoding never panics and that whatever decodes
// strictly re-encodes into a document that decodes again to the same
// encoding.
func fuzzModel[T any](f *testing.F, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var lenient T
		_ = DecodeLenient(data, &lenient)
		var v T
		if DecodeStrict(data, &v) != nil {
			return
		}
		out, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("marshal after decode: %v", err)
		}
		var again T
		if err := DecodeStrict(out, &again); err != nil {
			t.Fatalf("re-decode of %s: %v", out, err)
		}
		out2, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != string(out2) {
			t.Fatalf("unstable round trip:\n%s\n%s", out, out2)
		}
	})
}

func FuzzRuntimePlatform(f *testing.F) { fuzzModel[RuntimePlatform](f, specPlatform) }
func FuzzAgentContainer(f *testing.F)  { fuzzModel[AgentContainer](f, specContainer) }
func FuzzAgentContainerImage(f *testing.F) {
	doc, _ := os.ReadFile("testdata/sample_image.json")
	fuzzModel[AgentContainerImage](f, specImage, string(doc))
}
func FuzzPostAgentContainer(f *testing.F) {
	fuzzModel[PostAgentContainer](f, specPost, specKubernetes, `{"image":{"imageName":"i"},"arguments":{"n":1.5,"b":false}}`)
}
func FuzzAgentDescription(f *testing.F) { fuzzModel[AgentDescription](f, specAgentDescription) }
func FuzzAction(f *testing.F) {
	fuzzModel[Action](f, `{"name":"V","parameters":{"l":{"type":"array","items":{"type":"array","items":{"type":"integer"}}},"d":{"type":"number","required":false,"defaultValue":3.14}},"result":null}`)
}
func FuzzMessage(f *testing.F)           { fuzzModel[Message](f, specMessage, `{"payload":"x"}`) }
func FuzzEvent(f *testing.F)             { fuzzModel[Event](f, specEvent) }
func FuzzConnectionRequest(f *testing.F) { fuzzModel[ConnectionRequest](f, specConnection) }
func FuzzLogin(f *testing.F)             { fuzzModel[Login](f, specLogin) }
func FuzzUser(f *testing.F)              { fuzzModel[User](f, specUser) }
func FuzzErrorResponse(f *testing.F)     { fuzzModel[ErrorResponse](f, specError) }
func FuzzStream(f *testing.F)            { fuzzModel[Stream](f, `{"name":"s","mode":"GET","description":""}`) }

// The models that only occur nested in others get their own targets too,
// so their decoders are exercised without a surrounding document.
func FuzzParameter(f *testing.F) {
	fuzzModel[Parameter](f, `{"type":"integer","required":true}`, `{"type":"array","required":false,"items":{"type":"Car"},"defaultValue":[]}`)
}
func FuzzArrayItems(f *testing.F) {
	fuzzModel[ArrayItems](f, `{"type":"array","items":{"type":"integer"}}`, `{"type":"string"}`)
}
func FuzzImageParameter(f *testing.F) {
	fuzzModel[ImageParameter](f, `{"name":"password","type":"string","required":true,"confidential":true}`,
		`{"name":"database","type":"string","required":false,"confidential":false,"defaultValue":"mongodb"}`)
}
func FuzzPortDescription(f *testing.F) {
	fuzzModel[PortDescription](f, `{"protocol":"TCP","description":"web"}`, `{"protocol":"UDP"}`)
}
func FuzzConnectivity(f *testing.F) {
	fuzzModel[Connectivity](f, `{"publicUrl":"http://10.0.0.5","apiPortMapping":8082,"extraPortMappings":{"8888":{"protocol":"TCP","description":"web"}}}`)
}
func FuzzClientConfig(f *testing.F) {
	fuzzModel[ClientConfig](f, `{"type":"DOCKER"}`, `{"type":"KUBERNETES","nodeName":"n1"}`)
}

// FuzzValidateBody runs invoke bodies through the sample's declarations;
// both entry points must agree on valid / invalid.
func FuzzValidateBody(f *testing.F) {
	v := sampleValidator(f)
	for _, s := range []string{`{"x":1,"y":2}`, `{"car":` + carOK + `,"listOfLists":[[1]]}`, `{"desk":{"deskId":1}}`, `[]`, `{"x":1e400}`, `{"\u0078":"\ud800"}`} {
		f.Add([]byte(s), true)
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, add bool) {
		params := validatorTestParams
		if add {
			params = addParams
		}
		ctx := context.Background()
		errBody := v.ValidateBody(ctx, params, body)
		var args map[string]json.RawMessage
		if json.Unmarshal(body, &args) != nil || args == nil {
			return
		}
		if !json.Valid(body) {
			return
		}
		errArgs := v.ValidateArguments(ctx, params, args)
		if (errBody == nil) != (errArgs == nil) && !hasDuplicateKeys(body) {
			t.Fatalf("body and arguments disagree on %q: %v / %v", body, errBody, errArgs)
		}
	})
}

func hasDuplicateKeys(body []byte) bool {
	seen := map[string]bool{}
	dup := false
	_ = eachMember(trimWS(body), func(k []byte, esc bool, _ []byte) error {
		key := decodeKey(k, esc)
		dup = dup || seen[key]
		seen[key] = true
		return nil
	})
	return dup
}

// FuzzScanner checks the raw scanner against encoding/json's notion of
// validity.
func FuzzScanner(f *testing.F) {
	for _, s := range []string{`{"a":[1,2,{"b":null}]}`, `"\u00e9"`, `-0.5e+3`, `01`, `[1,]`, `{"a" 1}`, `tru`, "\"\x01\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := oneValue(data)
		if (err == nil) != json.Valid(data) {
			t.Fatalf("scanner says %v, encoding/json says valid=%v for %q", err, json.Valid(data), data)
		}
	})
}

// FuzzSchema compiles arbitrary schemas and validates arbitrary values.
func FuzzSchema(f *testing.F) {
	f.Add([]byte(`{"type":"object","properties":{"a":{"$ref":"#"}},"required":["a"]}`), []byte(`{"a":{"a":1}}`))
	f.Add([]byte(`{"items":[{"enum":[1]}],"additionalItems":false,"uniqueItems":true}`), []byte(`[1,1]`))
	f.Add([]byte(`{"pattern":"^a","minLength":1,"oneOf":[true,false]}`), []byte(`"abc"`))
	f.Fuzz(func(t *testing.T, schemaDoc, value []byte) {
		v, err := NewValidator(map[string]json.RawMessage{"T": schemaDoc}, nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = v.ValidateValue(context.Background(), NewParameter("T"), value)
	})
}

func FuzzTextHelpers(f *testing.F) {
	f.Add("8082:8083,8888:8888", `"2026-01-01T12:00:00.000Z"`)
	f.Add(" \"id\" ", `1767268800000`)
	f.Fuzz(func(t *testing.T, s, ts string) {
		_ = UnquoteText(s)
		if m, err := ParsePortMapping(s); err == nil {
			back, err := ParsePortMapping(FormatPortMapping(8082, m))
			if err != nil || len(back) != len(m) {
				t.Fatalf("port mapping round trip of %q: %v", s, err)
			}
		}
		var tm Time
		if json.Unmarshal([]byte(ts), &tm) == nil && tm.Year() >= 0 && tm.Year() < 10000 {
			var again Time
			out, _ := json.Marshal(tm)
			if err := json.Unmarshal(out, &again); err != nil || !again.Equal(tm.Truncate(1e6)) {
				t.Fatalf("time round trip of %s: %s %v", ts, out, err)
			}
		}
		var a Arguments
		_ = json.Unmarshal([]byte(s), &a)
	})
}

// FuzzObjectMembers checks ObjectMembers against encoding/json.
func FuzzObjectMembers(f *testing.F) {
	for _, s := range []string{`{"a":1,"b":[1,{"c":null}]}`, `{"a":1,"a":2}`, `{"\u0061":"x"}`, `null`, `[]`, `{"a" : 1 , "b":"\"" }`, "{\"\xff\":1}"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := ObjectMembers(data)
		var want map[string]json.RawMessage
		werr := json.Unmarshal(data, &want)
		if (err == nil) != (werr == nil) {
			t.Fatalf("ObjectMembers err=%v, encoding/json err=%v for %q", err, werr, data)
		}
		if err != nil {
			return
		}
		if len(got) != len(want) || (got == nil) != (want == nil) {
			t.Fatalf("got %d members, want %d for %q", len(got), len(want), data)
		}
		for k, v := range want {
			if string(got[k]) != string(v) {
				t.Fatalf("member %q: got %s want %s", k, got[k], v)
			}
		}
	})
}
