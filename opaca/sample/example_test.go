package sample_test

import (
	"context"
	"fmt"

	"github.com/meshkit/meshkit/opaca/container"
	"github.com/meshkit/meshkit/opaca/sample"
)

func ExampleNew() {
	// A platform hosting the sample in-process passes the container's
	// environment as a map.
	c, err := sample.New(sample.WithEnv(map[string]string{"CONTAINER_ID": "c1"}), sample.WithStartDelay(0), sample.WithoutHelpers())
	if err != nil {
		panic(err)
	}
	defer c.Close()
	res, err := c.Invoke(context.Background(), "Add", "sample2", []byte(`{"x":42,"y":23}`), container.InvokeOptions{})
	fmt.Println(string(res), err)
	for _, a := range c.Agents() {
		fmt.Println(a.AgentID, a.AgentType, len(a.Actions), "actions")
	}
	// Output:
	// 65 <nil>
	// sample1 de.gtarc.opaca.sample.SampleAgent 12 actions
	// sample2 de.gtarc.opaca.sample.SampleAgent 12 actions
}
