package platform

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// InProcessContainer is an agent container hosted inside the platform
// process. Serve serves the container API on ln until Shutdown.
type InProcessContainer interface {
	Serve(ln net.Listener) error
	Shutdown(ctx context.Context) error
}

// InProcessFactory builds a container from its environment (spec §8.4). It
// must take its configuration from env only, never from the process
// environment, so platform secrets cannot leak into the container.
type InProcessFactory func(env map[string]string) (InProcessContainer, error)

// HandlerContainer hosts a plain http.Handler as an in-process container.
func HandlerContainer(h http.Handler) InProcessContainer {
	return &handlerContainer{srv: &http.Server{Handler: h, ReadHeaderTimeout: DefaultReadHeaderTimeout, IdleTimeout: DefaultIdleTimeout}}
}

type handlerContainer struct{ srv *http.Server }

func (c *handlerContainer) Serve(ln net.Listener) error { return c.srv.Serve(ln) }

// Handler lets the platform call the container in memory.
func (c *handlerContainer) Handler() http.Handler { return c.srv.Handler }
func (c *handlerContainer) Shutdown(ctx context.Context) error {
	return c.srv.Shutdown(ctx)
}

// inProcessRunner runs registered Go containers, each on its own listener
// at its reserved host port (spec §8.7).
type inProcessRunner struct {
	host      string // listen host
	publicURL string
	factories map[string]InProcessFactory

	mu        sync.Mutex
	instances map[string]*inProcessInstance
}

type inProcessInstance struct {
	c    InProcessContainer
	done chan struct{}
}

func (r *inProcessRunner) Kind() string { return KindInProcess }

func (r *inProcessRunner) Start(_ context.Context, req StartRequest) (Started, error) {
	f, ok := r.factories[req.ImageName]
	if !ok {
		return Started{}, fmt.Errorf("%w: %s", ErrImageNotFound, req.ImageName)
	}
	env := make(map[string]string, len(req.Env)+2)
	for k, v := range req.Env {
		env[k] = v
	}
	port := strconv.Itoa(req.API.HostPort)
	env["API_PORT"], env["PORT"] = port, port
	c, err := f(env)
	if err != nil {
		return Started{}, fmt.Errorf("%w: %s: %v", ErrInvalidParameters, req.ImageName, err)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(r.host, port))
	if err != nil {
		_ = c.Shutdown(context.Background())
		return Started{}, fmt.Errorf("%w: listen: %v", ErrRunnerFailed, err)
	}
	inst := &inProcessInstance{c: c, done: make(chan struct{})}
	go func() {
		defer close(inst.done)
		_ = c.Serve(ln)
	}()
	r.mu.Lock()
	r.instances[req.ContainerID] = inst
	r.mu.Unlock()
	return Started{
		Handle:      req.ContainerID,
		URL:         "http://" + net.JoinHostPort(dialHost(r.host), port),
		PublicURL:   r.publicURL,
		APIHostPort: req.API.HostPort,
	}, nil
}

// handler returns the in-memory handler of a running instance, if it has one.
func (r *inProcessRunner) handler(h string) http.Handler {
	r.mu.Lock()
	inst, ok := r.instances[h]
	r.mu.Unlock()
	if !ok {
		return nil
	}
	var api http.Handler
	switch c := inst.c.(type) {
	case handlerProvider:
		api = c.Handler()
	case http.Handler: // an SDK container is its own handler
		api = c
	}
	if api != nil {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			select {
			case <-inst.done:
				// a stopped container must look unreachable, as over TCP
				panic(errContainerStopped)
			default:
			}
			api.ServeHTTP(w, req)
		})
	}
	return nil
}

var errContainerStopped = errors.New("in-process container has stopped")

func (r *inProcessRunner) Alive(_ context.Context, h string) (bool, error) {
	r.mu.Lock()
	inst, ok := r.instances[h]
	r.mu.Unlock()
	if !ok {
		return false, nil
	}
	select {
	case <-inst.done:
		return false, nil
	default:
		return true, nil
	}
}

func (r *inProcessRunner) Stop(ctx context.Context, h string) error {
	r.mu.Lock()
	inst, ok := r.instances[h]
	delete(r.instances, h)
	r.mu.Unlock()
	if !ok {
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	err := inst.c.Shutdown(sctx)
	select {
	case <-inst.done:
	case <-sctx.Done():
	}
	if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}
