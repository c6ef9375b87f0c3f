// Command platform runs an OPACA Runtime Platform (spec §18.1).
//
//	go run ./examples/platform [-addr 127.0.0.1:8000] [-public-url URL] [-auth]
//	    [-admin USER:PASS] [-secret S] [-image NAME=COMMAND]... [-default-images DIR]
//	    [-state FILE]
//
// The image sample-agent-container-image runs the sample container
// in-process; an imageName that is an http(s) URL adopts a running
// container; other names go to Docker when a daemon is configured. Once
// the platform is ready it prints "ready url=<baseUrl>" on stdout; logs go
// to stderr. SIGINT or SIGTERM shut it down cleanly (exit status 0).
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/meshkit/meshkit/opaca/platform"
	"github.com/meshkit/meshkit/opaca/sample"
)

// SampleImageName is the built-in in-process image.
const SampleImageName = "sample-agent-container-image"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// imageFlags collects the repeatable -image NAME=COMMAND flag.
type imageFlags []string

func (f *imageFlags) String() string { return strings.Join(*f, ",") }

func (f *imageFlags) Set(v string) error {
	name, cmd, ok := strings.Cut(v, "=")
	if !ok || name == "" || strings.TrimSpace(cmd) == "" {
		return fmt.Errorf("want NAME=COMMAND, got %q", v)
	}
	*f = append(*f, v)
	return nil
}

// run is the program; it returns the exit status. ctx ending is the
// signal to shut down.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("platform", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addrDefault := "127.0.0.1:8000"
	if port := getenv("PORT"); port != "" {
		addrDefault = "127.0.0.1:" + port
	}
	adminDefault := envOr(getenv, "PLATFORM_ADMIN_USER", "admin") + ":" + getenv("PLATFORM_ADMIN_PWD")
	addr := fs.String("addr", addrDefault, "listen address HOST:PORT")
	publicURL := fs.String("public-url", getenv("PUBLIC_URL"), "advertised base URL (default http://<addr>)")
	requireAuth := fs.Bool("auth", parseBool(getenv("REQUIRE_AUTH")), "require authentication and roles")
	admin := fs.String("admin", adminDefault, "admin account USER:PASS")
	secret := fs.String("secret", getenv("SECRET"), "JWT secret (default: random)")
	var images imageFlags
	fs.Var(&images, "image", "register image NAME started as a local process running COMMAND (repeatable)")
	defaultImages := fs.String("default-images", getenv("DEFAULT_IMAGE_DIRECTORY"), "directory of PostAgentContainer JSON files deployed at start")
	state := fs.String("state", "", "state file: persist users, containers and connections")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "platform: unexpected arguments %q\n", fs.Args())
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: logLevel(getenv("LOG_LEVEL"))}))

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "platform: %v\n", err)
		return 1
	}
	base := *publicURL
	if base == "" {
		base = defaultPublicURL(ln.Addr().(*net.TCPAddr), *addr)
	}
	host, _, _ := net.SplitHostPort(*addr)
	opts, err := options(getenv, stderr, base, host, *requireAuth, *admin, *secret, images, *defaultImages, *state, logger)
	if err != nil {
		_ = ln.Close()
		fmt.Fprintf(stderr, "platform: %v\n", err)
		return 2
	}
	p, err := platform.New(opts...)
	if err != nil {
		_ = ln.Close()
		fmt.Fprintf(stderr, "platform: %v\n", err)
		return 2
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- p.Serve(ln) }()
	if err := p.Start(ctx); err != nil {
		fmt.Fprintf(stderr, "platform: start: %v\n", err)
		_ = shutdown(p)
		return 1
	}
	fmt.Fprintf(stdout, "ready url=%s\n", p.BaseURL())
	if f, ok := stdout.(interface{ Sync() error }); ok {
		_ = f.Sync()
	}
	select {
	case <-ctx.Done():
		logger.Info("shutting down")
	case err := <-serveErr:
		if err != nil {
			logger.Error("server failed", "err", err)
			_ = shutdown(p)
			return 1
		}
	}
	if err := shutdown(p); err != nil {
		logger.Warn("shutdown", "err", err)
	}
	return 0
}

func shutdown(p *platform.Platform) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return p.Shutdown(ctx)
}

