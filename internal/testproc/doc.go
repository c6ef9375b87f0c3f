// Package testproc runs programs for tests: it builds the program of the
// package under test (Build) and serves a helper process, the test binary
// re-executed to stand in for a container process (ServeUntilSignal).
//
// It is test support shared by the packages and examples of the module; it
// imports only the standard library.
package testproc
