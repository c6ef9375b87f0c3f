package tunnel

import (
	"context"
	"errors"
	"testing"

	"github.com/meshkit/meshkit/rt2rt"
	"github.com/meshkit/meshkit/rt2rt/wire"
)

// fakeNode satisfies Node without a network: requests fail, sends succeed.
type fakeNode struct{}

func (fakeNode) ID() string { return "fake-node" }
func (fakeNode) Request(context.Context, string, wire.Message) (wire.Response, error) {
	return wire.Response{}, errors.New("fake node: no network")
}
func (fakeNode) Send(context.Context, string, wire.Message) error { return nil }
func (fakeNode) Handle(string, rt2rt.Handler)                     {}
func (fakeNode) Subscribe(func(rt2rt.PeerEvent)) func()           { return func() {} }

// FuzzIncoming feeds arbitrary decoded frames to the manager's TUNNEL_NEW,
// TUNNEL_DESTROY and TUNNEL_DATA handlers, as the node would hand them over:
// no panic, at most one reply per message, and every reply a valid status.
func FuzzIncoming(f *testing.F) {
	for _, s := range []string{
		`{"cmd":"TUNNEL_NEW","tunnel_id":"t1","type":"token","policy":{},"msg_uuid":"m1"}`,
		`{"cmd":"TUNNEL_NEW","tunnel_id":"t2","type":"token","policy":{},"msg_uuid":"m2"}`,
		`{"cmd":"TUNNEL_NEW","tunnel_id":"t3","type":"storage","policy":null,"msg_uuid":"m3"}`,
		`{"cmd":"TUNNEL_NEW","tunnel_id":5,"type":["x"],"msg_uuid":"m4"}`,
		`{"cmd":"TUNNEL_DATA","tunnel_id":"t1","value":{"cmd":"TOKEN","sequencenbr":1}}`,
		`{"cmd":"TUNNEL_DATA","tunnel_id":"zz","value":null,"msg_uuid":"m5"}`,
		`{"cmd":"TUNNEL_DESTROY","tunnel_id":"t1","msg_uuid":"m6"}`,
		`{"cmd":"TUNNEL_DESTROY","tunnel_id":"t1"}`,
		`{"cmd":"TUNNEL_DESTROY","msg_uuid":"m7"}`,
	} {
		f.Add([]byte(s), uint8(0))
	}
	f.Fuzz(func(t *testing.T, payload []byte, peerSel uint8) {
		v, err := wire.JSON.DecodeValue(payload)
		if err != nil {
			return
		}
		mv, ok := v.(map[string]any)
		if !ok {
			return
		}
		m, err := NewManager(fakeNode{}, WithLogger(quiet()))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		_ = m.RegisterType("token", HandlerFuncs{})
		_ = m.RegisterType("storage", HandlerFuncs{AcceptFunc: func(string, string) error { return errors.New("no") }})
		peer := []string{"p1", "p2"}[peerSel%2]
		// Deliver the same frame twice: the second one meets the state the
		// first one created.
		for range 2 {
			msg := wire.FromMap(copyMap(mv))
			replies := 0
			in := &incoming{Peer: peer, Msg: msg, Reply: func(r wire.Response) error {
				replies++
				switch r.Status {
				case 200, 400, 404, 500:
				default:
					t.Fatalf("unexpected status %d", r.Status)
				}
				return nil
			}}
			switch msg.Header().Cmd {
			case wire.CmdTunnelNew:
				m.onTunnelNew(in)
			case wire.CmdTunnelDestroy:
				m.onTunnelDestroy(in)
			case wire.CmdTunnelData:
				m.onTunnelData(in)
				if replies != 0 {
					t.Fatal("TUNNEL_DATA answered")
				}
			}
			if replies > 1 {
				t.Fatalf("%d replies", replies)
			}
		}
	})
}

func copyMap(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
