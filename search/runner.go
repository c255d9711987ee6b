package search

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/bench"
	"github.com/airanode/airanode/consensus"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/registry"
	"github.com/airanode/airanode/store"
)

// Submitter announces tasks to the network. *tasks.Manager implements it: Submit stores the task
// and a signed offer with replication R and gossips the offer; submitting a known task again only
// re-announces it. Implementations must be safe for concurrent use.
type Submitter interface {
	Submit(ctx context.Context, task object.Task, replicas int) (cid.Cid, error)
}

// ResultSource reports the verification state of a search's tasks. *registry.Registry
// implements it (verdicts computed with consensus.Verdict over the signed results and
// attestations held). Implementations must be safe for concurrent use.
type ResultSource interface {
	Outcomes(ctx context.Context, search cid.Cid) ([]registry.TaskOutcome, error)
}

// Publisher gossips a signed envelope of the search (its proposals). The node implements it on
// the search's topic; it may be nil (proposals then reach peers only through sync).
type Publisher interface {
	Publish(ctx context.Context, search string, kind object.Kind, env []byte) error
}

// Runner defaults.
const (
	DefaultInFlight = 4
	DefaultPoll     = 2 * time.Second
	// maxAttempts bounds the proposals asked of an agent, duplicates included, per new candidate.
	maxAttempts = 64
	// MaxInFlight bounds Config.InFlight.
	MaxInFlight = 1024
)

// Config configures a Runner. Search, CID, Key, Store, Submitter and Results are required.
type Config struct {
	// Search is the search to run and CID its sealed CID (registry.PutSearch's).
	Search object.Search
	CID    cid.Cid
	// Key signs the proposals (the node's identity).
	Key crypto.PrivKey
	// Store receives the architecture objects and proposals; it must hold the search's protocol
	// object (Launch stores it).
	Store *store.Store
	// Submitter announces the tasks; Results reports their verdicts; Publisher (optional)
	// gossips the proposals.
	Submitter Submitter
	Results   ResultSource
	Publisher Publisher
	// Agents are the names of the search's agents to run here (empty: all of them).
	Agents []string
	// InFlight is how many of this runner's tasks may be unsettled at once (0: DefaultInFlight).
	InFlight int
	// Poll is how often Run looks at verdicts and proposes (0: DefaultPoll).
	Poll time.Duration
	// Logger receives the runner's logs; nil discards them.
	Logger *slog.Logger
}

// Runner states, as Status reports them.
const (
	StateRunning   = "running"   // tasks are proposed or in flight
	StateDone      = "done"      // the budget is spent and every task of the runner is settled
	StateExhausted = "exhausted" // the agents find no new candidate and nothing is in flight
)

// AgentStatus counts one agent's work on this runner.
type AgentStatus struct {
	Name string `json:"name"`
	// Proposed counts candidates submitted; Duplicates proposals of candidates already known;
	// Failures proposals that failed (no candidate found, or outside the space).
	Proposed   int `json:"proposed"`
	Duplicates int `json:"duplicates"`
	Failures   int `json:"failures"`
}

// Best is the best verified candidate of a search.
type Best struct {
	Arch     string `json:"arch"`
	Spelling string `json:"spelling"`
	Task     string `json:"task"`
	Score    int64  `json:"score"`
}

// Status is a search's progress.
type Status struct {
	Search string `json:"search"`
	Name   string `json:"name"`
	State  string `json:"state"`
	// Budget is the search's budget; Used the tasks of the search known (started by any node).
	Budget int64 `json:"budget"`
	Used   int   `json:"used"`
	// Settled tasks are verified or disputed; Pending the rest (results missing or in dispute).
	Settled  int `json:"settled"`
	Verified int `json:"verified"`
	Disputed int `json:"disputed"`
	Pending  int `json:"pending"`
	// InFlight is how many of this runner's tasks are unsettled (0 outside a runner).
	InFlight int `json:"in_flight"`
	// Best is the best verified candidate so far (nil before the first verification).
	Best *Best `json:"best,omitempty"`
	// Agents are per-agent counters: from the runner, or counted from the stored proposals.
	Agents []AgentStatus `json:"agents"`
}

