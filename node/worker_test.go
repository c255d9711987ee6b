package node_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airanode/airanode/api"
	"github.com/airanode/airanode/node"
	"github.com/airanode/airanode/node/nodetest"
	"github.com/airanode/airanode/tasks"
)

// taskState returns the task as the node of cl sees it.
func taskState(t *testing.T, cl *api.Client, task string) api.TaskDetail {
	t.Helper()
	d, err := cl.Task(context.Background(), task)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func waitTask(t *testing.T, cl *api.Client, task string, timeout time.Duration, cond func(api.TaskDetail) error) api.TaskDetail {
	t.Helper()
	var d api.TaskDetail
	nodetest.WaitFor(t, timeout, func() error {
		var err error
		if d, err = cl.Task(context.Background(), task); err != nil {
			return err
		}
		return cond(d)
	})
	return d
}

func isDone(d api.TaskDetail) error {
	if d.State != "done" {
		return fmt.Errorf("task %s is %s (%d results)", d.CID, d.State, len(d.Results))
	}
	return nil
}

// TestPauseResume: a paused node claims nothing; a pause holds a running task at a step boundary
// (its step does not move while paused) without losing it; resume lets it finish.
func TestPauseResume(t *testing.T) {
	t.Parallel()
	// Once armed, the first progress event pauses the node from inside the run, so the pause
	// lands in the middle of the task whatever the machine's speed.
	var self atomic.Pointer[node.Node]
	var armed atomic.Bool
	hook := node.WithEvents(func(e tasks.Event) {
		if n := self.Load(); n != nil && e.Kind == tasks.EventProgress && e.Step >= 2 && armed.CompareAndSwap(true, false) {
			_, _ = n.Control(api.WorkerRequest{Action: api.ActionPause})
		}
	})
	n := nodetest.Start(t, nodetest.Config(t.TempDir()), append(nodetest.Options("a", nodetest.Fast), hook)...)
	self.Store(n)
	cl := nodetest.Client(t, n)
	ctx := context.Background()
	w, err := cl.Worker(ctx, api.WorkerRequest{Action: api.ActionPause})
	if err != nil || w.State != api.WorkerPaused {
		t.Fatalf("pause: %+v, %v", w, err)
	}
	r, err := cl.Submit(ctx, smokeRequest(t, 256, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second) // more than the warm-up and a rank delay
	if d := taskState(t, cl, r.Task); d.State != "pending" || d.Local != nil {
		t.Fatalf("a paused node claimed: %+v", d)
	}
	armed.Store(true)
	if _, err := cl.Worker(ctx, api.WorkerRequest{Action: api.ActionResume}); err != nil {
		t.Fatal(err)
	}
	held := waitTask(t, cl, r.Task, 30*time.Second, func(d api.TaskDetail) error {
		if d.Local == nil || !d.Local.Paused {
			return errors.New("the run is not held yet")
		}
		return nil
	})
	time.Sleep(time.Second)
	again := taskState(t, cl, r.Task)
	if again.Local.Step != held.Local.Step || again.State != "claimed" || again.Local.State != "running" {
		t.Fatalf("paused run moved or lost its claim: %+v then %+v", held.Local, again)
	}
	st, _ := cl.Status(ctx)
	if st.Worker.State != api.WorkerPaused || len(st.Running) != 1 || !st.Running[0].Paused {
		t.Fatalf("status while paused: %+v", st)
	}
	if _, err := cl.Worker(ctx, api.WorkerRequest{Action: api.ActionResume}); err != nil {
		t.Fatal(err)
	}
	d := waitTask(t, cl, r.Task, 60*time.Second, isDone)
	if len(d.Outcomes) != 1 || d.Local.State != "done" {
		t.Fatalf("after resume: %+v", d)
	}
}

// TestDrain: drain ("finish the current task, then stop") lets the running task complete, claims
// nothing new, reports drained, and resume claims again.
func TestDrain(t *testing.T) {
	t.Parallel()
	// The drain is requested from inside the run (at its second step), so it lands while the
	// task runs whatever the machine's speed.
	var self atomic.Pointer[node.Node]
	var armed atomic.Bool
	drained := make(chan api.Worker, 1)
	hook := node.WithEvents(func(e tasks.Event) {
		if n := self.Load(); n != nil && e.Kind == tasks.EventProgress && e.Step >= 2 && armed.CompareAndSwap(true, false) {
			w, _ := n.Control(api.WorkerRequest{Action: api.ActionDrain})
			drained <- w
		}
	})
	n := nodetest.Start(t, nodetest.Config(t.TempDir()), append(nodetest.Options("a", nodetest.Fast), hook)...)
	self.Store(n)
	cl := nodetest.Client(t, n)
	ctx := context.Background()
	armed.Store(true)
	first, err := cl.Submit(ctx, smokeRequest(t, 256, 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case w := <-drained:
		if !w.Draining || w.State != api.WorkerDraining || w.Running != 1 {
			t.Fatalf("drain during the run: %+v", w)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("the task did not start")
	}
	second, err := cl.Submit(ctx, smokeRequest(t, 16, 2, 1))
	if err != nil {
		t.Fatal(err)
	}
	if d := waitTask(t, cl, first.Task, 60*time.Second, isDone); d.Local == nil || d.Local.State != "done" {
		t.Fatalf("the running task did not finish here under drain: %+v", d.Local)
	}
	nodetest.WaitFor(t, 10*time.Second, func() error {
		st, err := cl.Status(ctx)
		if err != nil {
			return err
		}
		if st.Worker.State != api.WorkerDrained {
			return fmt.Errorf("worker %s, want drained", st.Worker.State)
		}
		return nil
	})
	time.Sleep(1500 * time.Millisecond)
	if d := taskState(t, cl, second.Task); d.State != "pending" || d.Local != nil {
		t.Fatalf("a drained node claimed: %+v", d)
	}
	if w, err := cl.Worker(ctx, api.WorkerRequest{Action: api.ActionResume}); err != nil || w.Draining {
		t.Fatalf("resume: %+v, %v", w, err)
	}
	waitTask(t, cl, second.Task, 60*time.Second, isDone)
	if w, err := cl.Worker(ctx, api.WorkerRequest{Action: api.ActionWorkers, Workers: 3}); err != nil || w.Workers != 3 {
		t.Fatalf("workers: %+v, %v", w, err)
	}
}

// TestSubmitBadInput: every bad submission through the API gets a 400 with a message, and
// nothing is submitted.
func TestSubmitBadInput(t *testing.T) {
	n := nodetest.Start(t, nodetest.Config(t.TempDir()), nodetest.Options("a", nodetest.Fast)...)
	cl := nodetest.Client(t, n)
	ctx := context.Background()
	good := smokeRequest(t, 8, 0, 1)
	tests := []struct {
		name string
		req  api.SubmitRequest
	}{
		{"arch does not parse", api.SubmitRequest{Arch: "A ?? M", Protocol: "mad-lite"}},
		{"width too small", api.SubmitRequest{Arch: "width=4: A M", Protocol: "mad-lite"}},
		{"unknown protocol", api.SubmitRequest{Arch: "A M", Protocol: "imagenet"}},
		{"text without data", api.SubmitRequest{Arch: "A M", Protocol: "text"}},
		{"mad with data", api.SubmitRequest{Arch: "A M", Protocol: "mad-lite", Data: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"}},
		{"dataset not held", api.SubmitRequest{Arch: "A M", Protocol: "text", Data: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"}},
		{"data not a cid", api.SubmitRequest{Arch: "A M", Protocol: "text", Data: "nope"}},
		{"protocol object unknown field", api.SubmitRequest{Arch: "A M", ProtocolObject: []byte(`{"type":"airanode/protocol/1","gpus":1}`)}},
		{"protocol object invalid", api.SubmitRequest{Arch: "A M", ProtocolObject: []byte(`{"type":"airanode/protocol/1","name":"x","settings":[]}`)}},
		{"too many replicas", api.SubmitRequest{Arch: good.Arch, ProtocolObject: good.ProtocolObject, Replicas: 99}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cl.Submit(ctx, tc.req)
			if !errors.Is(err, api.ErrInvalid) {
				t.Fatalf("submit: %v, want ErrInvalid", err)
			}
			if ts, err := cl.Tasks(ctx); err != nil || len(ts) != 0 {
				t.Fatalf("after a bad submit: %d tasks, %v", len(ts), err)
			}
		})
	}
	// The same request, fixed, goes through, and submitting it again names the same task.
	r1, err := cl.Submit(ctx, good)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := cl.Submit(ctx, good)
	if err != nil || r2.Task != r1.Task || r1.Spelling == "" {
		t.Fatalf("resubmit: %+v vs %+v, %v", r2, r1, err)
	}
	if ts, _ := cl.Tasks(ctx); len(ts) != 1 {
		t.Fatalf("%d tasks after submitting one twice", len(ts))
	}
	if _, err := cl.Task(ctx, "bafyreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"); !errors.Is(err, api.ErrNotFound) {
		t.Fatalf("unknown task: %v", err)
	}
}
