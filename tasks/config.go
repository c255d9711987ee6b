package tasks

import (
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/store"
)

// Defaults used where Config leaves a field zero.
const (
	DefaultLease              = 60 * time.Second
	DefaultRankDelay          = 10 * time.Second
	DefaultTick               = 250 * time.Millisecond
	DefaultCapabilityInterval = 30 * time.Second
	DefaultPauseHold          = 10 * time.Minute
	DefaultRetention          = 72 * time.Hour
	DefaultMaxTasks           = 100_000
	DefaultMaxPeers           = 10_000
	DefaultMaxFailures        = 3
	DefaultPublishTimeout     = 10 * time.Second
)

// Config configures a Manager. Key, Store, Bus and Executor are required; every other zero field
// takes its default.
type Config struct {
	// Key is the node's identity: it signs offers, capabilities, claims and results.
	Key crypto.PrivKey
	// Store holds tasks, offers, results and checkpoints (blocks and indexes) and the Manager's
	// state (meta keys under "tasks/"). The caller owns it and closes it after the Manager.
	Store *store.Store
	// Bus publishes to the network. The caller delivers the network's envelopes to HandleEnvelope.
	Bus Bus
	// Executor runs tasks.
	Executor Executor
	// Estimator sizes tasks; nil uses the Need of the task's Offer.
	Estimator Estimator

	// Workers is how many tasks run at once, one model per worker: 0 means runtime.NumCPU()
	// (one per core). SetWorkers changes it later.
	Workers int
	// Memory is the memory, in bytes, the running tasks may use together (0: no limit). A task
	// whose Need.Memory does not fit what is left is not claimed.
	Memory int64
	// MaxCompute is the largest task, in FLOPs, this node takes (0: no limit).
	MaxCompute int64
	// Class names the node's reproducibility classes, space-separated ("cpu-v1", "cpu-v1 cuda-v1"),
	// advertised in its Capability; SetClass changes it later.
	Class string
	// Weight, when not nil, is a peer's weight in claim ranking, in (0, 1]: the node passes its
	// verification reputation (consensus.Reputation.RankWeight), so that peers whose results lost
	// votes rank after trusted ones for the same task (weighted rendezvous hashing, WeightedKey).
	// Nil weighs every peer 1 (plain Score order). It is called with the Manager's lock held and
	// must be fast and must not call the Manager.
	Weight func(peer.ID) float64

	// Lease is the lease a claim grants (object.Claim.LeaseMillis): 0 means DefaultLease.
	Lease time.Duration
	// Heartbeat is how often a running task's lease is renewed: 0 means Lease/4.
	Heartbeat time.Duration
	// RankDelay is how long a node waits per rank below the top R before claiming: 0 means
	// DefaultRankDelay.
	RankDelay time.Duration
	// Tick is how often the Manager re-evaluates claims, leases and heartbeats: 0 means
	// DefaultTick.
	Tick time.Duration
	// CapabilityInterval is how often the node re-advertises its Capability; a peer whose
	// capability is older than three intervals drops out of the ranking. 0 means
	// DefaultCapabilityInterval.
	CapabilityInterval time.Duration
	// Warmup is how long a new or restarted Manager listens before it claims new tasks (its own
	// unexpired tasks resume at once), so that it hears the live leases (renewed every Heartbeat)
	// and the peers first. 0 means Heartbeat; a negative value means none.
	Warmup time.Duration
	// PauseHold is how long a paused node keeps the leases of its paused tasks before releasing
	// them to other nodes (their checkpoints are kept): 0 means DefaultPauseHold.
	PauseHold time.Duration
	// Retention is how long checkpoints are kept: 0 means DefaultRetention.
	Retention time.Duration
	// PublishTimeout bounds one Bus.Publish: 0 means DefaultPublishTimeout.
	PublishTimeout time.Duration

	// MaxTasks bounds the tasks a node tracks (offers beyond it are ignored): 0 means
	// DefaultMaxTasks.
	MaxTasks int
	// MaxPeers bounds the peers whose capability a node tracks: 0 means DefaultMaxPeers.
	MaxPeers int
	// MaxFailures is how many times the node retries a task whose execution failed: 0 means
	// DefaultMaxFailures.
	MaxFailures int

	// Logger receives the Manager's logs; nil discards them.
	Logger *slog.Logger
	// OnEvent, when not nil, receives progress events (for a status line). It is called from the
	// Manager's goroutines, never with a lock held, and must not block.
	OnEvent func(Event)
}

// withDefaults fills zero fields and checks the result.
func (c Config) withDefaults() (Config, error) {
	if c.Key == nil || c.Store == nil || c.Bus == nil || c.Executor == nil {
		return c, fmt.Errorf("%w: Key, Store, Bus and Executor are required", ErrConfig)
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if c.Workers == 0 {
		c.Workers = runtime.NumCPU()
	}
	def(&c.Lease, DefaultLease)
	def(&c.Heartbeat, c.Lease/4)
	def(&c.RankDelay, DefaultRankDelay)
	def(&c.Tick, DefaultTick)
	def(&c.CapabilityInterval, DefaultCapabilityInterval)
	def(&c.Warmup, c.Heartbeat)
	def(&c.PauseHold, DefaultPauseHold)
	def(&c.Retention, DefaultRetention)
	def(&c.PublishTimeout, DefaultPublishTimeout)
	if c.Warmup < 0 {
		c.Warmup = 0
	}
	if c.MaxTasks == 0 {
		c.MaxTasks = DefaultMaxTasks
	}
	if c.MaxPeers == 0 {
		c.MaxPeers = DefaultMaxPeers
	}
	if c.MaxFailures == 0 {
		c.MaxFailures = DefaultMaxFailures
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	lease := c.Lease.Milliseconds()
	switch {
	case c.Workers < 0 || c.Workers > object.MaxWorkers:
		return c, fmt.Errorf("%w: Workers %d, want 0-%d", ErrConfig, c.Workers, object.MaxWorkers)
	case c.Memory < 0 || c.Memory > object.MaxMemory || c.MaxCompute < 0 || c.MaxCompute > object.MaxCompute:
		return c, fmt.Errorf("%w: Memory %d / MaxCompute %d out of range", ErrConfig, c.Memory, c.MaxCompute)
	case len(c.Class) > object.MaxClass:
		return c, fmt.Errorf("%w: Class of %d bytes", ErrConfig, len(c.Class))
	case lease < object.MinLeaseMillis || lease > object.MaxLeaseMillis:
		return c, fmt.Errorf("%w: Lease %s, want %dms-%dms", ErrConfig, c.Lease, object.MinLeaseMillis, object.MaxLeaseMillis)
	case c.Heartbeat <= 0 || c.Heartbeat >= c.Lease:
		return c, fmt.Errorf("%w: Heartbeat %s must be positive and shorter than Lease %s", ErrConfig, c.Heartbeat, c.Lease)
	case c.RankDelay < 0 || c.Tick <= 0 || c.CapabilityInterval <= 0 || c.PauseHold < 0 || c.Retention < 2*time.Second || c.PublishTimeout <= 0:
		return c, fmt.Errorf("%w: negative or zero duration (RankDelay, Tick, CapabilityInterval, PauseHold, Retention >= 2s, PublishTimeout)", ErrConfig)
	case c.MaxTasks < 0 || c.MaxPeers < 0 || c.MaxFailures < 0:
		return c, fmt.Errorf("%w: negative MaxTasks, MaxPeers or MaxFailures", ErrConfig)
	}
	return c, nil
}
