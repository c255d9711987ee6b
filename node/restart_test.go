package node_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airanode/airanode/api"
	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/bench"
	"github.com/airanode/airanode/config"
	"github.com/airanode/airanode/node"
	"github.com/airanode/airanode/node/nodetest"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/tasks"
)

// reference trains the smoke task (smokeRequest's) in process, uninterrupted, on the CPU engine,
// and returns its report.
func reference(t *testing.T, steps int, seed uint64) *bench.EvalReport {
	t.Helper()
	rep, err := bench.Evaluate(context.Background(), bench.EvalOptions{
		Arch: arch.MustParse(smokeArch), Protocol: node.SmokeProtocol(steps), Seed: seed, Threads: 1,
		Checkpoints: bench.NewMemStore(), Logger: nodetest.Logger("ref"),
	})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// sameResult fails t unless got is, byte for byte, the reference Result (its Executor aside).
func sameResult(t *testing.T, got object.Result, ref *bench.EvalReport, what string) {
	t.Helper()
	want := ref.Result
	want.Executor = got.Executor
	gb, err1 := object.Marshal(got)
	wb, err2 := object.Marshal(want)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gb, wb) {
		t.Fatalf("%s: result\n%+v\nwant (uninterrupted, in process)\n%+v", what, got, want)
	}
}

// startPausing starts a node on cfg whose events pause it (from inside the run) when pause says so,
// and submits the smoke task (steps, seed, R = 1) to it. The caller closes the node.
func startPausing(t *testing.T, cfg config.Config, steps int, seed uint64, pause func(tasks.Event) bool) (*node.Node, *api.Client, api.SubmitResponse) {
	t.Helper()
	var self atomic.Pointer[node.Node]
	hook := node.WithEvents(func(e tasks.Event) {
		if n := self.Load(); n != nil && pause(e) {
			_, _ = n.Control(api.WorkerRequest{Action: api.ActionPause})
		}
	})
	n, err := node.New(context.Background(), cfg, append(nodetest.Options("a", nodetest.Fast), hook)...)
	if err != nil {
		t.Fatal(err)
	}
	self.Store(n)
	cl := nodetest.Client(t, n)
	r, err := cl.Submit(context.Background(), smokeRequest(t, steps, seed, 1))
	if err != nil {
		t.Fatal(err)
	}
	return n, cl, r
}

// referenceDigests is the digest chain of reference, in hex.
func referenceDigests(t *testing.T, steps int, seed uint64) []string {
	t.Helper()
	var out []string
	for _, g := range reference(t, steps, seed).Result.Segments {
		out = append(out, hex.EncodeToString(g.Digest))
	}
	return out
}

// TestRestartResumesBitIdentical closes a node in the middle of a task (as SIGINT does in
// `airanode run`) and starts it again on the same data directory within the lease: the node
// resumes its own task from the last checkpoint, and the result's digest chain equals that of an
// uninterrupted run.
func TestRestartResumesBitIdentical(t *testing.T) {
	t.Parallel()
	const steps, seed = 256, 5
	dir := t.TempDir()
	cfg := nodetest.Config(dir)
	// The first checkpoint pauses the node, so that it stops in the middle of the task whatever
	// the machine's speed: the run is held at the next step boundary.
	n, cl, r := startPausing(t, cfg, steps, seed, func(e tasks.Event) bool { return e.Kind == tasks.EventCheckpoint })
	d := waitTask(t, cl, r.Task, 60*time.Second, func(d api.TaskDetail) error {
		if d.Local == nil || !d.Local.Paused || d.Local.Checkpoint == 0 {
			return fmt.Errorf("run not held after a checkpoint yet: %+v", d.Local)
		}
		return nil
	})
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if d.Local.State != "running" || d.Local.Step >= steps {
		t.Fatalf("the run is not in the middle of the task: %+v", d.Local)
	}
	from := d.Local.Checkpoint
	var resumed atomic.Bool
	events := node.WithEvents(func(e tasks.Event) {
		if e.Kind == tasks.EventResumed {
			resumed.Store(true)
		}
	})
	n2 := nodetest.Start(t, cfg, append(nodetest.Options("a2", nodetest.Fast), events)...)
	cl2 := nodetest.Client(t, n2)
	done := waitTask(t, cl2, r.Task, 90*time.Second, isDone)
	if !resumed.Load() {
		t.Fatal("the restarted node did not resume its task")
	}
	want := referenceDigests(t, steps, seed)
	got := done.Outcomes[0].Digests
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("resumed from step %d: digest chain\n%v\nwant (uninterrupted)\n%v", from, got, want)
	}
	if n2.Manager().Stats().Completed != 1 {
		t.Fatalf("completed %d", n2.Manager().Stats().Completed)
	}
}

