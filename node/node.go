package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/airanode/airanode/api"
	"github.com/airanode/airanode/config"
	"github.com/airanode/airanode/consensus"
	"github.com/airanode/airanode/gpu/cpu"
	"github.com/airanode/airanode/identity"
	"github.com/airanode/airanode/p2p"
	"github.com/airanode/airanode/registry"
	"github.com/airanode/airanode/store"
	"github.com/airanode/airanode/tasks"
	"github.com/airanode/airanode/tasks/gpucore"
)

// Errors. Errors from New wrap ErrStart and the error of the step that failed.
var (
	// ErrStart means the node could not start; nothing it began is left running.
	ErrStart = errors.New("node: start failed")
	// ErrClosed means the node has been closed.
	ErrClosed = errors.New("node: closed")
)

// StoreDir is the store's directory inside the data directory.
const StoreDir = "store"

// Option adjusts how New builds a node.
type Option func(*options)

type options struct {
	log          *slog.Logger
	version      string
	executor     tasks.Executor
	tasksEdit    func(*tasks.Config)
	p2pEdit      func(*p2p.Config)
	onEvent      func(tasks.Event)
	modelThreads int
	fetchTimeout time.Duration

	demoLiar       bool
	liarDelay      time.Duration
	searchInFlight int
	searchPoll     time.Duration

	gpuEdit func(*gpucore.Config)
}

// WithLogger sets the node's logger (default slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithVersion sets the version in the libp2p agent string ("airanode/<version>") and the status.
func WithVersion(v string) Option { return func(o *options) { o.version = v } }

// WithExecutor replaces the training executor (the Trainer) with x.
func WithExecutor(x tasks.Executor) Option { return func(o *options) { o.executor = x } }

// WithTasks edits the tasks Manager's configuration after the node filled it (lease, rank delay,
// warm-up, capability interval, ...). Key, Store, Bus, Executor and OnEvent are the node's.
func WithTasks(edit func(*tasks.Config)) Option { return func(o *options) { o.tasksEdit = edit } }

// WithP2P edits the p2p configuration after the node filled it from the Config.
func WithP2P(edit func(*p2p.Config)) Option { return func(o *options) { o.p2pEdit = edit } }

// WithEvents receives the tasks Manager's progress events (for a status display). fn is called
// from the Manager's goroutines and must not block.
func WithEvents(fn func(tasks.Event)) Option { return func(o *options) { o.onEvent = fn } }

// WithModelThreads sets the CPU threads each model trains with (default 1: one model per core,
// which gives the best throughput). The worker runs Config.Threads / n models at once.
func WithModelThreads(n int) Option { return func(o *options) { o.modelThreads = n } }

// WithDemoLiar makes the node a demo liar, for the demo and the tests only: it claims tasks like
// any node but never trains; after delay it reports a fabricated result with a made-up digest
// chain and the score DemoLiarScore. The network's verification must reject every such result.
func WithDemoLiar(delay time.Duration) Option {
	return func(o *options) { o.demoLiar, o.liarDelay = true, delay }
}

// WithSearchRunner sets how many tasks of each search this node's agents keep in flight (0:
// search.DefaultInFlight) and how often they look at verdicts (0: search.DefaultPoll).
func WithSearchRunner(inFlight int, poll time.Duration) Option {
	return func(o *options) { o.searchInFlight, o.searchPoll = inFlight, poll }
}

// WithFetchTimeout bounds the fetch of a task's objects from peers (default 30s).
func WithFetchTimeout(d time.Duration) Option { return func(o *options) { o.fetchTimeout = d } }

// Node is a running airanode node. Create it with New and stop it with Close. It is safe for
// concurrent use.
type Node struct {
	cfg     config.Config
	o       options
	log     *slog.Logger
	key     crypto.PrivKey
	id      peer.ID
	started time.Time

	store   *store.Store
	host    *p2p.Host
	bus     *bus
	mgr     atomic.Pointer[tasks.Manager]
	trainer *Trainer
	api     *api.Server

	gpu      *router // the GPU cores, nil when the node runs on the CPU only
	registry *registry.Registry
	rep      *consensus.Reputation
	verifier *verifier
	searches *searches
	reg      *prometheus.Registry
	stats    *stats
	workers  int

	ctx    context.Context // cancelled by Close: stops the node's own goroutines
	cancel context.CancelFunc
	group  group       // the node's own goroutines: gossip readers, prefetches, drains
	drain  atomic.Bool // a background Drain is running

	prefetchSem chan struct{}

	undo      []step // what start did, in order
	closeOnce sync.Once
	closeErr  error
	closed    atomic.Bool
}

// step is one started service and how to stop it.
type step struct {
	name string
	stop func() error
}

