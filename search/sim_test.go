package search_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/registry"
	"github.com/airanode/airanode/registry/registrytest"
	"github.com/airanode/airanode/search"
	"github.com/airanode/airanode/store"
)

// fakeNetwork is a test double of the network and its volunteers: Submit stores the task and
// indexes it as the tasks Manager does, and Execute has fake executors report, as real signed
// results, the score a known objective function gives the architecture instead of training it.
// With a liar set, the liar also reports a fabricated score for every task, and alone for the
// tasks liarOnly picks (so those never verify).
type fakeNetwork struct {
	t        testing.TB
	st       *store.Store
	honest   []registrytest.Peer
	liar     *registrytest.Peer
	liarOnly func(arch.Arch) bool
	// split, when set, makes the two honest peers disagree on the tasks it picks (the second
	// reports the score + 1): with no extra votes allowed, such a task is disputed.
	split func(object.Task) bool
	// refuse, when set, makes Submit fail (nothing stored or queued) for the tasks it picks.
	refuse    func(object.Task) bool
	objective func(arch.Arch) int64

	mu       sync.Mutex
	queue    []object.Task
	submits  map[string]int // task CID → Submit calls
	replicas map[string]int // task CID → R
	scores   map[string]int64
}

const fabricated = 990_000

func newFakeNetwork(t testing.TB, st *store.Store, objective func(arch.Arch) int64) *fakeNetwork {
	return &fakeNetwork{t: t, st: st, honest: registrytest.NewPeers(t, 2), objective: objective,
		submits: map[string]int{}, replicas: map[string]int{}, scores: map[string]int64{}}
}

func (n *fakeNetwork) Submit(_ context.Context, task object.Task, replicas int) (cid.Cid, error) {
	if err := task.Validate(); err != nil {
		return cid.Undef, err
	}
	if n.refuse != nil && n.refuse(task) {
		return cid.Undef, errors.New("fake network: submit refused")
	}
	tc := registrytest.PutTask(n.t, n.st, task)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.submits[tc.String()]++
	n.replicas[tc.String()] = replicas
	if n.submits[tc.String()] == 1 {
		n.queue = append(n.queue, task)
	}
	return tc, nil
}

// Execute runs the k oldest queued tasks and reports how many it ran.
func (n *fakeNetwork) Execute(k int) int {
	n.mu.Lock()
	k = min(k, len(n.queue))
	run := append([]object.Task(nil), n.queue[:k]...)
	n.queue = n.queue[k:]
	n.mu.Unlock()
	for _, task := range run {
		tc, err := object.CID(task)
		if err != nil {
			n.t.Fatal(err)
		}
		ac, err := object.ParseCID(task.Arch)
		if err != nil {
			n.t.Fatal(err)
		}
		b, err := n.st.Get(ac)
		if err != nil {
			n.t.Fatal(err)
		}
		a, _, err := arch.Decode(b)
		if err != nil {
			n.t.Fatal(err)
		}
		score := n.objective(a)
		n.mu.Lock()
		n.scores[task.Arch] = score
		n.mu.Unlock()
		if n.liar != nil {
			registrytest.PutResult(n.t, n.st, *n.liar, task, tc, fabricated)
			if n.liarOnly != nil && n.liarOnly(a) {
				continue
			}
		}
		for i, p := range n.honest[:min(replicas(n, task), len(n.honest))] {
			s := score
			if i == 1 && n.split != nil && n.split(task) {
				s++
			}
			registrytest.PutResult(n.t, n.st, p, task, tc, s)
		}
	}
	return len(run)
}

// replicas is the replication the task was submitted with.
func replicas(n *fakeNetwork, task object.Task) int {
	tc, _ := object.CID(task)
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.replicas[tc.String()]
}

func (n *fakeNetwork) duplicates() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for tc, k := range n.submits {
		if k > 1 {
			out = append(out, tc)
		}
	}
	return out
}

func (n *fakeNetwork) tasks() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.submits)
}

// target is the synthetic objective's optimum: A M S M A M.
var target = []string{"attention", "swiglu", "mamba", "swiglu", "attention", "swiglu"}

// patternObjective scores an architecture by how well its layer pattern matches target: the
// share of positions that match, less 5% per layer of length difference (fixed point, 1.0 =
// object.Fixed). A known function, standing in for training.
func patternObjective(a arch.Arch) int64 {
	match := 0
	for i := 0; i < min(len(a.Layers), len(target)); i++ {
		if a.Layers[i].Kind == target[i] {
			match++
		}
	}
	d := len(a.Layers) - len(target)
	if d < 0 {
		d = -d
	}
	return max(0, int64(match)*object.Fixed/int64(len(target))-int64(d)*50_000)
}

// simSpec is a search over A, M and S at width 64, 2-8 layers, under MAD-lite.
func simSpec(agent object.AgentSpec, budget int64, seed uint64) search.Spec {
	return search.Spec{
		Name: "sim", Space: object.SearchSpace{Primitives: []string{"A", "M", "S"}, MinDepth: 2, MaxDepth: 8, MinWidth: 64, MaxWidth: 64},
		Protocol: "mad-lite", Budget: budget, Policy: object.DefaultPolicy(), Agents: []object.AgentSpec{agent}, Seed: seed,
	}
}

// sim is one simulated search: a store, a launched search, a fake network and a runner.
type sim struct {
	st     *store.Store
	reg    *registry.Registry
	net    *fakeNetwork
	runner *search.Runner
	l      search.Launched
	key    registrytest.Peer
}

func newSim(t testing.TB, spec search.Spec, inFlight int, objective func(arch.Arch) int64) *sim {
	t.Helper()
	st := registrytest.Store(t)
	key := registrytest.SeededPeer(t, spec.Seed)
	l, err := search.Launch(st, key.Key, spec)
	if err != nil {
		t.Fatal(err)
	}
	s := &sim{st: st, reg: registry.New(st, nil), net: newFakeNetwork(t, st, objective), l: l, key: key}
	s.runner = s.newRunner(t, key, inFlight)
	return s
}

func (s *sim) newRunner(t testing.TB, key registrytest.Peer, inFlight int) *search.Runner {
	t.Helper()
	r, err := search.NewRunner(search.Config{Search: s.l.Search, CID: s.l.CID, Key: key.Key, Store: s.st,
		Submitter: s.net, Results: s.reg, InFlight: inFlight})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// run steps the runner, executing perStep tasks between steps, until it is finished or maxSteps
// pass. It returns the number of steps.
func (s *sim) run(t testing.TB, perStep, maxSteps int) int {
	t.Helper()
	for i := 0; i < maxSteps; i++ {
		done, err := s.runner.Step(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if done {
			return i
		}
		s.net.Execute(perStep)
	}
	return maxSteps
}
