//go:build unix

package container

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user + system) the test process has
// used, so that benchmarks on a shared machine can report CPU per
// operation next to wall-clock throughput.
func processCPU() (time.Duration, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), true
}
