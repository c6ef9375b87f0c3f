package transport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// vectorDir is the golden captures directory, relative to this package
// (module root /work/main, shared material in /work/shared).
var vectorDir = filepath.Join("..", "..", "shared", "vectors", "calvin")

type vectorStream struct {
	name     string
	payloads [][]byte
}

// loadVectorStreams rebuilds every (file, relay, conn, dir) stream of the captures.
func loadVectorStreams(t testing.TB) []vectorStream {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(vectorDir, "*.jsonl"))
	require.NoError(t, err)
	require.NotEmpty(t, files, "no golden vectors in %s", vectorDir)
	byKey := map[string]*vectorStream{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		require.NoError(t, err)
		for i, line := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(line)) == 0 {
				continue
			}
			var rec struct {
				Relay  string  `json:"relay"`
				Conn   int     `json:"conn"`
				Dir    string  `json:"dir"`
				Len    *int    `json:"len"`
				Raw    *string `json:"raw"`
				RawHex *string `json:"raw_hex"`
			}
			require.NoError(t, json.Unmarshal(line, &rec), "%s:%d", file, i+1)
			if rec.Dir == "" {
				continue // event line
			}
			require.NotNil(t, rec.Len, "%s:%d", file, i+1)
			var payload []byte
			switch {
			case rec.Raw != nil:
				payload = []byte(*rec.Raw)
			case rec.RawHex != nil:
				payload, err = hex.DecodeString(*rec.RawHex)
				require.NoError(t, err, "%s:%d", file, i+1)
			default:
				t.Fatalf("%s:%d: frame line without raw or raw_hex", file, i+1)
			}
			require.Len(t, payload, *rec.Len, "%s:%d", file, i+1)
			key := filepath.Base(file) + "/" + rec.Relay + "/" + rec.Dir
			s := byKey[key]
			if s == nil {
				s = &vectorStream{name: key}
				byKey[key] = s
			}
			s.payloads = append(s.payloads, payload)
		}
	}
	var out []vectorStream
	for _, s := range byKey {
		out = append(out, *s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// chunkReader returns data in pieces whose sizes come from next; with
// stalls it fails every other call with a timeout, as a cancelled Recv does.
type chunkReader struct {
	data    []byte
	next    func() int
	stalls  bool
	stalled bool
}

type timeoutError struct{}

func (timeoutError) Error() string   { return "i/o timeout" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.stalls {
		r.stalled = !r.stalled
		if r.stalled {
			return 0, timeoutError{}
		}
	}
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), r.next(), len(r.data))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

func TestReadFrameGoldenVectors(t *testing.T) {
	streams := loadVectorStreams(t)
	require.GreaterOrEqual(t, len(streams), 6, "expected both directions of three captures")
	rng := rand.New(rand.NewPCG(42, 7))
	chunkings := []struct {
		name string
		next func(total int) func() int
	}{
		{"one byte", func(int) func() int { return func() int { return 1 } }},
		{"random", func(int) func() int { return func() int { return 1 + rng.IntN(700) } }},
		{"all at once", func(total int) func() int { return func() int { return total } }},
	}
	for _, s := range streams {
		var wire []byte
		for _, p := range s.payloads {
			wire = AppendFrame(wire, p)
		}
		for _, ch := range chunkings {
			for _, bufSize := range []int{16, 4096, 64 << 10} {
				t.Run(fmt.Sprintf("%s/%s/bufio %d", s.name, ch.name, bufSize), func(t *testing.T) {
					br := bufio.NewReaderSize(&chunkReader{data: wire, next: ch.next(len(wire))}, bufSize)
					for i, want := range s.payloads {
						got, err := ReadFrame(br, DefaultMaxFrameSize, nil)
						require.NoError(t, err, "frame %d", i)
						require.Equal(t, want, got, "frame %d", i)
					}
					_, err := ReadFrame(br, DefaultMaxFrameSize, nil)
					require.ErrorIs(t, err, io.EOF)
				})
			}
		}
		// The resumable reader used by connections must survive a timeout
		// between any two reads.
		t.Run(s.name+"/resume after timeouts", func(t *testing.T) {
			br := bufio.NewReaderSize(&chunkReader{data: wire, next: func() int { return 1 + rng.IntN(300) }, stalls: true}, 16)
			var fr frameReader
			alloc := func(n int) []byte { return make([]byte, n) }
			for i, want := range s.payloads {
				var got []byte
				var err error
				for {
					got, err = fr.next(br, DefaultMaxFrameSize, nil, alloc)
					if !errors.Is(err, timeoutError{}) {
						break
					}
				}
				require.NoError(t, err, "frame %d", i)
				require.Equal(t, want, got, "frame %d", i)
			}
		})
	}
}

func TestReadFrame(t *testing.T) {
	frame := func(n uint32, payload string) []byte {
		return append([]byte{byte(n >> 24), byte(n >> 16), byte(n >> 8), byte(n)}, payload...)
	}
	tests := []struct {
		name    string
		input   []byte
		max     int
		want    []byte
		wantErr error
	}{
		{"empty stream", nil, 10, nil, io.EOF},
		{"empty payload", frame(0, ""), 10, []byte{}, nil},
		{"payload", frame(3, "abc"), 10, []byte("abc"), nil},
		{"exactly the limit", frame(5, "abcde"), 5, []byte("abcde"), nil},
		{"over the limit", frame(6, "abcdef"), 5, nil, ErrFrameTooLarge},
		{"huge prefix, no payload", frame(0xffffffff, ""), DefaultMaxFrameSize, nil, ErrFrameTooLarge},
		{"limit plus one", frame(DefaultMaxFrameSize+1, ""), DefaultMaxFrameSize, nil, ErrFrameTooLarge},
		{"truncated prefix", []byte{0, 0}, 10, nil, ErrTruncatedFrame},
		{"truncated payload", frame(5, "ab"), 10, nil, ErrTruncatedFrame},
		{"trailing bytes stay", append(frame(1, "x"), 0, 0), 10, []byte("x"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, size := range []int{1, len(tt.input) + 1} {
				br := bufio.NewReaderSize(&chunkReader{data: tt.input, next: func() int { return size }}, 16)
				got, err := ReadFrame(br, tt.max, nil)
				if tt.wantErr != nil {
					require.ErrorIs(t, err, tt.wantErr)
					return
				}
				require.NoError(t, err)
				assert.Equal(t, tt.want, got)
			}
		})
	}
}

func TestReadFrameUsesBuffer(t *testing.T) {
	buf := make([]byte, 0, 16)
	br := bufio.NewReader(bytes.NewReader(AppendFrame(nil, []byte("hello"))))
	got, err := ReadFrame(br, 0, buf)
	require.NoError(t, err)
	assert.Equal(t, []byte("hello"), got)
	assert.Same(t, &buf[:1][0], &got[0], "payload should be stored in buf")
}

func TestReadFrameBufferLargerThanFrame(t *testing.T) {
	var wire []byte
	for i := range 20 {
		wire = AppendFrame(wire, testFrame(i))
	}
	// A small bufio buffer forces the slow path; buf has spare capacity
	// that must not swallow the next frame.
	br := bufio.NewReaderSize(&chunkReader{data: wire, next: func() int { return 7 }}, 16)
	buf := make([]byte, 0, 4096)
	for i := range 20 {
		got, err := ReadFrame(br, DefaultMaxFrameSize, buf)
		require.NoError(t, err, "frame %d", i)
		require.Equal(t, testFrame(i), got, "frame %d", i)
	}
}

func TestReadFrameLargeGrowsIncrementally(t *testing.T) {
	payload := bytes.Repeat([]byte("0123456789abcdef"), (3*largeFrameStep)/16+5)
	br := bufio.NewReader(bytes.NewReader(AppendFrame(nil, payload)))
	got, err := ReadFrame(br, DefaultMaxFrameSize, nil)
	require.NoError(t, err)
	assert.Equal(t, payload, got)

	// A buffer large enough is used even for a long frame.
	buf := make([]byte, 0, len(payload))
	got, err = ReadFrame(bufio.NewReader(bytes.NewReader(AppendFrame(nil, payload))), DefaultMaxFrameSize, buf)
	require.NoError(t, err)
	assert.Equal(t, payload, got)
	assert.Same(t, &buf[:1][0], &got[0])

	// A peer announcing 20 MiB and sending little makes us allocate little.
	short := append(AppendFrame(nil, nil)[:0], 0x01, 0x40, 0x00, 0x00)
	short = append(short, payload[:100]...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = ReadFrame(bufio.NewReader(bytes.NewReader(short)), DefaultMaxFrameSize, nil)
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, ErrTruncatedFrame)
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(4<<20), "announced 20 MiB must not be allocated up front")
}

