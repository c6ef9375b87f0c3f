package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"time"

	"github.com/meshkit/meshkit/opaca"
	"github.com/meshkit/meshkit/opaca/client"
	"github.com/meshkit/meshkit/opaca/platform/auth"
)

// stateVersion is the version of the state file format.
const stateVersion = 1

// stateFile is our own persistence format (spec §14.2). It holds
// credentials and is written with mode 0600.
type stateFile struct {
	Version     int               `json:"version"`
	Users       []auth.User       `json:"users"`
	Containers  []savedContainer  `json:"containers"`
	Connections []savedConnection `json:"connections"`
}

type savedContainer struct {
	ID      string                   `json:"id"`
	Owner   string                   `json:"owner"`
	Token   string                   `json:"token"`
	Kind    string                   `json:"kind"`
	Handle  string                   `json:"handle"`
	URL     string                   `json:"url"`
	Request opaca.PostAgentContainer `json:"request"`
	API     PortBinding              `json:"api"`
	Extra   []PortBinding            `json:"extra"`
	Info    opaca.AgentContainer     `json:"info"`
}

type savedConnection struct {
	URL         string `json:"url"`
	Token       string `json:"token"`
	ConnectBack bool   `json:"connectBack"`
}

func (p *Platform) snapshotState() stateFile {
	st := stateFile{Version: stateVersion, Users: p.users.Snapshot(), Containers: []savedContainer{}, Connections: []savedConnection{}}
	if p.cfg.sessionPolicy != PolicyShutdown {
		for _, e := range p.snapshotContainers() {
			st.Containers = append(st.Containers, savedContainer{
				ID: e.id, Owner: e.owner, Token: e.token, Kind: e.runner.Kind(), Handle: e.handle, URL: e.url,
				Request: e.req, API: e.api, Extra: e.extra, Info: e.info,
			})
		}
	}
	for _, pe := range p.snapshotPeers() {
		st.Connections = append(st.Connections, savedConnection{URL: pe.url, Token: pe.cl.Token(), ConnectBack: pe.connectBack})
	}
	return st
}

func (p *Platform) saveState() error {
	b, err := json.MarshalIndent(p.snapshotState(), "", "  ")
	if err != nil {
		return fmt.Errorf("platform: encode state: %w", err)
	}
	return writeFileAtomic(p.cfg.stateFile, b)
}

// SaveState writes the state file now (it is also written after every
// change, debounced, and at shutdown).
func (p *Platform) SaveState() error {
	if p.saver == nil {
		return nil
	}
	return p.saver.flush(true)
}

// restoreState loads the state file (spec §14.2). It reports false when
// there was no file yet; an unreadable or corrupt file is an error.
func (p *Platform) restoreState(ctx context.Context) (bool, error) {
	if p.cfg.stateFile == "" {
		return false, nil
	}
	b, err := os.ReadFile(p.cfg.stateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("platform: read state file: %w", err)
	}
	var st stateFile
	if err := json.Unmarshal(b, &st); err != nil {
		return false, fmt.Errorf("platform: corrupt state file %s: %w", p.cfg.stateFile, err)
	}
	if st.Version != stateVersion {
		return false, fmt.Errorf("platform: state file %s has unsupported version %d", p.cfg.stateFile, st.Version)
	}
	p.users.Restore(st.Users)
	if _, err := p.users.Put(p.cfg.adminUser, p.cfg.adminPassword, auth.RoleAdmin, nil); err != nil {
		return false, err
	}
	if p.cfg.sessionPolicy != PolicyShutdown {
		for _, sc := range st.Containers {
			if err := p.restoreContainer(ctx, sc); err != nil {
				p.log.Warn("could not restore container; dropping it", "id", sc.ID, "image", sc.Request.Image.ImageName, "err", err)
				p.users.Delete(sc.ID)
			}
		}
	}
	for _, c := range st.Connections {
		if _, err := p.connectTo(ctx, c.URL, c.Token, c.ConnectBack, ""); err != nil {
			p.log.Warn("could not restore connection; dropping it", "url", c.URL, "err", err)
			p.users.Delete(c.URL)
		}
	}
	p.announceContainers()
	p.changed()
	return true, nil
}

