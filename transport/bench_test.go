package transport

import (
	"bufio"
	"bytes"
	"context"
	"testing"
	"time"
)

// benchOneWay sends b.N frames of size bytes from a to b and reports
// frames/s measured until the last frame has been received.
func benchOneWay(b *testing.B, a, c Conn, size int) {
	benchOneWayCtx(b, context.Background(), a, c, size)
}

func benchOneWayCtx(b *testing.B, ctx context.Context, a, c Conn, size int) {
	frame := bytes.Repeat([]byte{'x'}, size)
	done := make(chan error, 1)
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	go func() {
		for range b.N {
			f, err := c.Recv(ctx)
			if err != nil || len(f) != size {
				done <- err
				return
			}
		}
		done <- nil
	}()
	for range b.N {
		if err := a.Send(ctx, frame); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "frames/s")
	if sc, ok := a.(*streamConn); ok {
		if err := Flush(ctx, a); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N)/float64(max(sc.writes.Load(), 1)), "frames/write")
	}
}

func benchPair(b *testing.B, tr Transport, uri string) (Conn, Conn) {
	ctx := context.Background()
	l, err := tr.Listen(ctx, uri)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = l.Close() })
	a, err := tr.Dial(ctx, l.URI())
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = a.Close() })
	c, err := l.Accept(ctx)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = c.Close() })
	return a, c
}

func BenchmarkCalvinIPOneWay200B(b *testing.B) {
	tr, err := NewCalvinIPTransport()
	if err != nil {
		b.Fatal(err)
	}
	a, c := benchPair(b, tr, "calvinip://127.0.0.1:0")
	benchOneWay(b, a, c, 200)
}

// BenchmarkCalvinIPOneWay200BCancellable uses a cancellable context for
// Send and Recv, as a node's link loop might.
func BenchmarkCalvinIPOneWay200BCancellable(b *testing.B) {
	tr, err := NewCalvinIPTransport()
	if err != nil {
		b.Fatal(err)
	}
	a, c := benchPair(b, tr, "calvinip://127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	benchOneWayCtx(b, ctx, a, c, 200)
}

// BenchmarkCalvinIPParallelSend200B has several goroutines sending on one
// connection, as several tunnels of one link do.
func BenchmarkCalvinIPParallelSend200B(b *testing.B) {
	tr, err := NewCalvinIPTransport()
	if err != nil {
		b.Fatal(err)
	}
	a, c := benchPair(b, tr, "calvinip://127.0.0.1:0")
	ctx := context.Background()
	frame := bytes.Repeat([]byte{'x'}, 200)
	done := make(chan error, 1)
	b.SetBytes(200)
	b.SetParallelism(4)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	go func() {
		for range b.N {
			if _, err := c.Recv(ctx); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := a.Send(ctx, frame); err != nil {
				b.Error(err)
				return
			}
		}
	})
	if err := <-done; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "frames/s")
}

func BenchmarkCalvinIPTLSOneWay200B(b *testing.B) {
	pki := newTestPKI(b)
	server, err := NewCalvinIPTransport(WithTLS(pki.serverConfig()))
	if err != nil {
		b.Fatal(err)
	}
	client, err := NewCalvinIPTransport(WithTLS(pki.clientConfig(true)))
	if err != nil {
		b.Fatal(err)
	}
	a, c := benchPair(b, tlsDialListen{server, client}, "calvinip://127.0.0.1:0")
	benchOneWay(b, a, c, 200)
}

func BenchmarkCalvinIPOneWay4KiB(b *testing.B) {
	tr, err := NewCalvinIPTransport()
	if err != nil {
		b.Fatal(err)
	}
	a, c := benchPair(b, tr, "calvinip://127.0.0.1:0")
	benchOneWay(b, a, c, 4096)
}

func BenchmarkMemOneWay200B(b *testing.B) {
	tr, err := NewMemTransport(WithMemNetwork(NewMemNetwork()))
	if err != nil {
		b.Fatal(err)
	}
	a, c := benchPair(b, tr, "mem://bench")
	benchOneWay(b, a, c, 200)
}

func BenchmarkWSOneWay200B(b *testing.B) {
	tr, err := NewWSTransport()
	if err != nil {
		b.Fatal(err)
	}
	a, c := benchPair(b, tr, "ws://127.0.0.1:0/")
	benchOneWay(b, a, c, 200)
}

// BenchmarkReadFrame measures decoding 200-byte frames from a buffered stream.
func BenchmarkReadFrame200B(b *testing.B) {
	var wire []byte
	payload := bytes.Repeat([]byte{'x'}, 200)
	for range 1000 {
		wire = AppendFrame(wire, payload)
	}
	rd := bytes.NewReader(wire)
	br := bufio.NewReaderSize(rd, 64<<10)
	buf := make([]byte, 0, 256)
	b.SetBytes(200)
	b.ReportAllocs()
	start := time.Now()
	for i := range b.N {
		if i%1000 == 0 {
			rd.Reset(wire)
			br.Reset(rd)
		}
		if _, err := ReadFrame(br, DefaultMaxFrameSize, buf); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "frames/s")
}

// BenchmarkQueue compares the send queue (mutex-protected slice swapped by
// the consumer, one wake-up per batch) with a buffered channel, one
// producer and one consumer, as behind Send and the writer goroutine.
func BenchmarkQueue(b *testing.B) {
	frame := make([]byte, 200)
	b.Run("slice-swap", func(b *testing.B) {
		q := newBoundedQueue[[]byte](DefaultSendQueue)
		done := make(chan struct{})
		start := time.Now()
		go func() {
			defer close(done)
			var batch [][]byte
			for got := 0; got < b.N; {
				if err := q.wait(context.Background()); err != nil {
					return
				}
				batch = q.take(batch)
				got += len(batch)
				clear(batch)
				batch = batch[:0]
			}
		}()
		ctx := context.Background()
		for range b.N {
			if err := q.push(ctx, frame); err != nil {
				b.Fatal(err)
			}
		}
		<-done
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "frames/s")
	})
	b.Run("channel", func(b *testing.B) {
		ch := make(chan []byte, DefaultSendQueue)
		done := make(chan struct{})
		start := time.Now()
		go func() {
			defer close(done)
			for range b.N {
				<-ch
			}
		}()
		for range b.N {
			ch <- frame
		}
		<-done
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "frames/s")
	})
}
