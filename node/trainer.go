package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/bench"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/store"
	"github.com/airanode/airanode/tasks"
)

// ErrTask means a task cannot run here: its architecture or protocol object is missing, does
// not decode, or does not name what the task says.
var ErrTask = errors.New("node: task cannot run")

// Trainer is the tasks.Executor that trains: it reads the task's architecture and protocol
// objects from the store (fetching them from peers when missing), runs bench.Evaluate, and
// reports progress at every optimizer step and a checkpoint at every segment boundary. When the
// run's context ends between two boundaries (the node shuts down, or the Manager stops the run),
// it reports one last checkpoint at the step where training stopped (bench's
// CheckpointOnCancel); the Manager keeps it only on shutdown, so a restarted node loses no step.
// The checkpoint handed to the Manager is the evaluation state (bench.EvalState, in JSON), whose
// step is EvalState.Step; the model checkpoints it names are stored as raw blocks, kept for
// Retention and indexed under the task, so peers can fetch them over block exchange. A run resumed
// from a checkpoint ends with the same Result as an uninterrupted one; one that cannot be resumed
// (bench.ErrResume) starts over.
//
// The fields must be set before the first Execute. Execute is safe for concurrent use, one call
// per running task.
type Trainer struct {
	// Store holds the objects, checkpoints and datasets.
	Store *store.Store
	// Fetch, when not nil, fetches missing blocks from peers into Store.
	Fetch func(ctx context.Context, cids []cid.Cid) error
	// Threads is the CPU threads per model (0 means 1).
	Threads int
	// Retention is how long model checkpoints are kept (0 means tasks.DefaultRetention).
	Retention time.Duration
	// Logger receives the trainer's logs (nil: slog.Default()).
	Logger *slog.Logger

	stats *stats
}

// Execute implements tasks.Executor.
func (x *Trainer) Execute(ctx context.Context, task object.Task, resume *tasks.Checkpoint, progress func(tasks.Progress) error) (object.Result, error) {
	log := x.Logger
	if log == nil {
		log = slog.Default()
	}
	_, tc, err := object.Encode(task)
	if err != nil {
		return object.Result{}, fmt.Errorf("%w: %w", ErrTask, err)
	}
	a, p, err := x.load(ctx, task)
	if err != nil {
		return object.Result{}, err
	}
	var state *bench.EvalState
	if resume != nil && len(resume.Data) > 0 {
		var s bench.EvalState
		if err := json.Unmarshal(resume.Data, &s); err != nil || s.Task != tc.String() {
			log.Warn("checkpoint does not fit the task: starting over", "task", tc, "err", err)
		} else {
			state = &s
		}
	}
	// One thread per model: lock the goroutine to its thread so the thread's CPU clock measures
	// the training (the CPU device runs inline with one thread).
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	cpu0, wall0 := threadCPU(), time.Now()
	defer func() {
		if x.stats != nil {
			x.stats.trained(threadCPU()-cpu0, time.Since(wall0))
		}
	}()
	rep, err := x.evaluate(ctx, tc, a, p, task, state, progress)
	if errors.Is(err, bench.ErrResume) {
		log.Warn("cannot resume from the checkpoint: starting over", "task", tc, "err", err)
		rep, err = x.evaluate(ctx, tc, a, p, task, nil, progress)
	}
	if err != nil {
		return object.Result{}, err
	}
	if !rep.TaskCID.Equals(tc) {
		return object.Result{}, fmt.Errorf("%w: the evaluation names task %s, not %s", ErrTask, rep.TaskCID, tc)
	}
	if rep.Scores != nil {
		if sb, sc, err := rep.Scores.Encode(); err == nil {
			if err := x.Store.Put(sc, sb); err == nil {
				_ = x.Store.Index(store.IndexTask, tc.String(), sc)
			}
		}
	}
	return rep.Result, nil
}

