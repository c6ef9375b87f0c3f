package platform

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/meshkit/meshkit/internal/httpprobe"
	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
)

// fakeAC is a small agent container for the tests: one agent (id from the
// AGENT parameter, default "agent1") with actions Add, Fail and Slow, a GET
// and a POST stream, and a login handler.
type fakeAC struct {
	env   map[string]string
	image opaca.AgentContainerImage
	start time.Time

	mu         sync.Mutex
	messages   []opaca.Message
	broadcasts []string
	posted     []string
	logins     map[string]string
	loginSeen  []string
	invokes    int
}

// silentRelease lets the fake's SilentStream send its first byte.
var silentRelease = make(chan struct{})

var fakeImage = opaca.AgentContainerImage{
	ImageName: "fake-image",
	Provides:  []string{"fake-provision"},
	Parameters: []opaca.ImageParameter{
		{Name: "AGENT", Type: "string", Required: false, DefaultValue: json.RawMessage(`"agent1"`)},
		{Name: "secret", Type: "string", Required: false, Confidential: true},
	},
}

func newFakeAC(env map[string]string) *fakeAC {
	img := fakeImage
	return &fakeAC{env: env, image: img, start: time.Now(), logins: map[string]string{}}
}

func (f *fakeAC) agentID() string {
	if a := f.env["AGENT"]; a != "" {
		return a
	}
	return "agent1"
}

func (f *fakeAC) agent() opaca.AgentDescription {
	integer := opaca.NewParameter(opaca.TypeInteger)
	str := opaca.NewParameter(opaca.TypeString)
	return opaca.AgentDescription{
		AgentID:   f.agentID(),
		AgentType: "FakeAgent",
		Actions: []opaca.Action{
			{Name: "Add", Parameters: map[string]opaca.Parameter{"x": integer, "y": integer}, Result: &integer},
			{Name: "Fail", Parameters: map[string]opaca.Parameter{}},
			{Name: "Whoami", Parameters: map[string]opaca.Parameter{}, Result: &str},
		},
		Streams: []opaca.Stream{{Name: "GetStream", Mode: opaca.StreamGET}, {Name: "PostStream", Mode: opaca.StreamPOST}, {Name: "SilentStream", Mode: opaca.StreamGET}},
	}
}

func (f *fakeAC) info() opaca.AgentContainer {
	args := opaca.Arguments{"AGENT": f.agentID()}
	if s, ok := f.env["secret"]; ok {
		args["secret"] = s // a misbehaving container reporting a confidential value
	}
	return opaca.AgentContainer{
		ContainerID:  f.env["CONTAINER_ID"],
		Image:        f.image,
		Arguments:    args,
		Agents:       []opaca.AgentDescription{f.agent()},
		Owner:        f.env["OWNER"],
		RunningSince: opaca.NewTime(f.start),
	}
}

func (f *fakeAC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if tok := f.env["TOKEN"]; tok != "" {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), []byte("Bearer "+tok)) != 1 {
			opaca.WriteError(w, http.StatusForbidden, "bad container token")
			return
		}
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/"), "/")
	agentOK := func(i int) bool { return len(parts) <= i || parts[i] == f.agentID() }
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/info":
		opaca.WriteJSON(w, f.info())
	case r.Method == http.MethodGet && r.URL.Path == "/agents":
		opaca.WriteJSON(w, []opaca.AgentDescription{f.agent()})
	case r.Method == http.MethodPost && parts[0] == "send" && len(parts) == 2:
		if !agentOK(1) {
			opaca.WriteError(w, 404, "no such agent")
			return
		}
		var m opaca.Message
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil {
			opaca.WriteError(w, 400, err.Error())
			return
		}
		f.mu.Lock()
		f.messages = append(f.messages, m)
		f.mu.Unlock()
	case r.Method == http.MethodPost && parts[0] == "broadcast" && len(parts) == 2:
		f.mu.Lock()
		f.broadcasts = append(f.broadcasts, parts[1])
		f.mu.Unlock()
	case r.Method == http.MethodPost && parts[0] == "invoke" && len(parts) >= 2:
		if !agentOK(2) {
			opaca.WriteError(w, 404, "no such agent")
			return
		}
		f.mu.Lock()
		f.invokes++
		f.loginSeen = append(f.loginSeen, r.Header.Get("ContainerLoginToken"))
		f.mu.Unlock()
		switch parts[1] {
		case "Add":
			var args struct{ X, Y int }
			if err := json.NewDecoder(r.Body).Decode(&args); err != nil {
				opaca.WriteError(w, 400, err.Error())
				return
			}
			opaca.WriteJSON(w, args.X+args.Y)
		case "Fail":
			opaca.WriteError(w, 500, "Action Failed (as expected)")
		case "Whoami":
			f.mu.Lock()
			who := f.logins[client.Unquote(r.Header.Get("ContainerLoginToken"))]
			f.mu.Unlock()
			opaca.WriteJSON(w, who)
		default:
			opaca.WriteError(w, 404, "no such action")
		}
	case r.Method == http.MethodGet && parts[0] == "stream" && len(parts) >= 2 && parts[1] == "SilentStream" && agentOK(2):
		// Headers now, the first byte only when the test releases it.
		w.Header().Set("Content-Type", "application/octet-stream")
		w.WriteHeader(http.StatusOK)
		_ = http.NewResponseController(w).Flush()
		select {
		case <-silentRelease:
			_, _ = io.WriteString(w, "late")
		case <-r.Context().Done():
		}
	case r.Method == http.MethodGet && parts[0] == "stream" && len(parts) >= 2 && parts[1] == "GetStream" && agentOK(2):
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = io.WriteString(w, `{"key":"value"}`)
	case r.Method == http.MethodPost && parts[0] == "stream" && len(parts) >= 2 && parts[1] == "PostStream" && agentOK(2):
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.posted = append(f.posted, string(b))
		f.mu.Unlock()
	case r.Method == http.MethodPost && r.URL.Path == "/login":
		var l opaca.Login
		_ = json.NewDecoder(r.Body).Decode(&l)
		switch l.Username {
		case "invalid":
			opaca.WriteError(w, 401, "invalid credentials")
			return
		case "not-supported":
			opaca.WriteError(w, 501, "login not supported")
			return
		}
		tok := "tok-" + l.Username
		f.mu.Lock()
		f.logins[tok] = l.Username
		f.mu.Unlock()
		opaca.WriteText(w, `"`+tok+`"`) // quoted like the Python SDK
	case r.Method == http.MethodPost && r.URL.Path == "/logout":
		tok := client.Unquote(r.Header.Get("ContainerLoginToken"))
		f.mu.Lock()
		_, ok := f.logins[tok]
		delete(f.logins, tok)
		f.mu.Unlock()
		opaca.WriteJSON(w, ok)
	default:
		opaca.WriteError(w, 404, "not found")
	}
}

