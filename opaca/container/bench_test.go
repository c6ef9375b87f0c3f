package container

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

	"github.com/meshkit/meshkit/opaca"
)

func benchContainer(b *testing.B) *Container {
	rec := &recorder{messages: map[string][]opaca.Message{}, posted: map[string]string{}}
	c, err := New(testImage(), WithEnv(map[string]string{"CONTAINER_ID": "bench"}))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	if err := c.AddAgent(newTestAgent(b, "a1", rec)); err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkInvokeAddHTTP invokes Add over loopback HTTP from 16 concurrent
// clients and reports invocations per second.
func BenchmarkInvokeAddHTTP(b *testing.B) {
	c := benchContainer(b)
	srv := httptest.NewServer(c)
	defer srv.Close()
	const clients = 16
	tr := &http.Transport{MaxIdleConns: clients * 2, MaxIdleConnsPerHost: clients * 2}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr}
	url := srv.URL + "/invoke/Add/a1"
	body := []byte(`{"x":42,"y":23}`)
	b.SetParallelism((clients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 64)
		for pb.Next() {
			resp, err := hc.Post(url, "application/json", bytes.NewReader(body))
			if err != nil {
				b.Error(err)
				return
			}
			n, _ := io.ReadFull(resp.Body, buf)
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || string(buf[:n]) != "65" {
				b.Errorf("status %d body %q", resp.StatusCode, buf[:n])
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "invocations/s")
}

// BenchmarkInvokeAddLocal measures the in-process invoke path (decode,
// validate, defaults, handler, encode) without HTTP.
func BenchmarkInvokeAddLocal(b *testing.B) {
	c := benchContainer(b)
	body := []byte(`{"x":42,"y":23}`)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Invoke(ctx, "Add", "a1", body, InvokeOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e3, "µs/op")
}

// BenchmarkValidationOverhead measures what argument validation adds to
// each invocation of Add and of Echo (custom type Point).
func BenchmarkValidationOverhead(b *testing.B) {
	c := benchContainer(b)
	ctx := context.Background()
	a, _ := c.Agent("a1")
	for _, tc := range []struct{ action, body string }{
		{"Add", `{"x":42,"y":23}`},
		{"Echo", `{"text":"hello","times":3,"point":{"x":1,"y":2}}`},
	} {
		b.Run(tc.action, func(b *testing.B) {
			act := a.findAction(tc.action)
			var args map[string]json.RawMessage
			if err := json.Unmarshal([]byte(tc.body), &args); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := c.validator.ValidateArguments(ctx, act.desc.Parameters, args); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e3, "µs/op")
		})
	}
}