// evaluate runs bench.Evaluate with the Manager's progress callback: a step boundary may block
// (pause) or stop the run (its error is returned). A stopped run first hands its last state, cut
// at the step where it stopped, to progress; the Manager stores it when the stop is a shutdown.
func (x *Trainer) evaluate(ctx context.Context, tc cid.Cid, a arch.Arch, p *bench.Protocol, task object.Task,
	state *bench.EvalState, progress func(tasks.Progress) error) (*bench.EvalReport, error) {
	offsets, total := p.RunOffsets()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var stopErr error // set and read on Evaluate's goroutine only
	o := bench.EvalOptions{
		Arch: a, Protocol: p, Seed: task.Seed, Search: task.Search, Threads: max(1, x.Threads),
		Data:        &fetchingStore{ctx: ctx, x: x},
		Checkpoints: &checkpointStore{x: x, task: tc.String()},
		Resume:      state,
		Logger:      x.Logger,
		// A shutdown cancels ctx: save the run where it stopped, not at the last boundary.
		CheckpointOnCancel: true,
		OnState: func(s *bench.EvalState) error {
			data, err := json.Marshal(s)
			if err != nil {
				return err
			}
			step := s.Step()
			if err := progress(tasks.Progress{Step: step, Of: total, Checkpoint: &tasks.Checkpoint{Step: step, Data: data}}); err != nil {
				stopErr = err
				return err
			}
			return nil
		},
		Progress: func(pr bench.Progress) {
			if stopErr != nil || pr.Run < 0 || pr.Run >= len(offsets) {
				return
			}
			if err := progress(tasks.Progress{Step: min(offsets[pr.Run]+int64(pr.Step), total), Of: total}); err != nil {
				stopErr = err
				cancel()
			}
		},
	}
	rep, err := bench.Evaluate(ctx, o)
	if stopErr != nil {
		return nil, stopErr
	}
	return rep, err
}

// load returns the task's architecture and protocol, fetching their objects when missing.
func (x *Trainer) load(ctx context.Context, task object.Task) (arch.Arch, *bench.Protocol, error) {
	ac, err := object.ParseCID(task.Arch)
	if err != nil {
		return arch.Arch{}, nil, fmt.Errorf("%w: arch: %w", ErrTask, err)
	}
	pc, err := object.ParseCID(task.Protocol)
	if err != nil {
		return arch.Arch{}, nil, fmt.Errorf("%w: protocol: %w", ErrTask, err)
	}
	if x.Fetch != nil {
		if err := x.Fetch(ctx, []cid.Cid{ac, pc}); err != nil {
			return arch.Arch{}, nil, fmt.Errorf("%w: objects not available: %w", ErrTask, err)
		}
	}
	ab, err := x.Store.Get(ac)
	if err != nil {
		return arch.Arch{}, nil, fmt.Errorf("%w: arch %s: %w", ErrTask, ac, err)
	}
	a, got, err := arch.Decode(ab)
	if err != nil {
		return arch.Arch{}, nil, fmt.Errorf("%w: arch %s: %w", ErrTask, ac, err)
	}
	if !got.Equals(ac) || a.Vocab != 0 {
		return arch.Arch{}, nil, fmt.Errorf("%w: arch %s is not an unbound architecture in normal form", ErrTask, ac)
	}
	pb, err := x.Store.Get(pc)
	if err != nil {
		return arch.Arch{}, nil, fmt.Errorf("%w: protocol %s: %w", ErrTask, pc, err)
	}
	p, err := bench.DecodeProtocol(pc, pb)
	if err != nil {
		return arch.Arch{}, nil, fmt.Errorf("%w: protocol %s: %w", ErrTask, pc, err)
	}
	return a, p, nil
}

func (x *Trainer) retention() time.Duration {
	if x.Retention > 0 {
		return x.Retention
	}
	return tasks.DefaultRetention
}

// checkpointStore keeps bench's model checkpoints for the retention window, indexed under the
// task.
type checkpointStore struct {
	x    *Trainer
	task string
}

func (c *checkpointStore) Put(id cid.Cid, data []byte) error {
	o := store.PutOptions{TTL: c.x.retention()}
	if err := c.x.Store.PutWith(id, data, o); err != nil {
		return err
	}
	return c.x.Store.IndexWith(store.IndexTask, c.task, id, o)
}

func (c *checkpointStore) Get(id cid.Cid) ([]byte, error) { return c.x.Store.Get(id) }

// fetchingStore is the dataset store of a text protocol: blocks missing locally are fetched from
// peers.
type fetchingStore struct {
	ctx context.Context
	x   *Trainer
}

func (f *fetchingStore) Get(c cid.Cid) ([]byte, error) {
	b, err := f.x.Store.Get(c)
	if errors.Is(err, store.ErrNotFound) && f.x.Fetch != nil {
		if ferr := f.x.Fetch(f.ctx, []cid.Cid{c}); ferr != nil {
			return nil, fmt.Errorf("%w (and from peers: %w)", err, ferr)
		}
		return f.x.Store.Get(c)
	}
	return b, err
}

func (f *fetchingStore) Put(c cid.Cid, data []byte) error { return f.x.Store.Put(c, data) }
