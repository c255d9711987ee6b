package search_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/consensus"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/registry"
	"github.com/airanode/airanode/registry/registrytest"
	"github.com/airanode/airanode/search"
)

var (
	evolution = object.AgentSpec{Name: "evolution", Params: map[string]int64{"population": 10, "tournament": 3}}
	random    = object.AgentSpec{Name: "random"}
)

// TestEvolutionBeatsRandom: on a synthetic objective (a known function of the layer pattern,
// scored by the fakeNetwork test double) regularised evolution finds better candidates than
// random sampling with the same budget, over several seeds.
func TestEvolutionBeatsRandom(t *testing.T) {
	const seeds, budget = 5, 100
	evolution := object.AgentSpec{Name: "evolution", Params: map[string]int64{"population": 10, "tournament": 5}}
	best := func(agent object.AgentSpec, seed uint64) int64 {
		spec := simSpec(agent, budget, seed)
		// One trusted executor per task: this test is about the agents, not verification.
		spec.Policy = object.Policy{Replicas: 1, Quorum: 1}
		s := newSim(t, spec, 4, patternObjective)
		if steps := s.run(t, 4, 1000); steps >= 1000 {
			t.Fatalf("%s seed %d did not finish", agent.Name, seed)
		}
		st := s.runner.Status()
		if st.State != search.StateDone || st.Used != budget || st.Verified != budget || st.Best == nil {
			t.Fatalf("%s seed %d: status %+v", agent.Name, seed, st)
		}
		return st.Best.Score
	}
	var evo, rnd int64
	for seed := uint64(1); seed <= seeds; seed++ {
		e, r := best(evolution, seed), best(random, seed)
		t.Logf("seed %d: evolution %s, random %s", seed, search.FormatScore(e), search.FormatScore(r))
		evo += e
		rnd += r
	}
	t.Logf("mean best: evolution %s, random %s", search.FormatScore(evo/seeds), search.FormatScore(rnd/seeds))
	if evo <= rnd {
		t.Fatalf("evolution (mean %d) did not beat random (mean %d)", evo/seeds, rnd/seeds)
	}
}

// TestRunnerDeterministic: the same search and the same verdict sequence give the same
// proposals.
func TestRunnerDeterministic(t *testing.T) {
	trace := func() []string {
		s := newSim(t, simSpec(evolution, 20, 5), 3, patternObjective)
		s.run(t, 1, 500)
		var out []string
		for _, c := range s.runner.History() {
			out = append(out, fmt.Sprintf("%s=%d", arch.Print(c.Model), c.Score))
		}
		return out
	}
	a, b := trace(), trace()
	if fmt.Sprint(a) != fmt.Sprint(b) || len(a) != 20 {
		t.Fatalf("runs differ or incomplete:\n%v\n%v", a, b)
	}
}

// TestRunnerBudget: the runner starts exactly Budget tasks, each once, and stops.
func TestRunnerBudget(t *testing.T) {
	s := newSim(t, simSpec(evolution, 13, 2), 5, patternObjective)
	s.run(t, 3, 500)
	if n := s.net.tasks(); n != 13 {
		t.Fatalf("%d tasks submitted, want the budget 13", n)
	}
	if d := s.net.duplicates(); len(d) != 0 {
		t.Fatalf("tasks submitted twice: %v", d)
	}
	st := s.runner.Status()
	if st.State != search.StateDone || st.Used != 13 || st.Settled != 13 || st.InFlight != 0 || st.Agents[0].Proposed != 13 {
		t.Fatalf("status %+v", st)
	}
	// More steps change nothing.
	for i := 0; i < 3; i++ {
		if done, err := s.runner.Step(context.Background()); !done || err != nil {
			t.Fatalf("step after done: %v %v", done, err)
		}
	}
	if n := s.net.tasks(); n != 13 {
		t.Fatalf("%d tasks after done", n)
	}
	// The proposals are stored and signed: one per task, with the agent and parents.
	props := 0
	for _, c := range s.runner.History() {
		d, err := s.reg.Show(context.Background(), c.Arch)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Proposals) != 1 || d.Proposals[0].Agent != "evolution" || d.Proposals[0].Proposer != s.key.ID.String() ||
			d.Proposals[0].Search != s.l.CID.String() || d.Proposals[0].Rationale == "" {
			t.Fatalf("proposals of %s: %+v", c.Arch, d.Proposals)
		}
		props++
	}
	if props != 13 {
		t.Fatalf("%d proposals", props)
	}
}

