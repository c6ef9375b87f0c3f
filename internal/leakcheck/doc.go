// Package leakcheck fails a test that leaves goroutines behind.
//
// It is test support shared by the packages and examples of the module (see
// DESIGN.md: every long-lived value leaves no goroutine behind, and tests
// check). It imports only the standard library.
//
// Call a check first in a test, so that its cleanup runs after every other
// cleanup of the test (nodes, platforms, servers closed).
package leakcheck
