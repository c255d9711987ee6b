package registry

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"sort"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/bench"
	"github.com/airanode/airanode/consensus"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/store"
)

// Sentinel errors. Errors returned by this package wrap one of them, a store error, or an object
// sentinel for a bad envelope.
var (
	// ErrNotFound means the object asked about (an architecture, a task, a search) is not held.
	ErrNotFound = errors.New("registry: not found")
	// ErrInvalid means a bad query argument.
	ErrInvalid = errors.New("registry: invalid query")
	// ErrAmbiguous means a search name shared by several searches.
	ErrAmbiguous = errors.New("registry: ambiguous search name")
)

// Bounds of queries.
const (
	// DefaultTop and MaxTop are the default and largest leaderboard length.
	DefaultTop = 20
	MaxTop     = 1000
	// MaxTasks bounds the tasks one query examines.
	MaxTasks = 100_000
	// maxObjects bounds the objects filed under one task that a verdict reads.
	maxObjects = 4096
	// maxCache bounds each cache (entries); a full cache is emptied.
	maxCache = 1 << 16
)

// kind classifies a stored object.
type kind uint8

const (
	kindOther  kind = iota
	kindTask        // a plain Task object
	kindSealed      // a signed envelope (result, attestation, offer, proposal, search, ...)
)

// classified is what a CID names, once read (objects are immutable, so it is cached).
type classified struct {
	kind kind
	task object.Task // kindTask
}

// verdict is a cached outcome: valid while the task's objects and policy are the same.
type verdict struct {
	fp      [32]byte
	outcome consensus.Outcome
	results map[string]object.Result // counted results by sealed CID
}

// Registry answers queries over a store. Create it with New. It is safe for concurrent use.
type Registry struct {
	st  *store.Store
	log *slog.Logger

	// Caches by CID key (searches by CID text); each is safe for concurrent use.
	kinds     cache[classified]
	verdicts  cache[*verdict]
	archs     cache[arch.Arch]
	protocols cache[*bench.Protocol]
	searches  cache[object.Search]
}

// New returns a Registry over st. A nil logger discards logs.
func New(st *store.Store, log *slog.Logger) *Registry {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Registry{st: st, log: log}
}

// TaskOutcome is the verification state of one task of a search.
type TaskOutcome struct {
	// Task is the task's CID and Spec the task object.
	Task string      `json:"task"`
	Spec object.Task `json:"spec"`
	// State is the verdict: pending, verified, needs-more or disputed.
	State consensus.State `json:"state"`
	// Verified is State == Verified; Score is then the verified score (object.Fixed units).
	Verified bool  `json:"verified"`
	Score    int64 `json:"score"`
	// Claimed is, for an unverified task with results, the lower median of its results' scores:
	// what the executors claim, not a verified value. 0 otherwise.
	Claimed int64 `json:"claimed,omitempty"`
	// Results is how many results count; Votes how many voters (executors and verifiers).
	Results int `json:"results"`
	Votes   int `json:"votes"`
}

// Final reports whether the task is settled: verified or disputed.
func (t TaskOutcome) Final() bool {
	return t.State == consensus.Verified || t.State == consensus.Disputed
}

// Outcomes returns the outcome of every task of the search the store holds, in the order of the
// task CIDs' text.
// A task with no result yet is pending.
func (r *Registry) Outcomes(ctx context.Context, search cid.Cid) ([]TaskOutcome, error) {
	if err := object.CheckCID(search); err != nil {
		return nil, fmt.Errorf("%w: search: %w", ErrInvalid, err)
	}
	tcs, err := r.searchTasks(ctx, search)
	if err != nil {
		return nil, err
	}
	out := make([]TaskOutcome, 0, len(tcs))
	for _, tc := range tcs {
		o, _, err := r.taskOutcome(ctx, tc.c, tc.task)
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Task < out[j].Task })
	return out, nil
}