// TestRunnerDuplicatesMerge: in a space with only two distinct random samples the runner
// submits two tasks and reports the space exhausted; a second runner (another node) on the same
// search merges into the known tasks and submits nothing.
func TestRunnerDuplicatesMerge(t *testing.T) {
	spec := simSpec(random, 10, 1)
	spec.Space = object.SearchSpace{Primitives: []string{"M"}, MinDepth: 1, MaxDepth: 2, MinWidth: 64, MaxWidth: 64}
	s := newSim(t, spec, 4, patternObjective)
	s.run(t, 4, 50)
	st := s.runner.Status()
	if st.State != search.StateExhausted || st.Used != 2 || st.Agents[0].Duplicates == 0 {
		t.Fatalf("status %+v", st)
	}
	other := s.newRunner(t, registrytest.NewPeer(t), 4)
	for i := 0; i < 3; i++ {
		if _, err := other.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if ost := other.Status(); ost.Agents[0].Proposed != 0 || ost.Used != 2 || ost.State != search.StateExhausted {
		t.Fatalf("second runner: %+v", ost)
	}
	if n, d := s.net.tasks(), s.net.duplicates(); n != 2 || len(d) != 0 {
		t.Fatalf("%d tasks, duplicates %v", n, d)
	}
}

// TestRunnerOnlyVerified: a liar reports a fabricated score for every task, alone for the tasks
// without attention layers. Those never verify; the others verify with the honest score. The
// agents' history holds only verified, honest scores, every proposal's parents are verified
// candidates, and the leaderboard never shows the fabricated score.
func TestRunnerOnlyVerified(t *testing.T) {
	s := newSim(t, simSpec(evolution, 30, 3), 4, patternObjective)
	liar := registrytest.NewPeer(t)
	s.net.liar = &liar
	s.net.liarOnly = func(a arch.Arch) bool {
		for _, l := range a.Layers {
			if l.Kind == "attention" {
				return false
			}
		}
		return true
	}
	s.run(t, 2, 300)
	hist := s.runner.History()
	if len(hist) == 0 {
		t.Fatal("nothing verified")
	}
	verified := map[string]bool{}
	for _, c := range hist {
		if c.Score == fabricated || c.Score != patternObjective(c.Model) || s.net.liarOnly(c.Model) {
			t.Fatalf("history holds an unverified or fabricated score: %s = %d", arch.Print(c.Model), c.Score)
		}
		verified[c.Arch.String()] = true
	}
	outs, err := s.reg.Outcomes(context.Background(), s.l.CID)
	if err != nil {
		t.Fatal(err)
	}
	pending := 0
	for _, o := range outs {
		ac, _ := object.ParseCID(o.Spec.Arch)
		d, err := s.reg.Show(context.Background(), ac)
		if err != nil {
			t.Fatal(err)
		}
		if !o.Verified {
			pending++
		}
		for _, p := range d.Proposals {
			for _, parent := range p.Parents {
				if !verified[parent] {
					t.Fatalf("proposal %s names parent %s, which is not a verified candidate", p.CID, parent)
				}
			}
		}
	}
	if pending == 0 {
		t.Fatal("the liar-only tasks should stay unverified")
	}
	boards, err := s.reg.Top(context.Background(), registry.TopQuery{Search: s.l.CID, N: registry.MaxTop})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range boards[0].Entries {
		if e.Score == fabricated || !e.Verified {
			t.Fatalf("top shows %+v", e)
		}
	}
	if st := s.runner.Status(); st.Best == nil || st.Best.Score == fabricated || st.Pending != pending {
		t.Fatalf("status %+v (pending %d)", st, pending)
	}
}

// TestRunnerRestart: a new runner over the same store counts the tasks already started against
// the budget and submits nothing twice.
func TestRunnerRestart(t *testing.T) {
	s := newSim(t, simSpec(evolution, 12, 4), 4, patternObjective)
	for i := 0; i < 3; i++ { // part of the budget, some tasks unsettled
		if _, err := s.runner.Step(context.Background()); err != nil {
			t.Fatal(err)
		}
		s.net.Execute(1)
	}
	before := s.net.tasks()
	if before == 0 || before >= 12 {
		t.Fatalf("%d tasks before the restart", before)
	}
	s.runner = s.newRunner(t, s.key, 4)
	s.run(t, 2, 500)
	if n, d := s.net.tasks(), s.net.duplicates(); n != 12 || len(d) != 0 {
		t.Fatalf("%d tasks (want 12), duplicates %v", n, d)
	}
	st, err := search.StatusOf(context.Background(), s.st, s.reg, registry.SearchInfo{CID: s.l.CID.String(), Search: s.l.Search})
	if err != nil {
		t.Fatal(err)
	}
	rst := s.runner.Status()
	if st.State != search.StateDone || st.Used != 12 || st.Verified != 12 || st.Best == nil || *st.Best != *rst.Best ||
		len(st.Agents) != 1 || st.Agents[0].Proposed != 12 {
		t.Fatalf("StatusOf %+v, runner %+v", st, rst)
	}
}

func TestNewRunnerErrors(t *testing.T) {
	st := registrytest.Store(t)
	key := registrytest.NewPeer(t)
	l, err := search.Launch(st, key.Key, simSpec(evolution, 5, 1))
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.New(st, nil)
	net := newFakeNetwork(t, st, patternObjective)
	good := search.Config{Search: l.Search, CID: l.CID, Key: key.Key, Store: st, Submitter: net, Results: reg}
	empty := registrytest.Store(t)
	tests := []struct {
		name string
		edit func(*search.Config)
		want error
	}{
		{"no key", func(c *search.Config) { c.Key = nil }, search.ErrConfig},
		{"no store", func(c *search.Config) { c.Store = nil }, search.ErrConfig},
		{"no submitter", func(c *search.Config) { c.Submitter = nil }, search.ErrConfig},
		{"no results", func(c *search.Config) { c.Results = nil }, search.ErrConfig},
		{"bad in flight", func(c *search.Config) { c.InFlight = -1 }, search.ErrConfig},
		{"bad poll", func(c *search.Config) { c.Poll = -1 }, search.ErrConfig},
		{"no CID", func(c *search.Config) { c.CID = cid.Undef }, search.ErrConfig},
		{"protocol not held", func(c *search.Config) { c.Store = empty }, search.ErrConfig},
		{"unknown agent", func(c *search.Config) { c.Agents = []string{"llm"} }, search.ErrConfig},
		{"invalid search", func(c *search.Config) { c.Search.Budget = 0 }, search.ErrSpec},
		{"bad agent params", func(c *search.Config) {
			c.Search.Agents = []object.AgentSpec{{Name: "evolution", Params: map[string]int64{"population": 0}}}
		}, search.ErrSpec},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good
			tc.edit(&cfg)
			if _, err := search.NewRunner(cfg); !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
	if _, err := search.NewRunner(good); err != nil {
		t.Fatal(err)
	}
}

// failingSubmitter fails every submission.
type failingSubmitter struct{}

func (failingSubmitter) Submit(context.Context, object.Task, int) (cid.Cid, error) {
	return cid.Undef, errors.New("network down")
}

// TestRunnerRun: Run returns when the search is done, and on a cancelled context; a failing
// submitter makes steps fail without consuming the budget.
func TestRunnerRun(t *testing.T) {
	s := newSim(t, simSpec(random, 3, 1), 3, patternObjective)
	r, err := search.NewRunner(search.Config{Search: s.l.Search, CID: s.l.CID, Key: s.key.Key, Store: s.st,
		Submitter: failingSubmitter{}, Results: s.reg, Poll: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Step(context.Background()); err == nil {
		t.Fatal("a failing submitter should fail the step")
	}
	if st := r.Status(); st.Used != 0 || st.Agents[0].Proposed != 0 {
		t.Fatalf("failed submissions counted: %+v", st)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := r.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run on a cancelled context: %v", err)
	}

	// A network that executes everything it is given: Run finishes by itself.
	runner, err := search.NewRunner(search.Config{Search: s.l.Search, CID: s.l.CID, Key: s.key.Key, Store: s.st,
		Submitter: executeAtOnce{s.net}, Results: s.reg, Poll: 1})
	if err != nil {
		t.Fatal(err)
	}
	if err := runner.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if st := runner.Status(); st.State != search.StateDone || st.Verified != 3 {
		t.Fatalf("status %+v", st)
	}
}

// executeAtOnce is a Submitter double whose tasks are executed as soon as they are submitted.
type executeAtOnce struct{ n *fakeNetwork }

func (e executeAtOnce) Submit(ctx context.Context, task object.Task, replicas int) (cid.Cid, error) {
	c, err := e.n.Submit(ctx, task, replicas)
	e.n.Execute(1)
	return c, err
}

// TestRunnerRerunsDisputed: a disputed task (two honest executions that disagree, no extra vote
// allowed) is re-run once as a new task with the next seed; its score never reaches the history,
// the re-run's verified score does, and a re-run is not re-run again.
func TestRunnerRerunsDisputed(t *testing.T) {
	spec := simSpec(evolution, 10, 5)
	spec.Policy.MaxExtra = 0
	s := newSim(t, spec, 4, patternObjective)
	splitArchs := map[string]bool{}
	s.net.split = func(task object.Task) bool {
		// Every third candidate disagrees on its first run, and on its re-run too for one of them.
		ac, _ := object.ParseCID(task.Arch)
		h := ac.Bytes()[len(ac.Bytes())-1]
		if task.Seed == spec.Seed && h%3 == 0 {
			splitArchs[task.Arch] = true
			return true
		}
		return task.Seed == spec.Seed+1 && h%3 == 0 && h%2 == 0
	}
	s.run(t, 2, 400)
	outs, err := s.reg.Outcomes(context.Background(), s.l.CID)
	if err != nil {
		t.Fatal(err)
	}
	bySeed := map[string]map[uint64]registry.TaskOutcome{}
	for _, o := range outs {
		if bySeed[o.Spec.Arch] == nil {
			bySeed[o.Spec.Arch] = map[uint64]registry.TaskOutcome{}
		}
		bySeed[o.Spec.Arch][o.Spec.Seed] = o
		if o.Spec.Seed > spec.Seed+1 {
			t.Errorf("task %s has seed %d: a re-run was re-run", o.Task, o.Spec.Seed)
		}
	}
	if len(splitArchs) == 0 {
		t.Fatal("no candidate was split: the test proves nothing")
	}
	for a := range splitArchs {
		first, again := bySeed[a][spec.Seed], bySeed[a][spec.Seed+1]
		if first.State != consensus.Disputed {
			t.Errorf("arch %s: first run %s, want disputed", a, first.State)
		}
		if again.Task == "" || !again.Final() {
			t.Errorf("arch %s: re-run %+v, want a settled task with seed %d", a, again, spec.Seed+1)
		}
	}
	for _, c := range s.runner.History() {
		if c.Task.String() == bySeed[c.Arch.String()][spec.Seed].Task && splitArchs[c.Arch.String()] {
			t.Errorf("history holds the disputed task of %s", arch.Print(c.Model))
		}
	}
	if st := s.runner.Status(); st.Disputed < len(splitArchs) {
		t.Errorf("status %+v: want at least %d disputed", st, len(splitArchs))
	}
}

// A re-run whose submit fails is tried again at the next step, not forgotten: the step reports the
// error, and the candidate still gets its settled re-run.
func TestRunnerRerunAfterFailedSubmit(t *testing.T) {
	spec := simSpec(evolution, 8, 5)
	spec.Policy.MaxExtra = 0
	s := newSim(t, spec, 4, patternObjective)
	split := map[string]bool{}
	s.net.split = func(task object.Task) bool {
		if task.Seed == spec.Seed && len(split) < 2 {
			split[task.Arch] = true
		}
		return task.Seed == spec.Seed && split[task.Arch]
	}
	refused := map[string]bool{}
	s.net.refuse = func(task object.Task) bool {
		if task.Seed != spec.Seed+1 || refused[task.Arch] {
			return false
		}
		refused[task.Arch] = true // each re-run's first submit fails
		return true
	}
	failures := 0
	for range 400 {
		done, err := s.runner.Step(context.Background())
		if err != nil {
			failures++
			continue
		}
		if done {
			break
		}
		s.net.Execute(2)
	}
	if failures == 0 || len(refused) == 0 {
		t.Fatalf("no re-run submit was refused (%d step errors): the test proves nothing", failures)
	}
	outs, err := s.reg.Outcomes(context.Background(), s.l.CID)
	if err != nil {
		t.Fatal(err)
	}
	for a := range refused {
		found := false
		for _, o := range outs {
			if o.Spec.Arch == a && o.Spec.Seed == spec.Seed+1 && o.Final() {
				found = true
			}
		}
		if !found {
			t.Errorf("arch %s: its re-run was refused once and never submitted again", a)
		}
	}
}
