package tasks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/store"
)

// maxStubs bounds the tasks tracked from claims or results before their offer arrives, and
// maxLeases the claimers tracked per task.
const (
	maxStubs  = 4096
	maxLeases = 64
)

// Manager claims, runs and publishes tasks for one node. Create it with New, feed it the
// network's envelopes with HandleEnvelope, and Close it before closing the store. All methods are
// safe for concurrent use.
type Manager struct {
	cfg  Config
	self peer.ID
	log  *slog.Logger

	ctx     context.Context // cancelled by Close: stops the loop and every run
	cancel  context.CancelFunc
	wg      sync.WaitGroup // the loop and the runs
	pubWG   sync.WaitGroup // the publisher
	pubStop chan struct{}
	once    sync.Once
	wake    chan struct{}
	outSig  chan struct{}

	mu        sync.Mutex
	closed    bool
	started   time.Time
	tasks     map[string]*taskEntry
	offered   int // tasks with a known offer
	stubs     int
	open      map[string]*taskEntry // offered tasks with fewer than R results
	peers     map[peer.ID]*peerInfo
	running   map[string]*run
	workers   int
	class     string // the reproducibility classes advertised (Config.Class, then SetClass)
	memUsed   int64
	paused    bool
	pausedAt  time.Time
	resumed   chan struct{} // closed by Resume
	draining  bool
	changed   chan struct{} // closed and replaced whenever a run ends or the outbox empties
	capSeq    int64
	capAt     time.Time
	capDue    bool
	outbox    []outMsg
	inFlight  int
	completed uint64
	abandoned uint64
	released  uint64
	failed    uint64
}

// New starts a Manager: it loads the node's task state from the store, resumes its own tasks
// whose leases have not expired, re-publishes what a crash left unpublished, and starts claiming
// after Config.Warmup.
func New(cfg Config) (*Manager, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	self, err := peer.IDFromPrivateKey(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: key: %w", ErrConfig, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &Manager{
		cfg: cfg, self: self, log: cfg.Logger.With("peer", self.ShortString()),
		ctx: ctx, cancel: cancel, pubStop: make(chan struct{}),
		wake: make(chan struct{}, 1), outSig: make(chan struct{}, 1),
		started: time.Now(), tasks: map[string]*taskEntry{}, open: map[string]*taskEntry{},
		peers: map[peer.ID]*peerInfo{}, running: map[string]*run{}, workers: cfg.Workers, class: cfg.Class,
		resumed: make(chan struct{}), changed: make(chan struct{}), capDue: true,
	}
	close(m.resumed)
	starts, evs, err := m.load()
	if err != nil {
		cancel()
		return nil, err
	}
	m.emit(evs...)
	m.pubWG.Add(1)
	go m.publisher()
	m.wg.Add(1)
	go m.loop()
	for _, r := range starts {
		go m.execute(r)
	}
	m.signal()
	return m, nil
}

// ID returns the node's peer ID.
func (m *Manager) ID() peer.ID { return m.self }

// Close stops the Manager: it stops claiming, cancels the running tasks (their leases are kept,
// so a restart within the lease resumes them from their last checkpoint), waits for every
// goroutine, and publishes what is still queued (bounded by PublishTimeout). It does not close
// the store or the bus. Close is idempotent.
func (m *Manager) Close() error {
	m.once.Do(func() {
		m.mu.Lock()
		m.closed = true
		m.mu.Unlock()
		m.cancel()
		m.wg.Wait()
		close(m.pubStop)
		m.pubWG.Wait()
	})
	return nil
}