// Outcome returns the outcome of one task with the full consensus outcome (the counted results
// and attestations) and the counted results by sealed CID.
func (r *Registry) Outcome(ctx context.Context, task cid.Cid) (TaskOutcome, consensus.Outcome, map[string]object.Result, error) {
	t, err := r.loadTask(task)
	if err != nil {
		return TaskOutcome{}, consensus.Outcome{}, nil, err
	}
	o, v, err := r.taskOutcome(ctx, task, t)
	if err != nil {
		return TaskOutcome{}, consensus.Outcome{}, nil, err
	}
	return o, v.outcome, v.results, nil
}

// taskRef is a task and its CID.
type taskRef struct {
	c    cid.Cid
	task object.Task
}

// scan lists every CID filed under key in ix, up to limit.
func (r *Registry) scan(ctx context.Context, ix store.IndexName, key string, limit int) ([]cid.Cid, error) {
	var out []cid.Cid
	after := ""
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		cs, next, err := r.st.Scan(ix, key, after, store.MaxScanLimit)
		if err != nil {
			return nil, fmt.Errorf("scan %s/%s: %w", ix, key, err)
		}
		out = append(out, cs...)
		if next == "" || len(out) >= limit {
			break
		}
		after = next
	}
	if len(out) > limit {
		r.log.Warn("registry: query truncated", "index", ix, "key", key, "limit", limit)
		out = out[:limit]
	}
	return out, nil
}

// classify reads what c names (cached).
func (r *Registry) classify(c cid.Cid) (classified, error) {
	k := c.KeyString()
	if cl, ok := r.kinds.get(k); ok {
		return cl, nil
	}
	if c.Prefix().Codec == cid.Raw {
		return classified{}, nil // checkpoints and dataset blocks
	}
	b, err := r.st.Get(c)
	if err != nil {
		return classified{}, err
	}
	// Plain objects hash to their CID; a signed one is an envelope (store.Get has verified it),
	// whose kind computeVerdict reads when it opens it.
	var cl classified
	if object.ObjectCID(b).Equals(c) {
		var t object.Task
		if object.Unmarshal(b, &t) == nil && t.Validate() == nil {
			cl = classified{kind: kindTask, task: t}
		}
	} else {
		cl.kind = kindSealed
	}
	r.kinds.put(k, cl)
	return cl, nil
}

// loadTask reads the task object c.
func (r *Registry) loadTask(c cid.Cid) (object.Task, error) {
	cl, err := r.classify(c)
	if errors.Is(err, store.ErrNotFound) {
		return object.Task{}, fmt.Errorf("%w: task %s", ErrNotFound, c)
	}
	if err != nil {
		return object.Task{}, fmt.Errorf("task %s: %w", c, err)
	}
	if cl.kind != kindTask {
		return object.Task{}, fmt.Errorf("%w: %s is not a task", ErrNotFound, c)
	}
	return cl.task, nil
}

// searchTasks lists the tasks filed under a search, in CID order.
func (r *Registry) searchTasks(ctx context.Context, search cid.Cid) ([]taskRef, error) {
	// A search's index also lists its offers, results and proposals: scan further.
	return r.tasksUnder(ctx, store.IndexSearch, search.String(), 8*MaxTasks,
		func(t object.Task) bool { return t.Search == search.String() })
}

// tasksUnder lists the tasks among the first limit CIDs filed under key in ix that keep accepts,
// at most MaxTasks of them, in index order.
func (r *Registry) tasksUnder(ctx context.Context, ix store.IndexName, key string, limit int, keep func(object.Task) bool) ([]taskRef, error) {
	cs, err := r.scan(ctx, ix, key, limit)
	if err != nil {
		return nil, err
	}
	var out []taskRef
	for _, c := range cs {
		cl, err := r.classify(c)
		if err != nil || cl.kind != kindTask || !keep(cl.task) {
			continue
		}
		out = append(out, taskRef{c, cl.task})
		if len(out) >= MaxTasks {
			break
		}
	}
	return out, nil
}

