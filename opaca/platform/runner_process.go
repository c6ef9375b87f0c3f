package platform

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// secretEnv are the platform variables a child process must not inherit
// (spec §8.8).
var secretEnv = map[string]bool{
	"SECRET": true, "PLATFORM_ADMIN_USER": true, "PLATFORM_ADMIN_PWD": true,
	"REGISTRY_LOGINS": true, "REGISTRY_PASSWORDS": true, "DB_URI": true,
}

// processRunner starts a registered command per container (spec §8.8).
type processRunner struct {
	commands  map[string]string
	publicURL string
	output    io.Writer // child stdout and stderr, line-prefixed
	outMu     sync.Mutex

	mu    sync.Mutex
	procs map[string]*childProcess
}

type childProcess struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func (r *processRunner) Kind() string { return KindProcess }

func (r *processRunner) Start(_ context.Context, req StartRequest) (Started, error) {
	command, ok := r.commands[req.ImageName]
	if !ok {
		return Started{}, fmt.Errorf("%w: %s", ErrImageNotFound, req.ImageName)
	}
	var cmd *exec.Cmd
	if runtime.GOOS == "windows" {
		cmd = exec.Command("cmd", "/C", command)
	} else {
		cmd = exec.Command("sh", "-c", command)
	}
	setProcessGroup(cmd)
	env := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if !secretEnv[k] {
			env[k] = v
		}
	}
	for k, v := range req.Env {
		env[k] = v
	}
	port := strconv.Itoa(req.API.HostPort)
	env["API_PORT"], env["PORT"] = port, port
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		cmd.Env = append(cmd.Env, k+"="+env[k])
	}
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		_ = pw.Close()
		_ = pr.Close()
		return Started{}, fmt.Errorf("%w: start %s: %v", ErrRunnerFailed, req.ImageName, err)
	}
	cp := &childProcess{cmd: cmd, done: make(chan struct{})}
	go r.copyOutput(req.ContainerID, pr)
	go func() {
		_ = cmd.Wait()
		_ = pw.Close()
		close(cp.done)
	}()
	r.mu.Lock()
	r.procs[req.ContainerID] = cp
	r.mu.Unlock()
	return Started{
		Handle:      req.ContainerID,
		URL:         "http://" + net.JoinHostPort("127.0.0.1", port),
		PublicURL:   r.publicURL,
		APIHostPort: req.API.HostPort,
	}, nil
}

func (r *processRunner) copyOutput(id string, rd io.Reader) {
	sc := bufio.NewScanner(rd)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	short := id
	if len(short) > 8 {
		short = short[:8]
	}
	for sc.Scan() {
		r.outMu.Lock()
		_, _ = fmt.Fprintf(r.output, "[%s] %s\n", short, sc.Text())
		r.outMu.Unlock()
	}
	_, _ = io.Copy(io.Discard, rd)
}

func (r *processRunner) Alive(_ context.Context, h string) (bool, error) {
	r.mu.Lock()
	cp, ok := r.procs[h]
	r.mu.Unlock()
	if !ok {
		return false, nil
	}
	select {
	case <-cp.done:
		return false, nil
	default:
		return true, nil
	}
}

// Stop sends SIGTERM to the process group, SIGKILL after 5 s, and reaps.
func (r *processRunner) Stop(ctx context.Context, h string) error {
	r.mu.Lock()
	cp, ok := r.procs[h]
	delete(r.procs, h)
	r.mu.Unlock()
	if !ok {
		return nil
	}
	select {
	case <-cp.done:
		return nil
	default:
	}
	terminate(cp.cmd)
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-cp.done:
		return nil
	case <-t.C:
	case <-ctx.Done():
	}
	kill(cp.cmd)
	<-cp.done
	return nil
}