// runAgent is one agent on this runner.
type runAgent struct {
	agent Agent
	seed  uint64
	calls uint64
	st    AgentStatus
}

// Runner proposes candidates for one search and submits them as tasks until the budget is spent.
// Create it with NewRunner; drive it with Run (or Step, in tests and simulations).
type Runner struct {
	cfg      Config
	self     peer.ID
	space    arch.Space
	protocol *bench.Protocol
	lower    bool
	log      *slog.Logger

	// step serialises Step; the fields below it are only used under it.
	step      sync.Mutex
	agents    []*runAgent
	next      int
	known     map[string]bool // task CIDs of the search known (any proposer)
	inFlight  map[string]bool // this runner's unsettled tasks
	counted   map[string]bool // tasks whose verified score is in history
	rerun     map[string]bool // disputed tasks already re-run
	history   []Candidate     // verified, in the order this runner saw them
	first     bool            // the first Step has run
	exhausted bool
	status    Status

	// mu guards the snapshots Status and History return.
	mu       sync.Mutex
	snap     Status
	snapHist []Candidate
}

// NewRunner checks cfg and returns a Runner. The search must pass Check, and the store must
// hold its protocol object.
func NewRunner(cfg Config) (*Runner, error) {
	switch {
	case cfg.Key == nil:
		return nil, fmt.Errorf("%w: no key", ErrConfig)
	case cfg.Store == nil:
		return nil, fmt.Errorf("%w: no store", ErrConfig)
	case cfg.Submitter == nil:
		return nil, fmt.Errorf("%w: no submitter", ErrConfig)
	case cfg.Results == nil:
		return nil, fmt.Errorf("%w: no result source", ErrConfig)
	case cfg.InFlight < 0 || cfg.InFlight > MaxInFlight:
		return nil, fmt.Errorf("%w: in flight %d, want 0-%d", ErrConfig, cfg.InFlight, MaxInFlight)
	case cfg.Poll < 0:
		return nil, fmt.Errorf("%w: negative poll interval", ErrConfig)
	}
	if err := object.CheckCID(cfg.CID); err != nil {
		return nil, fmt.Errorf("%w: search CID: %w", ErrConfig, err)
	}
	if cfg.InFlight == 0 {
		cfg.InFlight = DefaultInFlight
	}
	if cfg.Poll == 0 {
		cfg.Poll = DefaultPoll
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	self, err := peer.IDFromPrivateKey(cfg.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: key: %w", ErrConfig, err)
	}
	pc, err := object.ParseCID(cfg.Search.Protocol)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSpec, err)
	}
	pb, err := cfg.Store.Get(pc)
	if err != nil {
		return nil, fmt.Errorf("%w: protocol %s: %w", ErrConfig, pc, err)
	}
	p, err := bench.DecodeProtocol(pc, pb)
	if err != nil {
		return nil, fmt.Errorf("%w: protocol %s: %w", ErrSpec, pc, err)
	}
	if err := Check(cfg.Search, p); err != nil {
		return nil, err
	}
	r := &Runner{
		cfg: cfg, self: self, space: Space(cfg.Search.Space), protocol: p, lower: registry.LowerIsBetter(p),
		log: log.With("search", cfg.Search.Name), known: map[string]bool{}, inFlight: map[string]bool{},
		counted: map[string]bool{}, rerun: map[string]bool{},
	}
	names := cfg.Agents
	if len(names) == 0 {
		for _, a := range cfg.Search.Agents {
			names = append(names, a.Name)
		}
	}
	for _, n := range names {
		spec, ok := cfg.Search.Agent(n)
		if !ok {
			return nil, fmt.Errorf("%w: agent %q is not one of the search's", ErrConfig, n)
		}
		a, err := NewAgent(spec)
		if err != nil {
			return nil, err
		}
		h := fnv.New64a()
		h.Write([]byte(n))
		r.agents = append(r.agents, &runAgent{agent: a, seed: arch.Derive(cfg.Search.Seed, h.Sum64()),
			st: AgentStatus{Name: n}})
	}
	r.status = Status{Search: cfg.CID.String(), Name: cfg.Search.Name, State: StateRunning, Budget: cfg.Search.Budget}
	r.refresh(nil)
	return r, nil
}

