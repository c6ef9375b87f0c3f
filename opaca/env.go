package opaca

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Environment variables passed to a container (spec §8.4).
const (
	EnvContainerID = "CONTAINER_ID"
	EnvPlatformURL = "PLATFORM_URL"
	EnvToken       = "TOKEN"
	EnvOwner       = "OWNER"
	EnvPortMapping = "PORT_MAPPING"
	EnvAPIPort     = "API_PORT"
	EnvPort        = "PORT"
)

// Header names (spec §2.4).
const (
	HeaderSenderID            = "sender-id"
	HeaderContainerLoginToken = "ContainerLoginToken"
)

// ParsePortMapping parses PORT_MAPPING ("8082:8083,8888:8888") into
// container port → host port. An empty string gives an empty map.
func ParsePortMapping(s string) (map[int]int, error) {
	out := map[int]int{}
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		c, h, ok := strings.Cut(part, ":")
		if !ok {
			return nil, fmt.Errorf("%w: port mapping %q: want container:host", ErrBadRequest, part)
		}
		cp, err1 := parsePort(c)
		hp, err2 := parsePort(h)
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("%w: port mapping %q: ports must be 1-65535", ErrBadRequest, part)
		}
		out[cp] = hp
	}
	return out, nil
}

func parsePort(s string) (int, error) {
	p, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || p < 1 || p > 65535 {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return p, nil
}

// FormatPortMapping formats a mapping as PORT_MAPPING: apiPort first, then
// the other container ports in ascending order.
func FormatPortMapping(apiPort int, m map[int]int) string {
	ports := make([]int, 0, len(m))
	for c := range m {
		if c != apiPort {
			ports = append(ports, c)
		}
	}
	sort.Ints(ports)
	var parts []string
	if h, ok := m[apiPort]; ok {
		parts = append(parts, fmt.Sprintf("%d:%d", apiPort, h))
	}
	for _, c := range ports {
		parts = append(parts, fmt.Sprintf("%d:%d", c, m[c]))
	}
	return strings.Join(parts, ",")
}
