package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/meshkit/meshkit/actor"
	"github.com/meshkit/meshkit/actor/control"
	"github.com/meshkit/meshkit/actor/std"
	"github.com/meshkit/meshkit/rt2rt"
	"github.com/meshkit/meshkit/token"
	"github.com/meshkit/meshkit/tunnel"
	"github.com/meshkit/meshkit/tunnel/storage"
)

// stack is everything above the rt2rt node: tunnels, token flow, actor
// runtime and its network binding, registry server or client, records.
type stack struct {
	node    *rt2rt.Node
	log     *slog.Logger
	tunnels *tunnel.Manager
	flow    *token.Flow
	rt      *actor.Runtime
	net     *actor.Network
	reg     *lateRegistry
	records *control.Records

	server *storage.Server      // -storage local
	proxy  *storage.ProxyServer // -storage local

	mu     sync.Mutex
	master string // registry master's node id (-storage proxy:URI), once joined
}

// masterLinked reports whether the registry can be reached: always for a
// master, for a proxy node while it has a link to its master.
func (st *stack) masterLinked() bool {
	if st.server != nil {
		return true
	}
	st.mu.Lock()
	master := st.master
	st.mu.Unlock()
	if master == "" {
		return false
	}
	for _, p := range st.node.Peers() {
		if p.ID == master {
			return true
		}
	}
	return false
}

func newStack(node *rt2rt.Node, o *options, stdout io.Writer, log *slog.Logger) (_ *stack, err error) {
	st := &stack{node: node, log: log, reg: &lateRegistry{}}
	defer func() {
		if err != nil {
			st.close()
		}
	}()
	if st.tunnels, err = tunnel.NewManager(node, tunnel.WithLogger(log)); err != nil {
		return nil, err
	}
	if st.flow, err = token.NewFlow(token.WithLogger(log)); err != nil {
		return nil, err
	}
	if err = st.flow.Register(st.tunnels); err != nil {
		return nil, err
	}
	if st.records, err = control.NewRecords(st.reg, log); err != nil {
		return nil, err
	}
	types, err := std.NewRegistry()
	if err != nil {
		return nil, err
	}
	if st.rt, err = actor.NewRuntime(actor.WithRegistry(types), actor.WithNodeID(node.ID()), actor.WithLogger(log),
		actor.WithObserver(st.records), actor.WithStdout(stdout)); err != nil {
		return nil, err
	}
	st.records.Attach(st.rt)
	st.net, err = actor.NewNetwork(st.rt, st.records.Watch(node), st.tunnels, st.flow,
		actor.WithLocator(control.Locator{Registry: st.reg}), actor.WithRecorder(st.records), actor.WithNetworkLogger(log))
	if err != nil {
		return nil, err
	}
	return st, nil
}

// startRegistry sets up the registry (§6.2, §13.1 -storage) and publishes
// the node's own record and indexes. In proxy mode it joins the master
// once; if that fails it keeps trying in the background and buffers
// registry writes until it succeeds.
func (st *stack) startRegistry(ctx context.Context, o *options, rec *storage.NodeRecord, wg *sync.WaitGroup) error {
	uri, proxy := o.proxyURI()
	if !proxy {
		store := storage.NewMemStore()
		var err error
		if st.server, err = storage.NewServer(st.tunnels, storage.WithStore(store), storage.WithLogger(st.log)); err != nil {
			return err
		}
		c, err := storage.NewLocalClient(store, storage.WithLogger(st.log))
		if err != nil {
			return err
		}
		if st.proxy, err = storage.NewProxyServer(st.tunnels, c, storage.WithLogger(st.log)); err != nil {
			return err
		}
		st.reg.set(ctx, c, st.log)
		return c.RegisterNode(ctx, rec)
	}
	connect := func(master string) error {
		c, err := storage.NewClient(st.tunnels, master, storage.WithLogger(st.log), storage.WithWriteBehind(1<<16))
		if err != nil {
			return err
		}
		st.node.SetResolver(c)
		st.mu.Lock()
		st.master = master
		st.mu.Unlock()
		st.reg.set(ctx, c, st.log)
		return c.RegisterNode(ctx, rec)
	}
	master, err := st.node.Join(ctx, uri)
	if err == nil {
		if err := connect(master); err != nil {
			return err
		}
		// The own record is at the master before the node says it is ready.
		fctx, cancel := context.WithTimeout(ctx, storage.DefaultTimeout)
		defer cancel()
		if err := st.reg.client().Flush(fctx); err != nil {
			st.log.Warn("registry: own record not confirmed yet", "err", err)
		}
		return nil
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		delay := 500 * time.Millisecond
		for err != nil {
			st.log.Warn("registry master not joined; retrying", "uri", uri, "err", err, "retry_in", delay)
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			delay = min(delay+500*time.Millisecond, 10*time.Second)
			master, err = st.node.Join(ctx, uri)
		}
		if err := connect(master); err != nil {
			st.log.Warn("registry: own record not published", "err", err)
		}
	}()
	return nil
}