func TestAppendFrame(t *testing.T) {
	got := AppendFrame([]byte("x"), []byte("abc"))
	assert.Equal(t, []byte{'x', 0, 0, 0, 3, 'a', 'b', 'c'}, got)
	assert.Equal(t, []byte{0, 0, 0, 0}, AppendFrame(nil, nil))
}

func FuzzReadFrame(f *testing.F) {
	f.Add([]byte{0, 0, 0, 3, 'a', 'b', 'c', 0, 0, 0, 0}, uint8(1))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff}, uint8(3))
	f.Add([]byte{0, 0, 1}, uint8(7))
	f.Add(AppendFrame(AppendFrame(nil, bytes.Repeat([]byte{7}, 300)), []byte("{}")), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, chunk uint8) {
		const limit = 1024
		size := int(chunk) + 1
		br := bufio.NewReaderSize(&chunkReader{data: data, next: func() int { return size }}, 16)
		rest := data
		for {
			got, err := ReadFrame(br, limit, nil)
			if err != nil {
				// Every error is one of the documented ones.
				if !errors.Is(err, io.EOF) && !errors.Is(err, ErrFrameTooLarge) && !errors.Is(err, ErrTruncatedFrame) {
					t.Fatalf("unexpected error %v", err)
				}
				if errors.Is(err, io.EOF) && len(rest) != 0 {
					t.Fatalf("EOF with %d bytes left", len(rest))
				}
				return
			}
			// The frame is exactly what the prefix announced.
			require.GreaterOrEqual(t, len(rest), 4)
			n := int(rest[0])<<24 | int(rest[1])<<16 | int(rest[2])<<8 | int(rest[3])
			require.LessOrEqual(t, n, limit)
			require.Equal(t, rest[4:4+n], got)
			rest = rest[4+n:]
		}
	})
}

