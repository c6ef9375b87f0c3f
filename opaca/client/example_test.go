package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
)

// examplePlatform stands in for a runtime platform with one action Add.
func examplePlatform() *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/login":
			_, _ = io.WriteString(w, "jwt-for-alice")
		case "/invoke/Add/sample1":
			if r.Header.Get("Authorization") != "Bearer jwt-for-alice" {
				opaca.WriteError(w, http.StatusUnauthorized, "Missing token.")
				return
			}
			_, _ = io.WriteString(w, "65")
		default:
			opaca.WriteError(w, http.StatusNotFound, "Requested resource not found.")
		}
	}))
}

func ExampleClient_Invoke() {
	srv := examplePlatform()
	defer srv.Close()
	ctx := context.Background()

	c, err := client.New(srv.URL)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	if _, err := c.Login(ctx, "alice", "secret"); err != nil {
		panic(err)
	}
	sum, err := client.InvokeAs[int](ctx, c, "Add", "sample1", map[string]int{"x": 42, "y": 23})
	fmt.Println(sum, err)
	// Output: 65 <nil>
}

func ExampleStatusError() {
	srv := examplePlatform()
	defer srv.Close()
	c, _ := client.New(srv.URL)
	defer c.Close()

	_, err := c.Invoke(context.Background(), "Missing", "", nil)
	var se *client.StatusError
	if errors.As(err, &se) {
		fmt.Println(se.StatusCode, se.Response.Message)
	}
	// Output: 404 Requested resource not found.
}
