package opaca_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/meshkit/meshkit/opaca"
)

func ExampleValidator() {
	v, err := opaca.NewValidator(map[string]json.RawMessage{
		"Car": json.RawMessage(`{"type":"object","properties":{"passengers":{"type":"array","items":{"type":"string"}}},"required":["passengers"]}`),
	}, nil)
	if err != nil {
		panic(err)
	}
	params := map[string]opaca.Parameter{"car": opaca.NewParameter("Car"), "n": opaca.NewParameter(opaca.TypeInteger).Optional()}
	err = v.ValidateBody(context.Background(), params, []byte(`{"car":{"passengers":["ann",7]}}`))
	var ae *opaca.ArgumentError
	if errors.As(err, &ae) {
		fmt.Println(ae.Argument, ae.Path, opaca.HTTPStatus(err))
		fmt.Println(err)
	}
	// Output:
	// car passengers[1] 400
	// argument "car" at passengers[1]: does not match type Car: expected string, got number
}

func ExampleDecodeStrict() {
	var req opaca.ConnectionRequest
	err := opaca.DecodeStrict([]byte(`{"url":"http://peer:8000","connectback":true}`), &req)
	fmt.Println(opaca.HTTPStatus(err), errors.Is(err, opaca.ErrUnprocessable))
	// Output: 422 true
}
