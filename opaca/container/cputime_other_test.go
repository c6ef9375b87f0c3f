//go:build !unix

package container

import "time"

func processCPU() (time.Duration, bool) { return 0, false }
