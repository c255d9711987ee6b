package taskstest

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/tasks"
)

// ErrBadCheckpoint is what CounterExecutor returns for a checkpoint it did not write.
var ErrBadCheckpoint = errors.New("taskstest: bad checkpoint")

// CounterExecutor is a test double for tasks.Executor, not a trainer: it "trains" a task by
// hashing a counter Steps times, starting from a hash of the task and its seed, and reports a
// segment (digest and checkpoint) every Every steps. It is deterministic and resumable: a run
// resumed from any of its checkpoints returns the same Result as an uninterrupted one. Delay,
// when set, makes every step take that long, so tests can interrupt runs.
type CounterExecutor struct {
	Steps int64         // steps per task (default 20)
	Every int64         // steps per segment (default 5)
	Delay time.Duration // wall time per step
	// Fail, when set, is called after every step; a non-nil error fails the run with it.
	Fail func(task object.Task) error

	mu   sync.Mutex
	runs []Run
}

// Run records one call of Execute.
type Run struct {
	Task object.Task
	// From is the step the run resumed from (0: from scratch).
	From int64
	// Err is what Execute returned.
	Err error
}

// Class is the reproducibility class of CounterExecutor results.
const Class = "counter-v1"

func (x *CounterExecutor) params() (steps, every int64) {
	steps, every = x.Steps, x.Every
	if steps <= 0 {
		steps = 20
	}
	if every <= 0 {
		every = 5
	}
	return steps, every
}

// Runs returns the calls made so far.
func (x *CounterExecutor) Runs() []Run {
	x.mu.Lock()
	defer x.mu.Unlock()
	return slices.Clone(x.runs)
}

// Execute implements tasks.Executor.
func (x *CounterExecutor) Execute(ctx context.Context, task object.Task, resume *tasks.Checkpoint, progress func(tasks.Progress) error) (res object.Result, err error) {
	steps, every := x.params()
	from := int64(0)
	if resume != nil {
		from = resume.Step
	}
	defer func() {
		x.mu.Lock()
		x.runs = append(x.runs, Run{Task: task, From: from, Err: err})
		x.mu.Unlock()
	}()
	tc, err := object.CID(task)
	if err != nil {
		return object.Result{}, err
	}
	var st counterState
	if resume != nil {
		if st, err = decodeCounter(resume.Data, steps, every); err != nil {
			return object.Result{}, err
		}
		if st.step != resume.Step {
			return object.Result{}, fmt.Errorf("%w: step %d, checkpoint says %d", ErrBadCheckpoint, resume.Step, st.step)
		}
	} else {
		h := sha256.New()
		h.Write([]byte("airanode/counter/1"))
		h.Write(tc.Bytes())
		st.state = h.Sum(nil)
	}
	var timer *time.Timer
	if x.Delay > 0 {
		timer = time.NewTimer(x.Delay)
		defer timer.Stop()
	}
	for st.step < steps {
		if timer != nil {
			timer.Reset(x.Delay)
			select {
			case <-ctx.Done():
				return object.Result{}, ctx.Err()
			case <-timer.C:
			}
		} else if err := ctx.Err(); err != nil {
			return object.Result{}, err
		}
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(st.step))
		sum := sha256.Sum256(append(st.state, b[:]...))
		st.state = sum[:]
		st.step++
		p := tasks.Progress{Step: st.step, Of: steps}
		if st.step%every == 0 || st.step == steps {
			st.chain = append(st.chain, slices.Clone(st.state))
			p.Checkpoint = &tasks.Checkpoint{Step: st.step, Data: st.encode()}
		}
		if x.Fail != nil {
			if err := x.Fail(task); err != nil {
				return object.Result{}, err
			}
		}
		if err := progress(p); err != nil {
			return object.Result{}, err
		}
	}
	return st.result(tc.String(), steps, every), nil
}

// counterState is the executor's whole state: the step, the running hash and the digest chain.
type counterState struct {
	step  int64
	state []byte
	chain [][]byte
}

func (s counterState) encode() []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(s.step))
	b = append(b, s.state...)
	for _, d := range s.chain {
		b = append(b, d...)
	}
	return b
}

func decodeCounter(b []byte, steps, every int64) (counterState, error) {
	if len(b) < 8+32 || (len(b)-8)%32 != 0 {
		return counterState{}, fmt.Errorf("%w: %d bytes", ErrBadCheckpoint, len(b))
	}
	s := counterState{step: int64(binary.BigEndian.Uint64(b))}
	n := int64(len(b)-40) / 32
	if s.step < 0 || s.step > steps || n != (s.step+every-1)/every && n != s.step/every {
		return counterState{}, fmt.Errorf("%w: step %d with %d digests", ErrBadCheckpoint, s.step, n)
	}
	s.state = slices.Clone(b[8:40])
	for i := range n {
		s.chain = append(s.chain, slices.Clone(b[40+32*i:72+32*i]))
	}
	return s, nil
}

// result builds the Result from a finished state. Checkpoint CIDs are recomputed from the
// chain, so a resumed run names the same checkpoints as an uninterrupted one.
func (s counterState) result(task string, steps, every int64) object.Result {
	r := object.Result{Task: task, Class: Class, Engine: "counter/1", Steps: steps, Tokens: steps}
	for i, d := range s.chain {
		step := min(int64(i+1)*every, steps)
		// The state at a boundary is its digest; the checkpoint holds the chain up to it.
		ck := counterState{step: step, state: d, chain: s.chain[:i+1]}
		r.Segments = append(r.Segments, object.Segment{
			Step: step, Digest: d, Checkpoint: object.RawCID(ck.encode()).String(),
			Loss: int64(binary.BigEndian.Uint32(d[4:8]) % 1_000_000),
		})
	}
	score := int64(binary.BigEndian.Uint32(s.state) % object.Fixed)
	r.Metrics = []object.Metric{{Name: "counter", Value: score}}
	r.Score = score
	return r
}