// cleanUp runs while the node shuts down (§13.2): evacuate the actors for
// DELETE /node/migrate, destroy the rest, delete the own registry record.
// ShutdownNow skips all of it.
func (st *stack) cleanUp(ctx context.Context, mode control.ShutdownMode, rec *storage.NodeRecord) {
	if mode == control.ShutdownNow {
		return
	}
	if mode == control.ShutdownMigrate {
		for _, id := range st.rt.ActorIDs() {
			for _, p := range st.node.Peers() {
				if p.Via != "" {
					continue
				}
				err := st.net.Migrate(ctx, id, p.ID)
				if err == nil {
					break
				}
				st.log.Info("evacuation to a peer failed", "actor", id, "peer", p.ID, "err", err)
			}
		}
	}
	for _, id := range st.rt.ActorIDs() {
		if err := st.rt.DeleteActor(ctx, id); err != nil && !errors.Is(err, actor.ErrUnknownActor) {
			st.log.Warn("actor not destroyed", "actor", id, "err", err)
		}
	}
	if !st.masterLinked() {
		// The registry's records of this node stay; waiting for a master
		// that is gone would only delay the stop.
		st.log.Warn("registry master not linked; own records not deleted")
		return
	}
	ctx, cancel := context.WithTimeout(ctx, registryCleanUpTimeout)
	defer cancel()
	if err := st.records.Flush(ctx); err != nil {
		st.log.Warn("actor records not deleted", "err", err)
	}
	if c := st.reg.client(); c != nil {
		if err := c.UnregisterNode(ctx, rec); err != nil {
			st.log.Warn("own registry record not deleted", "err", err)
		}
		if err := c.Flush(ctx); err != nil {
			st.log.Warn("registry writes not flushed", "err", err)
		}
	}
}

// registryCleanUpTimeout bounds the registry writes of a shutdown.
const registryCleanUpTimeout = 5 * time.Second

// close releases everything above the node, top down. Safe on a partly
// built stack.
func (st *stack) close() {
	if st.net != nil {
		_ = st.net.Close()
	}
	if st.rt != nil {
		_ = st.rt.Close()
	}
	if st.records != nil {
		_ = st.records.Close()
	}
	if st.proxy != nil {
		_ = st.proxy.Close()
	}
	if st.server != nil {
		_ = st.server.Close()
	}
	if c := st.reg.client(); c != nil {
		_ = c.Close()
	}
	if st.flow != nil {
		_ = st.flow.Close()
	}
	if st.tunnels != nil {
		_ = st.tunnels.Close()
	}
}

// lateRegistry is the node's registry client once it exists. Until then
// (a proxy node whose master could not be joined yet) writes are kept in
// order and sent when the client is set, and reads find nothing.
type lateRegistry struct {
	mu      sync.Mutex
	c       *storage.Client
	pending []func(ctx context.Context, c *storage.Client) error
}

var _ control.Registry = (*lateRegistry)(nil)

func (l *lateRegistry) client() *storage.Client {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.c
}

// set installs the client and sends the buffered writes, in order.
func (l *lateRegistry) set(ctx context.Context, c *storage.Client, log *slog.Logger) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, w := range l.pending {
		if err := w(ctx, c); err != nil {
			log.Warn("buffered registry write failed", "err", err)
		}
	}
	l.pending = nil
	l.c = c
}

// Get implements control.Registry.
func (l *lateRegistry) Get(ctx context.Context, key string) (any, error) {
	c := l.client()
	if c == nil {
		return nil, fmt.Errorf("%w: %s (registry not reached yet)", storage.ErrNotFound, key)
	}
	return c.Get(ctx, key)
}

// Set implements control.Registry.
func (l *lateRegistry) Set(ctx context.Context, key string, value any) error {
	return l.write(ctx, func(ctx context.Context, c *storage.Client) error { return c.Set(ctx, key, value) })
}

// Delete implements control.Registry.
func (l *lateRegistry) Delete(ctx context.Context, key string) error {
	return l.write(ctx, func(ctx context.Context, c *storage.Client) error { return c.Delete(ctx, key) })
}

func (l *lateRegistry) write(ctx context.Context, w func(context.Context, *storage.Client) error) error {
	l.mu.Lock()
	c := l.c
	if c == nil {
		l.pending = append(l.pending, w)
	}
	l.mu.Unlock()
	if c == nil {
		return nil
	}
	return w(ctx, c)
}
