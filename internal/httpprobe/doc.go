// Package httpprobe holds test clients that probe an HTTP server: a plain
// request that returns the status, header and body, and slow clients that
// trickle their request headers or body to check a server's timeouts.
//
// It is test support shared by the packages of the module; it imports only
// the standard library.
package httpprobe
