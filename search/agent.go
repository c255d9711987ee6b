package search

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/object"
)

// Candidate is one verified architecture of a search, as agents see it.
type Candidate struct {
	// Arch is the architecture's CID and Model its normal form (vocabulary unbound).
	Arch  cid.Cid
	Model arch.Arch
	// Task is the task that verified it.
	Task cid.Cid
	// Score is the verified score (fixed point, object.Fixed), Fitness the same value oriented so
	// that higher is better (negated for bits-per-byte protocols).
	Score   int64
	Fitness int64
}

// Input is what an agent bases one proposal on.
type Input struct {
	// Space is the search space; every proposal must lie in it.
	Space arch.Space
	// History is the search's verified candidates, oldest first: only verified scores, never a
	// claimed one.
	History []Candidate
	// Pending is how many candidates this runner proposed that are not settled yet.
	Pending int
	// Seed determines the proposal: the same Input gives the same Proposal.
	Seed uint64
}

// Proposal is what an agent proposes.
type Proposal struct {
	// Model is the candidate (normalised, inside the space).
	Model arch.Arch
	// Parents are the CIDs of the candidates it derives from.
	Parents []cid.Cid
	// Rationale says why, in a line.
	Rationale string
}

// Agent proposes candidates. Propose must be deterministic: a pure function of its Input (and
// the agent's parameters). It returns ErrWait when it cannot propose until more candidates are
// verified. Agents are safe for concurrent use (they hold no mutable state).
type Agent interface {
	Name() string
	Propose(in Input) (Proposal, error)
}

// Agent names.
const (
	AgentRandom    = "random"
	AgentEvolution = "evolution"
)

// Defaults of the evolution agent's parameters.
const (
	DefaultPopulation = 16
	DefaultTournament = 4
)

// ParamInfo documents one agent parameter.
type ParamInfo struct {
	Name     string `json:"name"`
	Doc      string `json:"doc"`
	Default  int64  `json:"default"`
	Min, Max int64  `json:"-"`
}

// AgentInfo documents one built-in agent.
type AgentInfo struct {
	Name   string      `json:"name"`
	Doc    string      `json:"doc"`
	Params []ParamInfo `json:"params,omitempty"`
}

// agentDef is a built-in agent: its documentation and constructor.
type agentDef struct {
	info AgentInfo
	make func(p map[string]int64) Agent
}

var agentDefs = map[string]agentDef{
	AgentRandom: {
		info: AgentInfo{Name: AgentRandom, Doc: "the baseline: uniform samples of the space (arch.Sample)"},
		make: func(map[string]int64) Agent { return randomAgent{} },
	},
	AgentEvolution: {
		info: AgentInfo{
			Name: AgentEvolution,
			Doc: "regularised (ageing) evolution: a tournament over the most recent verified candidates, " +
				"the winner mutated (arch.Mutate); the oldest age out",
			Params: []ParamInfo{
				{Name: "population", Doc: "P: the most recent verified candidates that form the population",
					Default: DefaultPopulation, Min: 1, Max: 10_000},
				{Name: "tournament", Doc: "S: candidates drawn from the population per tournament",
					Default: DefaultTournament, Min: 1, Max: 10_000},
				{Name: "initial", Doc: "random samples proposed before evolving (default: population)",
					Default: 0, Min: 0, Max: object.MaxBudget},
			},
		},
		make: func(p map[string]int64) Agent {
			e := evolutionAgent{population: DefaultPopulation, tournament: DefaultTournament}
			if v, ok := p["population"]; ok {
				e.population = int(v)
			}
			if v, ok := p["tournament"]; ok {
				e.tournament = int(v)
			}
			e.initial = e.population
			if v, ok := p["initial"]; ok && v > 0 {
				e.initial = int(v)
			}
			return e
		},
	},
}

