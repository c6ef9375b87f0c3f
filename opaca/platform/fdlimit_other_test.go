//go:build !unix

package platform

// openFileLimit is a conservative guess where there is no rlimit.
func openFileLimit() int { return 1024 }
