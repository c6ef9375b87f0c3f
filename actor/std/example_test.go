package std_test

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/actor/std"
)

// Example deploys src:std.CountTimer > out:io.Print and reads the timer's
// report once three lines have been printed.
func Example() {
	reg, _ := std.NewRegistry()
	out := &lines{want: 3, done: make(chan struct{})}
	rt, _ := actor.NewRuntime(actor.WithRegistry(reg), actor.WithStdout(out))
	defer rt.Close()
	ctx := context.Background()

	src, _ := rt.CreateActor(ctx, std.CountTimerType, map[string]any{"name": "app:src", "sleep": 0.01, "steps": int64(3)})
	prt, _ := rt.CreateActor(ctx, std.PrintType, map[string]any{"name": "app:out"})
	op, _ := rt.PortID(src, actor.Out, "integer")
	ip, _ := rt.PortID(prt, actor.In, "token")
	_ = rt.Connect(ctx, op, ip)

	<-out.done
	fmt.Print(out.String())
	// Output:
	// 1
	// 2
	// 3
}

// lines collects output and closes done after want lines.
type lines struct {
	mu   sync.Mutex
	b    strings.Builder
	want int
	done chan struct{}
}

func (l *lines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Write(p)
	if strings.Count(l.b.String(), "\n") == l.want {
		close(l.done)
	}
	return len(p), nil
}

func (l *lines) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