func (p *Platform) restoreContainer(ctx context.Context, sc savedContainer) error {
	if p.container(sc.ID) != nil {
		return nil
	}
	reattach := sc.Kind == KindAdopted || (p.cfg.sessionPolicy == PolicyReconnect &&
		((sc.Kind == KindDocker && p.docker != nil) || (p.cfg.backend != nil && sc.Kind == p.cfg.backend.Kind())))
	if reattach {
		if err := p.reattach(ctx, sc); err == nil {
			return nil
		} else if sc.Kind == KindAdopted {
			return err
		}
	}
	token := ""
	if sc.Token != "" {
		if c, err := p.signer.Verify(sc.Token); err == nil && c.Subject == sc.ID && time.Until(c.ExpiresAt) > time.Hour {
			token = sc.Token
		}
	}
	_, err := p.startContainer(ctx, sc.Request, startOpts{owner: sc.Owner, id: sc.ID, token: token})
	return err
}

// reattach takes over a container that is still running.
func (p *Platform) reattach(ctx context.Context, sc savedContainer) error {
	var runner Runner = p.adopted
	switch {
	case sc.Kind == KindDocker && p.docker != nil:
		runner = p.docker
	case p.cfg.backend != nil && sc.Kind == p.cfg.backend.Kind():
		runner = p.cfg.backend
	}
	alive, err := runner.Alive(ctx, sc.Handle)
	if err != nil || !alive {
		return fmt.Errorf("container not alive: %v", err)
	}
	cc, err := client.NewContainer(sc.URL, client.WithToken(sc.Token), client.WithSenderID(p.cfg.publicURL), client.WithHTTPClient(p.httpClient()))
	if err != nil {
		return err
	}
	ictx, cancel := context.WithTimeout(ctx, 10*time.Second)
	body, err := cc.InfoRaw(ictx)
	cancel()
	if err != nil {
		return err
	}
	info, err := decodeInfo(body, sc.ID)
	if err != nil {
		return err
	}
	info.ContainerID, info.Owner, info.Connectivity = sc.ID, sc.Info.Owner, sc.Info.Connectivity
	e := &containerEntry{id: sc.ID, owner: sc.Owner, token: sc.Token, info: *info, req: sc.Request, runner: runner,
		handle: sc.Handle, url: sc.URL, api: sc.API, extra: sc.Extra, cc: cc, val: newArgValidator(info.Image, p.log)}
	for _, port := range e.hostPorts() {
		p.ports.claim(sc.ID, port)
	}
	if !p.users.Exists(sc.ID) {
		if _, err := p.users.PutTemporary(sc.ID, auth.RoleUser, nil); err != nil {
			return err
		}
	}
	p.mu.Lock()
	p.seq++
	e.seq = p.seq
	p.containers = append(p.containers, e)
	p.mu.Unlock()
	p.changed()
	return nil
}

// deployDefaultImages starts every *.json PostAgentContainer of the
// default image directory as the admin user (spec §14.3).
func (p *Platform) deployDefaultImages(ctx context.Context) {
	if p.cfg.defaultImages == "" {
		return
	}
	entries, err := os.ReadDir(p.cfg.defaultImages)
	if err != nil {
		p.log.Error("reading default image directory failed", "dir", p.cfg.defaultImages, "err", err)
		return
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		if !e.IsDir() && len(e.Name()) > 5 && e.Name()[len(e.Name())-5:] == ".json" {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	started := false
	for _, n := range names {
		path := p.cfg.defaultImages + string(os.PathSeparator) + n
		b, err := os.ReadFile(path)
		if err != nil {
			p.log.Error("reading default image failed", "file", path, "err", err)
			continue
		}
		var req opaca.PostAgentContainer
		if err := opaca.DecodeStrict(b, &req); err != nil {
			p.log.Error("invalid default image", "file", path, "err", err)
			continue
		}
		if _, err := p.startContainer(ctx, req, startOpts{owner: p.cfg.adminUser}); err != nil {
			p.log.Error("starting default image failed", "file", path, "err", err)
			continue
		}
		started = true
	}
	if started {
		p.announceContainers()
	}
}
