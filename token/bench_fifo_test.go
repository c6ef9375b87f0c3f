package token

import (
	"testing"
	"time"
)

// BenchmarkFIFOLocal measures the local-connection path: the producing actor
// writes, the consuming side peeks and commits.
func BenchmarkFIFOLocal(b *testing.B) {
	q, err := NewFIFO(DefaultQueueLength)
	if err != nil {
		b.Fatal(err)
	}
	q.AddReader("in")
	tok := New(int64(1))
	b.ReportAllocs()
	start := time.Now()
	for b.Loop() {
		if err := q.Write(tok); err != nil {
			b.Fatal(err)
		}
		if _, err := q.Peek("in"); err != nil {
			b.Fatal(err)
		}
		if err := q.Commit("in"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tokens/s")
}

// BenchmarkFIFOMove measures an outport FIFO feeding an inport FIFO through
// Move (the local connection), in bursts of the queue length.
func BenchmarkFIFOMove(b *testing.B) {
	out, _ := NewFIFO(DefaultQueueLength)
	in, _ := NewFIFO(DefaultQueueLength)
	out.AddReader("in")
	in.AddReader("in")
	tok := New(int64(1))
	b.ReportAllocs()
	start := time.Now()
	n := 0
	for b.Loop() {
		for out.Write(tok) == nil {
		}
		if _, err := Move(in, out, "in"); err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := in.Read("in"); err != nil {
				break
			}
			n++
		}
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "tokens/s")
}