// allTasks lists every task the store indexes by architecture (every offered task).
func (r *Registry) allTasks(ctx context.Context) ([]taskRef, error) {
	var out []taskRef
	seen := map[string]bool{}
	after := ""
	for len(out) < MaxTasks {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		es, next, err := r.st.ScanAll(store.IndexArch, after, store.MaxScanLimit)
		if err != nil {
			return nil, fmt.Errorf("scan tasks: %w", err)
		}
		for _, e := range es {
			if seen[e.CID.KeyString()] {
				continue
			}
			cl, err := r.classify(e.CID)
			if err != nil || cl.kind != kindTask || cl.task.Arch != e.Key {
				continue
			}
			seen[e.CID.KeyString()] = true
			out = append(out, taskRef{e.CID, cl.task})
		}
		if next == "" {
			break
		}
		after = next
	}
	sort.Slice(out, func(i, j int) bool { return out[i].c.KeyString() < out[j].c.KeyString() })
	return out, nil
}

// archTasks lists the tasks of one architecture.
func (r *Registry) archTasks(ctx context.Context, a cid.Cid) ([]taskRef, error) {
	return r.tasksUnder(ctx, store.IndexArch, a.String(), MaxTasks,
		func(t object.Task) bool { return t.Arch == a.String() })
}

// policyOf returns the verification policy of a task: its search's, or the default one outside
// a search or when the search is not held.
func (r *Registry) policyOf(t object.Task) object.Policy {
	if t.Search == "" {
		return object.DefaultPolicy()
	}
	if s, ok := r.search(t.Search); ok {
		return s.Policy
	}
	return object.DefaultPolicy()
}

// search returns the search named by a CID string, if held (cached).
func (r *Registry) search(ref string) (object.Search, bool) {
	if s, ok := r.searches.get(ref); ok {
		return s, true
	}
	c, err := object.ParseCID(ref)
	if err != nil {
		return object.Search{}, false
	}
	s, err := LoadSearch(r.st, c)
	if err != nil {
		return object.Search{}, false
	}
	r.searches.put(ref, s)
	return s, true
}

// taskOutcome computes (or takes from the cache) the verdict on task tc.
func (r *Registry) taskOutcome(ctx context.Context, tc cid.Cid, t object.Task) (TaskOutcome, *verdict, error) {
	policy := r.policyOf(t)
	cs, err := r.scan(ctx, store.IndexTask, tc.String(), maxObjects)
	if err != nil {
		return TaskOutcome{}, nil, err
	}
	// The fingerprint covers the policy and every non-raw object filed under the task: the
	// verdict is a function of them.
	h := sha256.New()
	pb, err := object.Marshal(policy)
	if err != nil {
		return TaskOutcome{}, nil, fmt.Errorf("policy: %w", err)
	}
	h.Write(pb)
	var objs []cid.Cid
	for _, c := range cs {
		if c.Prefix().Codec == cid.Raw {
			continue
		}
		objs = append(objs, c)
		h.Write(c.Bytes())
	}
	var fp [32]byte
	h.Sum(fp[:0])
	key := tc.KeyString()
	v, ok := r.verdicts.get(key)
	if !ok || v.fp != fp {
		v, err = r.computeVerdict(tc, policy, objs)
		if err != nil {
			return TaskOutcome{}, nil, err
		}
		v.fp = fp
		r.verdicts.put(key, v)
	}
	o := v.outcome
	out := TaskOutcome{
		Task: tc.String(), Spec: t, State: o.State, Verified: o.State == consensus.Verified,
		Results: len(o.Results), Votes: o.Votes,
	}
	if out.Verified {
		out.Score = o.Score
	} else if len(o.Results) > 0 {
		scores := make([]int64, len(o.Results))
		for i, rv := range o.Results {
			scores[i] = rv.Score
		}
		sort.Slice(scores, func(i, j int) bool { return scores[i] < scores[j] })
		out.Claimed = scores[(len(scores)-1)/2]
	}
	return out, v, nil
}

