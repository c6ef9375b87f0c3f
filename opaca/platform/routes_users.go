package platform

import (
	"errors"
	"net/http"
	"strings"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/platform/auth"
)

func publicUser(u auth.User) opaca.User {
	privs := u.Privileges
	if privs == nil {
		privs = []string{}
	}
	return opaca.User{Username: u.Username, Role: opaca.Role(u.Role), Privileges: privs}
}

func userErr(err error) error {
	switch {
	case errors.Is(err, auth.ErrUserExists):
		return apiErr(http.StatusConflict, "User already exists.")
	case errors.Is(err, auth.ErrUnknownUser):
		return errNotFound
	case errors.Is(err, auth.ErrInvalidRole), errors.Is(err, auth.ErrInvalidUser):
		return &APIError{Status: http.StatusBadRequest, Message: strings.TrimPrefix(err.Error(), "auth: "), Err: err}
	}
	return err
}

// decodeLogin reads the Login body of the platform's and a container's
// /login: a missing body is a 400.
func (p *Platform) decodeLogin(w http.ResponseWriter, r *http.Request) (opaca.Login, error) {
	var login opaca.Login
	body, err := p.readBody(w, r)
	if err != nil {
		return login, err
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return login, apiErr(http.StatusBadRequest, "Missing request body.")
	}
	if err := decodeStrict(body, &login); err != nil {
		return login, err
	}
	return login, nil
}

func (p *Platform) handleLogin(w http.ResponseWriter, r *http.Request) {
	login, err := p.decodeLogin(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	if _, err := p.users.Check(login.Username, login.Password); err != nil {
		writeError(w, apiErr(http.StatusForbidden, "Login failed: unknown user or wrong password."))
		return
	}
	tok, err := p.signer.Issue(login.Username, auth.LoginTokenTTL)
	if err != nil {
		writeError(w, err)
		return
	}
	writeText(w, tok)
}

func (p *Platform) handleToken(w http.ResponseWriter, r *http.Request) {
	user := info(r.Context()).user
	if user == "" {
		writeError(w, &APIError{Status: http.StatusUnauthorized, Message: "Missing token."})
		return
	}
	tok, err := p.signer.Issue(user, auth.RenewedTokenTTL)
	if err != nil {
		writeError(w, err)
		return
	}
	writeText(w, tok)
}

func (p *Platform) handleUsers(w http.ResponseWriter, _ *http.Request) {
	all := p.users.List()
	out := make([]opaca.User, 0, len(all))
	for _, u := range all {
		out = append(out, publicUser(u))
	}
	writeJSON(w, http.StatusOK, out)
}

func (p *Platform) isAdmin(user string) bool {
	if user == p.cfg.adminUser {
		return true
	}
	u, ok := p.users.Get(user)
	return ok && u.Role == auth.RoleAdmin
}

func (p *Platform) handleUser(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("username")
	caller := info(r.Context()).user
	if p.cfg.requireAuth && caller != name && !p.isAdmin(caller) {
		writeError(w, apiErr(http.StatusForbidden, "Only the user itself or an admin may read user %s.", name))
		return
	}
	u, ok := p.users.Get(name)
	if !ok {
		writeError(w, errNotFound)
		return
	}
	writeJSON(w, http.StatusOK, publicUser(u))
}

// userBody reads a User; role names are checked here so a bad role is 400.
func (p *Platform) userBody(w http.ResponseWriter, r *http.Request) (opaca.User, map[string]bool, error) {
	var u opaca.User
	body, err := p.readBody(w, r)
	if err != nil {
		return u, nil, err
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return u, nil, apiErr(http.StatusBadRequest, "Missing request body.")
	}
	if err := decodeStrict(body, &u); err != nil {
		return u, nil, err
	}
	var present map[string]any
	_ = decodeLoose(body, &present)
	has := map[string]bool{}
	for k, v := range present {
		has[k] = v != nil
	}
	return u, has, nil
}

func (p *Platform) handleCreateUser(w http.ResponseWriter, r *http.Request) {
	u, _, err := p.userBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	if u.Username == "" || u.Password == "" || u.Role == "" {
		writeError(w, apiErr(http.StatusBadRequest, "username, password and role are required."))
		return
	}
	role, err := auth.ParseRole(string(u.Role))
	if err != nil {
		writeError(w, userErr(err))
		return
	}
	created, err := p.users.Create(u.Username, u.Password, role, u.Privileges)
	if err != nil {
		writeError(w, userErr(err))
		return
	}
	writeJSON(w, http.StatusCreated, publicUser(created))
}

func (p *Platform) handleUpdateUser(w http.ResponseWriter, r *http.Request) {
	u, has, err := p.userBody(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	var up auth.Update
	if has["username"] && u.Username != "" {
		up.Username = &u.Username
	}
	if has["password"] && u.Password != "" {
		up.Password = &u.Password
	}
	if has["role"] && u.Role != "" {
		role, err := auth.ParseRole(string(u.Role))
		if err != nil {
			writeError(w, userErr(err))
			return
		}
		up.Role = &role
	}
	if has["privileges"] {
		up.Privileges = append([]string{}, u.Privileges...)
	}
	updated, err := p.users.Update(r.PathValue("username"), up)
	if err != nil {
		writeError(w, userErr(err))
		return
	}
	writeJSON(w, http.StatusOK, publicUser(updated))
}

func (p *Platform) handleDeleteUser(w http.ResponseWriter, r *http.Request) {
	writeBool(w, p.users.Delete(r.PathValue("username")))
}
