package search_test

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/search"
)

var agentSpace = arch.Space{Primitives: []string{"A", "M", "S"}, MinDepth: 2, MaxDepth: 6, MinWidth: 64, MaxWidth: 128}

// history builds a verified history of n candidates, the i-th with fitness fit(i).
func history(t *testing.T, n int, fit func(i int) int64) []search.Candidate {
	t.Helper()
	var out []search.Candidate
	for i := 0; i < n; i++ {
		a, err := arch.Sample(agentSpace, uint64(1000+i))
		if err != nil {
			t.Fatal(err)
		}
		c, err := arch.CID(a)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, search.Candidate{Arch: c, Model: a, Task: object.ObjectCID([]byte{byte(i)}), Score: fit(i), Fitness: fit(i)})
	}
	return out
}

func mustAgent(t *testing.T, spec object.AgentSpec) search.Agent {
	t.Helper()
	a, err := search.NewAgent(spec)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// TestAgentsDeterministic: an agent's proposal is a function of its input: the same input gives
// the same proposal, another seed (almost always) another one.
func TestAgentsDeterministic(t *testing.T) {
	hist := history(t, 12, func(i int) int64 { return int64(i * 1000) })
	for _, spec := range []object.AgentSpec{{Name: "random"}, {Name: "evolution", Params: map[string]int64{"population": 8, "tournament": 3}}} {
		t.Run(spec.Name, func(t *testing.T) {
			a := mustAgent(t, spec)
			if a.Name() != spec.Name {
				t.Fatalf("name %s", a.Name())
			}
			distinct := map[string]bool{}
			for seed := uint64(0); seed < 20; seed++ {
				in := search.Input{Space: agentSpace, History: hist, Seed: seed}
				p1, err := a.Propose(in)
				if err != nil {
					t.Fatal(err)
				}
				p2, _ := mustAgent(t, spec).Propose(in)
				if !reflect.DeepEqual(p1, p2) {
					t.Fatalf("seed %d: %+v vs %+v", seed, p1, p2)
				}
				if err := agentSpace.Contains(p1.Model); err != nil {
					t.Fatalf("outside the space: %v", err)
				}
				if p1.Rationale == "" {
					t.Fatal("no rationale")
				}
				distinct[arch.Print(p1.Model)] = true
			}
			if len(distinct) < 10 {
				t.Fatalf("only %d distinct proposals over 20 seeds", len(distinct))
			}
		})
	}
}

// TestEvolutionSelection: the tournament takes the best of the sample, only the most recent
// `population` candidates take part (the oldest age out), and the child is a mutation of the
// winner with the winner as its parent.
func TestEvolutionSelection(t *testing.T) {
	// Fitness decreasing with age: the oldest are the best, but they aged out.
	hist := history(t, 20, func(i int) int64 { return int64(1_000_000 - i*10_000) })
	recent := map[cid.Cid]bool{}
	for _, c := range hist[15:] {
		recent[c.Arch] = true
	}
	a := mustAgent(t, object.AgentSpec{Name: "evolution", Params: map[string]int64{"population": 5, "tournament": 5}})
	for seed := uint64(0); seed < 20; seed++ {
		p, err := a.Propose(search.Input{Space: agentSpace, History: hist, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Parents) != 1 || !recent[p.Parents[0]] {
			t.Fatalf("parent %v is not among the 5 most recent", p.Parents)
		}
		// With S = P every member is drawn: the winner is the best of the population.
		if !p.Parents[0].Equals(hist[15].Arch) {
			t.Fatalf("winner %s, want the population's best %s", p.Parents[0], hist[15].Arch)
		}
		if c, _ := arch.CID(p.Model); c.Equals(hist[15].Arch) {
			t.Fatal("the child equals its parent")
		}
		if !strings.Contains(p.Rationale, "tournament of 5") || !strings.Contains(p.Rationale, "0.8500") {
			t.Fatalf("rationale %q", p.Rationale)
		}
	}
	// A tournament of 1 picks uniformly: over seeds every member of the population wins sometimes.
	one := mustAgent(t, object.AgentSpec{Name: "evolution", Params: map[string]int64{"population": 5, "tournament": 1}})
	won := map[cid.Cid]bool{}
	for seed := uint64(0); seed < 100; seed++ {
		p, err := one.Propose(search.Input{Space: agentSpace, History: hist, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		won[p.Parents[0]] = true
	}
	if len(won) != 5 {
		t.Fatalf("%d distinct winners with S=1, want 5", len(won))
	}
}

func TestEvolutionInitialAndWait(t *testing.T) {
	a := mustAgent(t, object.AgentSpec{Name: "evolution", Params: map[string]int64{"population": 4, "initial": 3}})
	hist := history(t, 1, func(int) int64 { return 1 })
	tests := []struct {
		name    string
		hist    []search.Candidate
		pending int
		want    string // "random", "evolve" or "wait"
	}{
		{"empty", nil, 0, "random"},
		{"filling", hist, 1, "random"},
		{"full, one verified", hist, 2, "evolve"},
		{"full, none verified yet", nil, 3, "wait"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := a.Propose(search.Input{Space: agentSpace, History: tc.hist, Pending: tc.pending, Seed: 3})
			switch tc.want {
			case "wait":
				if !errors.Is(err, search.ErrWait) {
					t.Fatalf("err %v, want ErrWait", err)
				}
			case "random":
				if err != nil || len(p.Parents) != 0 || !strings.Contains(p.Rationale, "initial population") {
					t.Fatalf("%+v %v", p, err)
				}
			case "evolve":
				if err != nil || len(p.Parents) != 1 {
					t.Fatalf("%+v %v", p, err)
				}
			}
		})
	}
}

func TestAgentInfo(t *testing.T) {
	infos := search.Agents()
	if len(infos) != 2 || infos[0].Name != "evolution" || infos[1].Name != "random" || len(infos[0].Params) != 3 {
		t.Fatalf("agents %+v", infos)
	}
	if _, err := search.NewAgent(object.AgentSpec{Name: "greedy"}); !errors.Is(err, search.ErrAgent) ||
		!strings.Contains(err.Error(), "evolution, random") {
		t.Fatalf("unknown agent: %v", err)
	}
	// A space nothing fits: the random agent reports it.
	tiny := arch.Space{Primitives: []string{"A"}, MinDepth: 4, MaxDepth: 4, MaxParams: 10}
	if _, err := mustAgent(t, object.AgentSpec{Name: "random"}).Propose(search.Input{Space: tiny}); !errors.Is(err, arch.ErrNoCandidate) {
		t.Fatalf("empty space: %v", err)
	}
}
