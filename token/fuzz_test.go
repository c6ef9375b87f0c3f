package token

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/rt2rt/wire"
)

func decodeJSONValue(b []byte) (any, bool) {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, false
	}
	return v, true
}

func FuzzDecodeToken(f *testing.F) {
	for _, s := range []string{
		`{"type":"Token","data":6}`, `{"type":"EOSToken","data":"End of stream"}`,
		`{"type":"x"}`, `{"data":null}`, `[]`, `"Token"`, `{"type":1,"data":{"a":[1,2]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := decodeJSONValue(b)
		if !ok {
			return
		}
		tok, err := Decode(v)
		if err != nil {
			require.ErrorIs(t, err, ErrMalformedToken)
			return
		}
		// Re-encoding is canonical and decodes to the same token.
		again, err := Decode(tok.Encode())
		require.NoError(t, err)
		require.Equal(t, tok.Kind, again.Kind)
		require.Contains(t, []string{TypeToken, TypeException, TypeEOS}, tok.Type())
	})
}

func FuzzImportQueue(f *testing.F) {
	f.Add([]byte(`{"queuetype":"fanout_fifo","N":3,"fifo":[{"type":"Token","data":0},{"type":"Token","data":1},{"type":"Token","data":2}],"readers":["r"],"write_pos":3,"read_pos":{"r":1},"tentative_read_pos":{"r":2},"reader_offset":{"r":0}}`))
	f.Add([]byte(`{"queuetype":"fanout_fifo","N":2,"fifo":[{"type":"Token","data":null},{}],"readers":[],"write_pos":9,"read_pos":{},"tentative_read_pos":{}}`))
	f.Add([]byte(`{"queuetype":"collect:unordered","N":5,"fifo":{}}`))
	f.Add([]byte(`{"queuetype":"none"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := decodeJSONValue(b)
		if !ok {
			return
		}
		q, err := ImportQueue(v)
		if err != nil {
			require.ErrorIs(t, err, ErrBadQueueState)
			return
		}
		fifo, ok := q.(*FIFO)
		if !ok {
			return
		}
		// An accepted state survives export/import and keeps working.
		st := fifo.State()
		back, err := ImportFIFO(st)
		require.NoError(t, err)
		require.Equal(t, st, back.State())
		for _, r := range fifo.Readers() {
			p, err := fifo.Positions(r)
			require.NoError(t, err)
			require.LessOrEqual(t, p.Read, p.Tentative)
			require.LessOrEqual(t, p.Tentative, p.Write)
			for fifo.Available(r) > 0 {
				_, err := fifo.Peek(r)
				require.NoError(t, err)
			}
			require.NoError(t, fifo.Commit(r))
		}
		free := fifo.Free()
		require.GreaterOrEqual(t, free, 0)
		require.LessOrEqual(t, free, fifo.Capacity())
		for range free {
			require.NoError(t, fifo.Write(New(1)))
		}
		if len(fifo.Readers()) > 0 || free > 0 {
			require.ErrorIs(t, fifo.Write(New(1)), ErrQueueFull)
		}
	})
}

// FuzzEndpoints drives a sender and a receiver core with arbitrary
// TOKEN / TOKEN_REPLY numbers, link events and queue operations. Whatever
// arrives, nothing panics, positions stay ordered, and the receiver only
// ever stores the token its write position expects.
func FuzzEndpoints(f *testing.F) {
	f.Add([]byte{0, 0, 1, 2, 0, 0, 3, 1, 0, 4, 0, 0, 5, 6, 7, 1})
	f.Add([]byte{0, 0, 0, 0, 1, 3, 255, 255, 2, 2, 9, 1, 8, 8, 1})
	f.Fuzz(func(t *testing.T, ops []byte) {
		// Long scripts add nothing but slow down minimisation.
		ops = ops[:min(len(ops), 256)]
		now := time.Unix(0, 0)
		out, _ := NewFIFO(3)
		in, _ := NewFIFO(2)
		in.AddReader("in")
		s := newSenderCore(out, "in", DefaultTiming)
		r := &receiverCore{q: in}
		written, consumed := 0, 0
		next := func(i *int) uint64 {
			if *i+1 >= len(ops) {
				return 0
			}
			v := uint64(ops[*i])<<8 | uint64(ops[*i+1])
			*i += 2
			if v > 60000 {
				return v << 40 // far out of range, overflow candidates
			}
			return v % 16
		}
		for i := 0; i < len(ops); {
			op := ops[i] % 10
			i++
			now = now.Add(time.Duration(op) * 30 * time.Millisecond)
			switch op {
			case 0:
				if out.Write(New(int64(written))) == nil {
					written++
				}
			case 1:
				for _, fr := range s.collect(now, nil) {
					require.Equal(t, New(int64(fr.pos)), fr.tok, "sender hands out the token of its position")
					// Deliver it: the receiver stores only the expected one.
					_, _, stored := r.onToken(fr.seq, fr.tok)
					if stored {
						require.Equal(t, in.WritePos()-1, fr.seq)
					}
				}
			case 2:
				s.onAck(next(&i), now)
			case 3:
				s.onNack(next(&i), now)
			case 4:
				seq := next(&i)
				wp := in.WritePos()
				_, _, stored := r.onToken(seq, New(int64(seq)))
				require.Equal(t, stored, stored && seq == wp)
			case 5:
				if tok, err := in.Read("in"); err == nil {
					_ = tok
					consumed++
				}
				r.resume()
			case 6:
				s.linkDown(now)
			case 7:
				s.linkUp()
			case 8:
				s.abort()
			case 9:
				s.resume()
			}
			p, err := out.Positions("in")
			require.NoError(t, err)
			require.LessOrEqual(t, p.Read, p.Tentative)
			require.LessOrEqual(t, p.Tentative, p.Write)
			require.LessOrEqual(t, p.Write-p.Read, uint64(out.Capacity()))
			ip, _ := in.Positions("in")
			require.LessOrEqual(t, ip.Read, ip.Write)
			require.LessOrEqual(t, ip.Write-ip.Read, uint64(in.Capacity()))
		}
		// Every token the receiver holds is the one of its position.
		for {
			pos, tok, err := in.PeekPos("in")
			if err != nil {
				break
			}
			require.Equal(t, New(int64(pos)), tok)
		}
	})
}