// FuzzStreamConnRecv feeds arbitrary bytes to a calvinip connection: it must
// return exactly the frames ReadFrame finds, then a documented error, and
// never hang or panic.
func FuzzStreamConnRecv(f *testing.F) {
	f.Add(AppendFrame(AppendFrame(nil, []byte(`{"cmd":"JOIN_REQUEST"}`)), nil))
	f.Add([]byte{0, 0, 0x04, 0x01, 1, 2, 3})
	f.Add([]byte{0, 0, 0, 9, 'a'})
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 1024
		cfg, err := newConfig([]Option{WithMaxFrameSize(limit)})
		require.NoError(t, err)
		local, remote := net.Pipe()
		c := newStreamConn(local, "calvinip://local", "calvinip://remote", &cfg)
		go func() {
			_, _ = remote.Write(data)
			_ = remote.Close()
		}()
		defer c.Close()

		ref := bufio.NewReader(bytes.NewReader(data))
		for {
			want, wantErr := ReadFrame(ref, limit, nil)
			got, err := c.Recv(context.Background())
			if wantErr != nil {
				require.Error(t, err)
				switch {
				case errors.Is(wantErr, io.EOF):
					require.ErrorIs(t, err, ErrClosed)
				default:
					require.ErrorIs(t, err, errors.Unwrap(wantErr))
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, want, got)
		}
	})
}
