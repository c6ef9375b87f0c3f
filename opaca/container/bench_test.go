package container

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

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
	cpu0, _ := processCPU()
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
	reportThroughput(b, cpu0)
}

// BenchmarkInvokeAddRawClients is BenchmarkInvokeAddHTTP with 16 light
// HTTP/1.1 keep-alive clients (one TCP connection each, requests written
// and responses parsed by hand), so that the figure reflects the server
// rather than net/http's client on the same two cores.
func BenchmarkInvokeAddRawClients(b *testing.B) {
	c := benchContainer(b)
	srv := httptest.NewServer(c)
	defer srv.Close()
	const clients = 16
	addr := strings.TrimPrefix(srv.URL, "http://")
	body := `{"x":42,"y":23}`
	req := []byte("POST /invoke/Add/a1 HTTP/1.1\r\nHost: " + addr + "\r\nContent-Type: application/json\r\nContent-Length: " +
		strconv.Itoa(len(body)) + "\r\n\r\n" + body)
	conns := make(chan net.Conn, clients)
	for range clients {
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		conns <- conn
	}
	b.SetParallelism((clients + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	cpu0, _ := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		var conn net.Conn
		select {
		case conn = <-conns:
		default:
			b.Error("more goroutines than connections")
			return
		}
		rd := bufio.NewReader(conn)
		buf := make([]byte, 64)
		for pb.Next() {
			if _, err := conn.Write(req); err != nil {
				b.Error(err)
				return
			}
			n, err := readResponse(rd, buf)
			if err != nil || string(buf[:n]) != "65" {
				b.Errorf("response %q: %v", buf[:n], err)
				return
			}
		}
	})
	reportThroughput(b, cpu0)
}

// reportThroughput reports invocations per second of wall-clock time and
// the CPU time (server and clients together) per invocation; the second
// figure does not depend on what else runs on the machine.
func reportThroughput(b *testing.B, cpu0 time.Duration) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "invocations/s")
	if cpu1, ok := processCPU(); ok {
		b.ReportMetric(float64((cpu1-cpu0).Nanoseconds())/float64(b.N)/1e3, "cpu-µs/op")
	}
}

// readResponse reads one HTTP/1.1 response with a Content-Length body
// into buf and returns the body length; a non-200 status is an error.
func readResponse(rd *bufio.Reader, buf []byte) (int, error) {
	status, err := rd.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if !bytes.HasPrefix(status, []byte("HTTP/1.1 200 ")) {
		return 0, fmt.Errorf("status line %q", status)
	}
	length := -1
	for {
		line, err := rd.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		if len(line) <= 2 {
			break
		}
		if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
			length, err = strconv.Atoi(string(bytes.TrimSpace(v)))
			if err != nil {
				return 0, err
			}
		}
	}
	if length < 0 || length > len(buf) {
		return 0, fmt.Errorf("content length %d", length)
	}
	_, err = io.ReadFull(rd, buf[:length])
	return length, err
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