// computeVerdict reads the results and attestations among objs and runs consensus.Verdict.
func (r *Registry) computeVerdict(tc cid.Cid, policy object.Policy, objs []cid.Cid) (*verdict, error) {
	var results []consensus.SignedResult
	var atts []consensus.SignedAttestation
	opened := map[string]object.Signed{} // results by sealed CID
	for _, c := range objs {
		b, err := r.st.Get(c)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			return nil, fmt.Errorf("task %s: %w", tc, err)
		}
		if object.ObjectCID(b).Equals(c) {
			continue // a plain object (scores), not a vote
		}
		s, err := object.OpenAny(b)
		if err != nil {
			continue
		}
		switch s.Kind {
		case object.KindResult:
			results = append(results, consensus.SignedResult(b))
			opened[object.ObjectCID(s.Data).KeyString()] = s
		case object.KindAttestation:
			atts = append(atts, consensus.SignedAttestation(b))
		}
	}
	o, err := consensus.Verdict(tc, policy, results, atts)
	if err != nil {
		return nil, fmt.Errorf("verdict on %s: %w", tc, err)
	}
	v := &verdict{outcome: o, results: map[string]object.Result{}}
	for _, rv := range o.Results {
		if s, ok := opened[rv.CID.KeyString()]; ok {
			if res, err := object.ResultOf(s); err == nil {
				v.results[rv.CID.String()] = res
			}
		}
	}
	return v, nil
}

// loadArch reads the architecture object c (cached).
func (r *Registry) loadArch(c cid.Cid) (arch.Arch, error) {
	k := c.KeyString()
	if a, ok := r.archs.get(k); ok {
		return a, nil
	}
	b, err := getBlock(r.st, c, "architecture")
	if err != nil {
		return arch.Arch{}, err
	}
	a, got, err := arch.Decode(b)
	if err != nil {
		return arch.Arch{}, fmt.Errorf("architecture %s: %w", c, err)
	}
	if !got.Equals(c) {
		return arch.Arch{}, fmt.Errorf("%w: architecture %s decodes as %s", object.ErrHashMismatch, c, got)
	}
	r.archs.put(k, a)
	return a, nil
}

// loadProtocol reads the protocol object c (cached).
func (r *Registry) loadProtocol(c cid.Cid) (*bench.Protocol, error) {
	k := c.KeyString()
	if p, ok := r.protocols.get(k); ok {
		return p, nil
	}
	b, err := getBlock(r.st, c, "protocol")
	if err != nil {
		return nil, err
	}
	p, err := bench.DecodeProtocol(c, b)
	if err != nil {
		return nil, err
	}
	r.protocols.put(k, p)
	return p, nil
}

// protocolOf returns the protocol a task names by CID text, when it is held and decodes.
func (r *Registry) protocolOf(ref string) (*bench.Protocol, bool) {
	c, err := object.ParseCID(ref)
	if err != nil {
		return nil, false
	}
	p, err := r.loadProtocol(c)
	return p, err == nil
}

// getBlock reads the block c, a what (for errors): one the store does not hold is ErrNotFound;
// other store errors are wrapped as they are.
func getBlock(st *store.Store, c cid.Cid, what string) ([]byte, error) {
	b, err := st.Get(c)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s %s is not held", ErrNotFound, what, c)
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, c, err)
	}
	return b, nil
}

// LowerIsBetter reports whether lower scores are better under protocol p (bits per byte).
func LowerIsBetter(p *bench.Protocol) bool { return p != nil && p.IsText() }

// Fitness turns a score into a value where higher is always better: the score itself for
// accuracies, its negation for bits per byte.
func Fitness(score int64, lowerIsBetter bool) int64 {
	if lowerIsBetter {
		return -score
	}
	return score
}
