package platform

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
)

func login(t *testing.T, url, user, pw string) *client.Client {
	t.Helper()
	c, err := client.New(url)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.Close() })
	_, err = c.Login(context.Background(), user, pw)
	require.NoError(t, err)
	return c
}

func TestAuthRoutes(t *testing.T) {
	tp := startPlatform(t, WithRequireAuth(true))
	ctx := context.Background()
	admin := login(t, tp.url, "admin", "adminpw")
	for _, u := range []opaca.User{
		{Username: "guest", Password: "g", Role: opaca.RoleGuest},
		{Username: "user", Password: "u", Role: opaca.RoleUser},
		{Username: "contrib", Password: "c", Role: opaca.RoleContributor, Privileges: []string{"p1"}},
	} {
		created, err := admin.CreateUser(ctx, u)
		require.NoError(t, err)
		assert.Empty(t, created.Password, "password never returned")
		assert.Equal(t, u.Role, created.Role)
	}
	_, err := admin.CreateUser(ctx, opaca.User{Username: "user", Password: "x", Role: opaca.RoleUser})
	assert.Equal(t, 409, client.StatusCode(err))
	_, err = admin.CreateUser(ctx, opaca.User{Username: "nopw", Role: opaca.RoleUser})
	assert.Equal(t, 400, client.StatusCode(err))
	_, err = admin.CreateUser(ctx, opaca.User{Username: "badrole", Password: "x", Role: "ROOT"})
	assert.Equal(t, 400, client.StatusCode(err))

	guest := login(t, tp.url, "guest", "g")
	user := login(t, tp.url, "user", "u")
	contrib := login(t, tp.url, "contrib", "c")
	_, err = client.New(tp.url)
	require.NoError(t, err)
	_, err = tp.c.Login(ctx, "user", "wrong")
	assert.Equal(t, 403, client.StatusCode(err), "bad password is 403")
	_, err = tp.c.Login(ctx, "ghost", "x")
	assert.Equal(t, 403, client.StatusCode(err))
	code, _ := rawCall(t, "POST", tp.url+"/login", "", "")
	assert.Equal(t, 400, code)

	id, err := contrib.PostContainer(ctx, fakePost(""), 0)
	require.NoError(t, err)
	tok := map[string]string{"guest": guest.Token(), "user": user.Token(), "contrib": contrib.Token(), "admin": admin.Token()}

	// route → minimum role; "" = any authenticated
	cases := []struct {
		method, path, body string
		min                string
	}{
		{"GET", "/info", "", "guest"},
		{"GET", "/agents", "", "guest"},
		{"GET", "/agents/agent1", "", "guest"},
		{"GET", "/containers", "", "guest"},
		{"GET", "/containers/" + id, "", "guest"},
		{"GET", "/v3/api-docs/actions", "", "guest"},
		{"GET", "/history", "", "user"},
		{"GET", "/connections", "", "user"},
		{"GET", "/stream/GetStream", "", "user"},
		{"POST", "/invoke/Add", `{"x":1,"y":2}`, "user"},
		{"POST", "/invoke/Add/agent1", `{"x":1,"y":2}`, "user"},
		{"GET", "/stream/GetStream/agent1", "", "user"},
		{"POST", "/stream/PostStream/agent1", `abc`, "user"},
		{"GET", "/users/guest", "", "guest"},
		{"POST", "/send/agent1", `{"payload":1}`, "user"},
		{"POST", "/broadcast/ch", `{"payload":1}`, "user"},
		{"POST", "/stream/PostStream", `abc`, "user"},
		{"POST", "/containers/logout/" + id, "", "user"},
		{"POST", "/containers", `{"image":{"imageName":"nope"}}`, "contrib"},
		{"PUT", "/containers", `{"image":{"imageName":"nope"}}`, "contrib"},
		{"DELETE", "/containers/ghost", "", "contrib"},
		{"POST", "/connections", `{"url":"http://127.0.0.1:1"}`, "admin"},
		{"DELETE", "/connections", `{"url":"http://127.0.0.1:1"}`, "admin"},
		{"POST", "/connections/notify", `"http://127.0.0.1:1"`, "admin"},
		{"GET", "/users", "", "admin"},
		{"POST", "/users", `{"username":"z","password":"z","role":"USER"}`, "admin"},
		{"PUT", "/users/zz", `{"role":"USER"}`, "admin"},
		{"DELETE", "/users/zz", "", "admin"},
		{"GET", "/config", "", "guest"},
		{"GET", "/token", "", "guest"},
		{"GET", "/subscribe", "", "guest"},
		{"GET", "/", "", "guest"},
		{"POST", "/containers/login/" + id, `{"username":"u","password":"p"}`, "user"},
		{"POST", "/containers/notify", "ghost-id", "contrib"},
	}
	rank := map[string]int{"guest": 1, "user": 2, "contrib": 3, "admin": 4}
	forged := forgedTokens(t, tp, "admin")
	for _, c := range cases {
		code, body := rawCall(t, c.method, tp.url+c.path, "", c.body)
		assert.Equal(t, 401, code, "%s %s without token", c.method, c.path)
		assert.Contains(t, body, `"statusCode":401`)
		for name, ft := range forged {
			code, body := rawCall(t, c.method, tp.url+c.path, ft, c.body)
			assert.Equal(t, 401, code, "%s %s with token %q", c.method, c.path, name)
			assert.Contains(t, body, `"statusCode":401`)
		}
		for who, tk := range tok {
			code, _ := rawCall(t, c.method, tp.url+c.path, tk, c.body)
			if c.path == "/users/guest" {
				// GET /users/{name}: that user itself or an admin (§11.5)
				if who == "guest" || who == "admin" {
					assert.Equal(t, 200, code, "GET /users/guest as %s", who)
				} else {
					assert.Equal(t, 403, code, "GET /users/guest as %s", who)
				}
				continue
			}
			if rank[who] < rank[c.min] {
				assert.Equal(t, 403, code, "%s %s as %s", c.method, c.path, who)
			} else {
				assert.NotContains(t, []int{401, 403}, code, "%s %s as %s", c.method, c.path, who)
			}
		}
	}
	// open routes need no token (they may still answer 404 when nothing is
	// served there); POST /login is open too
	for _, path := range []string{"/v3/api-docs", "/v3/api-docs/swagger-config", "/swagger-ui.html", "/swagger-ui/index.html",
		"/swagger-resources", "/swagger-resources/configuration/ui", "/webjars/x.js", "/configuration/ui", "/configuration/security", "/error"} {
		code, _ := rawCall(t, "GET", tp.url+path, "", "")
		assert.NotEqual(t, 401, code, "open route %s", path)
		assert.NotEqual(t, 403, code, "open route %s", path)
	}
	code, _ = rawCall(t, "POST", tp.url+"/login", "", `{"username":"guest","password":"g"}`)
	assert.Equal(t, 200, code, "POST /login is open")
	code, _ = rawCall(t, "GET", tp.url+"/v3/api-docs", "", "")
	assert.Equal(t, 200, code)
	code, _ = rawCall(t, "GET", tp.url+"/swagger-ui/index.html", "", "")
	assert.Equal(t, 404, code, "open but not served")

	// GET /users/{name}: self or admin
	_, err = user.User(ctx, "user")
	assert.NoError(t, err)
	_, err = user.User(ctx, "contrib")
	assert.Equal(t, 403, client.StatusCode(err))
	u, err := admin.User(ctx, "contrib")
	require.NoError(t, err)
	assert.Equal(t, []string{"p1"}, u.Privileges)
	_, err = admin.User(ctx, "ghost")
	assert.Equal(t, 404, client.StatusCode(err))

	// ownership: the user's role is too low, another contributor is not the owner
	_, err = admin.CreateUser(ctx, opaca.User{Username: "contrib2", Password: "c2", Role: opaca.RoleContributor})
	require.NoError(t, err)
	contrib2 := login(t, tp.url, "contrib2", "c2")
	_, err = contrib2.DeleteContainer(ctx, id)
	assert.Equal(t, 403, client.StatusCode(err), "not the owner")
	_, err = contrib2.PutContainer(ctx, fakePost(""), 0)
	assert.Equal(t, 403, client.StatusCode(err), "PUT: not the owner")
	list, err := admin.Containers(ctx)
	require.NoError(t, err)
	assert.Equal(t, "contrib", list[0].Owner)

	// the container token works for its own notify, a USER does not
	ctok := tp.container(id).token
	require.NotEmpty(t, ctok)
	code, _ = rawCall(t, "POST", tp.url+"/containers/notify", ctok, id)
	assert.Equal(t, 200, code, "a container may notify itself")
	code, _ = rawCall(t, "POST", tp.url+"/containers/notify", tok["user"], id)
	assert.Equal(t, 403, code)
	ok, err := contrib.DeleteContainer(ctx, id)
	require.NoError(t, err)
	assert.True(t, ok)
	code, _ = rawCall(t, "POST", tp.url+"/containers/notify", ctok, id)
	assert.Equal(t, 401, code, "a removed container's token is revoked with its user")

	// token renewal and revocation on user deletion
	fresh, err := user.RenewToken(ctx)
	require.NoError(t, err)
	iat, exp, ok2 := client.TokenTimes(fresh)
	require.True(t, ok2)
	assert.InDelta(t, (10 * time.Hour).Seconds(), exp.Sub(iat).Seconds(), 1)
	del, err := admin.DeleteUser(ctx, "user")
	require.NoError(t, err)
	assert.True(t, del)
	_, err = user.Agents(ctx, false)
	assert.Equal(t, 401, client.StatusCode(err), "deleted user's token is revoked")

	// rename and password change
	_, err = admin.UpdateUser(ctx, "guest", opaca.User{Username: "guest2", Password: "g2"})
	require.NoError(t, err)
	login(t, tp.url, "guest2", "g2")
	_, err = admin.UpdateUser(ctx, "guest2", opaca.User{Username: "admin"})
	assert.Equal(t, 409, client.StatusCode(err))
	_, err = admin.UpdateUser(ctx, "ghost", opaca.User{Role: opaca.RoleUser})
	assert.Equal(t, 404, client.StatusCode(err))
	users, err := admin.Users(ctx)
	require.NoError(t, err)
	raw, _ := json.Marshal(users)
	assert.NotContains(t, string(raw), "$2a$", "no password hashes in responses")
	assert.NotContains(t, string(raw), "password")

	// expired token → 401 with ErrorResponse body
	expired, err := tp.signer.Issue("admin", -time.Hour)
	require.NoError(t, err)
	code, body := rawCall(t, "GET", tp.url+"/info", expired, "")
	assert.Equal(t, 401, code)
	assert.Contains(t, body, `"statusCode":401`)
	req, _ := http.NewRequest("GET", tp.url+"/info", nil)
	req.Header.Set("Authorization", "Basic abc")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 401, resp.StatusCode)
	assert.Equal(t, "Bearer", resp.Header.Get("WWW-Authenticate"))
}

func TestAuthOffTokenStillChecked(t *testing.T) {
	tp := startPlatform(t)
	code, _ := rawCall(t, "GET", tp.url+"/info", "garbage", "")
	assert.Equal(t, 401, code, "a supplied token is validated even with auth off")
	tok, err := tp.c.Login(context.Background(), "admin", "adminpw")
	require.NoError(t, err)
	code, _ = rawCall(t, "GET", tp.url+"/info", tok, "")
	assert.Equal(t, 200, code)
	code, body := rawCall(t, "GET", tp.url+"/token", "", "")
	assert.Equal(t, 200, code, "token-less caller is the admin user")
	assert.NotEmpty(t, body)
}
