package tasks

import (
	"context"
	"fmt"
	"math"
	"math/bits"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/bench"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/store"
)

// Checkpoint is an Executor's saved state, opaque to the Manager: it stores the bytes as a raw
// block (kept for Config.Retention) and hands them back to resume the run after a restart or a
// re-claim.
type Checkpoint struct {
	// Step is the progress step at which the state was saved.
	Step int64
	// Data is the executor's serialised state.
	Data []byte
}

// Progress is an Executor's report at a step boundary.
type Progress struct {
	// Step of Of steps are done.
	Step, Of int64
	// Checkpoint, when not nil, is the state at Step; the Manager stores it durably before the
	// callback returns, so a later resume can start from it.
	Checkpoint *Checkpoint
}

// Executor runs tasks. The node plugs in the training engine; tests use taskstest.CounterExecutor.
//
// Execute runs task, resuming from resume when it is not nil (a checkpoint this Executor reported
// for the same task earlier, possibly before a restart), and returns the Result. It must be
// deterministic: the same task gives the same Result (apart from Executor, which the Manager
// sets) whether or not it was interrupted and resumed. It calls progress at every step boundary
// (at least at each checkpoint); progress may block (while the node is paused) and returns an
// error when the run must stop (ErrStopped, or the context's error), which Execute should return
// promptly. Execute also stops when ctx is done; when that is because the node shuts down, it may
// first report one last Progress with a Checkpoint, which the Manager stores so that the restarted
// node resumes from there. The Manager calls Execute from several goroutines at once, one per
// running task.
type Executor interface {
	Execute(ctx context.Context, task object.Task, resume *Checkpoint, progress func(Progress) error) (object.Result, error)
}

// Estimator sizes a task: its peak memory and total compute, from the architecture cost model. An
// error (for example, the architecture is not held yet) makes the Manager use the Need announced in
// the task's Offer.
type Estimator func(ctx context.Context, task object.Task) (object.Need, error)

// EstimateNeed returns what training a under protocol p takes: Memory is the largest training
// memory (arch.MemoryAt) over the protocol's settings, at each setting's vocabulary, batch and
// example length; Compute is the training FLOPs of every run (settings × sweep points × steps ×
// batch) plus the forward FLOPs of its evaluations, saturating at object.MaxCompute.
func EstimateNeed(a arch.Arch, p *bench.Protocol) (object.Need, error) {
	if p == nil || len(p.Settings) == 0 {
		return object.Need{}, fmt.Errorf("%w: protocol without settings", ErrEstimate)
	}
	points := int64(max(1, len(p.Sweep)))
	var n object.Need
	for i, s := range p.Settings {
		b := a
		b.Vocab = s.Vocab
		T := s.ExampleLen()
		mem, err := arch.MemoryAt(b, s.Batch, T)
		if err != nil {
			return object.Need{}, fmt.Errorf("%w: setting %d: %w", ErrEstimate, i, err)
		}
		cost, err := arch.Estimate(b, T)
		if err != nil {
			return object.Need{}, fmt.Errorf("%w: setting %d: %w", ErrEstimate, i, err)
		}
		n.Memory = max(n.Memory, mem.Total())
		evals := int64(s.TestExamples) + int64(p.EvalExamples)*int64(max(1, p.Segments))
		run := satAdd(satMul(cost.Train, satMul(int64(s.Steps), int64(s.Batch))), satMul(cost.Forward, evals))
		n.Compute = satAdd(n.Compute, satMul(run, points))
	}
	n.Memory = min(n.Memory, object.MaxMemory)
	n.Compute = min(n.Compute, object.MaxCompute)
	return n, nil
}

func satMul(a, b int64) int64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(a), uint64(b))
	if hi != 0 || lo > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(lo)
}

func satAdd(a, b int64) int64 {
	if s := a + b; s >= a {
		return s
	}
	return math.MaxInt64
}

// StoreEstimator returns an Estimator that reads the task's architecture and protocol objects from
// s (verified by CID) and calls EstimateNeed.
func StoreEstimator(s *store.Store) Estimator {
	return func(_ context.Context, t object.Task) (object.Need, error) {
		ac, err := object.ParseCID(t.Arch)
		if err != nil {
			return object.Need{}, fmt.Errorf("%w: %w", ErrEstimate, err)
		}
		pc, err := object.ParseCID(t.Protocol)
		if err != nil {
			return object.Need{}, fmt.Errorf("%w: %w", ErrEstimate, err)
		}
		ab, err := s.Get(ac)
		if err != nil {
			return object.Need{}, fmt.Errorf("%w: arch %s: %w", ErrEstimate, ac, err)
		}
		a, got, err := arch.Decode(ab)
		if err != nil {
			return object.Need{}, fmt.Errorf("%w: arch %s: %w", ErrEstimate, ac, err)
		}
		if !got.Equals(ac) {
			return object.Need{}, fmt.Errorf("%w: arch %s decodes as %s", ErrEstimate, ac, got)
		}
		pb, err := s.Get(pc)
		if err != nil {
			return object.Need{}, fmt.Errorf("%w: protocol %s: %w", ErrEstimate, pc, err)
		}
		p, err := bench.DecodeProtocol(pc, pb)
		if err != nil {
			return object.Need{}, fmt.Errorf("%w: protocol %s: %w", ErrEstimate, pc, err)
		}
		return EstimateNeed(a, p)
	}
}

// taskCID returns the CID of a valid task.
func taskCID(t object.Task) (cid.Cid, []byte, error) {
	if err := t.Validate(); err != nil {
		return cid.Undef, nil, err
	}
	b, c, err := object.Encode(t)
	return c, b, err
}