// New builds every service from cfg and starts them: the data directory and identity, the store,
// the p2p host, the task topics, the tasks Manager with its executor, sync, and the control API.
// It starts all or nothing: on error, what was started is stopped in reverse order and the error
// wraps ErrStart. ctx bounds only the start.
func New(ctx context.Context, cfg config.Config, opts ...Option) (*Node, error) {
	o := options{log: slog.Default(), version: "dev", modelThreads: 1, fetchTimeout: 30 * time.Second}
	for _, f := range opts {
		f(&o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	if err := api.CheckLoopback(cfg.API); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	if o.modelThreads < 1 || o.modelThreads > cfg.Threads {
		return nil, fmt.Errorf("%w: model threads %d, want 1-%d (threads)", ErrStart, o.modelThreads, cfg.Threads)
	}
	nctx, cancel := context.WithCancel(context.Background())
	n := &Node{cfg: cfg, o: o, log: o.log, started: time.Now(), ctx: nctx, cancel: cancel,
		prefetchSem: make(chan struct{}, maxPrefetch)}
	n.workers = max(1, cfg.Threads/o.modelThreads)
	n.undo = append(n.undo, step{"context", func() error { cancel(); return nil }})
	if err := n.start(ctx); err != nil {
		_ = n.stop()
		return nil, fmt.Errorf("%w: %w", ErrStart, err)
	}
	n.log.Info("node started", "peer", n.id, "network", cfg.Network, "api", n.api.Addr(),
		"workers", n.workers, "threads_per_model", o.modelThreads, "data_dir", cfg.DataDir)
	return n, nil
}

func (n *Node) push(name string, stop func() error) { n.undo = append(n.undo, step{name, stop}) }

// start runs the start steps; each pushes its undo step once it succeeded.
func (n *Node) start(ctx context.Context) error {
	cfg := n.cfg
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	key, _, err := identity.LoadOrCreate(filepath.Join(cfg.DataDir, identity.FileName))
	if err != nil {
		return err
	}
	n.key, n.id = key, identity.PeerID(key)
	n.log = n.log.With("peer", n.id.ShortString())

	pcfg, err := n.p2pConfig()
	if err != nil {
		return err
	}
	if err := checkPorts(pcfg.ListenAddrs); err != nil {
		return err
	}
	st, err := store.Open(filepath.Join(cfg.DataDir, StoreDir), store.Options{Logger: n.log.With("component", "store")})
	if err != nil {
		return fmt.Errorf("open store (is another node running on %s?): %w", cfg.DataDir, err)
	}
	n.store = st
	n.push("store", st.Close)
	n.stats = newStats()
	n.registry = registry.New(st, n.log.With("component", "registry"))
	n.rep = consensus.NewReputation(consensus.StoreKV(st), n.log.With("component", "reputation"))
	// Sync (started with the host) and the gossip readers hand search objects to n.searches.
	n.searches = newSearches(n, n.registry)

	h, err := p2p.New(ctx, pcfg, p2p.Deps{
		Blocks: blockStore{st},
		Index:  syncIndex{st: st, network: cfg.Network},
		Admit:  n.admit,
	})
	if err != nil {
		return err
	}
	n.host = h
	n.push("p2p host", h.Close)
	// Reputation from verified work raises or lowers peers' gossip scores.
	h.Gossip().SetAppScore(n.rep.AppScore)

	n.bus = newBus(n)
	n.push("gossip topics", n.bus.close)
	if _, err := n.bus.join(""); err != nil {
		return err
	}

	exec := n.o.executor
	var gpuBlocks *gpucore.StoreBlocks
	if exec == nil {
		n.trainer = &Trainer{
			Store: st, Fetch: func(ctx context.Context, cids []cid.Cid) error { return n.fetch(ctx, "", cids) }, Threads: n.o.modelThreads, Retention: tasks.DefaultRetention,
			Logger: n.log.With("component", "trainer"), stats: n.stats,
		}
		exec = n.trainer
		if n.o.demoLiar {
			n.log.Warn("DEMO LIAR: this node fabricates its results (demo and tests only)")
			exec = &demoLiar{x: n.trainer, self: n.id, delay: n.o.liarDelay}
		} else {
			// GPU compute cores, when there are any: the router runs each task on an idle core,
			// else on the CPU trainer (gpu.go). When no core starts, the node stays CPU-only
			// (gpucore.New closes the Supervisor then, retrying none); a core that starts later,
			// beside one that started, joins (router.ready).
			gpuBlocks = &gpucore.StoreBlocks{Store: st, Fetch: n.trainer.Fetch}
			if r := n.startGPU(n.trainer, gpuBlocks, tasks.StoreEstimator(st)); r != nil {
				n.push("gpu cores", r.close)
				n.gpu = r
				exec = r
				n.workers += r.started
			}
		}
	}
	n.verifier = newVerifier(n, n.registry, n.rep)
	tcfg := tasks.Config{
		Key: key, Store: st, Bus: n.bus, Executor: exec, Estimator: tasks.StoreEstimator(st),
		Workers: n.workers, Memory: int64(cfg.MemoryMB) << 20, Class: n.class(),
		Weight: n.rep.RankWeight,
		Logger: n.o.log.With("component", "tasks"), // tasks adds the peer itself
	}
	if n.o.tasksEdit != nil {
		n.o.tasksEdit(&tcfg)
	}
	tcfg.Key, tcfg.Store, tcfg.Bus, tcfg.Executor = key, st, n.bus, exec
	tcfg.OnEvent = n.onEvent
	if n.trainer != nil {
		n.trainer.Retention = tcfg.Retention
		if n.trainer.Retention == 0 {
			n.trainer.Retention = tasks.DefaultRetention
		}
		if gpuBlocks != nil {
			gpuBlocks.Retention = n.trainer.Retention
		}
	}
	m, err := tasks.New(tcfg)
	if err != nil {
		return err
	}
	n.mgr.Store(m)
	n.push("tasks manager", m.Close)
	if n.gpu != nil {
		n.gpu.setManager(m)
	}
	// The readers deliver to the Manager; they stop (with the node's context) before it closes.
	n.bus.startReaders()
	n.push("gossip readers", func() error { n.cancel(); n.bus.cancelSubs(); n.group.Wait(); return nil })

	h.Sync().Follow(TasksSyncKey)
	n.group.Go(func() { n.verifier.run(n.ctx) })
	n.push("searches", n.searches.close)
	if err := n.searches.resume(); err != nil {
		return err
	}

	n.reg = n.newRegistry()
	srv, err := api.Listen(cfg.API, backend{n}, api.WithMetrics(n.reg), api.WithLogger(n.log.With("component", "api")))
	if err != nil {
		return err
	}
	n.api = srv
	n.push("control API", srv.Close)

	if err := n.writeInfo(); err != nil {
		return err
	}
	n.push("info file", n.removeInfo)
	return ctx.Err()
}

// p2pConfig maps the node Config onto the p2p layer's.
//
// A node whose listen addresses are all on loopback can be reached from this machine only. Its
// NAT switches (port mapping, hole punching, AutoRelay, relay service) are turned off whatever the
// config says: there is no router to map, no NAT to punch, and go-libp2p's relay service waits
// for a public reachability that loopback never gets. Its DHT mode "autoserver" (the default)
// becomes "server", so that loopback clusters serve each other the DHT; an explicit "auto",
// "server" or "client" is kept (a test may want a client-mode node). Announce addresses and the
// connection manager settings always apply.
func (n *Node) p2pConfig() (p2p.Config, error) {
	cfg := n.cfg
	pc := p2p.DefaultConfig()
	pc.Network = cfg.Network
	pc.Version = n.o.version
	pc.Identity = n.key
	pc.ListenAddrs = cfg.Listen
	pc.AnnounceAddrs = cfg.Announce
	pc.Bootstrap = cfg.Bootstrap
	pc.MDNS = cfg.MDNS
	pc.DHTMode = p2p.DHTMode(cfg.DHTMode)
	pc.ConnLow, pc.ConnHigh, pc.ConnGrace = cfg.ConnLow, cfg.ConnHigh, time.Duration(cfg.ConnGrace)
	pc.NATPortMap, pc.HolePunching, pc.AutoRelay, pc.RelayService = cfg.NATPortMap, cfg.HolePunching, cfg.AutoRelay, cfg.RelayService
	pc.Logger = n.log // p2p adds its component itself
	if cfg.PSKFile != "" {
		psk, err := p2p.LoadPSK(cfg.PSKFile)
		if err != nil {
			return pc, fmt.Errorf("psk_file %s: %w", cfg.PSKFile, err)
		}
		pc.PSK = psk
	}
	if loopbackOnly(cfg.Listen) {
		// Nothing outside this machine can reach the node: NAT traversal and relaying are moot.
		if pc.NATPortMap || pc.HolePunching || pc.AutoRelay || pc.RelayService {
			n.log.Debug("listening on loopback only: NAT port mapping, hole punching and relaying off")
		}
		pc.NATPortMap, pc.HolePunching, pc.AutoRelay, pc.RelayService = false, false, false, false
		if pc.DHTMode == p2p.DHTAutoServer {
			pc.DHTMode = p2p.DHTServer
		}
	}
	if n.o.p2pEdit != nil {
		n.o.p2pEdit(&pc)
	}
	return pc, nil
}

// checkPorts tries every listen address with a fixed port and reports the first that cannot be
// bound. go-libp2p leaves some goroutines of a host whose listeners all fail running (upstream
// behaviour), so the common case, a port in use, is caught before the host is built.
func checkPorts(addrs []string) error {
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return fmt.Errorf("listen address %q: %w", s, err)
		}
		host, err := a.ValueForProtocol(ma.P_IP4)
		if err != nil {
			if host, err = a.ValueForProtocol(ma.P_IP6); err != nil {
				continue // a DNS or other address: libp2p decides
			}
		}
		if port, err := a.ValueForProtocol(ma.P_TCP); err == nil && port != "0" {
			ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
			if err != nil {
				return fmt.Errorf("listen address %s: %w", s, err)
			}
			_ = ln.Close()
		}
		if port, err := a.ValueForProtocol(ma.P_UDP); err == nil && port != "0" {
			pc, err := net.ListenPacket("udp", net.JoinHostPort(host, port))
			if err != nil {
				return fmt.Errorf("listen address %s: %w", s, err)
			}
			_ = pc.Close()
		}
	}
	return nil
}

