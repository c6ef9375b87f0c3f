package opaca

import (
	"context"
	"encoding/json"
	"testing"
)

func reportMicros(b *testing.B) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e3, "µs/op")
}

func BenchmarkValidateAdd(b *testing.B) {
	benchValidate(b, addParams, `{"x":42,"y":23}`)
}

func BenchmarkValidateCustomTypes(b *testing.B) {
	benchValidate(b, validatorTestParams,
		`{"car":`+carOK+`,"listOfLists":[[1,2,3],[4,5]],"decimal":2.5,"desk":{"deskId":7,"name":"d","position":{"x":1,"y":2}}}`)
}

// benchValidate measures the validation of the arguments in body against
// params, decoded (arguments) and raw (body).
func benchValidate(b *testing.B, params map[string]Parameter, body string) {
	v := sampleValidator(b)
	ctx := context.Background()
	var args map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &args); err != nil {
		b.Fatal(err)
	}
	b.Run("arguments", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := v.ValidateArguments(ctx, params, args); err != nil {
				b.Fatal(err)
			}
		}
		reportMicros(b)
	})
	raw := []byte(body)
	b.Run("body", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := v.ValidateBody(ctx, params, raw); err != nil {
				b.Fatal(err)
			}
		}
		reportMicros(b)
	})
}

func BenchmarkMarshalAgentDescription(b *testing.B) {
	var d AgentDescription
	if err := DecodeStrict([]byte(specAgentDescription), &d); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(d); err != nil {
			b.Fatal(err)
		}
	}
	reportMicros(b)
}
