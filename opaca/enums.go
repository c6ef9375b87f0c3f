package opaca

import (
	"fmt"
	"strings"
)

func parseEnum[T ~string](kind, s string, values ...T) (T, error) {
	for _, v := range values {
		if strings.EqualFold(s, string(v)) {
			return v, nil
		}
	}
	return "", fmt.Errorf("%w: unknown %s %q", ErrBadRequest, kind, s)
}

// ParseRole reads a role case-insensitively.
func ParseRole(s string) (Role, error) {
	return parseEnum("role", s, RoleAdmin, RoleContributor, RoleUser, RoleGuest)
}

// Rank orders roles: ADMIN 4 … GUEST 1, 0 for an unknown role.
func (r Role) Rank() int {
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

// Includes reports whether r grants at least min.
func (r Role) Includes(min Role) bool { return r.Rank() > 0 && r.Rank() >= min.Rank() }

// ParseContainerEnvironment reads a container environment
// case-insensitively.
func ParseContainerEnvironment(s string) (ContainerEnvironment, error) {
	return parseEnum("container environment", s, ContainerDocker, ContainerKubernetes)
}

// ParsePlatformEnvironment reads a platform environment case-insensitively.
func ParsePlatformEnvironment(s string) (PlatformEnvironment, error) {
	return parseEnum("platform environment", s, PlatformNative, PlatformDocker, PlatformKubernetes)
}

// ParseSessionPolicy reads a session policy case-insensitively.
func ParseSessionPolicy(s string) (SessionPolicy, error) {
	return parseEnum("session policy", s, SessionShutdown, SessionRestart, SessionReconnect)
}

// ParseStreamMode reads a stream mode case-insensitively.
func ParseStreamMode(s string) (StreamMode, error) {
	return parseEnum("stream mode", s, StreamGET, StreamPOST)
}

// ParseEventType reads an event type case-insensitively.
func ParseEventType(s string) (EventType, error) {
	return parseEnum("event type", s, EventCall, EventForward, EventSuccess, EventError)
}