// loopbackOnly reports whether every listen address is on a loopback interface.
func loopbackOnly(addrs []string) bool {
	if len(addrs) == 0 {
		return false
	}
	for _, s := range addrs {
		a, err := ma.NewMultiaddr(s)
		if err != nil {
			return false
		}
		ip4, err4 := a.ValueForProtocol(ma.P_IP4)
		ip6, err6 := a.ValueForProtocol(ma.P_IP6)
		ip := ip4
		if err4 != nil {
			ip = ip6
		}
		if err4 != nil && err6 != nil {
			return false
		}
		if p := net.ParseIP(ip); p == nil || !p.IsLoopback() {
			return false
		}
	}
	return true
}

// stop runs the undo steps in reverse order and joins their errors.
func (n *Node) stop() error {
	var errs []error
	for i := len(n.undo) - 1; i >= 0; i-- {
		s := n.undo[i]
		if err := s.stop(); err != nil {
			n.log.Warn("stop", "service", s.name, "err", err)
			errs = append(errs, fmt.Errorf("stop %s: %w", s.name, err))
		}
	}
	n.undo = nil
	return errors.Join(errs...)
}

// Close stops the node: the API, the gossip readers, the tasks Manager (running tasks keep their
// lease and last checkpoint, to resume on restart), the topics, the p2p host and the store, in
// that order, and waits for every goroutine. It is idempotent.
func (n *Node) Close() error {
	n.closeOnce.Do(func() {
		n.closed.Store(true)
		n.closeErr = n.stop()
		n.log.Info("node stopped")
	})
	return n.closeErr
}

