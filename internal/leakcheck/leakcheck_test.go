package leakcheck

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// fakeT records the cleanups and errors of a check.
type fakeT struct {
	testing.TB
	cleanups []func()
	errors   []string
}

func (f *fakeT) Helper()           {}
func (f *fakeT) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
func (f *fakeT) Errorf(format string, a ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, a...))
}

func (f *fakeT) end() {
	for i := len(f.cleanups) - 1; i >= 0; i-- {
		f.cleanups[i]()
	}
}

func TestChecks(t *testing.T) {
	defer func(w time.Duration) { wait = w }(wait)
	wait = 200 * time.Millisecond
	for _, c := range []struct {
		name  string
		check func(testing.TB)
	}{
		{"NoNewGoroutines", NoNewGoroutines},
		{"NoModuleGoroutines", NoModuleGoroutines},
		{"NoGoroutinesMentioning", func(t testing.TB) { NoGoroutinesMentioning(t, "internal/leakcheck.") }},
	} {
		name, check := c.name, c.check
		t.Run(name+"/clean", func(t *testing.T) {
			f := &fakeT{TB: t}
			check(f)
			done := make(chan struct{})
			go func() { <-done }()
			close(done) // ends within the wait
			f.end()
			if len(f.errors) != 0 {
				t.Errorf("errors for a goroutine that ended: %q", f.errors)
			}
		})
		t.Run(name+"/leak", func(t *testing.T) {
			base := runtime.NumGoroutine()
			f := &fakeT{TB: t}
			check(f)
			// several, so that goroutines of earlier tests still ending
			// while the count is taken cannot hide them
			stop := make(chan struct{})
			for range 10 {
				go func() { <-stop }()
			}
			f.end()
			close(stop)
			// the next check must not count this goroutine
			poll(time.Millisecond, func() bool { return runtime.NumGoroutine() <= base })
			if len(f.errors) != 1 {
				t.Errorf("want one error for goroutines left behind, got %q", f.errors)
			}
		})
	}
}
