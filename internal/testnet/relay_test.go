package testnet

import (
	"bufio"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/internal/leakcheck"
)

// echoServer answers every line with itself until the connection ends.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { _, _ = io.Copy(c, c); _ = c.Close() })
		}
	})
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

// roundTrip writes a line on c and reads the answer.
func roundTrip(c net.Conn, line string) (string, error) {
	if err := c.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return "", err
	}
	if _, err := io.WriteString(c, line+"\n"); err != nil {
		return "", err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", err
	}
	return got[:len(got)-1], nil
}

// TestRelay: a relay carries bytes both ways; Kill ends its connections at
// both ends; Refuse closes new connections until every release; Close
// leaves no goroutine behind and can be called twice.
func TestRelay(t *testing.T) {
	leakcheck.NoNewGoroutines(t)
	target := echoServer(t)
	r, err := NewRelay(target)
	require.NoError(t, err)
	assert.Equal(t, target, r.Target())

	c, err := net.Dial("tcp", r.Addr())
	require.NoError(t, err)
	defer c.Close()
	got, err := roundTrip(c, "hello")
	require.NoError(t, err)
	assert.Equal(t, "hello", got)

	assert.Equal(t, 1, r.Kill(), "one connection killed")
	_, err = roundTrip(c, "after kill")
	assert.Error(t, err, "the client sees its connection die")
	assert.Equal(t, 0, r.Kill(), "nothing left to kill")

	release := r.Refuse()
	release2 := r.Refuse()
	for _, rel := range []func(){release, release2} {
		c, err := net.Dial("tcp", r.Addr())
		require.NoError(t, err, "the relay still accepts")
		_, err = roundTrip(c, "refused")
		assert.Error(t, err, "and closes at once")
		_ = c.Close()
		rel()
		rel() // no effect
	}
	c2, err := net.Dial("tcp", r.Addr())
	require.NoError(t, err)
	defer c2.Close()
	got, err = roundTrip(c2, "again")
	require.NoError(t, err, "every refusal released: relayed again")
	assert.Equal(t, "again", got)
	assert.Equal(t, Stats{Accepted: 2, Refused: 2, Killed: 1}, r.Stats())

	require.NoError(t, r.Close())
	_, err = roundTrip(c2, "after close")
	assert.Error(t, err, "Close ends the relayed connections")
	require.NoError(t, r.Close(), "twice")
	_, err = net.Dial("tcp", r.Addr())
	assert.Error(t, err, "no longer listening")
}

// TestRelayUnreachableTarget: a connection to a relay whose target does not
// answer is closed at once and counted as refused.
func TestRelayUnreachableTarget(t *testing.T) {
	leakcheck.NoNewGoroutines(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	target := ln.Addr().String()
	require.NoError(t, ln.Close())
	r, err := NewRelay(target)
	require.NoError(t, err)
	defer r.Close()
	c, err := net.Dial("tcp", r.Addr())
	require.NoError(t, err)
	defer c.Close()
	_, err = roundTrip(c, "anyone?")
	assert.Error(t, err)
	assert.Equal(t, int64(1), r.Stats().Refused)
}
