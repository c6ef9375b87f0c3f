package platform

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
	"github.com/meshkit/meshkit/opaca/sample"
)

// TestSecretsNeverServed starts the sample container with a confidential
// argument and creates and changes users, while subscribed to every
// topic; then reads every document the platform serves (containers,
// info, agents, history, config, users, the answers of the user routes)
// and every event pushed, and the debug log: neither the confidential
// value nor any password or password hash appears. The state file keeps
// only bcrypt hashes of passwords.
func TestSecretsNeverServed(t *testing.T) {
	const (
		confidential = "conf-VALUE-4242"
		userPW       = "user-PASSWORD-7777"
		newPW        = "changed-PASSWORD-8888"
	)
	state := filepath.Join(t.TempDir(), "state.json")
	logs := &syncBuffer{}
	tp := startPlatform(t, WithInProcessImage(sample.ImageName, sampleFactory), WithStateFile(state),
		WithSessionPolicy(PolicyRestart), WithEventHistorySize(-1),
		WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	ctx := context.Background()

	topics := []string{"/containers", "/users", "/login", "/token", "/invoke", "/send", "/broadcast", "/connections", "/stream"}
	var subs []*client.Subscription
	for _, topic := range topics {
		s, err := tp.c.Subscribe(ctx, topic, client.NoReconnect())
		require.NoError(t, err)
		subs = append(subs, s)
	}
	var served []string // every body the platform answered
	keep := func(v any) {
		b, err := json.Marshal(v)
		require.NoError(t, err)
		served = append(served, string(b))
	}

	req := samplePost()
	req.Arguments["password"] = confidential
	id, err := tp.c.PostContainer(ctx, req, 0)
	require.NoError(t, err)
	// the container got it (so the test would notice a value that is lost)
	info, _, err := tp.c.Container(ctx, id)
	require.NoError(t, err)
	assert.NotContains(t, info.Arguments, "password", "confidential argument left out")
	assert.Equal(t, "u", info.Arguments["username"], "other arguments shown")
	id2, err := tp.c.PutContainer(ctx, req, 0)
	require.NoError(t, err)
	served = append(served, id2)

	created, err := tp.c.CreateUser(ctx, opaca.User{Username: "carol", Password: userPW, Role: opaca.RoleUser})
	require.NoError(t, err)
	keep(created)
	updated, err := tp.c.UpdateUser(ctx, "carol", opaca.User{Password: newPW})
	require.NoError(t, err)
	keep(updated)
	carol := login(t, tp.url, "carol", newPW)
	_, err = carol.Invoke(ctx, "Add", "sample1", map[string]int{"x": 1, "y": 2})
	require.NoError(t, err)

	for _, path := range []string{"/containers", "/containers/" + id2, "/info", "/agents", "/history", "/config", "/users", "/users/carol", "/users/admin", "/connections"} {
		code, body := rawCall(t, "GET", tp.url+path, "", "")
		require.Equal(t, 200, code, path)
		served = append(served, body)
	}
	for _, body := range []string{
		`{"username":"dave","password":"` + userPW + `","role":"GUEST"}`,
	} {
		code, b := rawCall(t, "POST", tp.url+"/users", "", body)
		require.Equal(t, 201, code, b)
		served = append(served, b)
	}
	code, b := rawCall(t, "PUT", tp.url+"/users/dave", "", `{"password":"`+newPW+`"}`)
	require.Equal(t, 200, code, b)
	served = append(served, b)

	// the events: the last request (PUT /users) is on the /users topic, so
	// once its SUCCESS arrived every earlier event has been pushed
	var events []string
	for i, s := range subs {
		if topics[i] != "/users" {
			continue
		}
		for ev := range s.Events() {
			keep(ev)
			events = append(events, ev.Route)
			if ev.Route == "PUT /users/dave" {
				break
			}
		}
	}
	for _, s := range subs {
		require.NoError(t, s.Close())
		for ev := range s.Events() {
			keep(ev)
		}
	}
	assert.NotEmpty(t, events)

	for _, body := range served {
		for _, secret := range []string{confidential, userPW, newPW, "$2a$", "$2b$", "$2y$", "passwordHash"} {
			if strings.Contains(body, secret) {
				t.Errorf("%q served in %.300s", secret, body)
			}
		}
		if strings.Contains(body, `"username"`) && strings.Contains(body, `"password":`) {
			t.Errorf("a user record with a password field served: %.300s", body)
		}
	}

	// failed logins and a failing container start are logged: still no secret
	_, err = tp.c.Login(ctx, "carol", userPW)
	require.Error(t, err, "old password no longer valid")
	bad := samplePost()
	bad.Arguments["password"] = confidential
	bad.Image.ImageName = "no-such-image"
	_, err = tp.c.PostContainer(ctx, bad, 0)
	require.Error(t, err)
	require.NotEmpty(t, logs.String())
	for _, secret := range []string{confidential, userPW, newPW, "$2a$"} {
		assert.NotContains(t, logs.String(), secret, "logged")
	}

	require.NoError(t, tp.SaveState())
	raw, err := os.ReadFile(state)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), userPW, "no clear password persisted")
	assert.NotContains(t, string(raw), newPW, "no clear password persisted")
	assert.Contains(t, string(raw), "$2a$", "bcrypt hashes persisted")
	fi, err := os.Stat(state)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
}
