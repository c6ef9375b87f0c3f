package token

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/tunnel"
)

// failingLink refuses the first fail sends, then passes values on.
type failingLink struct {
	captureLink
	fail atomic.Int32
}

func (l *failingLink) Send(ctx context.Context, v any) error {
	if l.fail.Add(-1) >= 0 {
		return errors.New("link refused the frame")
	}
	return l.captureLink.Send(ctx, v)
}

func TestFlowRetriesFramesTheLinkRefused(t *testing.T) {
	f, err := NewFlow(WithTiming(fastTiming))
	require.NoError(t, err)
	defer f.Close()
	l := &failingLink{captureLink: captureLink{peer: "P", ch: make(chan any, 16)}}
	l.fail.Store(2)
	f.LinkUp(l)
	q, _ := NewFIFO(4)
	s, err := f.AddSender(SenderConfig{Peer: "P", PortID: "out", PeerPortID: "in", Queue: q})
	require.NoError(t, err)
	require.NoError(t, q.Write(New("a")))
	require.NoError(t, q.Write(New("b")))
	s.Notify()
	// The refused frames were never counted as sent: the position went back
	// and the sender tried again after a backoff, one token at a time.
	next := func() uint64 {
		select {
		case v := <-l.ch:
			return v.(*wire.Token).SequenceNbr
		case <-time.After(5 * time.Second):
			t.Fatal("sender gave up after refused sends")
			return 0
		}
	}
	assert.Equal(t, uint64(0), next())
	assert.LessOrEqual(t, l.fail.Load(), int32(-1), "two refusals, then the retry went out")
	f.Deliver(l, &wire.TokenReply{PortID: "out", PeerPortID: "in", SequenceNbr: 0, Value: ReplyACK})
	assert.Equal(t, uint64(1), next(), "back to bulk after the ACK")
	f.Deliver(l, &wire.TokenReply{PortID: "out", PeerPortID: "in", SequenceNbr: 1, Value: ReplyACK})
	assert.Equal(t, uint64(2), s.Stats().Read)
}

func TestFlowPortLookupDecidesAbortOrSilence(t *testing.T) {
	f, err := NewFlow(WithPortLookup(func(id string) bool { return id == "exists" }))
	require.NoError(t, err)
	defer f.Close()
	got := make(chan any, 4)
	l := &captureLink{peer: "P", ch: got}
	f.LinkUp(l)
	f.Deliver(l, &wire.Token{PortID: "po", PeerPortID: "exists", SequenceNbr: 0, Token: New(1).Payload()})
	f.Deliver(l, &wire.Token{PortID: "po", PeerPortID: "gone", SequenceNbr: 3, Token: New(1).Payload()})
	rep := (<-got).(*wire.TokenReply)
	assert.Equal(t, "gone", rep.PeerPortID, "only the unknown port is answered")
	assert.Equal(t, ReplyABORT, rep.Value)
	assert.Equal(t, uint64(3), rep.SequenceNbr)
}

func TestFlowIgnoresRepliesItCannotUse(t *testing.T) {
	f, err := NewFlow()
	require.NoError(t, err)
	defer f.Close()
	l := &captureLink{peer: "P", ch: make(chan any, 16)}
	f.LinkUp(l)
	q, _ := NewFIFO(4)
	s, err := f.AddSender(SenderConfig{Peer: "P", PortID: "out", PeerPortID: "in", Queue: q})
	require.NoError(t, err)
	require.NoError(t, q.Write(New(0)))
	s.Notify()
	<-l.ch
	for _, v := range []any{
		&wire.TokenReply{PortID: "out", PeerPortID: "in", SequenceNbr: 0, Value: "MAYBE"},
		&wire.TokenReply{PortID: "nope", PeerPortID: "in", SequenceNbr: 0, Value: ReplyACK},
		map[string]any{"cmd": "SOMETHING"},
	} {
		f.Deliver(l, v)
	}
	assert.Equal(t, uint64(0), s.Stats().Read)
	m, err := wire.JSON.Decode([]byte(`{"cmd":"TUNNEL_DATA","tunnel_id":"t","from_rt_uuid":"P","to_rt_uuid":"me","value":{"cmd":"TOKEN_REPLY","port_id":"out","peer_port_id":"in","value":"ACK"}}`))
	require.NoError(t, err)
	f.Deliver(l, m.(*wire.TunnelData).Value)
	assert.Equal(t, uint64(0), s.Stats().Read, "a reply without a sequence number commits nothing")
}

func TestErrorsWrapAndName(t *testing.T) {
	err := checkToken(&wire.Token{PeerPortID: "in"})
	var fe *FrameError
	require.ErrorAs(t, err, &fe)
	assert.ErrorIs(t, err, ErrBadFrame)
	assert.Contains(t, err.Error(), `peer "in"`)
	_, err = ImportFIFO(map[string]any{"N": "x"})
	var se *StateError
	require.ErrorAs(t, err, &se)
	assert.Contains(t, err.Error(), `"N"`)
}

func TestFIFOHasReaderAndCancelAll(t *testing.T) {
	q, _ := NewFIFO(2)
	q.AddReader("a")
	q.AddReader("b")
	assert.True(t, q.HasReader("a"))
	assert.False(t, q.HasReader("c"))
	require.NoError(t, q.Write(New(1)))
	_, _ = q.Peek("a")
	_, _ = q.Peek("b")
	q.CancelAll()
	assert.Equal(t, 1, q.Available("a"))
	assert.Equal(t, 1, q.Available("b"))
}

// terminatedLink fails every send the way a destroyed tunnel does.
type terminatedLink struct{ captureLink }

func (l *terminatedLink) Send(context.Context, any) error {
	return fmt.Errorf("send: %w", tunnel.ErrTerminated)
}

func TestFlowTerminatedTunnelReportsPeerLost(t *testing.T) {
	f, err := NewFlow()
	require.NoError(t, err)
	defer f.Close()
	l := &terminatedLink{captureLink{peer: "P"}}
	f.LinkUp(l)
	q, _ := NewFIFO(4)
	lost := make(chan error, 1)
	s, err := f.AddSender(SenderConfig{Peer: "P", PortID: "out", PeerPortID: "in", Queue: q, OnPeerLost: func(err error) { lost <- err }})
	require.NoError(t, err)
	require.NoError(t, q.Write(New(1)))
	s.Notify()
	select {
	case err := <-lost:
		assert.ErrorIs(t, err, ErrLinkGone)
	case <-time.After(5 * time.Second):
		t.Fatal("no OnPeerLost for a terminated tunnel")
	}
	st := s.Stats()
	assert.Equal(t, st.Read, st.Tentative, "the token was not counted as sent")
}