// Run proposes and submits until the search is done or exhausted (it returns nil) or ctx ends
// (it returns ctx's error). A failing step (the store, the submitter) is logged and retried at
// the next poll.
func (r *Runner) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.Poll)
	defer t.Stop()
	for {
		done, err := r.Step(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			r.log.Warn("search step failed; retrying", "err", err)
		}
		if done {
			st := r.Status()
			r.log.Info("search finished", "state", st.State, "used", st.Used, "verified", st.Verified)
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// Step reads the verdicts, updates the verified history, and proposes and submits candidates
// while fewer than InFlight of this runner's tasks are unsettled and the budget allows. It
// reports whether the runner is finished: the budget is spent and its tasks are settled, or the
// agents find nothing new while nothing is in flight.
func (r *Runner) Step(ctx context.Context) (bool, error) {
	outs, err := r.cfg.Results.Outcomes(ctx, r.cfg.CID)
	if err != nil {
		return false, fmt.Errorf("outcomes: %w", err)
	}
	r.step.Lock()
	defer r.step.Unlock()
	r.absorb(outs)
	if err := r.rerunDisputed(ctx, outs); err != nil {
		r.refresh(outs)
		return false, err
	}
	r.exhausted = false
	for len(r.inFlight) < r.cfg.InFlight && int64(len(r.known)) < r.cfg.Search.Budget {
		ok, err := r.proposeOne(ctx)
		if err != nil {
			r.refresh(outs)
			return false, err
		}
		if !ok {
			r.exhausted = len(r.inFlight) == 0
			break
		}
	}
	r.refresh(outs)
	return r.status.State != StateRunning, nil
}

// rerunDisputed re-runs, once, every disputed task of the search that ran with the search's seed:
// a new task of the same candidate with the next seed (the disputed votes stay as they are, and no
// score of the candidate stands until the new task is verified). Re-runs count in the budget's
// Used but are made even when it is spent. r.step is held.
func (r *Runner) rerunDisputed(ctx context.Context, outs []registry.TaskOutcome) error {
	for _, o := range outs {
		if o.State != consensus.Disputed || o.Spec.Seed != r.cfg.Search.Seed || r.rerun[o.Task] {
			continue
		}
		t := o.Spec
		t.Seed++
		tc, err := object.CID(t)
		if err != nil {
			return fmt.Errorf("re-run task: %w", err)
		}
		switch {
		case r.known[tc.String()]:
		case r.held(tc):
			r.known[tc.String()] = true
		default:
			// Marked only once submitted: a failed submit is tried again at the next step.
			if err := r.offer(ctx, t, tc); err != nil {
				return fmt.Errorf("re-run disputed task %s: %w", o.Task, err)
			}
			r.log.Info("disputed: re-running with the next seed", "task", o.Task, "rerun", tc)
		}
		r.rerun[o.Task] = true
	}
	return nil
}

// held reports whether the store holds task tc; a store error counts as not held (the task is
// then offered again, which is harmless: an offer of a task held already changes nothing).
func (r *Runner) held(tc cid.Cid) bool {
	has, err := r.cfg.Store.Has(tc)
	return err == nil && has
}

// offer submits task (whose CID is tc) and counts it known and in flight; r.step is held. A task
// accepted but not announced is in flight (the node re-announces it); one the submitter names
// otherwise is an error.
func (r *Runner) offer(ctx context.Context, task object.Task, tc cid.Cid) error {
	got, err := r.cfg.Submitter.Submit(ctx, task, int(r.cfg.Search.Policy.Replicas))
	if err != nil && !got.Defined() {
		return fmt.Errorf("submit task: %w", err)
	}
	if err != nil {
		r.log.Warn("submit: announcing the task failed; it will be re-announced", "task", got, "err", err)
	}
	if got.Defined() && !got.Equals(tc) {
		return fmt.Errorf("submit: the submitter named the task %s, not %s", got, tc)
	}
	r.known[tc.String()] = true
	r.inFlight[tc.String()] = true
	return nil
}

// absorb takes new verdicts into the runner's state; r.step is held.
func (r *Runner) absorb(outs []registry.TaskOutcome) {
	var fresh []registry.TaskOutcome
	for _, o := range outs {
		r.known[o.Task] = true
		if !r.first && !o.Final() {
			r.inFlight[o.Task] = true // a restart: unsettled tasks of the search hold slots
		}
		if o.Final() {
			delete(r.inFlight, o.Task)
		}
		if o.Verified && !r.counted[o.Task] {
			fresh = append(fresh, o)
		}
	}
	r.first = true
	// A batch of verdicts joins the history in task CID order, so the history is a function of
	// what was verified when, not of the order the source lists it in.
	sort.Slice(fresh, func(i, j int) bool { return fresh[i].Task < fresh[j].Task })
	for _, o := range fresh {
		ac, err := object.ParseCID(o.Spec.Arch)
		if err != nil {
			continue
		}
		b, err := r.cfg.Store.Get(ac)
		if err != nil {
			continue // not fetched yet: it joins when it is held
		}
		m, got, err := arch.Decode(b)
		if err != nil || !got.Equals(ac) {
			r.counted[o.Task] = true // a bad object never becomes a parent
			continue
		}
		tc, _ := object.ParseCID(o.Task)
		r.counted[o.Task] = true
		r.history = append(r.history, Candidate{Arch: ac, Model: m, Task: tc, Score: o.Score,
			Fitness: registry.Fitness(o.Score, r.lower)})
	}
}

// refresh recomputes the status and publishes the snapshots; r.step is held.
func (r *Runner) refresh(outs []registry.TaskOutcome) {
	st := &r.status
	st.Used = len(r.known)
	st.Settled, st.Verified, st.Disputed, st.Pending = 0, 0, 0, 0
	for _, o := range outs {
		switch {
		case o.Verified:
			st.Verified++
			st.Settled++
		case o.Final():
			st.Disputed++
			st.Settled++
		}
	}
	st.Pending = st.Used - st.Settled
	st.InFlight = len(r.inFlight)
	st.Best = nil
	var best *Candidate
	for i := range r.history {
		c := &r.history[i]
		if best == nil || c.Fitness > best.Fitness || c.Fitness == best.Fitness && c.Arch.KeyString() < best.Arch.KeyString() {
			best = c
		}
	}
	if best != nil {
		st.Best = &Best{Arch: best.Arch.String(), Spelling: arch.Print(best.Model), Task: best.Task.String(), Score: best.Score}
	}
	st.Agents = st.Agents[:0]
	for _, a := range r.agents {
		st.Agents = append(st.Agents, a.st)
	}
	switch {
	case int64(len(r.known)) >= r.cfg.Search.Budget && len(r.inFlight) == 0:
		st.State = StateDone
	case r.exhausted:
		st.State = StateExhausted
	default:
		st.State = StateRunning
	}
	snap := *st
	snap.Agents = append([]AgentStatus(nil), st.Agents...)
	hist := append([]Candidate(nil), r.history...)
	r.mu.Lock()
	r.snap, r.snapHist = snap, hist
	r.mu.Unlock()
}

// proposeOne asks the next agent for a new candidate and submits it. It reports false when no
// agent has one now (all wait, fail or repeat known candidates); r.step is held.
func (r *Runner) proposeOne(ctx context.Context) (bool, error) {
	for range r.agents {
		ra := r.agents[r.next%len(r.agents)]
		r.next++
		ok, err := r.proposeWith(ctx, ra)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// proposeWith asks one agent for a new candidate, up to maxAttempts proposals; r.step is held.
func (r *Runner) proposeWith(ctx context.Context, ra *runAgent) (bool, error) {
	for attempt := 0; attempt < maxAttempts; attempt++ {
		in := Input{Space: r.space, History: r.history, Pending: len(r.inFlight), Seed: arch.Derive(ra.seed, ra.calls)}
		ra.calls++
		p, err := ra.agent.Propose(in)
		if errors.Is(err, ErrWait) {
			return false, nil
		}
		if err != nil {
			ra.st.Failures++
			r.log.Debug("agent found no candidate", "agent", ra.agent.Name(), "err", err)
			continue
		}
		if err := r.space.Contains(p.Model); err != nil {
			ra.st.Failures++
			r.log.Warn("agent proposed outside the space", "agent", ra.agent.Name(), "err", err)
			continue
		}
		if err := bench.Binds(p.Model, r.protocol); err != nil {
			ra.st.Failures++
			r.log.Debug("candidate does not build under the protocol", "agent", ra.agent.Name(), "err", err)
			continue
		}
		ab, ac, err := arch.Encode(p.Model)
		if err != nil {
			ra.st.Failures++
			continue
		}
		task := object.Task{Search: r.cfg.CID.String(), Arch: ac.String(), Protocol: r.cfg.Search.Protocol, Seed: r.cfg.Search.Seed}
		tc, err := object.CID(task)
		if err != nil {
			return false, fmt.Errorf("task: %w", err)
		}
		if r.known[tc.String()] {
			ra.st.Duplicates++
			continue
		}
		if r.held(tc) {
			// Offered by someone, not yet in the outcomes this step read: merge.
			r.known[tc.String()] = true
			ra.st.Duplicates++
			continue
		}
		if err := r.submit(ctx, ra, p, ab, ac, task, tc); err != nil {
			return false, err
		}
		return true, nil
	}
	return false, nil
}

// submit stores the candidate and its proposal and submits the task; r.step is held.
func (r *Runner) submit(ctx context.Context, ra *runAgent, p Proposal, ab []byte, ac cid.Cid, task object.Task, tc cid.Cid) error {
	// The objects are promised to peers by the offer: durable before it leaves.
	if err := r.cfg.Store.PutWith(ac, ab, store.PutOptions{Sync: true}); err != nil {
		return fmt.Errorf("store architecture: %w", err)
	}
	prop := object.Proposal{Search: r.cfg.CID.String(), Arch: ac.String(), Agent: ra.agent.Name(),
		Rationale: clip(p.Rationale, object.MaxRationale), Proposer: r.self.String()}
	for _, pc := range p.Parents {
		if len(prop.Parents) < object.MaxParents && !pc.Equals(ac) {
			prop.Parents = append(prop.Parents, pc.String())
		}
	}
	env, err := object.Seal(r.cfg.Key, object.KindProposal, prop)
	if err != nil {
		return fmt.Errorf("seal proposal: %w", err)
	}
	if _, _, err := registry.PutProposal(r.cfg.Store, env, true); err != nil {
		return fmt.Errorf("store proposal: %w", err)
	}
	if r.cfg.Publisher != nil {
		if err := r.cfg.Publisher.Publish(ctx, r.cfg.CID.String(), object.KindProposal, env); err != nil {
			r.log.Warn("publish proposal", "arch", ac, "err", err)
		}
	}
	if err := r.offer(ctx, task, tc); err != nil {
		return err
	}
	ra.st.Proposed++
	r.log.Info("proposed", "agent", ra.agent.Name(), "arch", arch.Print(p.Model), "task", tc, "why", prop.Rationale)
	return nil
}

// Status returns the runner's progress as of its last step.
func (r *Runner) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.snap
	st.Agents = append([]AgentStatus(nil), r.snap.Agents...)
	if st.Best != nil {
		b := *st.Best
		st.Best = &b
	}
	return st
}

// History returns a copy of the verified history the agents see, oldest first.
func (r *Runner) History() []Candidate {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Candidate(nil), r.snapHist...)
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && (s[n]&0xC0) == 0x80 {
		n--
	}
	return s[:n]
}
