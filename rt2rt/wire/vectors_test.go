package wire

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vectorDir is /work/shared/vectors/calvin seen from this package.
var vectorDir = filepath.Join("..", "..", "..", "shared", "vectors", "calvin")

var vectorFiles = []string{"json-two-nodes.jsonl", "msgpack-two-nodes.jsonl", "msgpack-constrained.jsonl"}

type frame struct {
	file    string
	line    int
	dir     string
	coder   string
	payload []byte
	msg     map[string]any
}

func (f frame) String() string { return fmt.Sprintf("%s:%d", f.file, f.line) }

// loadFrames reads every frame line of the captures. A missing directory
// fails the test: the vectors are part of the contract.
func loadFrames(t testing.TB) []frame {
	t.Helper()
	var out []frame
	for _, name := range vectorFiles {
		path := filepath.Join(vectorDir, name)
		fh, err := os.Open(path)
		require.NoError(t, err, "golden vectors must be present")
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 0, 1<<20), 32<<20)
		n := 0
		for sc.Scan() {
			n++
			v, err := JSON.DecodeValue(sc.Bytes())
			require.NoError(t, err, "%s:%d", name, n)
			line := v.(map[string]any)
			coder, ok := line["coder"].(string)
			if !ok {
				continue
			}
			f := frame{file: name, line: n, coder: coder, msg: line["msg"].(map[string]any)}
			f.dir, _ = line["dir"].(string)
			if raw, ok := line["raw"].(string); ok {
				f.payload = []byte(raw)
			} else {
				f.payload, err = hex.DecodeString(line["raw_hex"].(string))
				require.NoError(t, err, f.String())
			}
			l, _ := ToInt(line["len"])
			require.Equal(t, l, len(f.payload), f.String())
			out = append(out, f)
		}
		require.NoError(t, sc.Err())
		require.NoError(t, fh.Close())
	}
	require.Greater(t, len(out), 1400)
	return out
}

func coderFor(name string) interface {
	Serializer
	ValueCoder
} {
	if name == NameMsgpack {
		return Msgpack
	}
	return JSON
}

func TestVectorsGenericDecode(t *testing.T) {
	for _, f := range loadFrames(t) {
		v, err := coderFor(f.coder).DecodeValue(f.payload)
		require.NoError(t, err, f.String())
		assert.True(t, Equal(v, f.msg), "%s: generic decode differs from msg", f)
	}
}

func expectedType(cmd string) string {
	switch cmd {
	case CmdJoinRequest:
		return "*wire.JoinRequest"
	case CmdJoinReply:
		return "*wire.JoinReply"
	case CmdReply:
		return "*wire.Reply"
	case CmdTunnelNew:
		return "*wire.TunnelNew"
	case CmdTunnelDestroy:
		return "*wire.TunnelDestroy"
	case CmdTunnelData:
		return "*wire.TunnelData"
	case CmdPortConnect:
		return "*wire.PortConnect"
	case CmdPortDisconnect:
		return "*wire.PortDisconnect"
	case CmdActorNew:
		return "*wire.ActorNew"
	case CmdActorMigrate:
		return "*wire.ActorMigrate"
	case CmdAppDestroy:
		return "*wire.AppDestroy"
	}
	return "*wire.Unknown"
}

func expectedSubType(cmd string) string {
	switch {
	case cmd == SubToken:
		return "*wire.Token"
	case cmd == SubTokenReply:
		return "*wire.TokenReply"
	case cmd == SubReply:
		return "*wire.TunnelReply"
	case IsStorageCmd(cmd):
		return "*wire.StorageRequest"
	case cmd == ProxyCmdConfig:
		return "*wire.ProxyConfig"
	}
	return "map[string]interface {}"
}

