package token

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// link joins two flows with a pair of fault-free memLinks and brings both
// ends up. from is the node id of a as b sees it, and the reverse.
func link(t *testing.T, a *Flow, aID string, b *Flow, bID string, seed uint64) (ab, ba *memLink) {
	t.Helper()
	ab = newMemLink(bID, b, seed)
	ba = newMemLink(aID, a, seed+1)
	ab.back, ba.back = ba, ab
	a.LinkUp(ab)
	b.LinkUp(ba)
	t.Cleanup(func() { ab.close(); ba.close() })
	return ab, ba
}

// TestFlowSurvivesMigration moves the source actor's outport from node A to
// node C and then the sink's inport from node B to node D in the middle of
// a stream, each time through the exported Calvin queue state, as migration
// does (TEMPORARY disconnect, ACTOR_NEW, reconnect). Sequence numbers
// continue and the sink sees every token exactly once, in order.
func TestFlowSurvivesMigration(t *testing.T) {
	newFlow := func() *Flow {
		f, err := NewFlow(WithTiming(fastTiming))
		require.NoError(t, err)
		t.Cleanup(func() { _ = f.Close() })
		return f
	}
	fa, fb, fc, fd := newFlow(), newFlow(), newFlow(), newFlow()
	link(t, fa, "A", fb, "B", 1)
	link(t, fc, "C", fb, "B", 3)
	link(t, fc, "C", fd, "D", 5)

	out, _ := NewFIFO(DefaultQueueLength)
	in, _ := NewFIFO(DefaultQueueLength)
	credit, data := make(chan struct{}, 1), make(chan struct{}, 1)
	rcv, err := fb.AddReceiver(ReceiverConfig{Peer: "A", PortID: "in", PeerPortID: "out", Queue: in, OnData: signal(data)})
	require.NoError(t, err)
	snd, err := fa.AddSender(SenderConfig{Peer: "B", PortID: "out", PeerPortID: "in", Queue: out, OnCredit: signal(credit)})
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	next := 0 // next token to produce
	got := 0  // next token the sink expects
	produce := func(n int) {
		for end := next + n; next < end; {
			if out.Write(New(int64(next))) == nil {
				next++
				snd.Notify()
				continue
			}
			select {
			case <-credit:
			case <-time.After(10 * time.Millisecond):
			case <-ctx.Done():
				t.Fatal("producer stalled")
			}
		}
	}
	consumeSome := func(n int) {
		for end := got + n; got < end; {
			tok, err := in.Read("in")
			if err != nil {
				select {
				case <-data:
				case <-time.After(10 * time.Millisecond):
				case <-ctx.Done():
					t.Fatalf("sink stalled at %d", got)
				}
				continue
			}
			require.Equal(t, New(int64(got)), tok, "token %d", got)
			got++
			rcv.Notify()
		}
	}
	step := func(n int) {
		done := make(chan struct{})
		go func() { defer close(done); produce(n) }()
		consumeSome(n - 2) // leave tokens in flight and in the queues
		<-done
	}

	step(100)
	// Migrate the source A -> C: disconnect, export, import, reconnect.
	require.NoError(t, snd.Close())
	state := out.MigrationState()
	out, err = ImportFIFO(state)
	require.NoError(t, err)
	rcv, err = fb.AddReceiver(ReceiverConfig{Peer: "C", PortID: "in", PeerPortID: "out", Queue: in, OnData: signal(data)})
	require.NoError(t, err)
	snd, err = fc.AddSender(SenderConfig{Peer: "B", PortID: "out", PeerPortID: "in", Queue: out, OnCredit: signal(credit)})
	require.NoError(t, err)
	step(100)

	// Migrate the sink B -> D the same way.
	require.NoError(t, rcv.Close())
	in, err = ImportFIFO(in.State())
	require.NoError(t, err)
	rcv, err = fd.AddReceiver(ReceiverConfig{Peer: "C", PortID: "in", PeerPortID: "out", Queue: in, OnData: signal(data)})
	require.NoError(t, err)
	snd, err = fc.AddSender(SenderConfig{Peer: "D", PortID: "out", PeerPortID: "in", Queue: out, OnCredit: signal(credit)})
	require.NoError(t, err)
	step(100)
	consumeSome(next - got)
	require.Equal(t, 300, got, fmt.Sprintf("sender %+v", snd.Stats()))
	require.Eventually(t, func() bool { return snd.Stats().Read == 300 }, 5*time.Second, time.Millisecond)
}
