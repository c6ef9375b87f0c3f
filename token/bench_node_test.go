package token

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
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

// recoveryObserver records when acknowledgements arrive.
type recoveryObserver struct {
	NopObserver
	lastAck atomic.Int64
	acks    chan time.Time
}

func (o *recoveryObserver) TokenAcked(Event) {
	now := time.Now()
	o.lastAck.Store(now.UnixNano())
	select {
	case o.acks <- now:
	default:
	}
}

// BenchmarkNodesTCPCut: the same connection through a relay whose TCP
// connections are killed every 100 ms. The stream must stay exact (checked
// by the consumer); reported: tokens/s, and the time from each re-join (the
// sender node's link-up event) to the next acknowledgement.
func BenchmarkNodesTCPCut(b *testing.B) {
	for _, coder := range []string{"json", "msgpack"} {
		b.Run(coder, func(b *testing.B) {
			obs := &recoveryObserver{acks: make(chan time.Time, 1)}
			a := newStack(b, []Option{WithObserver(obs)}, serializerOpt(coder))
			c := newStack(b, nil, serializerOpt(coder))
			rl := newRelay(b, hostPort(c.node.URIs()[0]))
			var mu sync.Mutex
			var recoveries []time.Duration
			stop := make(chan struct{})
			var wg sync.WaitGroup
			unsub := a.node.Subscribe(func(ev rt2rt.PeerEvent) {
				if !ev.Up || ev.Peer != c.node.ID() {
					return
				}
				up := time.Now()
				wg.Add(1)
				go func() {
					defer wg.Done()
					// The first acknowledgement after the re-join ends the outage.
					for {
						select {
						case at := <-obs.acks:
							if at.Before(up) {
								continue
							}
							mu.Lock()
							recoveries = append(recoveries, at.Sub(up))
							mu.Unlock()
							return
						case <-stop:
							return
						}
					}
				}()
			})
			defer unsub()
			p := connectStacks(b, a, c, rl.uri(), DefaultQueueLength, DefaultQueueLength)
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
			if len(recoveries) > 0 {
				slices.Sort(recoveries)
				b.ReportMetric(float64(recoveries[len(recoveries)/2].Microseconds())/1000, "ms-recovery-p50")
				b.ReportMetric(float64(recoveries[len(recoveries)-1].Microseconds())/1000, "ms-recovery-max")
				b.ReportMetric(float64(len(recoveries)), "rejoins")
			}
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