// options turns flags and environment into platform options (flags win
// over the environment, which wins over the defaults).
func options(getenv func(string) string, stderr io.Writer, base, host string, requireAuth bool, admin, secret string,
	images imageFlags, defaultImages, state string, logger *slog.Logger) ([]platform.Option, error) {
	user, pass, _ := strings.Cut(admin, ":")
	listenHost := host
	if listenHost == "" || listenHost == "::" {
		listenHost = "0.0.0.0"
	}
	opts := []platform.Option{
		platform.WithPublicURL(base),
		platform.WithListenHost(listenHost),
		platform.WithRequireAuth(requireAuth),
		platform.WithAdmin(user, pass),
		platform.WithSecret(secret),
		platform.WithLogger(logger),
		platform.WithProcessOutput(stderr),
		platform.WithInProcessImage(SampleImageName, func(env map[string]string) (platform.InProcessContainer, error) {
			return sample.New(sample.WithEnv(env), sample.WithLogger(logger), sample.WithHelperHost(listenHost))
		}),
	}
	for _, img := range images {
		name, cmd, _ := strings.Cut(img, "=")
		opts = append(opts, platform.WithProcessImage(name, cmd))
	}
	if defaultImages != "" {
		opts = append(opts, platform.WithDefaultImages(defaultImages))
	}
	if state != "" {
		opts = append(opts, platform.WithStateFile(state))
	}
	if v := getenv("SESSION_POLICY"); v != "" {
		opts = append(opts, platform.WithSessionPolicy(v))
	}
	if v := getenv("CONTAINER_TIMEOUT_SEC"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("CONTAINER_TIMEOUT_SEC: %q is not a positive number", v)
		}
		opts = append(opts, platform.WithContainerTimeout(time.Duration(n)*time.Second))
	}
	if v := getenv("EVENT_HISTORY_SIZE"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return nil, fmt.Errorf("EVENT_HISTORY_SIZE: %q is not a number", v)
		}
		opts = append(opts, platform.WithEventHistorySize(n))
	}
	if v := getenv("PLATFORM_ENVIRONMENT"); v != "" {
		opts = append(opts, platform.WithPlatformEnvironment(v))
	}
	containerEnv := strings.ToUpper(envOr(getenv, "CONTAINER_ENVIRONMENT", "docker"))
	opts = append(opts, platform.WithContainerEnvironment(containerEnv))
	alwaysPull := parseBool(getenv("ALWAYS_PULL_IMAGES"))
	opts = append(opts, platform.WithAlwaysPull(alwaysPull))
	sep := envOr(getenv, "REGISTRY_SEPARATOR", ";")
	names, logins, passwords := split(getenv("REGISTRY_NAMES"), sep), split(getenv("REGISTRY_LOGINS"), sep), split(getenv("REGISTRY_PASSWORDS"), sep)
	opts = append(opts, platform.WithRegistryNames(names...))
	switch containerEnv {
	case "DOCKER":
		if dockerHost, ok := dockerEndpoint(getenv); ok {
			var regs []platform.Registry
			for i, n := range names {
				r := platform.Registry{Name: n}
				if i < len(logins) {
					r.Login = logins[i]
				}
				if i < len(passwords) {
					r.Password = passwords[i]
				}
				regs = append(regs, r)
			}
			opts = append(opts, platform.WithDocker(platform.DockerConfig{
				Host: dockerHost, PublicHost: getenv("REMOTE_DOCKER_HOST"), AlwaysPull: alwaysPull, Registries: regs,
			}))
		}
	case "KUBERNETES":
		logger.Warn("CONTAINER_ENVIRONMENT=kubernetes: this program has no Kubernetes backend; only in-process, local-process and adopted containers are available")
	}
	return opts, nil
}

// dockerEndpoint finds a configured Docker daemon: REMOTE_DOCKER_HOST,
// DOCKER_HOST or the local default socket.
func dockerEndpoint(getenv func(string) string) (string, bool) {
	if h := getenv("REMOTE_DOCKER_HOST"); h != "" {
		return "tcp://" + net.JoinHostPort(h, envOr(getenv, "REMOTE_DOCKER_PORT", "2375")), true
	}
	if h := getenv("DOCKER_HOST"); h != "" {
		return h, strings.HasPrefix(h, "unix://") || strings.HasPrefix(h, "tcp://")
	}
	if st, err := os.Stat("/var/run/docker.sock"); err == nil && st.Mode()&os.ModeSocket != 0 {
		return "unix:///var/run/docker.sock", true
	}
	return "", false
}

// defaultPublicURL is http://<addr>, with the outbound IP for an
// unspecified host (spec §14.4) and the real port for port 0.
func defaultPublicURL(bound *net.TCPAddr, addr string) string {
	host, _, _ := net.SplitHostPort(addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = outboundIP()
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(bound.Port))
}

// outboundIP is the address of the interface used to reach the internet,
// found by a UDP "connect" that sends nothing.
func outboundIP() string {
	c, err := net.Dial("udp", "8.8.8.8:80")
	if err != nil {
		return "127.0.0.1"
	}
	defer c.Close()
	return c.LocalAddr().(*net.UDPAddr).IP.String()
}

func envOr(getenv func(string) string, key, def string) string {
	if v := getenv(key); v != "" {
		return v
	}
	return def
}

func parseBool(s string) bool {
	b, err := strconv.ParseBool(strings.TrimSpace(s))
	return err == nil && b
}

func split(s, sep string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, sep)
}

func logLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(s))); err != nil {
		return slog.LevelInfo
	}
	return l
}