// Agents documents the built-in agents, by name.
func Agents() []AgentInfo {
	out := make([]AgentInfo, 0, len(agentDefs))
	for _, d := range agentDefs {
		out = append(out, d.info)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// NewAgent builds the agent a spec names, checking its parameters. Errors wrap ErrAgent.
func NewAgent(spec object.AgentSpec) (Agent, error) {
	d, ok := agentDefs[spec.Name]
	if !ok {
		names := make([]string, 0, len(agentDefs))
		for n := range agentDefs {
			names = append(names, n)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("%w: unknown agent %q (built in: %s)", ErrAgent, spec.Name, strings.Join(names, ", "))
	}
	for k, v := range spec.Params {
		var pi *ParamInfo
		for i := range d.info.Params {
			if d.info.Params[i].Name == k {
				pi = &d.info.Params[i]
			}
		}
		if pi == nil {
			known := make([]string, len(d.info.Params))
			for i, p := range d.info.Params {
				known[i] = p.Name
			}
			if len(known) == 0 {
				return nil, fmt.Errorf("%w: agent %s takes no parameters (got %q)", ErrAgent, spec.Name, k)
			}
			return nil, fmt.Errorf("%w: agent %s: unknown parameter %q (known: %s)", ErrAgent, spec.Name, k, strings.Join(known, ", "))
		}
		if v < pi.Min || v > pi.Max {
			return nil, fmt.Errorf("%w: agent %s: %s = %d, want %d-%d", ErrAgent, spec.Name, k, v, pi.Min, pi.Max)
		}
	}
	return d.make(spec.Params), nil
}

// ErrWait is what an agent returns when it cannot propose before more candidates are verified.
var ErrWait = errors.New("search: agent waits for verified results")

// randomAgent samples the space uniformly.
type randomAgent struct{}

func (randomAgent) Name() string { return AgentRandom }

func (randomAgent) Propose(in Input) (Proposal, error) {
	a, err := arch.Sample(in.Space, in.Seed)
	if err != nil {
		return Proposal{}, fmt.Errorf("random: %w", err)
	}
	return Proposal{Model: a, Rationale: fmt.Sprintf("random sample: %d layers at width %d", len(a.Layers), a.Width)}, nil
}

// evolutionAgent is regularised evolution (Real et al. 2019, Algorithm 1) over the verified
// history: the population is the most recent `population` verified candidates (older ones age
// out), a tournament draws `tournament` of them without replacement, and the best is mutated.
// Until `initial` candidates are verified or pending it samples the space at random.
type evolutionAgent struct {
	population, tournament, initial int
}

func (evolutionAgent) Name() string { return AgentEvolution }

func (e evolutionAgent) Propose(in Input) (Proposal, error) {
	n := len(in.History)
	if n+in.Pending < e.initial || n == 0 && in.Pending == 0 {
		a, err := arch.Sample(in.Space, in.Seed)
		if err != nil {
			return Proposal{}, fmt.Errorf("evolution: initial sample: %w", err)
		}
		return Proposal{Model: a, Rationale: fmt.Sprintf("initial population: random sample (%d of %d)", n+in.Pending+1, e.initial)}, nil
	}
	if n == 0 {
		return Proposal{}, ErrWait
	}
	pop := in.History[max(0, n-e.population):]
	rng := arch.NewRand(in.Seed)
	k := min(e.tournament, len(pop))
	idx := make([]int, len(pop))
	for i := range idx {
		idx[i] = i
	}
	// A partial Fisher-Yates shuffle draws k distinct members.
	best := -1
	for i := 0; i < k; i++ {
		j := i + rng.Intn(len(idx)-i)
		idx[i], idx[j] = idx[j], idx[i]
		c := idx[i]
		if best < 0 || pop[c].Fitness > pop[best].Fitness || pop[c].Fitness == pop[best].Fitness && c > best {
			best = c // ties go to the more recent candidate
		}
	}
	w := pop[best]
	child, m, err := arch.Mutate(in.Space, w.Model, arch.Derive(in.Seed, 1))
	if err != nil {
		return Proposal{}, fmt.Errorf("evolution: mutate %s: %w", w.Arch, err)
	}
	return Proposal{
		Model:   child,
		Parents: []cid.Cid{w.Arch},
		Rationale: fmt.Sprintf("tournament of %d among the %d most recent verified: winner %s (score %s), mutated: %s",
			k, len(pop), shortCID(w.Arch.String()), FormatScore(w.Score), m.Detail),
	}, nil
}

// shortCID abbreviates a CID for rationales and tables.
func shortCID(s string) string {
	if len(s) <= 16 {
		return s
	}
	return s[:8] + "…" + s[len(s)-6:]
}

// FormatScore formats a fixed-point score (object.Fixed = 1.0) with 4 decimals, e.g. 0.8116.
func FormatScore(v int64) string {
	neg := v < 0
	if neg {
		v = -v
	}
	q := (v + 50) / 100 // 1e-4 units, rounded half up
	s := fmt.Sprintf("%d.%04d", q/10_000, q%10_000)
	if neg {
		s = "-" + s
	}
	return s
}
