package container

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/opaca"
)

type typedArgs struct {
	Name    string          `json:"name"`
	Count   int64           `json:"count"`
	Ratio   float64         `json:"ratio" default:"3.14"`
	Flag    *bool           `json:"flag"`
	Tags    []string        `json:"tags" opaca:",optional"`
	Grid    [][]int         `json:"grid"`
	Point   map[string]any  `json:"point" opaca:"Point"`
	Raw     json.RawMessage `json:"raw"`
	Meta    struct{ A int } `json:"meta"`
	Renamed uint8
	Skipped string `json:"-"`
	//lint:ignore U1000 present to check that unexported fields are skipped
	internal int
}

func TestParamsOf(t *testing.T) {
	params, err := ParamsOf[typedArgs]()
	require.NoError(t, err)
	got, err := json.Marshal(params)
	require.NoError(t, err)
	assert.JSONEq(t, `{
		"name": {"type":"string","required":true},
		"count": {"type":"integer","required":true},
		"ratio": {"type":"number","required":false,"defaultValue":3.14},
		"flag": {"type":"boolean","required":false},
		"tags": {"type":"array","required":false,"items":{"type":"string"}},
		"grid": {"type":"array","required":true,"items":{"type":"array","items":{"type":"integer"}}},
		"point": {"type":"Point","required":true},
		"raw": {"type":"object","required":true},
		"meta": {"type":"object","required":true},
		"Renamed": {"type":"integer","required":true}
	}`, string(got))

	_, err = ParamsOf[int]()
	assert.Error(t, err)
	_, err = ParamsOf[struct {
		C chan int `json:"c"`
	}]()
	assert.Error(t, err)
	_, err = ParamsOf[struct {
		D int `json:"d" default:"not json"`
	}]()
	assert.Error(t, err)
	empty, err := ParamsOf[struct{}]()
	require.NoError(t, err)
	assert.Empty(t, empty)
}

func TestAddFunc(t *testing.T) {
	checkGoroutines(t)
	f := newFixture(t)
	a, err := NewAgent(WithID("typed"))
	require.NoError(t, err)
	require.NoError(t, f.c.AddAgent(a))
	type concatArgs struct {
		Parts []string `json:"parts"`
		Sep   string   `json:"sep" default:"\"-\""`
	}
	require.NoError(t, AddFunc(a, "Concat", func(ctx context.Context, in concatArgs) (string, error) {
		inv, ok := InvocationFrom(ctx)
		if !ok {
			return "", opaca.NewError(500, "no invocation")
		}
		out := inv.Agent.ID() + ":"
		for i, p := range in.Parts {
			if i > 0 {
				out += in.Sep
			}
			out += p
		}
		return out, nil
	}, Description("joins")))
	require.NoError(t, AddFunc(a, "Void", func(context.Context, struct{}) (struct{}, error) { return struct{}{}, nil }))
	require.NoError(t, AddFunc(a, "Fails", func(context.Context, struct{}) (*int, error) { return nil, opaca.NewError(409, "conflict") }))

	d := a.Description()
	concat, ok := d.Action("Concat")
	require.True(t, ok)
	assert.Equal(t, "joins", concat.Description)
	assert.Equal(t, opaca.TypeString, concat.Result.Type)
	void, _ := d.Action("Void")
	assert.Nil(t, void.Result)
	assert.Empty(t, void.Parameters)
	fails, _ := d.Action("Fails")
	assert.False(t, fails.Result.IsRequired(), "pointer result is optional")

	r := do(t, "POST", f.srv.URL+"/invoke/Concat/typed", `{"parts":["a","b","c"]}`)
	require.Equal(t, 200, r.status, r.body)
	assert.Equal(t, `"typed:a-b-c"`, r.body)
	r = do(t, "POST", f.srv.URL+"/invoke/Concat/typed", `{"parts":["a","b"],"sep":"+"}`)
	assert.Equal(t, `"typed:a+b"`, r.body)
	r = do(t, "POST", f.srv.URL+"/invoke/Concat/typed", `{"parts":"a"}`)
	assert.Equal(t, 400, r.status)
	r = do(t, "POST", f.srv.URL+"/invoke/Void", ``)
	assert.Equal(t, 200, r.status)
	assert.Equal(t, `null`, r.body)
	r = do(t, "POST", f.srv.URL+"/invoke/Fails", ``)
	assert.Equal(t, 409, r.status)

	assert.Error(t, AddFunc[struct{}, int](a, "Nil", nil))
	assert.Error(t, AddFunc(a, "BadArgs", func(context.Context, int) (int, error) { return 0, nil }))
	assert.Error(t, AddFunc(a, "BadResult", func(context.Context, struct{}) (chan int, error) { return nil, nil }))
}
