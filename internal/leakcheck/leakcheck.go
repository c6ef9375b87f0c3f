package leakcheck

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// wait is how long goroutines may take to end after a test ended (a
// variable for the package's own tests).
var wait = 5 * time.Second

// NoNewGoroutines fails t when, a few seconds after it ended, more goroutines
// run than when NoNewGoroutines was called. It counts every goroutine of the
// process, so it suits tests that run nothing else in parallel (an example
// program run in-process).
func NoNewGoroutines(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		// idle keep-alive connections end on their own shortly after; poll
		// here (assert.Eventually would add goroutines of its own)
		poll(10*time.Millisecond, func() bool { return runtime.NumGoroutine() <= before })
		if n := runtime.NumGoroutine(); n > before {
			t.Errorf("goroutines: %d before, %d after\n%s", before, n, stacks())
		}
	})
}

// NoModuleGoroutines fails t when goroutines created by code of this module
// still run a few seconds after it ended. Goroutines of the runtime, the
// standard library and the test framework are not counted.
func NoModuleGoroutines(t testing.TB) {
	t.Helper()
	t.Cleanup(func() {
		var left string
		if !poll(5*time.Millisecond, func() bool { left = moduleGoroutines(); return left == "" }) {
			t.Errorf("goroutines left behind:\n%s", left)
		}
	})
}

// NoGoroutinesMentioning fails t when goroutines whose stacks mention any
// of substrs (e.g. "opaca/container.") still run a few seconds after it
// ended. Goroutines running a test (testing.tRunner) are not counted.
func NoGoroutinesMentioning(t testing.TB, substrs ...string) {
	t.Helper()
	t.Cleanup(func() {
		var left []string
		if !poll(10*time.Millisecond, func() bool { left = goroutinesMentioning(substrs); return len(left) == 0 }) {
			t.Errorf("leaked goroutines:\n%s", strings.Join(left, "\n\n"))
		}
	})
}

// poll calls done every tick until it reports true or wait has passed, and
// reports whether it did.
func poll(tick time.Duration, done func() bool) bool {
	tk := time.NewTicker(tick)
	defer tk.Stop()
	deadline := time.Now().Add(wait)
	for {
		if done() {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		<-tk.C
	}
}

// stacks returns the stacks of all goroutines.
func stacks() string {
	buf := make([]byte, 1<<20)
	return string(buf[:runtime.Stack(buf, true)])
}

// moduleGoroutines returns the stacks of the goroutines created by code of
// this module, empty when there are none.
func moduleGoroutines() string {
	var out []string
	for _, g := range strings.Split(stacks(), "\n\n") {
		if strings.Contains(g, "created by github.com/meshkit/meshkit/") {
			out = append(out, g)
		}
	}
	return strings.Join(out, "\n\n")
}

// goroutinesMentioning returns the stacks of the goroutines, other than
// those running a test, that mention any of substrs.
func goroutinesMentioning(substrs []string) []string {
	var out []string
	for _, g := range strings.Split(stacks(), "\n\n") {
		if strings.Contains(g, "testing.tRunner") {
			continue
		}
		for _, s := range substrs {
			if strings.Contains(g, s) {
				out = append(out, g)
				break
			}
		}
	}
	return out
}
