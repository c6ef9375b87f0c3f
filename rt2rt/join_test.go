package rt2rt

import (
	"bufio"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/internal/leakcheck"
	"github.com/meshkit/meshkit/rt2rt/wire"
	"github.com/meshkit/meshkit/transport"
)

func TestJoinRejectedByValidator(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	var seen []string
	b := memNode(t, net, "b", WithJoinValidator(func(peer string, req *wire.JoinRequest) error {
		seen = append(seen, peer+":"+req.SID)
		return errors.New("not welcome")
	}))
	rec := &recorder{}
	a := memNode(t, net, "a", WithObserver(rec))
	_, err := a.Join(context.Background(), b.URIs()[0])
	require.ErrorIs(t, err, ErrJoinRejected)
	var je *JoinError
	require.ErrorAs(t, err, &je)
	assert.Equal(t, b.URIs()[0], je.URI)
	assert.Empty(t, a.Peers())
	assert.Empty(t, b.Peers())
	require.Len(t, seen, 1)
	assert.Contains(t, seen[0], a.ID()+":")
	assert.Equal(t, 1, rec.count(func(r *recorder) int { return len(r.fails) }))
}

func TestJoinNoCommonSerializer(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	net := transport.NewMemNetwork()
	b := memNode(t, net, "b", WithSerializers("json"))
	a := memNode(t, net, "a", WithSerializers("msgpack"))
	_, err := a.Join(context.Background(), b.URIs()[0])
	require.ErrorIs(t, err, ErrJoinRejected)
	assert.Empty(t, b.Peers())
}

func TestJoinRawRejectShapes(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	n := tcpNode(t, WithSerializers("json"), WithJoinValidator(func(peer string, _ *wire.JoinRequest) error {
		if peer == "banned" {
			return errors.New("banned")
		}
		return nil
	}))
	p := dialRaw(t, n.URIs()[0])

	nullReply := func(sid any) map[string]any {
		return map[string]any{"cmd": "JOIN_REPLY", "id": nil, "serializer": nil, "sid": sid}
	}
	// Not JSON at all: null id, null sid; the connection stays open.
	p.write([]byte("\x00\xffnot json"))
	assert.Equal(t, nullReply(nil), p.readJSON())
	// Wrong cmd.
	p.writeJSON(map[string]any{"cmd": "TUNNEL_NEW", "id": "x", "sid": "s1", "serializers": []string{"json"}})
	assert.Equal(t, nullReply("s1"), p.readJSON())
	// Missing serializers.
	p.writeJSON(map[string]any{"cmd": "JOIN_REQUEST", "id": "x", "sid": "s2"})
	assert.Equal(t, nullReply("s2"), p.readJSON())
	// No common serializer: Go rejects with a null id (§2.4).
	p.writeJSON(map[string]any{"cmd": "JOIN_REQUEST", "id": "x", "sid": "s3", "serializers": []string{"cbor"}})
	assert.Equal(t, nullReply("s3"), p.readJSON())
	// Refused by the validator.
	assert.Equal(t, nullReply("sid-banned"), p.join("banned", "json"))
	// The same socket may then join properly.
	rep := p.join("raw-peer", "msgpack", "json")
	assert.Equal(t, map[string]any{"cmd": "JOIN_REPLY", "id": n.ID(), "serializer": "json", "sid": "sid-raw-peer"}, rep)
	require.Eventually(t, func() bool { return len(n.Peers()) == 1 }, 5*time.Second, time.Millisecond)
	assert.Equal(t, "raw-peer", n.Peers()[0].ID)
}

func TestJoinTooManyInvalidFramesCloses(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	n := tcpNode(t)
	p := dialRaw(t, n.URIs()[0])
	for i := 0; i < maxJoinAttempts; i++ {
		p.write([]byte("{}"))
		assert.Nil(t, p.readJSON()["id"])
	}
	assert.True(t, p.closedByNode(5*time.Second))
}

