package token

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const vectorDir = "../../shared/vectors/calvin"

type vectorQueue struct {
	where string
	state map[string]any
}

// vectorQueues extracts every port queue of every ACTOR_NEW actor_state in a
// capture, keyed by line number.
func vectorQueues(t *testing.T, file string) map[int][]vectorQueue {
	t.Helper()
	f, err := os.Open(filepath.Join(vectorDir, file))
	if os.IsNotExist(err) {
		t.Skipf("golden vectors not available: %v", err)
	}
	require.NoError(t, err)
	defer f.Close()
	out := map[int][]vectorQueue{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for line := 1; sc.Scan(); line++ {
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		var rec map[string]any
		require.NoError(t, dec.Decode(&rec), "line %d", line)
		msg, _ := rec["msg"].(map[string]any)
		if msg == nil || msg["cmd"] != "ACTOR_NEW" {
			continue
		}
		state := msg["state"].(map[string]any)["actor_state"].(map[string]any)
		priv := state["private"].(map[string]any)
		for _, dir := range []string{"inports", "outports"} {
			ports, _ := priv[dir].(map[string]any)
			for name, p := range ports {
				q := p.(map[string]any)["queue"].(map[string]any)
				out[line] = append(out[line], vectorQueue{where: dir + "/" + name, state: q})
			}
		}
	}
	require.NoError(t, sc.Err())
	return out
}

// canonical renders a generic value as sorted-key JSON so that int64 and
// json.Number compare by value and key order does not matter (spec §14.4).
func canonical(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func TestQueueStateVectorsRoundTrip(t *testing.T) {
	cases := map[string][]int{
		"json-two-nodes.jsonl":      {657, 688, 699},
		"msgpack-two-nodes.jsonl":   {657, 688, 699},
		"msgpack-constrained.jsonl": {13, 65},
	}
	for file, lines := range cases {
		all := vectorQueues(t, file)
		for _, line := range lines {
			qs := all[line]
			require.NotEmpty(t, qs, "%s:%d has port queues", file, line)
			for _, vq := range qs {
				t.Run(filepath.Base(file)+"/"+vq.where, func(t *testing.T) {
					q, err := ImportQueue(vq.state)
					require.NoError(t, err, "%s:%d", file, line)
					fifo, ok := q.(*FIFO)
					require.True(t, ok)
					got := fifo.State()
					want := vq.state
					if _, has := want["reader_offset"]; !has {
						// constrained omits reader_offset; the export adds the default 0.
						for _, v := range got["reader_offset"].(map[string]any) {
							assert.Equal(t, int64(0), v)
						}
						delete(got, "reader_offset")
					}
					assert.Equal(t, canonical(t, want), canonical(t, got), "%s:%d %s", file, line, vq.where)
				})
			}
		}
	}
}

func TestQueueStateVectorSemantics(t *testing.T) {
	all := vectorQueues(t, "json-two-nodes.jsonl")
	const snk = "a820e000-f8e0-4f0a-b9f0-bc3594685ab2"

	// Line 657: the sink consumed 5 tokens, so the next TOKEN must be seq 5 (:669).
	q, err := ImportQueue(all[657][0].state)
	require.NoError(t, err)
	in := q.(*FIFO)
	assert.Equal(t, uint64(5), in.WritePos())
	assert.Equal(t, 4, in.Free())
	_, err = in.Read(snk)
	assert.ErrorIs(t, err, ErrQueueEmpty)

	// Line 688: the source outport after 13 tokens, ring [11 12 13 9 10].
	q, err = ImportQueue(all[688][0].state)
	require.NoError(t, err)
	out := q.(*FIFO)
	p, err := out.Positions(snk)
	require.NoError(t, err)
	assert.Equal(t, Positions{Read: 13, Tentative: 13, Write: 13}, p)
	require.NoError(t, out.Write(New(int64(14))))
	pos, tok, err := out.PeekPos(snk)
	require.NoError(t, err)
	assert.Equal(t, uint64(13), pos)
	assert.Equal(t, New(int64(14)), tok)
	st := out.State()
	assert.Equal(t, map[string]any{"type": "Token", "data": int64(14)}, st["fifo"].([]any)[13%5], "position p lives in slot p mod N")
}

func TestMigrationStateCancels(t *testing.T) {
	q, err := NewFIFO(4)
	require.NoError(t, err)
	q.AddReader("peer")
	require.NoError(t, q.Write(New("a")))
	require.NoError(t, q.Write(New("b")))
	_, _ = q.Peek("peer")
	_, _ = q.Peek("peer")
	require.NoError(t, q.CommitTo("peer", 1))
	st := q.MigrationState()
	assert.Equal(t, map[string]any{"peer": int64(1)}, st["tentative_read_pos"])
	assert.Equal(t, map[string]any{"peer": int64(2)}, q.State()["tentative_read_pos"], "live queue untouched")

	// The exported state imports to a queue that resends from position 1.
	back, err := ImportFIFO(st)
	require.NoError(t, err)
	pos, tok, err := back.PeekPos("peer")
	require.NoError(t, err)
	assert.Equal(t, uint64(1), pos)
	assert.Equal(t, New("b"), tok)
}

func TestImportQueueOtherTypes(t *testing.T) {
	collect := map[string]any{
		"queuetype": "collect:tagged", "N": int64(5),
		"fifo":    map[string]any{"w1": []any{}},
		"writers": []any{"w1"}, "write_pos": map[string]any{"w1": int64(0)},
		"tags": map[string]any{"w1": "t"}, "tags-are-ordering": false,
	}
	q, err := ImportQueue(collect)
	require.NoError(t, err)
	assert.Equal(t, "collect:tagged", q.QueueType())
	assert.Equal(t, collect, q.State(), "kept unchanged")

	q, err = ImportQueue(NoneState())
	require.NoError(t, err)
	assert.Equal(t, "none", q.QueueType())

	_, err = ImportQueue(map[string]any{"queuetype": "dispatch:random", "N": "x"})
	assert.ErrorIs(t, err, ErrBadQueueState)
}

func validState() map[string]any {
	return map[string]any{
		"queuetype": "fanout_fifo", "N": int64(3),
		"fifo":               []any{map[string]any{"type": "Token", "data": int64(0)}, map[string]any{"type": "Token", "data": int64(1)}, map[string]any{"type": "Token", "data": int64(2)}},
		"readers":            []any{"r"},
		"write_pos":          int64(3),
		"read_pos":           map[string]any{"r": int64(1)},
		"tentative_read_pos": map[string]any{"r": int64(2)},
	}
}

func TestImportFIFORejectsBadStates(t *testing.T) {
	tests := []struct {
		name  string
		edit  func(m map[string]any)
		field string
	}{
		{"not fifo type", func(m map[string]any) { m["queuetype"] = "collect:tagged" }, "queuetype"},
		{"N missing", func(m map[string]any) { delete(m, "N") }, "N"},
		{"N one", func(m map[string]any) { m["N"] = int64(1) }, "N"},
		{"N float", func(m map[string]any) { m["N"] = 2.5 }, "N"},
		{"N huge", func(m map[string]any) { m["N"] = new(big.Int).Lsh(big.NewInt(1), 70) }, "N"},
		{"ring size", func(m map[string]any) { m["fifo"] = []any{} }, "fifo"},
		{"ring not list", func(m map[string]any) { m["fifo"] = "x" }, "fifo"},
		{"ring slot", func(m map[string]any) { m["fifo"].([]any)[1] = "x" }, "fifo"},
		{"write_pos negative", func(m map[string]any) { m["write_pos"] = int64(-1) }, "write_pos"},
		{"readers not list", func(m map[string]any) { m["readers"] = map[string]any{} }, "readers"},
		{"reader not string", func(m map[string]any) { m["readers"] = []any{int64(1)} }, "readers"},
		{"duplicate reader", func(m map[string]any) { m["readers"] = []any{"r", "r"} }, "readers"},
		{"read_pos missing reader", func(m map[string]any) { m["read_pos"] = map[string]any{} }, "read_pos"},
		{"read_pos not map", func(m map[string]any) { m["read_pos"] = []any{} }, "read_pos"},
		{"tentative below read", func(m map[string]any) { m["tentative_read_pos"] = map[string]any{"r": int64(0)} }, "tentative_read_pos"},
		{"tentative beyond write", func(m map[string]any) { m["tentative_read_pos"] = map[string]any{"r": int64(4)} }, "tentative_read_pos"},
		{"too far behind", func(m map[string]any) { m["write_pos"] = int64(4) }, "read_pos"},
		{"offset beyond read", func(m map[string]any) { m["reader_offset"] = map[string]any{"r": int64(2)} }, "reader_offset"},
		{"offset not map", func(m map[string]any) { m["reader_offset"] = "x" }, "reader_offset"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := validState()
			tc.edit(m)
			_, err := ImportFIFO(m)
			require.ErrorIs(t, err, ErrBadQueueState)
			var se *StateError
			require.ErrorAs(t, err, &se)
			assert.Equal(t, tc.field, se.Field)
		})
	}
	_, err := ImportQueue(validState())
	require.NoError(t, err)
	_, err = ImportQueue("x")
	assert.ErrorIs(t, err, ErrBadQueueState)
}

func TestImportAcceptsEveryIntegerFamily(t *testing.T) {
	for _, v := range []any{int64(3), uint64(3), 3, int32(3), uint32(3), 3.0, big.NewInt(3), json.Number("3")} {
		m := validState()
		m["write_pos"] = v
		q, err := ImportFIFO(m)
		require.NoError(t, err, "%T", v)
		assert.Equal(t, uint64(3), q.WritePos())
	}
}

func TestImportWithoutReadersIsNotFullForEver(t *testing.T) {
	m := validState()
	m["readers"] = []any{}
	m["write_pos"] = int64(30)
	q, err := ImportFIFO(m)
	require.NoError(t, err)
	assert.Equal(t, 2, q.Free())
	q.AddReader("new")
	require.NoError(t, q.Write(New("x")))
	tok, err := q.Read("new")
	require.NoError(t, err)
	assert.Equal(t, New("x"), tok)
}