// ID returns the node's peer ID.
func (n *Node) ID() peer.ID { return n.id }

// Addrs returns the node's p2p addresses, each ending in /p2p/<id>.
func (n *Node) Addrs() []string {
	var out []string
	for _, a := range n.host.Addrs() {
		out = append(out, a.String())
	}
	return out
}

// APIAddr returns the control API's address.
func (n *Node) APIAddr() string { return n.api.Addr() }

// Config returns the configuration the node runs with.
func (n *Node) Config() config.Config { return n.cfg }

// Manager returns the tasks Manager.
func (n *Node) Manager() *tasks.Manager { return n.mgr.Load() }

// Host returns the p2p host.
func (n *Node) Host() *p2p.Host { return n.host }

// Store returns the node's store.
func (n *Node) Store() *store.Store { return n.store }

// class is the reproducibility classes the node trains in when it starts: the CPU trainer's, and
// its GPU cores' (the Manager's Stats has them as they are now).
func (n *Node) class() string {
	if n.gpu != nil {
		return n.gpu.advertised()
	}
	return cpu.Class
}

// Workers returns how many tasks the node runs at once when it starts.
func (n *Node) Workers() int { return n.workers }

// FollowSearch joins the gossip topic of a search and keeps it caught up through sync, so that
// the node sees (and may claim) the search's tasks.
func (n *Node) FollowSearch(search cid.Cid) error {
	if n.closed.Load() {
		return ErrClosed
	}
	if _, err := n.bus.join(search.String()); err != nil {
		return err
	}
	n.host.Sync().Follow(search.String())
	return nil
}

// onEvent is the Manager's event hook: statistics, then the user's hook.
func (n *Node) onEvent(e tasks.Event) {
	if e.Kind != tasks.EventProgress {
		n.log.Debug("task event", "event", e.Kind, "task", e.Task, "step", e.Step, "of", e.Of)
	}
	n.stats.event(e)
	if (e.Kind == tasks.EventDone || e.Kind == tasks.EventResult) && n.verifier != nil {
		n.verifier.touch(e.Task)
	}
	if n.o.onEvent != nil {
		n.o.onEvent(e)
	}
}