// FuzzFlowDeliver feeds decoded TUNNEL_DATA payloads (any JSON) to a Flow
// that has a sender and a receiver: no panic, no reply to garbage, queues
// stay consistent.
func FuzzFlowDeliver(f *testing.F) {
	f.Add([]byte(`{"cmd":"TOKEN","port_id":"out","peer_port_id":"in","sequencenbr":0,"token":{"type":"Token","data":1}}`))
	f.Add([]byte(`{"cmd":"TOKEN_REPLY","port_id":"out","peer_port_id":"in","sequencenbr":0,"value":"NACK"}`))
	f.Add([]byte(`{"cmd":"TOKEN_REPLY","port_id":"out","peer_port_id":"in","sequencenbr":99999999999,"value":"ACK"}`))
	f.Add([]byte(`{"cmd":"TOKEN","port_id":"x","peer_port_id":"nope","sequencenbr":-5,"token":[]}`))
	fl, err := NewFlow()
	require.NoError(f, err)
	l := &captureLink{peer: "P", ch: make(chan any, 1<<16)}
	fl.LinkUp(l)
	in, _ := NewFIFO(2)
	_, err = fl.AddReceiver(ReceiverConfig{Peer: "P", PortID: "in", PeerPortID: "out", Queue: in})
	require.NoError(f, err)
	out, _ := NewFIFO(2)
	_, err = fl.AddSender(SenderConfig{Peer: "P", PortID: "out", PeerPortID: "in", Queue: out})
	require.NoError(f, err)
	_ = out.Write(New(0))
	_ = out.Write(New(1))
	f.Fuzz(func(t *testing.T, b []byte) {
		raw := `{"cmd":"TUNNEL_DATA","tunnel_id":"t","from_rt_uuid":"P","to_rt_uuid":"me","value":` + string(b) + `}`
		m, err := wire.JSON.Decode([]byte(raw))
		if err != nil {
			return
		}
		td, ok := m.(*wire.TunnelData)
		if !ok {
			return
		}
		fl.Deliver(l, td.Value)
		for len(l.ch) > 0 {
			<-l.ch
		}
		for _, q := range []*FIFO{in, out} {
			for _, r := range q.Readers() {
				p, err := q.Positions(r)
				require.NoError(t, err)
				require.LessOrEqual(t, p.Read, p.Tentative)
				require.LessOrEqual(t, p.Tentative, p.Write)
			}
		}
		_, _ = in.Read("in")
	})
}

// FuzzAbsorbRemaining: a PORT_DISCONNECT's remaining_tokens from the network
// never panics and never stores a token out of position.
func FuzzAbsorbRemaining(f *testing.F) {
	f.Add([]byte(`[[0,{"type":"Token","data":1}],[1,{"type":"Token","data":2}]]`))
	f.Add([]byte(`[[5,{"type":"Token"}]]`))
	f.Add([]byte(`[[0,"x"],7]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		v, ok := decodeJSONValue(b)
		if !ok {
			return
		}
		q, _ := NewFIFO(3)
		q.AddReader("in")
		n, _ := q.AbsorbRemaining(v)
		require.Equal(t, uint64(n), q.WritePos())
		require.LessOrEqual(t, n, q.Capacity())
	})
}
