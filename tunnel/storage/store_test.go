package storage

import (
	"context"
	"math/big"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMemStorePlainValues(t *testing.T) {
	ctx := context.Background()
	s := NewMemStore()

	_, err := s.Get(ctx, "k")
	assert.ErrorIs(t, err, ErrNotFound)

	v := map[string]any{"uris": []any{"calvinip://x"}}
	require.NoError(t, s.Set(ctx, "k", v))
	v["uris"].([]any)[0] = "mutated by caller"
	got, err := s.Get(ctx, "k")
	require.NoError(t, err)
	assert.Equal(t, map[string]any{"uris": []any{"calvinip://x"}}, got, "store keeps its own copy")
	got.(map[string]any)["uris"] = nil
	again, _ := s.Get(ctx, "k")
	assert.Equal(t, map[string]any{"uris": []any{"calvinip://x"}}, again, "callers get copies")

	require.NoError(t, s.Set(ctx, "k", "overwritten"))
	got, _ = s.Get(ctx, "k")
	assert.Equal(t, "overwritten", got)

	require.NoError(t, s.Set(ctx, "null", nil))
	got, err = s.Get(ctx, "null")
	require.NoError(t, err, "a stored null is found")
	assert.Nil(t, got)

	require.NoError(t, s.Delete(ctx, "k"))
	require.NoError(t, s.Delete(ctx, "k"), "deleting a missing key is fine")
	_, err = s.Get(ctx, "k")
	assert.ErrorIs(t, err, ErrNotFound)
}

func TestMemStoreSets(t *testing.T) {
	ctx := context.Background()
	s := NewMemStore()

	l, err := s.GetConcat(ctx, "set")
	require.NoError(t, err)
	assert.Equal(t, []any{}, l, "missing set is empty, not an error")

	require.NoError(t, s.Append(ctx, "set", []any{"a", "b", "a", int64(5)}))
	require.NoError(t, s.Append(ctx, "set", []any{"c", uint64(5), big.NewInt(5)}))
	l, _ = s.GetConcat(ctx, "set")
	assert.Equal(t, []any{"a", "b", int64(5), "c"}, l, "set semantics; integers compare by value")

	require.NoError(t, s.Remove(ctx, "set", []any{"b", "zzz", int64(5)}))
	l, _ = s.GetConcat(ctx, "set")
	assert.Equal(t, []any{"a", "c"}, l)

	// Plain values and sets are separate namespaces.
	_, err = s.Get(ctx, "set")
	assert.ErrorIs(t, err, ErrNotFound)
	require.NoError(t, s.Set(ctx, "set", "plain"))
	l, _ = s.GetConcat(ctx, "set")
	assert.Equal(t, []any{"a", "c"}, l)

	require.NoError(t, s.Remove(ctx, "set", []any{"a", "c"}))
	l, _ = s.GetConcat(ctx, "set")
	assert.Equal(t, []any{}, l)
	require.NoError(t, s.Remove(ctx, "never", []any{"x"}))

	// Unhashable items (Calvin would fail) are still handled by value.
	require.NoError(t, s.Append(ctx, "odd", []any{[]any{"x"}, map[string]any{"a": int64(1)}, []any{"x"}, nil, true, 1.5}))
	l, _ = s.GetConcat(ctx, "odd")
	assert.Len(t, l, 5)
}

func TestMemStoreIndexes(t *testing.T) {
	ctx := context.Background()
	s := NewMemStore()
	name := []string{"node/attribute", "node_name", "", "", "", "", "nodeB"}
	require.NoError(t, s.AddIndex(ctx, name, []any{"id-b"}))
	require.NoError(t, s.AddIndex(ctx, []string{"node/attribute", "node_name", "org", "", "", "", "nodeC"}, []any{"id-c"}))
	require.NoError(t, s.AddIndex(ctx, []string{"node/capabilities/math.random"}, []any{"id-b", "id-c"}))
	require.NoError(t, s.AddIndex(ctx, []string{"supernode", "0"}, []any{"id-a"}))
	require.NoError(t, s.AddIndex(ctx, []string{"supernode", "0", "1"}, []any{"id-b", "id-a"}))

	cases := []struct {
		levels []string
		want   []any
	}{
		{[]string{"node/capabilities/math.random"}, []any{"id-b", "id-c"}},
		{[]string{"node/attribute", "node_name"}, []any{"id-b", "id-c"}},
		{[]string{"node/attribute", "node_name", "org"}, []any{"id-c"}},
		{[]string{"node/attribute", "node_name", ""}, []any{"id-b"}},
		{name, []any{"id-b"}},
		{[]string{"node/attr"}, []any{}}, // whole levels only
		{[]string{"supernode", "0"}, []any{"id-a", "id-b"}},
		{[]string{"supernode", "0", "1"}, []any{"id-b", "id-a"}},
		{[]string{"nothing"}, []any{}},
	}
	for _, c := range cases {
		got, err := s.GetIndex(ctx, c.levels)
		require.NoError(t, err)
		assert.ElementsMatch(t, c.want, got, "%q", c.levels)
	}
	all, _ := s.GetIndex(ctx, []string{})
	assert.ElementsMatch(t, []any{"id-a", "id-b", "id-c"}, all, "empty level list matches everything")

	require.NoError(t, s.RemoveIndex(ctx, []string{"supernode", "0", "1"}, []any{"id-b"}))
	got, _ := s.GetIndex(ctx, []string{"supernode"})
	assert.Equal(t, []any{"id-a"}, got)
	require.NoError(t, s.RemoveIndex(ctx, []string{"missing"}, []any{"x"}))

	// Level lists that would collide if joined naively stay apart.
	require.NoError(t, s.AddIndex(ctx, []string{"a/b"}, []any{"one"}))
	require.NoError(t, s.AddIndex(ctx, []string{"a", "b"}, []any{"two"}))
	got, _ = s.GetIndex(ctx, []string{"a"})
	assert.Equal(t, []any{"two"}, got)
}

func BenchmarkMemStoreGet(b *testing.B) {
	ctx := context.Background()
	s := NewMemStore()
	_ = s.Set(ctx, "node-x", map[string]any{"uris": []any{"calvinip://127.0.0.1:5000"}, "attributes": map[string]any{}})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Get(ctx, "node-x"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "gets/s")
}
