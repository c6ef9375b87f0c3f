//go:build unix

package rt2rt

import "syscall"

// processCPU returns the CPU time (user + system) used by this process so
// far, in nanoseconds. Benchmarks report it next to wall time because the
// build machine is shared: CPU time per operation does not grow while the
// benchmark waits for a core.
func processCPU() (int64, bool) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, false
	}
	return ru.Utime.Nano() + ru.Stime.Nano(), true
}
