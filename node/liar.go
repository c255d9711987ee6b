package node

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/bench"
	"github.com/airanode/airanode/gpu/cpu"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/tasks"
)

// DemoLiarScore is the score a demo liar reports for every task: 0.99, better than any honest
// candidate of the demo scores.
const DemoLiarScore = 990_000

// demoLiar is the lying executor of the demo and the tests, and nothing else: WithDemoLiar
// installs it. It never trains. For every task it claims it waits a moment, then reports a
// fabricated Result that is well formed in every way the network can check alone (the task's
// runs, segment steps, metrics per task, signed by its executor) but whose digests are made up and
// whose score is DemoLiarScore. Only verification can tell it from honest work, which is what the
// demo shows: its results lose every vote, its reputation falls, and none of its scores is ever
// verified.
//
// Its made-up digests depend on its own identity, so two demo liars fabricate different results
// for the same task: they lie independently (lazy executors), they do not collude.
type demoLiar struct {
	x     *Trainer // to read (or fetch) the task's protocol
	self  peer.ID
	delay time.Duration
}

// Execute implements tasks.Executor with a fabricated result.
func (l *demoLiar) Execute(ctx context.Context, task object.Task, _ *tasks.Checkpoint, progress func(tasks.Progress) error) (object.Result, error) {
	_, tc, err := object.Encode(task)
	if err != nil {
		return object.Result{}, fmt.Errorf("%w: %w", ErrTask, err)
	}
	_, p, err := l.x.load(ctx, task)
	if err != nil {
		return object.Result{}, err
	}
	offsets, total := p.RunOffsets()
	select {
	case <-ctx.Done():
		return object.Result{}, ctx.Err()
	case <-time.After(l.delay):
	}
	if err := progress(tasks.Progress{Step: total, Of: total}); err != nil {
		return object.Result{}, err
	}
	seed := sha256.Sum256(slices.Concat([]byte("airanode/demo-liar/1\x00"), tc.Bytes(), []byte(l.self)))
	res := object.Result{Task: tc.String(), Class: cpu.Class, Engine: bench.EvalEngine, Steps: total,
		Score: DemoLiarScore}
	segs := max(1, p.Segments)
	seen := map[string]bool{}
	for ri, r := range p.Runs() {
		s := p.Settings[r.Setting]
		res.Tokens += int64(s.Steps) * int64(s.Batch) * int64(s.ExampleLen())
		for j := 1; j <= segs; j++ {
			d := sha256.Sum256(binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint32(seed[:], uint32(ri)), uint32(j)))
			res.Segments = append(res.Segments, object.Segment{
				Step: offsets[ri] + int64(j*s.Steps/segs), Digest: d[:], Loss: 10_000,
				Metrics: []object.Metric{{Name: "partial", Value: DemoLiarScore}},
			})
		}
		if !seen[s.Task] {
			seen[s.Task] = true
			res.Metrics = append(res.Metrics, object.Metric{Name: s.Task, Value: DemoLiarScore})
		}
	}
	return res, nil
}
