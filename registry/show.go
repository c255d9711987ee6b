package registry

import (
	"context"
	"fmt"
	"sort"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/consensus"
	"github.com/airanode/airanode/object"
)

// ShowSeq is the sequence length at which Show states FLOPs per token.
const ShowSeq = 256

// ArchDetail is everything the registry knows about one architecture.
type ArchDetail struct {
	Arch     string    `json:"arch"`
	Spelling string    `json:"spelling"`
	Model    arch.Arch `json:"model"`
	Depth    int       `json:"depth"`
	Width    int       `json:"width"`
	Kinds    []string  `json:"kinds"`
	// Params counts the parameters without the vocabulary-bound embeddings and head; FLOPs are
	// per token at Seq tokens (forward, and training = forward + backward), likewise without the
	// head.
	Params             int64   `json:"params"`
	Seq                int     `json:"seq"`
	FLOPsPerToken      float64 `json:"flops_per_token"`
	TrainFLOPsPerToken float64 `json:"train_flops_per_token"`
	// Tasks are the architecture's tasks (every search and protocol), verified first.
	Tasks []TaskDetail `json:"tasks"`
	// Proposals are the proposals of this architecture, in CID order.
	Proposals []ProposalInfo `json:"proposals,omitempty"`
}

// TaskDetail is one task of an architecture and its verification.
type TaskDetail struct {
	Task         string `json:"task"`
	Search       string `json:"search,omitempty"`
	SearchName   string `json:"search_name,omitempty"`
	Protocol     string `json:"protocol"`
	ProtocolName string `json:"protocol_name,omitempty"`
	Seed         uint64 `json:"seed"`
	// State, Reason, Votes and Quorum are the verdict's.
	State    consensus.State `json:"state"`
	Reason   string          `json:"reason"`
	Votes    int             `json:"votes"`
	Quorum   int64           `json:"quorum"`
	Replicas int64           `json:"replicas"`
	// Verified is true when Score is verified; Class is then the winning reproducibility class.
	Verified bool   `json:"verified"`
	Score    int64  `json:"score"`
	Claimed  int64  `json:"claimed,omitempty"`
	Class    string `json:"class,omitempty"`
	// Metrics are the per-task scores of the verified (canonical) result, or of the first
	// counted result when unverified (then only claimed).
	Metrics []object.Metric `json:"metrics,omitempty"`
	// Results are the counted results: who executed, in which class, what they reported and
	// whether their result is in the verified group.
	Results []ResultInfo `json:"results"`
	// Attestations are the counted attestations: who checked and whether they agreed.
	Attestations []AttestationInfo `json:"attestations,omitempty"`
}

// ResultInfo is one counted result of a task.
type ResultInfo struct {
	CID      string `json:"cid"`
	Executor string `json:"executor"`
	Class    string `json:"class"`
	Score    int64  `json:"score"`
	Accepted bool   `json:"accepted"`
}

// AttestationInfo is one counted attestation of a task.
type AttestationInfo struct {
	CID      string                    `json:"cid"`
	Verifier string                    `json:"verifier"`
	Result   string                    `json:"result"`
	Verdict  object.AttestationVerdict `json:"verdict"`
	Upheld   bool                      `json:"upheld"`
}

// ProposalInfo is one proposal of an architecture.
type ProposalInfo struct {
	CID       string   `json:"cid"`
	Search    string   `json:"search"`
	Agent     string   `json:"agent"`
	Rationale string   `json:"rationale,omitempty"`
	Proposer  string   `json:"proposer"`
	Parents   []string `json:"parents,omitempty"`
}

