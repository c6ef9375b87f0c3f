package platform

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
)

func BenchmarkProfPlatformOnly(b *testing.B) {
	tp := startPlatform(b)
	tp.deploy(b, "agent1")
	call := func(ctx context.Context) error {
		_, err := tp.c.Invoke(ctx, "Add", "agent1", benchArgs)
		return err
	}
	throughput(b, 100, call)
	b.ResetTimer()
	throughput(b, b.N, call)
}

func BenchmarkHandlerOnly(b *testing.B) {
	tp := startPlatform(b)
	id := tp.deploy(b, "agent1")
	f := tp.reg.get(id)
	h := tp.Handler()
	body := `{"x":20,"y":22}`
	b.Run("platform", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			req := httptest.NewRequest("POST", "/invoke/Add/agent1", strings.NewReader(body))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatal(rec.Code, rec.Body.String())
			}
		}
	})
	b.Run("container", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			req := httptest.NewRequest("POST", "/invoke/Add/agent1", strings.NewReader(body))
			rec := httptest.NewRecorder()
			f.ServeHTTP(rec, req)
			if rec.Code != 200 {
				b.Fatal(rec.Code)
			}
		}
	})
}
