package token

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/meshkit/meshkit/rt2rt"
)

// benchStream moves b.N tokens through p and reports tokens/s.
func benchStream(b *testing.B, p *pair) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b.ResetTimer()
	start := time.Now()
	errc := make(chan error, 1)
	go func() { errc <- p.produce(ctx, b.N) }()
	if err := p.consume(ctx, b.N, nil); err != nil {
		b.Fatal(err)
	}
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tokens/s")
	b.StopTimer()
	b.ReportMetric(float64(p.snd.Stats().Retransmitted)/float64(b.N), "resent/token")
}

func serializerOpt(name string) rt2rt.Option { return rt2rt.WithSerializers(name) }

// BenchmarkNodesTCP: one port connection between two nodes over calvinip
// loopback, every token acknowledged, for each coder and queue length.
func BenchmarkNodesTCP(b *testing.B) {
	for _, coder := range []string{"json", "msgpack"} {
		for _, qlen := range []int{DefaultQueueLength, 64} {
			b.Run(fmt.Sprintf("%s/qlen=%d", coder, qlen), func(b *testing.B) {
				a := newStack(b, nil, serializerOpt(coder))
				c := newStack(b, nil, serializerOpt(coder))
				p := connectStacks(b, a, c, c.node.URIs()[0], qlen, qlen)
				benchStream(b, p)
			})
		}
	}
}

// ackClock records when acknowledgements arrive.
type ackClock struct {
	NopObserver
	mu   sync.Mutex
	acks []time.Time
}

func (o *ackClock) TokenAcked(Event) {
	now := time.Now()
	o.mu.Lock()
	o.acks = append(o.acks, now)
	o.mu.Unlock()
}

// linkWindow is one period during which the sender's node had a link.
type linkWindow struct{ up, down time.Time }

// recoveries measures, for every link window that lasted at least minLife,
// the time from the link coming up to the first acknowledgement; windows
// with no acknowledgement at all are counted as missed.
func recoveries(windows []linkWindow, acks []time.Time, minLife time.Duration) (rec []time.Duration, missed int) {
	for _, w := range windows {
		if w.down.Sub(w.up) < minLife {
			continue
		}
		i, _ := slices.BinarySearchFunc(acks, w.up, func(a, t time.Time) int { return a.Compare(t) })
		if i < len(acks) && acks[i].Before(w.down) {
			rec = append(rec, acks[i].Sub(w.up))
		} else {
			missed++
		}
	}
	slices.Sort(rec)
	return rec, missed
}

// BenchmarkNodesTCPCut: the same connection through a relay whose TCP
// connections are killed every 100 ms. The stream must stay exact (checked
// by the consumer). Reported: tokens/s, and for every link that lived at
// least 50 ms, the time from the re-join (the sender node's link-up event)
// to the first acknowledgement (p50, max, and links without any).
func BenchmarkNodesTCPCut(b *testing.B) {
	for _, coder := range []string{"json", "msgpack"} {
		b.Run(coder, func(b *testing.B) {
			obs := &ackClock{}
			a := newStack(b, []Option{WithObserver(obs)}, serializerOpt(coder))
			c := newStack(b, nil, serializerOpt(coder))
			rl := newRelay(b, hostPort(c.node.URIs()[0]))
			var mu sync.Mutex
			var windows []linkWindow
			var upAt time.Time
			unsub := a.node.Subscribe(func(ev rt2rt.PeerEvent) {
				if ev.Peer != c.node.ID() {
					return
				}
				mu.Lock()
				defer mu.Unlock()
				if ev.Up {
					upAt = time.Now()
				} else if !upAt.IsZero() {
					windows = append(windows, linkWindow{up: upAt, down: time.Now()})
					upAt = time.Time{}
				}
			})
			defer unsub()
			p := connectStacks(b, a, c, rl.uri(), DefaultQueueLength, DefaultQueueLength)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				tick := time.NewTicker(100 * time.Millisecond)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						rl.kill()
					}
				}
			}()
			benchStream(b, p)
			close(stop)
			wg.Wait()
			mu.Lock()
			defer mu.Unlock()
			if !upAt.IsZero() {
				windows = append(windows, linkWindow{up: upAt, down: time.Now()})
			}
			obs.mu.Lock()
			rec, missed := recoveries(windows, obs.acks, 50*time.Millisecond)
			obs.mu.Unlock()
			if len(rec) > 0 {
				b.ReportMetric(float64(rec[len(rec)/2].Microseconds())/1000, "ms-recovery-p50")
				b.ReportMetric(float64(rec[len(rec)-1].Microseconds())/1000, "ms-recovery-max")
			}
			b.ReportMetric(float64(len(windows)), "links")
			b.ReportMetric(float64(missed), "links-without-ack")
		})
	}
}

// BenchmarkNodesTCPLatency: one token at a time (low load) from the
// producer's write to the consumer's read, over calvinip loopback.
func BenchmarkNodesTCPLatency(b *testing.B) {
	for _, coder := range []string{"json", "msgpack"} {
		b.Run(coder, func(b *testing.B) {
			a := newStack(b, nil, serializerOpt(coder))
			c := newStack(b, nil, serializerOpt(coder))
			p := connectStacks(b, a, c, c.node.URIs()[0], DefaultQueueLength, DefaultQueueLength)
			lat := make([]time.Duration, 0, b.N)
			b.ResetTimer()
			for i := range b.N {
				start := time.Now()
				for p.out.Write(New(int64(i))) != nil {
					<-p.credit
				}
				p.snd.Notify()
				for {
					tok, err := p.in.Read("in")
					if err == nil {
						if tok != New(int64(i)) {
							b.Fatalf("got %v want %d", tok, i)
						}
						break
					}
					<-p.data
				}
				lat = append(lat, time.Since(start))
				p.rcv.Notify()
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1000, "µs-p50")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1000, "µs-p99")
		})
	}
}

// BenchmarkFlowMem: the token flow alone, two Flows over an in-memory link
// (no encoding, no transport), every token acknowledged.
func BenchmarkFlowMem(b *testing.B) {
	for _, qlen := range []int{DefaultQueueLength, 64} {
		b.Run(fmt.Sprintf("qlen=%d", qlen), func(b *testing.B) {
			p := newPair(b, 1, qlen, qlen)
			defer p.close()
			benchStream(b, p)
		})
	}
}
