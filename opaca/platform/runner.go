package platform

import (
	"context"
	"errors"
)

// Runner kinds, stored with each container in the state file.
const (
	KindInProcess = "in-process"
	KindProcess   = "process"
	KindAdopted   = "adopted"
	KindDocker    = "docker"
)

// PortBinding maps a container port to the host port reserved for it.
type PortBinding struct {
	ContainerPort int  `json:"containerPort"`
	HostPort      int  `json:"hostPort"`
	UDP           bool `json:"udp,omitempty"`
}

// StartRequest is what a Runner needs to start one container (spec §8.3).
type StartRequest struct {
	ContainerID string
	ImageName   string
	// Env is the container environment of spec §8.4.
	Env map[string]string
	// API is the binding of the container API port; Extra those of the
	// image's extra ports in ascending container-port order.
	API   PortBinding
	Extra []PortBinding
	// Pull: true always pull, false never, nil the runner's policy.
	Pull *bool
}

// Started describes a started container.
type Started struct {
	// Handle identifies the container for Alive and Stop; it is persisted.
	Handle string
	// URL is the base URL the platform uses to reach the container API.
	URL string
	// PublicURL is scheme and host under which the ports are reachable.
	PublicURL string
	// APIHostPort is the host port of the API (connectivity.apiPortMapping).
	APIHostPort int
}

// Runner starts and stops agent containers of one kind. Start must not
// wait for /info: the platform does that with its own timeout.
type Runner interface {
	Kind() string
	Start(ctx context.Context, req StartRequest) (Started, error)
	// Alive reports whether the container is still starting or running.
	Alive(ctx context.Context, handle string) (bool, error)
	// Stop stops (and where applicable removes) the container; idempotent.
	Stop(ctx context.Context, handle string) error
}

// Errors a runner returns to select the HTTP status of a failed start.
var (
	// ErrImageNotFound: the image is unknown or its pull failed (404).
	ErrImageNotFound = errors.New("platform: image not found")
	// ErrInvalidParameters: the runner rejected the request (400).
	ErrInvalidParameters = errors.New("platform: invalid container parameters")
	// ErrRunnerFailed: any other backend failure (502).
	ErrRunnerFailed = errors.New("platform: container backend failed")
)