// Submit announces task to the network with replicas R (0 means object.DefaultReplicas): it
// stores the task object and a signed Offer, indexes them, takes the task into this node's own
// state (so this node may claim it too), and publishes the Offer. Submitting a known task again
// re-announces it; a larger R raises the task's replication. It returns the task's CID.
func (m *Manager) Submit(ctx context.Context, task object.Task, replicas int) (cid.Cid, error) {
	if replicas == 0 {
		replicas = object.DefaultReplicas
	}
	if replicas < 1 || replicas > object.MaxReplicas {
		return cid.Undef, fmt.Errorf("%w: replicas %d, want 1-%d", ErrInvalid, replicas, object.MaxReplicas)
	}
	if _, _, err := taskCID(task); err != nil {
		return cid.Undef, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if m.isClosed() {
		return cid.Undef, ErrClosed
	}
	var need object.Need
	if m.cfg.Estimator != nil {
		n, err := m.cfg.Estimator(ctx, task)
		if err != nil {
			return cid.Undef, fmt.Errorf("submit: %w", err)
		}
		if err := n.Validate(); err != nil {
			return cid.Undef, fmt.Errorf("submit: %w: %w", ErrEstimate, err)
		}
		need = n
	}
	offer := object.Offer{Task: task, Replicas: int64(replicas), Need: need, Submitter: m.self.String(), Time: time.Now().UnixMilli()}
	env, err := object.Seal(m.cfg.Key, object.KindOffer, offer)
	if err != nil {
		return cid.Undef, fmt.Errorf("submit: %w", err)
	}
	tc, err := m.acceptOffer(offer, env, true)
	if err != nil && !errors.Is(err, ErrIgnored) {
		return cid.Undef, fmt.Errorf("submit: %w", err)
	}
	if err := m.cfg.Bus.Publish(ctx, task.Search, object.KindOffer, env); err != nil {
		return tc, fmt.Errorf("submit: publish offer: %w", err)
	}
	return tc, nil
}

// List returns the status of every offered task this node knows, oldest first.
func (m *Manager) List() []Status {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	out := make([]Status, 0, m.offered)
	entries := make([]*taskEntry, 0, m.offered)
	for _, t := range m.tasks {
		if t.offered {
			entries = append(entries, t)
		}
	}
	slices.SortFunc(entries, func(a, b *taskEntry) int {
		if c := a.firstSeen.Compare(b.firstSeen); c != 0 {
			return c
		}
		return bytes.Compare(a.cid.Bytes(), b.cid.Bytes())
	})
	for _, t := range entries {
		out = append(out, m.status(t, now))
	}
	return out
}

// Get returns the status of one task, or ErrNotFound.
func (m *Manager) Get(task cid.Cid) (Status, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.tasks[task.KeyString()]
	if t == nil {
		return Status{}, fmt.Errorf("%w: %s", ErrNotFound, task)
	}
	return m.status(t, time.Now()), nil
}

func (m *Manager) status(t *taskEntry, now time.Time) Status {
	s := Status{CID: t.cid, Task: t.task, Replicas: t.replicas, Need: t.need, State: t.state(m.self, now)}
	for p, l := range t.leases {
		if p != m.self && l.live(now) {
			s.Leases = append(s.Leases, Lease{Peer: p, Rank: l.rank, Step: l.step, Of: l.of, State: l.state, Expires: l.heard.Add(l.dur)})
		}
	}
	if r := t.run; r != nil {
		s.Leases = append(s.Leases, Lease{Peer: m.self, Rank: t.own.Rank, Step: r.step, Of: r.of, State: object.ClaimProgress, Expires: r.beat.Add(m.cfg.Lease)})
	}
	slices.SortFunc(s.Leases, func(a, b Lease) int {
		if t.ahead(a.Peer, b.Peer, m.cfg.Weight) {
			return -1
		}
		return 1
	})
	for p, c := range t.done {
		s.Results = append(s.Results, ResultRef{Executor: p, CID: c})
	}
	slices.SortFunc(s.Results, func(a, b ResultRef) int { return bytes.Compare([]byte(a.Executor), []byte(b.Executor)) })
	if o := t.own; o != nil {
		l := &LocalRun{State: o.State, Step: o.Step, Of: o.Of, Checkpoint: o.CheckpointStep, Failures: int(o.Failures)}
		if r := t.run; r != nil {
			l.Step, l.Of, l.Paused = r.step, r.of, r.paused
		}
		if o.Result != "" {
			l.Result, _ = cid.Decode(o.Result)
		}
		s.Local = l
	}
	return s
}

// Stats returns counters for a status line.
func (m *Manager) Stats() Stats {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	s := Stats{
		Running: len(m.running), Workers: m.workers, Class: m.class, Paused: m.paused, Draining: m.draining,
		Completed: m.completed, Abandoned: m.abandoned, Released: m.released, Failed: m.failed,
	}
	for _, t := range m.tasks {
		if !t.offered {
			continue
		}
		s.Tasks++
		switch t.state(m.self, now) {
		case StatePending:
			s.Pending++
		case StateClaimed:
			s.Claimed++
		case StateDone:
			s.Done++
		}
	}
	for _, p := range m.peers {
		if m.alive(p, now) {
			s.Peers++
		}
	}
	return s
}

// Pause stops claiming new tasks and holds the running ones at their next step boundary (their
// leases are renewed for up to PauseHold, then released). The node's capability says it is not
// accepting work, so peers stop ranking it.
func (m *Manager) Pause() {
	m.advertised(func() bool {
		if m.paused {
			return false
		}
		m.paused, m.pausedAt = true, time.Now()
		m.resumed = make(chan struct{})
		return true
	})
}

// Resume ends a Pause or a Drain: held tasks continue and the node claims again.
func (m *Manager) Resume() {
	m.advertised(func() bool {
		changed := m.paused || m.draining
		if m.paused {
			m.paused = false
			close(m.resumed)
		}
		m.draining = false
		return changed
	})
}

// Drain finishes the running tasks and claims nothing new ("finish the current task, then
// stop"): it returns nil once no task runs and everything is published, or ctx's error. The node
// stays draining (not accepting work) until Resume. A paused node's tasks only finish after
// Resume.
func (m *Manager) Drain(ctx context.Context) error {
	m.advertised(func() bool {
		changed := !m.draining
		m.draining = true
		return changed
	})
	for {
		m.mu.Lock()
		if m.closed {
			m.mu.Unlock()
			return ErrClosed
		}
		idle := len(m.running) == 0 && len(m.outbox) == 0 && m.inFlight == 0
		ch := m.changed
		m.mu.Unlock()
		if idle {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// SetWorkers changes how many tasks run at once (1-object.MaxWorkers). Lowering it lets the
// running tasks finish; it only limits new claims.
func (m *Manager) SetWorkers(n int) error {
	if n < 1 || n > object.MaxWorkers {
		return fmt.Errorf("%w: workers %d, want 1-%d", ErrInvalid, n, object.MaxWorkers)
	}
	m.advertised(func() bool {
		changed := n != m.workers
		m.workers = n
		return changed
	})
	return nil
}

// AddWorkers changes how many tasks run at once by delta in one step, so that a SetWorkers at the
// same time is not lost, keeping the count within 1-object.MaxWorkers; it returns the new count.
func (m *Manager) AddWorkers(delta int) int {
	var n int
	m.advertised(func() bool {
		n = min(max(m.workers+delta, 1), object.MaxWorkers)
		changed := n != m.workers
		m.workers = n
		return changed
	})
	return n
}

// SetClass changes the reproducibility classes this node advertises (space-separated, at most
// object.MaxClass bytes, as Config.Class): the next capability carries them, and Stats reports them.
func (m *Manager) SetClass(class string) error {
	if len(class) > object.MaxClass {
		return fmt.Errorf("%w: class of %d bytes, at most %d", ErrInvalid, len(class), object.MaxClass)
	}
	m.advertised(func() bool {
		changed := class != m.class
		m.class = class
		return changed
	})
	return nil
}

// advertised runs change, which edits what the capability advertises, under m.mu; when it reports
// a change, the next capability is due at once and the loop wakes to send it.
func (m *Manager) advertised(change func() bool) {
	m.mu.Lock()
	changed := change()
	m.capDue = m.capDue || changed
	m.mu.Unlock()
	if changed {
		m.signal()
	}
}

func (m *Manager) isClosed() bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.closed
}

// signal wakes the loop.
func (m *Manager) signal() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// notifyChanged wakes Drain waiters; m.mu must be held.
func (m *Manager) notifyChanged() {
	close(m.changed)
	m.changed = make(chan struct{})
}

func (m *Manager) emit(evs ...Event) {
	if m.cfg.OnEvent == nil {
		return
	}
	for _, e := range evs {
		if e.Peer == "" {
			e.Peer = m.self
		}
		m.cfg.OnEvent(e)
	}
}

// PeerCapability returns the latest capability heard from peer p and when it was heard; ok is
// false when none was (or p was pruned).
func (m *Manager) PeerCapability(p peer.ID) (c object.Capability, heard time.Time, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if pi := m.peers[p]; pi != nil {
		return pi.capa, pi.heard, true
	}
	return object.Capability{}, time.Time{}, false
}

// alive reports whether a peer's capability is recent enough to rank it.
func (m *Manager) alive(p *peerInfo, now time.Time) bool {
	return now.Sub(p.heard) <= 3*m.cfg.CapabilityInterval
}

// entry returns the task entry for c, creating a stub if there is room; m.mu must be held.
func (m *Manager) entry(c cid.Cid, now time.Time) *taskEntry {
	k := c.KeyString()
	if t := m.tasks[k]; t != nil {
		return t
	}
	if m.stubs >= maxStubs {
		return nil
	}
	t := newTaskEntry(c, k, now)
	m.tasks[k] = t
	m.stubs++
	return t
}

// storeIndex files c under key in ix, logging failures (indexes are rebuilt from blocks).
func (m *Manager) storeIndex(ix store.IndexName, key string, c cid.Cid) {
	if err := m.cfg.Store.Index(ix, key, c); err != nil {
		m.log.Warn("index", "index", ix, "key", key, "cid", c, "err", err)
	}
}
