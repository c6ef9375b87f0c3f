//go:build !unix

package rt2rt

// processCPU is not available here; benchmarks then report wall time only.
func processCPU() (int64, bool) { return 0, false }