// Show returns the detail of the architecture a: its pattern, size and cost, every task of it the
// store holds with the verdict (who executed, who agreed), and its proposals. An architecture
// that is not held gives ErrNotFound.
func (r *Registry) Show(ctx context.Context, a cid.Cid) (ArchDetail, error) {
	if err := object.CheckCID(a); err != nil {
		return ArchDetail{}, fmt.Errorf("%w: arch: %w", ErrInvalid, err)
	}
	m, err := r.loadArch(a)
	if err != nil {
		return ArchDetail{}, err
	}
	d := ArchDetail{Arch: a.String(), Spelling: arch.Print(m), Model: m, Depth: len(m.Layers), Width: m.Width,
		Kinds: m.Kinds(), Seq: ShowSeq}
	if cost, err := arch.Estimate(m, ShowSeq); err == nil {
		d.Params, d.FLOPsPerToken, d.TrainFLOPsPerToken = cost.Params, cost.ForwardPerToken(), cost.TrainPerToken()
	}
	tasks, err := r.archTasks(ctx, a)
	if err != nil {
		return ArchDetail{}, err
	}
	for _, t := range tasks {
		td, err := r.taskDetail(ctx, t)
		if err != nil {
			return ArchDetail{}, err
		}
		d.Tasks = append(d.Tasks, td)
	}
	sort.SliceStable(d.Tasks, func(i, j int) bool {
		if d.Tasks[i].Verified != d.Tasks[j].Verified {
			return d.Tasks[i].Verified
		}
		return d.Tasks[i].Task < d.Tasks[j].Task
	})
	if d.Proposals, err = r.proposals(ctx, a, cid.Undef); err != nil {
		return ArchDetail{}, err
	}
	return d, nil
}

// taskDetail describes one task and its verdict.
func (r *Registry) taskDetail(ctx context.Context, t taskRef) (TaskDetail, error) {
	o, v, err := r.taskOutcome(ctx, t.c, t.task)
	if err != nil {
		return TaskDetail{}, err
	}
	policy := r.policyOf(t.task)
	out := v.outcome
	td := TaskDetail{
		Task: t.c.String(), Search: t.task.Search, Protocol: t.task.Protocol, Seed: t.task.Seed,
		State: o.State, Reason: out.Reason, Votes: out.Votes, Quorum: policy.Quorum, Replicas: policy.Replicas,
		Verified: o.Verified, Score: o.Score, Claimed: o.Claimed, Class: out.Class,
		Results: []ResultInfo{},
	}
	if s, ok := r.search(t.task.Search); ok {
		td.SearchName = s.Name
	}
	if p, ok := r.protocolOf(t.task.Protocol); ok {
		td.ProtocolName = p.Name
	}
	for _, rv := range out.Results {
		td.Results = append(td.Results, ResultInfo{CID: rv.CID.String(), Executor: rv.Executor.String(),
			Class: rv.Class, Score: rv.Score, Accepted: rv.Accepted})
	}
	for _, av := range out.Attestations {
		td.Attestations = append(td.Attestations, AttestationInfo{CID: av.CID.String(),
			Verifier: av.Verifier.String(), Result: av.Result.String(), Verdict: av.Verdict, Upheld: av.Upheld})
	}
	switch {
	case o.Verified && out.Canonical.Defined():
		td.Metrics = v.results[out.Canonical.String()].Metrics
	case len(out.Results) > 0:
		td.Metrics = v.results[out.Results[0].CID.String()].Metrics
	}
	return td, nil
}

// proposals lists the proposals of architecture a (of one search when search is defined), in CID
// order. Entries that do not open are skipped.
func (r *Registry) proposals(ctx context.Context, a, search cid.Cid) ([]ProposalInfo, error) {
	cs, err := r.scan(ctx, IndexProposals, a.String(), maxObjects)
	if err != nil {
		return nil, err
	}
	var out []ProposalInfo
	for _, c := range cs {
		b, err := r.st.Get(c)
		if err != nil {
			continue
		}
		p, err := object.OpenProposal(b)
		if err != nil || p.Arch != a.String() || search.Defined() && p.Search != search.String() {
			continue
		}
		out = append(out, ProposalInfo{CID: c.String(), Search: p.Search, Agent: p.Agent, Rationale: p.Rationale,
			Proposer: p.Proposer, Parents: p.Parents})
	}
	return out, nil
}
