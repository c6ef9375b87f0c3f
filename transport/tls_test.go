package transport

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testPKI is a throwaway CA with a server and a client certificate.
type testPKI struct {
	pool   *x509.CertPool
	server tls.Certificate
	client tls.Certificate
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "meshkit test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	ca, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	issue := func(serial int64, name string, usage x509.ExtKeyUsage) tls.Certificate {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial),
			Subject:      pkix.Name{CommonName: name},
			DNSNames:     []string{name},
			IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
			NotBefore:    now.Add(-time.Hour),
			NotAfter:     now.Add(time.Hour),
			KeyUsage:     x509.KeyUsageDigitalSignature,
			ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		require.NoError(t, err)
		return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &testPKI{
		pool:   pool,
		server: issue(2, "node-a", x509.ExtKeyUsageServerAuth),
		client: issue(3, "node-b", x509.ExtKeyUsageClientAuth),
	}
}

// serverConfig requires client certificates signed by the CA (Calvin's mutual TLS).
func (p *testPKI) serverConfig() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{p.server},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.pool,
		MinVersion:   tls.VersionTLS12,
	}
}

func (p *testPKI) clientConfig(withCert bool) *tls.Config {
	c := &tls.Config{RootCAs: p.pool, MinVersion: tls.VersionTLS12}
	if withCert {
		c.Certificates = []tls.Certificate{p.client}
	}
	return c
}

func TestCalvinIPMutualTLS(t *testing.T) {
	checkNoLeaks(t)
	pki := newTestPKI(t)
	logs := &syncBuffer{}
	server := newCalvinIP(t, WithTLS(pki.serverConfig()), WithLogger(slog.New(slog.NewTextHandler(logs, nil))))
	ctx := context.Background()
	l, err := server.Listen(ctx, "calvinip://127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()

	t.Run("client with certificate", func(t *testing.T) {
		checkNoLeaks(t)
		c, err := newCalvinIP(t, WithTLS(pki.clientConfig(true))).Dial(ctx, l.URI())
		require.NoError(t, err)
		defer c.Close()
		s, err := l.Accept(ctx)
		require.NoError(t, err)
		defer s.Close()
		state := s.(*streamConn).nc.(*tls.Conn).ConnectionState()
		require.Len(t, state.PeerCertificates, 1)
		assert.Equal(t, "node-b", state.PeerCertificates[0].Subject.CommonName)
		exchange(t, c, s, 2000)

		// Cancelling a Recv on a TLS connection leaves it usable.
		cctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
		defer cancel()
		_, err = s.Recv(cctx)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		require.NoError(t, c.Send(ctx, []byte("after cancel")))
		got, err := s.Recv(ctx)
		require.NoError(t, err)
		assert.Equal(t, []byte("after cancel"), got)
	})

	t.Run("client without certificate is refused", func(t *testing.T) {
		checkNoLeaks(t)
		c, err := newCalvinIP(t, WithTLS(pki.clientConfig(false))).Dial(ctx, l.URI())
		if err == nil {
			// With TLS 1.3 the client finishes first; the refusal arrives
			// as an alert on its first read.
			_, err = c.Recv(ctx)
			require.NoError(t, c.Close())
		}
		require.Error(t, err)
		actx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
		defer cancel()
		_, err = l.Accept(actx)
		require.ErrorIs(t, err, context.DeadlineExceeded, "no connection may be accepted")
		require.Eventually(t, func() bool { return strings.Contains(logs.String(), "TLS handshake failed") }, 5*time.Second, 5*time.Millisecond)
	})

	t.Run("server not trusted by client", func(t *testing.T) {
		checkNoLeaks(t)
		other := newTestPKI(t)
		_, err := newCalvinIP(t, WithTLS(other.clientConfig(true))).Dial(ctx, l.URI())
		require.Error(t, err)
		var unknown x509.UnknownAuthorityError
		assert.ErrorAs(t, err, &unknown)
	})

	t.Run("plain TCP client is refused", func(t *testing.T) {
		checkNoLeaks(t)
		c, err := newCalvinIP(t).Dial(ctx, l.URI())
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.Send(ctx, []byte("hello in clear")))
		_, err = c.Recv(ctx)
		require.ErrorIs(t, err, ErrClosed)
	})
}

func TestCalvinIPListenTLSNeedsCertificate(t *testing.T) {
	_, err := newCalvinIP(t, WithTLS(&tls.Config{})).Listen(context.Background(), "calvinip://127.0.0.1:0")
	require.Error(t, err)
}
