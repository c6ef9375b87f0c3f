// Package testnet is test support for faults on real connections: a
// loopback TCP relay whose connections can be killed from outside and which
// can refuse new connections for a while, so that tests see a calvinip link
// die the way a network failure kills it (both ends get an error), not the
// way a node closes it.
//
// It is shared by the tests of several packages (token, actor) and imports
// only the standard library (DESIGN.md: internal/ imports nothing above it).
package testnet