func TestVectorsTypedRoundTrip(t *testing.T) {
	seen := map[string]int{}
	for _, f := range loadFrames(t) {
		c := coderFor(f.coder)
		m, err := c.Decode(f.payload)
		require.NoError(t, err, f.String())
		cmd, _ := f.msg["cmd"].(string)
		typ := fmt.Sprintf("%T", m)
		require.Equal(t, expectedType(cmd), typ, f.String())
		if td, ok := m.(*TunnelData); ok {
			sub, _ := f.msg["value"].(map[string]any)["cmd"].(string)
			require.Equal(t, expectedSubType(sub), fmt.Sprintf("%T", td.Value), "%s: sub %s", f, sub)
			typ += "/" + fmt.Sprintf("%T", td.Value)
			if _, generic := td.Value.(map[string]any); !generic {
				assert.Nil(t, td.Value.(SubMessage).SubHeader().Extra, "%s: sub-message fully typed", f)
			}
		}
		seen[typ]++

		b, err := c.Encode(nil, m)
		require.NoError(t, err, f.String())
		v, err := c.DecodeValue(b)
		require.NoError(t, err, f.String())
		assert.True(t, Equal(v, f.msg), "%s: typed round trip differs:\n got %v\nwant %v", f, v, f.msg)

		if f.coder == NameJSON {
			for i, c := range b {
				if c >= 0x80 {
					t.Fatalf("%s: JSON output not ASCII at %d", f, i)
				}
			}
		}
	}
	t.Logf("typed messages seen: %v", seen)
}

// TestVectorsMsgpackBytes checks the encoder's type families against
// Calvin's own frames: equal bytes once map entries are put in a canonical
// order (spec §14.3 step 4). constrained's frames use str8 and are only
// checked for the dialect.
func TestVectorsMsgpackBytes(t *testing.T) {
	checked := 0
	for _, f := range loadFrames(t) {
		if f.coder != NameMsgpack {
			continue
		}
		m, err := Msgpack.Decode(f.payload)
		require.NoError(t, err, f.String())
		b, err := Msgpack.Encode(nil, m)
		require.NoError(t, err, f.String())
		got, err := mpCanon(b)
		require.NoError(t, err, f.String())
		assertOldSpec(t, b, f.String())
		fromCalvin := f.file == "msgpack-two-nodes.jsonl" || f.dir == "from_target"
		if !fromCalvin {
			continue
		}
		// Calvin's frames hold exactly one object.
		want, err := mpCanon(f.payload)
		require.NoError(t, err, f.String())
		assert.True(t, bytes.Equal(want, got), "%s: msgpack bytes differ modulo key order\n got %x\nwant %x", f, got, want)
		checked++
	}
	assert.Greater(t, checked, 700)
}

// assertOldSpec walks encoded msgpack and fails on str8, bin, ext and float32.
func assertOldSpec(t *testing.T, b []byte, where string) {
	t.Helper()
	_, err := mpWalk(b, 0, nil, func(c byte) error {
		switch c {
		case 0xd9, 0xc4, 0xc5, 0xc6, 0xca:
			return fmt.Errorf("type byte 0x%02x not in Calvin's dialect", c)
		}
		return nil
	})
	assert.NoError(t, err, where)
}

// mpCanon re-emits one msgpack object with map entries sorted by their
// encoded key, keeping every type byte as it was.
func mpCanon(b []byte) ([]byte, error) {
	var out []byte
	n, err := mpWalk(b, 0, &out, nil)
	if err != nil {
		return nil, err
	}
	if n != len(b) {
		return nil, fmt.Errorf("%d trailing bytes", len(b)-n)
	}
	return out, nil
}

