package container

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/meshkit/meshkit/opaca"
)

// Env is the environment a container was started with (spec §8.4).
type Env struct {
	ContainerID string
	PlatformURL string
	Token       string
	Owner       string
	// PortMapping maps container ports to host ports (from PORT_MAPPING).
	PortMapping map[int]int
	// PortMappingRaw is PORT_MAPPING verbatim.
	PortMappingRaw string

	vars map[string]string // nil: the process environment
}

// newEnv reads the environment from vars, or from the process when vars
// is nil.
func newEnv(vars map[string]string) (Env, error) {
	e := Env{vars: vars}
	if vars != nil {
		e.vars = make(map[string]string, len(vars))
		for k, v := range vars {
			e.vars[k] = v
		}
	}
	e.ContainerID = e.Get(opaca.EnvContainerID)
	e.PlatformURL = strings.TrimRight(e.Get(opaca.EnvPlatformURL), "/")
	e.Token = e.Get(opaca.EnvToken)
	e.Owner = e.Get(opaca.EnvOwner)
	e.PortMappingRaw = e.Get(opaca.EnvPortMapping)
	pm, err := opaca.ParsePortMapping(e.PortMappingRaw)
	if err != nil {
		return Env{}, fmt.Errorf("container: %s: %w", opaca.EnvPortMapping, err)
	}
	e.PortMapping = pm
	return e, nil
}

// Lookup returns an environment variable of the container.
func (e Env) Lookup(name string) (string, bool) {
	if e.vars != nil {
		v, ok := e.vars[name]
		return v, ok
	}
	return os.LookupEnv(name)
}

// Get returns an environment variable, "" when unset.
func (e Env) Get(name string) string {
	v, _ := e.Lookup(name)
	return v
}

// InProcess reports whether the environment is an injected map rather
// than the process environment.
func (e Env) InProcess() bool { return e.vars != nil }

// All returns the whole environment as a map: the injected map when
// in-process (so platform secrets never leak into a hosted container),
// else the process environment.
func (e Env) All() map[string]string {
	if e.vars != nil {
		out := make(map[string]string, len(e.vars))
		for k, v := range e.vars {
			out[k] = v
		}
		return out
	}
	out := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		out[k] = v
	}
	return out
}

// HostPort returns the host port mapped to a container port, or the port
// itself when there is no mapping.
func (e Env) HostPort(containerPort int) int {
	if h, ok := e.PortMapping[containerPort]; ok {
		return h
	}
	return containerPort
}

// apiPort returns the port the API listens on: API_PORT, else the image's.
func (e Env) apiPort(img opaca.AgentContainerImage) (int, error) {
	if s := e.Get(opaca.EnvAPIPort); s != "" {
		p, err := strconv.Atoi(s)
		if err != nil || p < 1 || p > 65535 {
			return 0, fmt.Errorf("container: %s=%q is not a port", opaca.EnvAPIPort, s)
		}
		return p, nil
	}
	return img.EffectiveAPIPort(), nil
}
