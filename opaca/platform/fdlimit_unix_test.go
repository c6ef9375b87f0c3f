//go:build unix

package platform

import "syscall"

// openFileLimit is the soft limit on open descriptors.
func openFileLimit() int {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil || rl.Cur > 1<<20 {
		return 1024
	}
	return int(rl.Cur)
}
