package platform

import (
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
)

// startAt runs a platform on a fixed address (restart tests).
func startAt(t *testing.T, addr string, opts ...Option) *testPlatform {
	t.Helper()
	var ln net.Listener
	var err error
	require.Eventually(t, func() bool {
		ln, err = net.Listen("tcp", addr)
		return err == nil
	}, 5*time.Second, 10*time.Millisecond)
	url := "http://" + addr
	reg := &fakeRegistry{}
	all := append([]Option{
		WithPublicURL(url), WithBcryptCost(4), WithPollInterval(20 * time.Millisecond),
		WithInProcessImage("fake-image", reg.factory), WithAdmin("admin", "adminpw"),
		WithSecret("test-secret-test-secret-test-secret!"),
	}, opts...)
	p, err := New(all...)
	require.NoError(t, err)
	go func() { _ = p.Serve(ln) }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, p.Start(ctx))
	c, err := client.New(url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close(); _ = p.Close() })
	return &testPlatform{Platform: p, url: url, reg: reg, c: c}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return addr
}

func TestStateRestore(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	b := startPlatform(t)
	b.deploy(t, "agentB")
	addr := freeAddr(t)
	ctx := context.Background()

	a := startAt(t, addr, WithStateFile(state), WithRequireAuth(true))
	admin := login(t, a.url, "admin", "adminpw")
	_, err := admin.CreateUser(ctx, opaca.User{Username: "bob", Password: "bobpw", Role: opaca.RoleContributor})
	require.NoError(t, err)
	bob := login(t, a.url, "bob", "bobpw")
	id, err := bob.PostContainer(ctx, fakePost("agentA"), 0)
	require.NoError(t, err)
	ok, err := admin.Connect(ctx, opaca.ConnectionRequest{URL: b.url, ConnectBack: true})
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, a.SaveState())
	st, err := os.Stat(state)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	raw, err := os.ReadFile(state)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "bobpw", "only hashes are stored")
	assert.NotContains(t, string(raw), "test-secret", "the JWT secret is never stored")
	require.NoError(t, a.Close())
	require.NoError(t, a.Close(), "close twice")

	a2 := startAt(t, addr, WithStateFile(state), WithRequireAuth(true))
	bob2 := login(t, a2.url, "bob", "bobpw") // users restored
	admin2 := login(t, a2.url, "admin", "adminpw")
	list, err := bob2.Containers(ctx)
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, id, list[0].ContainerID, "same id after restart")
	assert.Equal(t, "bob", list[0].Owner)
	conns, err := admin2.Connections(ctx)
	require.NoError(t, err)
	assert.Equal(t, []string{b.url}, conns)
	sum, err := client.InvokeAs[int](ctx, bob2, "Add", "agentB", map[string]int{"x": 1, "y": 2})
	require.NoError(t, err, "forwarding works after restore")
	assert.Equal(t, 3, sum)
	sum, err = client.InvokeAs[int](ctx, bob2, "Add", "agentA", map[string]int{"x": 1, "y": 3})
	require.NoError(t, err, "the restored container answers")
	assert.Equal(t, 4, sum)
	ok, err = bob2.DeleteContainer(ctx, id)
	require.NoError(t, err)
	assert.True(t, ok, "owner kept")
}

func TestStateCorruptIsError(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state.json")
	require.NoError(t, os.WriteFile(state, []byte("{not json"), 0o600))
	p, err := New(WithStateFile(state), WithBcryptCost(4))
	require.NoError(t, err)
	defer p.Close()
	err = p.Start(context.Background())
	require.Error(t, err)
	assert.True(t, strings.Contains(err.Error(), "corrupt"))
}

func TestStartHonoursCancellation(t *testing.T) {
	p, err := New(WithBcryptCost(4))
	require.NoError(t, err)
	defer p.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, p.Start(ctx), context.Canceled)
}

// A GET stream relayed by the platform answers with its headers before the
// container sends its first byte, so a silent stream is not a hung call.
func TestGetStreamHeadersBeforeFirstByte(t *testing.T) {
	tp := startPlatform(t)
	tp.deploy(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	rc, err := tp.c.GetStream(ctx, "SilentStream", "agent1")
	require.NoError(t, err, "headers arrive while the stream is still silent")
	close(silentRelease)
	body, err := io.ReadAll(rc)
	require.NoError(t, err)
	require.NoError(t, rc.Close())
	assert.Equal(t, "late", string(body))
}

func TestDefaultImages(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "a.json"), []byte(`{"image":{"imageName":"fake-image"},"arguments":{}}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "b.json"), []byte(`{"image":{"imageName":"no-such"}}`), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "c.txt"), []byte(`ignored`), 0o644))
	tp := startPlatform(t, WithDefaultImages(dir))
	list, err := tp.c.Containers(context.Background())
	require.NoError(t, err)
	assert.Len(t, list, 1, "valid default image started, failures logged")
}

func TestOptionsValidated(t *testing.T) {
	for name, opt := range map[string]Option{
		"public url":  WithPublicURL("ftp://x"),
		"policy":      WithSessionPolicy("sometimes"),
		"timeout":     WithContainerTimeout(0),
		"docker host": WithDocker(DockerConfig{Host: "npipe://x"}),
		"images dir":  WithDefaultImages("/nonexistent-dir"),
		"admin":       WithAdmin("", "x"),
		"logger":      WithLogger(nil),
		"bcrypt":      WithBcryptCost(99),
	} {
		_, err := New(opt)
		assert.Error(t, err, name)
	}
	p, err := New()
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:8000", p.BaseURL())
	require.NoError(t, p.Close())
	require.NoError(t, p.Close())
}
