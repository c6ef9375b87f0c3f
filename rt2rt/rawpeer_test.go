package rt2rt

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/rt2rt/wire"
)

// rawPeer is a scripted peer speaking calvinip frames over a plain TCP
// socket, independent of the transport package, so tests see the exact
// bytes the node sends.
type rawPeer struct {
	t  testing.TB
	c  net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, uri string) *rawPeer {
	t.Helper()
	addr := strings.TrimPrefix(uri, "calvinip://")
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	return &rawPeer{t: t, c: c, br: bufio.NewReader(c)}
}

func (p *rawPeer) write(payload []byte) {
	p.t.Helper()
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(payload)))
	_, err := p.c.Write(append(hdr[:], payload...))
	require.NoError(p.t, err)
}

// read returns the next frame's payload, failing the test after 5 s.
func (p *rawPeer) read() []byte {
	p.t.Helper()
	b, err := p.tryRead(5 * time.Second)
	require.NoError(p.t, err)
	return b
}

func (p *rawPeer) tryRead(d time.Duration) ([]byte, error) {
	_ = p.c.SetReadDeadline(time.Now().Add(d))
	defer func() { _ = p.c.SetReadDeadline(time.Time{}) }()
	var hdr [4]byte
	if _, err := io.ReadFull(p.br, hdr[:]); err != nil {
		return nil, err
	}
	b := make([]byte, binary.BigEndian.Uint32(hdr[:]))
	if _, err := io.ReadFull(p.br, b); err != nil {
		return nil, err
	}
	return b, nil
}

// readJSON reads a frame and decodes it generically as JSON.
func (p *rawPeer) readJSON() map[string]any {
	p.t.Helper()
	var m map[string]any
	require.NoError(p.t, json.Unmarshal(p.read(), &m))
	return m
}

func (p *rawPeer) writeJSON(v any) {
	p.t.Helper()
	b, err := json.Marshal(v)
	require.NoError(p.t, err)
	p.write(b)
}

// join performs a JSON join offering sers and returns the JOIN_REPLY.
func (p *rawPeer) join(id string, sers ...string) map[string]any {
	p.t.Helper()
	p.writeJSON(map[string]any{"cmd": "JOIN_REQUEST", "serializers": sers, "id": id, "sid": "sid-" + id})
	return p.readJSON()
}

// readMsg reads a post-join frame with coder ser.
func (p *rawPeer) readMsg(ser wire.Serializer) map[string]any {
	p.t.Helper()
	b := p.read()
	vc, ok := ser.(wire.ValueCoder)
	require.True(p.t, ok)
	v, err := vc.DecodeValue(b)
	require.NoError(p.t, err)
	m, ok := v.(map[string]any)
	require.True(p.t, ok, "frame is not a map: %v", v)
	return m
}

func (p *rawPeer) writeMsg(ser wire.Serializer, m map[string]any) {
	p.t.Helper()
	vc := ser.(wire.ValueCoder)
	b, err := vc.EncodeValue(nil, m)
	require.NoError(p.t, err)
	p.write(b)
}

// closedByNode reports whether the node closed the socket within d.
func (p *rawPeer) closedByNode(d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		_, err := p.tryRead(time.Until(deadline))
		if err == nil {
			continue // skip frames until the close
		}
		return err == io.EOF || strings.Contains(err.Error(), "reset")
	}
	return false
}
