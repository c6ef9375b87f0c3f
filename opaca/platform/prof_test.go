package platform

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkPlatformHandler measures the platform's own work per invoke:
// the API handler called in memory, routing to an in-process container.
func BenchmarkPlatformHandler(b *testing.B) {
	tp := startPlatform(b)
	tp.deploy(b, "agent1")
	h := tp.Handler()
	body := `{"x":20,"y":22}`
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest("POST", "/invoke/Add/agent1", strings.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatal(rec.Code)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "invokes/s")
}
