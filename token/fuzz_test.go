package token

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
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
