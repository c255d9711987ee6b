package gpucore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/bench"
	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/object"
)

// StateFormat names the resume states EvalRun writes: a bench.EvalState wrapped with the device
// class and engine that produced it, so that a state is resumed only where its bits can continue.
const StateFormat = "airanode-core-state/1"

// savedState is EvalRun's resume state (JSON: bench.EvalState holds no floats).
type savedState struct {
	Format string           `json:"format"`
	Class  string           `json:"class"`
	Engine string           `json:"engine"`
	State  *bench.EvalState `json:"state"`
}

// EvalRun is the production RunFunc: it evaluates the job's task with bench.Evaluate on dev, the
// same evaluation the node's CPU trainer runs, reporting progress at every optimizer step (steps
// count over the whole evaluation), handing every segment checkpoint to the node as a block and
// every evaluation state as the run's resume state, and reading text datasets and resume
// checkpoints from the node. A resume state is used only when it was written by a device of the
// same class and the same engine for the same task; otherwise, or when bench cannot resume from
// it, the run starts over. A run resumed from a state ends with the same Result as an
// uninterrupted one.
func EvalRun(ctx context.Context, dev gpu.Device, job *Job) (*Report, error) {
	a, ac, err := arch.Decode(job.Arch)
	if err != nil {
		return nil, fmt.Errorf("%w: arch: %w", ErrTask, err)
	}
	if tac, err := object.ParseCID(job.Task.Arch); err != nil || !tac.Equals(ac) || a.Vocab != 0 {
		return nil, fmt.Errorf("%w: arch %s is not an unbound architecture in normal form", ErrTask, job.Task.Arch)
	}
	pc, err := object.ParseCID(job.Task.Protocol)
	if err != nil {
		return nil, fmt.Errorf("%w: protocol cid: %w", ErrTask, err)
	}
	p, err := bench.DecodeProtocol(pc, job.Protocol)
	if err != nil {
		return nil, fmt.Errorf("%w: protocol: %w", ErrTask, err)
	}
	state := resumeState(job, dev.Class())
	rep, err := evaluate(ctx, dev, job, a, p, state)
	if state != nil && errors.Is(err, bench.ErrResume) {
		job.Log.Warn("core: cannot resume from the state: starting over", "err", err)
		rep, err = evaluate(ctx, dev, job, a, p, nil)
	}
	if err != nil {
		if errors.Is(err, bench.ErrEvalOptions) || errors.Is(err, bench.ErrInvalidProtocol) || errors.Is(err, bench.ErrNeedData) {
			return nil, fmt.Errorf("%w: %w", ErrTask, err)
		}
		return nil, err
	}
	if !rep.TaskCID.Equals(job.TaskCID) {
		return nil, fmt.Errorf("%w: the evaluation names task %s, not %s", ErrTask, rep.TaskCID, job.TaskCID)
	}
	out := &Report{Result: rep.Result}
	if rep.Scores != nil {
		if out.Scores, _, err = rep.Scores.Encode(); err != nil {
			return nil, fmt.Errorf("core: encode scores: %w", err)
		}
	}
	return out, nil
}

// resumeState decodes the job's resume state; one that does not fit (another format, class,
// engine or task) is dropped with a warning.
func resumeState(job *Job, class string) *bench.EvalState {
	if len(job.Resume) == 0 {
		return nil
	}
	var s savedState
	if err := json.Unmarshal(job.Resume, &s); err != nil {
		job.Log.Warn("core: resume state does not decode: starting over", "err", err)
		return nil
	}
	if s.Format != StateFormat || s.Class != class || s.Engine != bench.EvalEngine || s.State == nil ||
		s.State.Task != job.TaskCID.String() {
		job.Log.Warn("core: resume state does not fit: starting over", "format", s.Format, "class", s.Class, "engine", s.Engine)
		return nil
	}
	return s.State
}

// evaluate runs bench.Evaluate with the job as progress sink, checkpoint store and dataset.
func evaluate(ctx context.Context, dev gpu.Device, job *Job, a arch.Arch, p *bench.Protocol, state *bench.EvalState) (*bench.EvalReport, error) {
	offsets, total := p.RunOffsets()
	blocks := jobBlocks{job}
	o := bench.EvalOptions{
		Arch: a, Protocol: p, Seed: job.Task.Seed, Search: job.Task.Search,
		Device: dev, Data: blocks, Checkpoints: blocks, Resume: state, Logger: job.Log,
		// A cancelled run (the node stops it or shuts down) saves the step it reached, not only
		// the last segment boundary; the node decides whether to keep it.
		CheckpointOnCancel: true,
		OnState: func(s *bench.EvalState) error {
			data, err := json.Marshal(savedState{Format: StateFormat, Class: dev.Class(), Engine: bench.EvalEngine, State: s})
			if err != nil {
				return err
			}
			return job.SaveState(s.Step(), total, data)
		},
		Progress: func(pr bench.Progress) {
			if pr.Run < 0 || pr.Run >= len(offsets) {
				return
			}
			// A failure here is the run's cancellation, which Evaluate sees between steps.
			_ = job.Progress(min(offsets[pr.Run]+int64(pr.Step), total), total, pr.Loss)
		},
	}
	return bench.Evaluate(ctx, o)
}

// jobBlocks is the job as bench's BlockStore and CheckpointStore: blocks go to and come from the
// node.
type jobBlocks struct{ j *Job }

func (b jobBlocks) Put(c cid.Cid, data []byte) error { return b.j.PutBlock(c, data) }
func (b jobBlocks) Get(c cid.Cid) ([]byte, error)    { return b.j.GetBlock(c) }