func TestJoinTimeoutForSilentPeer(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	rec := &recorder{}
	n := tcpNode(t, WithJoinTimeout(100*time.Millisecond), WithObserver(rec))
	p := dialRaw(t, n.URIs()[0])
	assert.True(t, p.closedByNode(5*time.Second))
	require.Eventually(t, func() bool { return rec.count(func(r *recorder) int { return len(r.fails) }) == 1 }, 5*time.Second, time.Millisecond)
	rec.mu.Lock()
	assert.ErrorIs(t, rec.fails[0], ErrJoinTimeout)
	rec.mu.Unlock()
}

// scriptedResponder accepts one connection, reads the JOIN_REQUEST and
// answers with reply (sid filled in when reply has "sid": true).
func scriptedResponder(t *testing.T, reply map[string]any) (uri string, got chan map[string]any, closed chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	got = make(chan map[string]any, 1)
	closed = make(chan struct{})
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(closed)
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		var hdr [4]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			close(closed)
			return
		}
		b := make([]byte, binary.BigEndian.Uint32(hdr[:]))
		_, _ = io.ReadFull(br, b)
		var req map[string]any
		_ = json.Unmarshal(b, &req)
		got <- req
		if reply["sid"] == true {
			reply["sid"] = req["sid"]
		}
		out, _ := json.Marshal(reply)
		binary.BigEndian.PutUint32(hdr[:], uint32(len(out)))
		_, _ = c.Write(append(hdr[:], out...))
		// Wait for the node to close (EOF), or the test to end.
		_, _ = io.Copy(io.Discard, br)
		close(closed)
	}()
	return "calvinip://" + ln.Addr().String(), got, closed
}

func TestJoinInitiatorProcessing(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	for _, tc := range []struct {
		name    string
		reply   map[string]any
		wantErr error
	}{
		{"accepted", map[string]any{"cmd": "JOIN_REPLY", "id": "peer-1", "serializer": "json", "sid": true}, nil},
		{"cmd ignored", map[string]any{"cmd": "JOIN_REPLYY", "id": "peer-1", "serializer": "msgpack", "sid": true}, nil},
		{"null id", map[string]any{"cmd": "JOIN_REPLY", "id": nil, "serializer": nil, "sid": true}, ErrJoinRejected},
		{"calvin's null serializer", map[string]any{"cmd": "JOIN_REPLY", "id": "peer-1", "serializer": nil, "sid": true}, ErrJoinRejected},
		{"unknown serializer", map[string]any{"cmd": "JOIN_REPLY", "id": "peer-1", "serializer": "cbor", "sid": true}, ErrJoinRejected},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := tcpNode(t, WithListen())
			uri, got, closed := scriptedResponder(t, tc.reply)
			peer, err := n.Join(context.Background(), uri)
			req := <-got
			assert.Equal(t, "JOIN_REQUEST", req["cmd"])
			assert.Equal(t, n.ID(), req["id"])
			assert.Equal(t, []any{"json", "msgpack"}, req["serializers"])
			assert.NotEmpty(t, req["sid"])
			if tc.wantErr != nil {
				require.ErrorIs(t, err, tc.wantErr)
				// A failed join closes the socket (§2.6).
				<-closed
				assert.Empty(t, n.Peers())
				return
			}
			require.NoError(t, err)
			assert.Equal(t, "peer-1", peer)
			require.Len(t, n.Peers(), 1)
			assert.Equal(t, tc.reply["serializer"], n.Peers()[0].Serializer)
			assert.Greater(t, n.Peers()[0].RTT, time.Duration(0))
			require.NoError(t, n.Close())
			<-closed
		})
	}
}

func TestJoinDialFailure(t *testing.T) {
	leakcheck.NoModuleGoroutines(t)
	n := tcpNode(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	_, err = n.Join(context.Background(), "calvinip://"+addr)
	var je *JoinError
	require.ErrorAs(t, err, &je)
	assert.Equal(t, "calvinip://"+addr, je.URI)
	_, err = n.Join(context.Background(), "bogus://x")
	require.ErrorIs(t, err, transport.ErrUnknownScheme)
}