func (f *fakeAC) counts() (msgs, bcs, posted int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.messages), len(f.broadcasts), len(f.posted)
}

// fakeRegistry records the fake containers built by a platform.
type fakeRegistry struct {
	mu  sync.Mutex
	all map[string]*fakeAC
}

func (reg *fakeRegistry) factory(env map[string]string) (InProcessContainer, error) {
	f := newFakeAC(env)
	reg.mu.Lock()
	if reg.all == nil {
		reg.all = map[string]*fakeAC{}
	}
	reg.all[env["CONTAINER_ID"]] = f
	reg.mu.Unlock()
	return HandlerContainer(f), nil
}

func (reg *fakeRegistry) get(id string) *fakeAC {
	reg.mu.Lock()
	defer reg.mu.Unlock()
	return reg.all[id]
}

type testPlatform struct {
	*Platform
	url string
	reg *fakeRegistry
	c   *client.Client
}

// startPlatform runs a platform on a loopback port with the fake image
// registered in-process.
func startPlatform(t testing.TB, opts ...Option) *testPlatform {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + ln.Addr().String()
	reg := &fakeRegistry{}
	all := append([]Option{
		WithPublicURL(url), WithBcryptCost(4), WithPollInterval(20 * time.Millisecond),
		WithInProcessImage("fake-image", reg.factory), WithContainerTimeout(5 * time.Second),
		WithAdmin("admin", "adminpw"), WithSecret("test-secret-test-secret-test-secret!"),
	}, opts...)
	p, err := New(all...)
	require.NoError(t, err)
	go func() { _ = p.Serve(ln) }()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, p.Start(ctx))
	tr := newTransport()
	c, err := client.New(url, client.WithHTTPClient(&http.Client{Transport: tr}))
	require.NoError(t, err)
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		_ = c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = p.Shutdown(ctx)
	})
	return &testPlatform{Platform: p, url: url, reg: reg, c: c}
}

// fakeAPIPort keeps the fake containers of this test process away from
// the well-known ports other programs on the machine may use.
var fakeAPIPort = 20000 + int(time.Now().UnixNano()%20000)

// newTransport gives each test its own connection pool, so connections to
// a server of an earlier test (possibly on the same port) are never reused.
func newTransport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = 64
	return t
}

func fakePost(agent string) opaca.PostAgentContainer {
	args := opaca.Arguments{}
	if agent != "" {
		args["AGENT"] = agent
	}
	return opaca.PostAgentContainer{Image: opaca.AgentContainerImage{ImageName: "fake-image", APIPort: fakeAPIPort, Parameters: fakeImage.Parameters, Provides: fakeImage.Provides}, Arguments: args}
}

func (tp *testPlatform) deploy(t testing.TB, agent string) string {
	t.Helper()
	id, err := tp.c.PostContainer(context.Background(), fakePost(agent), 0)
	require.NoError(t, err)
	return id
}

// rawCall does a request and returns status and body.
func rawCall(t testing.TB, method, url, token, body string) (int, string) {
	t.Helper()
	var hdr []string
	if token != "" {
		hdr = []string{"Authorization", "Bearer " + token}
	}
	r := httpprobe.Do(t, method, url, body, hdr...)
	return r.Status, r.Body
}
