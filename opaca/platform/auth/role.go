package auth

import (
	"fmt"
	"strings"
)

// Role is a user role. Roles are ordered: a role includes every lower one.
type Role string

// The roles of spec §3.9, in descending privilege.
const (
	RoleAdmin       Role = "ADMIN"
	RoleContributor Role = "CONTRIBUTOR"
	RoleUser        Role = "USER"
	RoleGuest       Role = "GUEST"
)

func (r Role) rank() int {
	switch r {
	case RoleAdmin:
		return 4
	case RoleContributor:
		return 3
	case RoleUser:
		return 2
	case RoleGuest:
		return 1
	}
	return 0
}

// Valid reports whether r is one of the four known roles.
func (r Role) Valid() bool { return r.rank() > 0 }

// Includes reports whether r grants at least the privileges of min.
func (r Role) Includes(min Role) bool { return r.rank() >= min.rank() && r.rank() > 0 }

// ParseRole reads a role case-insensitively.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToUpper(strings.TrimSpace(s)))
	if !r.Valid() {
		return "", fmt.Errorf("%w: %q", ErrInvalidRole, s)
	}
	return r, nil
}