// TestKilledWorker: a node process killed with SIGKILL in the middle of a task loses its lease,
// another node completes the task, and the killed node, restarted, duplicates nothing.
func TestKilledWorker(t *testing.T) {
	t.Parallel()
	const steps = 384
	c := nodetest.NewCluster(t, 2)
	ctx := context.Background()
	a, b := c.Client(0), c.Client(1)
	child := nodetest.StartChild(t, t.TempDir(), c.Nodes[0].Addrs()[0])
	nodetest.WaitFor(t, 30*time.Second, func() error {
		st, err := child.API.Status(ctx)
		if err != nil {
			return err
		}
		if st.TaskPeers < 2 || c.Nodes[0].Manager().Stats().Peers < 2 || c.Nodes[1].Manager().Stats().Peers < 2 {
			return fmt.Errorf("child knows %d task peers", st.TaskPeers)
		}
		return nil
	})
	// Only the child accepts work: it claims the task.
	for _, cl := range []*api.Client{a, b} {
		if _, err := cl.Worker(ctx, api.WorkerRequest{Action: api.ActionPause}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(time.Second) // the paused capabilities reach the child
	r, err := a.Submit(ctx, smokeRequest(t, steps, 9, 1))
	if err != nil {
		t.Fatal(err)
	}
	waitTask(t, child.API, r.Task, 60*time.Second, func(d api.TaskDetail) error {
		if d.Local == nil || d.Local.State != "running" || d.Local.Checkpoint == 0 {
			return fmt.Errorf("child's run: %+v", d.Local)
		}
		return nil
	})
	// Hold the child's run where it is, so that the kill lands in the middle of the task.
	if _, err := child.API.Worker(ctx, api.WorkerRequest{Action: api.ActionPause}); err != nil {
		t.Fatal(err)
	}
	waitTask(t, child.API, r.Task, 30*time.Second, func(d api.TaskDetail) error {
		if d.Local == nil || d.Local.State != "running" || !d.Local.Paused {
			return fmt.Errorf("child's run not held: %+v", d.Local)
		}
		return nil
	})
	child.Kill()
	killed := time.Now()
	for _, cl := range []*api.Client{a, b} {
		if _, err := cl.Worker(ctx, api.WorkerRequest{Action: api.ActionResume}); err != nil {
			t.Fatal(err)
		}
	}
	d := waitTask(t, a, r.Task, 120*time.Second, isDone)
	if len(d.Results) != 1 {
		t.Fatalf("%d results, want 1", len(d.Results))
	}
	executor := d.Outcomes[0].Executor
	if executor == child.Info.PeerID {
		t.Fatal("the killed node's result was counted")
	}
	if took := time.Since(killed); took < nodetest.Fast.Lease/2 {
		t.Fatalf("another node completed %s after the kill, before the lease could expire", took)
	}

	// Restart the killed node: it learns that the task is done and publishes nothing.
	child2 := nodetest.StartChild(t, child.Dir, c.Nodes[0].Addrs()[0])
	if child2.Info.PeerID != child.Info.PeerID {
		t.Fatal("the restarted child has another identity")
	}
	waitTask(t, child2.API, r.Task, 60*time.Second, isDone)
	time.Sleep(2 * nodetest.Fast.Lease)
	for i, cl := range []*api.Client{a, b, child2.API} {
		d := taskState(t, cl, r.Task)
		if len(d.Results) != 1 || d.Results[0].Executor != executor {
			t.Fatalf("node %d: results %+v, want only %s's", i, d.Results, executor)
		}
	}
	st, err := child2.API.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Worker.Completed != 0 || len(st.Running) != 0 {
		t.Fatalf("the restarted node ran the task again: %+v", st.Worker)
	}
	if err := child2.Stop(30 * time.Second); err != nil {
		t.Fatalf("child stop: %v", err)
	}
}
