package transport

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newWS(t *testing.T, opts ...Option) *WSTransport {
	t.Helper()
	tr, err := NewWSTransport(opts...)
	require.NoError(t, err)
	return tr
}

func TestWSExchange(t *testing.T) {
	checkNoLeaks(t)
	a, b, l := pair(t, newWS(t), "ws://127.0.0.1:0/rt2rt")
	assert.Regexp(t, `^ws://127\.0\.0\.1:[1-9][0-9]*/rt2rt$`, l.URI())
	assert.Equal(t, l.URI(), a.RemoteURI())
	assert.Equal(t, l.URI(), b.LocalURI())
	assert.True(t, strings.HasPrefix(b.RemoteURI(), "ws://127.0.0.1:"))
	exchange(t, a, b, 5000)

	// Empty frames survive.
	ctx := context.Background()
	require.NoError(t, a.Send(ctx, []byte{}))
	got, err := b.Recv(ctx)
	require.NoError(t, err)
	assert.NotNil(t, got)
	assert.Empty(t, got)
}

func TestWSDefaultPathAndWrongPath(t *testing.T) {
	checkNoLeaks(t)
	tr := newWS(t)
	ctx := context.Background()
	l, err := tr.Listen(ctx, "ws://127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	assert.True(t, strings.HasSuffix(l.URI(), "/"), l.URI())
	c, err := tr.Dial(ctx, l.URI())
	require.NoError(t, err)
	require.NoError(t, c.Close())
	s, err := l.Accept(ctx)
	require.NoError(t, err)
	require.NoError(t, s.Close())

	p, err := tr.Listen(ctx, "ws://127.0.0.1:0/only")
	require.NoError(t, err)
	defer p.Close()
	_, err = tr.Dial(ctx, strings.TrimSuffix(p.URI(), "only")+"other")
	require.Error(t, err)
}

func TestWSOversizeFromPeer(t *testing.T) {
	checkNoLeaks(t)
	logs := &syncBuffer{}
	server := newWS(t, WithMaxFrameSize(1000), WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	ctx := context.Background()
	l, err := server.Listen(ctx, "ws://127.0.0.1:0/")
	require.NoError(t, err)
	defer l.Close()

	good, err := server.Dial(ctx, l.URI())
	require.NoError(t, err)
	defer good.Close()
	goodAcc, err := l.Accept(ctx)
	require.NoError(t, err)
	defer goodAcc.Close()

	big, err := newWS(t).Dial(ctx, l.URI())
	require.NoError(t, err)
	defer big.Close()
	bigAcc, err := l.Accept(ctx)
	require.NoError(t, err)
	defer bigAcc.Close()
	require.NoError(t, big.Send(ctx, make([]byte, 1001)))
	_, err = bigAcc.Recv(ctx)
	require.ErrorIs(t, err, ErrFrameTooLarge)
	_, err = bigAcc.Recv(ctx)
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, err, ErrFrameTooLarge, "the cause stays visible")
	_, err = big.Recv(ctx)
	require.ErrorIs(t, err, ErrClosed, "the sender is disconnected")
	assert.Contains(t, logs.String(), "peer broke framing")

	// Local oversize send fails and the connection stays.
	require.ErrorIs(t, good.Send(ctx, make([]byte, 1001)), ErrFrameTooLarge)
	require.NoError(t, good.Send(ctx, make([]byte, 1000)))
	got, err := goodAcc.Recv(ctx)
	require.NoError(t, err)
	assert.Len(t, got, 1000)
}

func TestWSCancelCloseAndPeerClose(t *testing.T) {
	checkNoLeaks(t)
	a, b, l := pair(t, newWS(t), "ws://127.0.0.1:0/x")
	ctx := context.Background()

	tctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	_, err := b.Recv(tctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.NoError(t, a.Send(ctx, []byte("still there")))
	got, err := b.Recv(ctx)
	require.NoError(t, err)
	assert.Equal(t, []byte("still there"), got)

	require.NoError(t, a.Send(ctx, []byte("bye")))
	require.NoError(t, a.Close())
	require.NoError(t, a.Close())
	_, err = a.Recv(ctx)
	require.ErrorIs(t, err, ErrClosed)
	require.ErrorIs(t, a.Send(ctx, []byte("x")), ErrClosed)
	// b reads what had arrived, then learns the peer left.
	for {
		f, err := b.Recv(ctx)
		if err != nil {
			require.ErrorIs(t, err, ErrClosed)
			break
		}
		assert.Equal(t, []byte("bye"), f)
	}
	require.NoError(t, l.Close())
	_, err = l.Accept(ctx)
	require.ErrorIs(t, err, ErrClosed)
}

func TestWSSMutualTLS(t *testing.T) {
	checkNoLeaks(t)
	pki := newTestPKI(t)
	server := newWS(t, WithTLS(pki.serverConfig()))
	ctx := context.Background()
	l, err := server.Listen(ctx, "wss://127.0.0.1:0/rt2rt")
	require.NoError(t, err)
	defer l.Close()
	assert.True(t, strings.HasPrefix(l.URI(), "wss://127.0.0.1:"))

	c, err := newWS(t, WithTLS(pki.clientConfig(true))).Dial(ctx, l.URI())
	require.NoError(t, err)
	defer c.Close()
	s, err := l.Accept(ctx)
	require.NoError(t, err)
	defer s.Close()
	exchange(t, c, s, 500)

	_, err = newWS(t).Dial(ctx, l.URI())
	require.Error(t, err, "the client does not trust the test CA")
	_, err = newWS(t).Listen(ctx, "wss://127.0.0.1:0/")
	require.Error(t, err, "wss listener without certificate")
}

func TestWSBadURIs(t *testing.T) {
	tr := newWS(t)
	ctx := context.Background()
	for _, uri := range []string{"ws://", "http://h:1/", "ws:h", "calvinip://h:1"} {
		_, err := tr.Dial(ctx, uri)
		assert.ErrorIs(t, err, ErrInvalidURI, uri)
	}
	for _, uri := range []string{"ws://", "http://h:1/", "ws://h:x/"} {
		_, err := tr.Listen(ctx, uri)
		assert.ErrorIs(t, err, ErrInvalidURI, uri)
	}
}

func TestWSNonUpgradeRequestIsRejected(t *testing.T) {
	checkNoLeaks(t)
	l, err := newWS(t).Listen(context.Background(), "ws://127.0.0.1:0/")
	require.NoError(t, err)
	defer l.Close()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http" + strings.TrimPrefix(l.URI(), "ws"))
	require.NoError(t, err)
	_ = resp.Body.Close()
	assert.Equal(t, http.StatusBadRequest, resp.StatusCode)
	client.CloseIdleConnections()
}
