package transport

import (
	"bytes"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// goroutines returns the stacks of all goroutines by id.
func goroutines() map[int]string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	out := make(map[int]string)
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		head, _, _ := strings.Cut(string(g), " [")
		id, err := strconv.Atoi(strings.TrimPrefix(head, "goroutine "))
		if err == nil {
			out[id] = string(g)
		}
	}
	return out
}

// checkNoLeaks fails the test if goroutines started during it outlive it.
// Call it first, so that its cleanup runs after the test's own cleanups.
func checkNoLeaks(t testing.TB) {
	t.Helper()
	before := goroutines()
	t.Cleanup(func() {
		var mu sync.Mutex
		var leaked []string
		ok := assert.Eventually(t, func() bool {
			var now []string
			for id, stack := range goroutines() {
				if _, old := before[id]; old || strings.Contains(stack, "testing.") ||
					strings.Contains(stack, "testify") || strings.Contains(stack, "os/signal") {
					continue
				}
				now = append(now, stack)
			}
			mu.Lock()
			leaked = now
			mu.Unlock()
			return len(now) == 0
		}, 5*time.Second, 5*time.Millisecond)
		if !ok {
			mu.Lock()
			t.Errorf("leaked goroutines:\n%s", strings.Join(leaked, "\n\n"))
			mu.Unlock()
		}
	})
}