// mpWalk copies the object at b[i:] to *out (canonically) and returns the
// offset after it; check sees every type byte.
func mpWalk(b []byte, i int, out *[]byte, check func(byte) error) (int, error) {
	if i >= len(b) {
		return 0, fmt.Errorf("short")
	}
	c := b[i]
	if check != nil {
		if err := check(c); err != nil {
			return 0, err
		}
	}
	emit := func(p []byte) {
		if out != nil {
			*out = append(*out, p...)
		}
	}
	be := func(off, n int) int {
		v := 0
		for _, x := range b[off : off+n] {
			v = v<<8 | int(x)
		}
		return v
	}
	var hdr, n int // header length, payload byte length or element count
	kind := 0      // 0 scalar, 1 array, 2 map
	switch {
	case c <= 0x7f || c >= 0xe0 || c == 0xc0 || c == 0xc2 || c == 0xc3:
		hdr = 1
	case c >= 0xa0 && c <= 0xbf:
		hdr, n = 1, int(c&0x1f)
	case c >= 0x90 && c <= 0x9f:
		hdr, n, kind = 1, int(c&0x0f), 1
	case c >= 0x80 && c <= 0x8f:
		hdr, n, kind = 1, int(c&0x0f), 2
	case c == 0xcc || c == 0xd0:
		hdr, n = 1, 1
	case c == 0xcd || c == 0xd1:
		hdr, n = 1, 2
	case c == 0xce || c == 0xd2 || c == 0xca:
		hdr, n = 1, 4
	case c == 0xcf || c == 0xd3 || c == 0xcb:
		hdr, n = 1, 8
	case c == 0xd9 || c == 0xc4:
		hdr, n = 2, be(i+1, 1)
	case c == 0xda || c == 0xc5:
		hdr, n = 3, be(i+1, 2)
	case c == 0xdb || c == 0xc6:
		hdr, n = 5, be(i+1, 4)
	case c == 0xdc:
		hdr, n, kind = 3, be(i+1, 2), 1
	case c == 0xdd:
		hdr, n, kind = 5, be(i+1, 4), 1
	case c == 0xde:
		hdr, n, kind = 3, be(i+1, 2), 2
	case c == 0xdf:
		hdr, n, kind = 5, be(i+1, 4), 2
	default:
		return 0, fmt.Errorf("type byte 0x%02x", c)
	}
	emit(b[i : i+hdr])
	i += hdr
	switch kind {
	case 0:
		if i+n > len(b) {
			return 0, fmt.Errorf("short")
		}
		emit(b[i : i+n])
		return i + n, nil
	case 1:
		var err error
		for j := 0; j < n; j++ {
			if i, err = mpWalk(b, i, out, check); err != nil {
				return 0, err
			}
		}
		return i, nil
	}
	type kv struct{ k, v []byte }
	entries := make([]kv, n)
	for j := range entries {
		var kb, vb []byte
		var err error
		var pk, pv *[]byte
		if out != nil {
			pk, pv = &kb, &vb
		}
		if i, err = mpWalk(b, i, pk, check); err != nil {
			return 0, err
		}
		if i, err = mpWalk(b, i, pv, check); err != nil {
			return 0, err
		}
		entries[j] = kv{kb, vb}
	}
	sort.Slice(entries, func(x, y int) bool { return bytes.Compare(entries[x].k, entries[y].k) < 0 })
	for _, e := range entries {
		emit(e.k)
		emit(e.v)
	}
	return i, nil
}

// TestVectorsNumbers checks spec §14.3 step 5: 2^63 survives both coders and
// floats stay floats after a typed round trip.
func TestVectorsNumbers(t *testing.T) {
	big63 := new(big.Int).Lsh(big.NewInt(1), 63)
	var bigSeen, floatSeen int
	for _, f := range loadFrames(t) {
		c := coderFor(f.coder)
		m, err := c.Decode(f.payload)
		require.NoError(t, err, f.String())
		b, err := c.Encode(nil, m)
		require.NoError(t, err, f.String())
		v, err := c.DecodeValue(b)
		require.NoError(t, err, f.String())
		walkValues(v, func(x any) {
			switch y := x.(type) {
			case uint64:
				if new(big.Int).SetUint64(y).Cmp(big63) == 0 {
					bigSeen++
				}
			case float64:
				floatSeen++
			}
		})
		if f.file == "json-two-nodes.jsonl" && bytes.Contains(f.payload, []byte("9223372036854775808")) {
			assert.True(t, bytes.Contains(b, []byte("9223372036854775808")), "%s: 2^63 re-emitted as written", f)
		}
	}
	assert.GreaterOrEqual(t, bigSeen, 2, "2^63 in the CountTimer state of both two-node captures")
	assert.Greater(t, floatSeen, 0)
}

func walkValues(v any, fn func(any)) {
	fn(v)
	switch x := v.(type) {
	case map[string]any:
		for _, e := range x {
			walkValues(e, fn)
		}
	case []any:
		for _, e := range x {
			walkValues(e, fn)
		}
	}
}

// The constrained CONFIG frame declares 5 entries and writes 6 (spec §2.10).
func TestVectorsTrailingConfig(t *testing.T) {
	for _, f := range loadFrames(t) {
		n := Msgpack.TrailingBytes(f.payload)
		if f.coder != NameMsgpack {
			continue
		}
		if f.file == "msgpack-constrained.jsonl" && f.line == 8 {
			assert.Equal(t, 10, n, f.String())
			m, err := Msgpack.Decode(f.payload)
			require.NoError(t, err)
			cfg := m.(*TunnelData).Value.(*ProxyConfig)
			assert.Equal(t, "runtime.constrained.1", cfg.PortPropertyCapability)
			assert.Len(t, cfg.Capabilities, 7)
			assert.NotContains(t, cfg.Extra, "redeploy")
		} else {
			assert.Equal(t, 0, n, f.String())
		}
	}
}
