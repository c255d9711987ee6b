package node_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/airanode/airanode/api"
	"github.com/airanode/airanode/node"
	"github.com/airanode/airanode/node/nodetest"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/tasks"
)

// TestCloseCheckpointsMidSegment closes a node (as SIGINT and SIGTERM do in `airanode run`) while
// its task is in the middle of a segment: the node saves the run at the step where it stopped,
// not at the last segment boundary, and the node restarted on the same data directory resumes
// from that step and signs a Result byte-identical to an uninterrupted run's.
func TestCloseCheckpointsMidSegment(t *testing.T) {
	t.Parallel()
	const (
		steps, seed = 128, 11
		segment     = steps / 4 // SmokeProtocol's 4 segments
		holdAfter   = segment + segment/2
	)
	dir := t.TempDir()
	cfg := nodetest.Config(dir)
	// The progress report of step holdAfter pauses the node from inside the run, so the run is
	// held at its next step, in the middle of segment 2, whatever the machine's speed.
	var armed atomic.Bool
	var lastCheckpoint atomic.Int64
	n, cl, r := startPausing(t, cfg, steps, seed, func(e tasks.Event) bool {
		if e.Kind == tasks.EventCheckpoint {
			lastCheckpoint.Store(e.Step)
		}
		return e.Kind == tasks.EventProgress && e.Step >= holdAfter && armed.CompareAndSwap(false, true)
	})
	held := waitTask(t, cl, r.Task, 60*time.Second, func(d api.TaskDetail) error {
		if d.Local == nil || !d.Local.Paused {
			return fmt.Errorf("run not held yet: %+v", d.Local)
		}
		return nil
	})
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	// The last checkpoint is the held step, inside segment 2, not its boundary.
	saved := lastCheckpoint.Load()
	if held.Local.State != "running" || saved <= holdAfter || saved >= 2*segment || saved%segment == 0 {
		t.Fatalf("last checkpoint at step %d (run %+v), want one inside (%d, %d)", saved, held.Local, holdAfter, 2*segment)
	}

	var resumedAt atomic.Int64
	resumedAt.Store(-1)
	events := node.WithEvents(func(e tasks.Event) {
		if e.Kind == tasks.EventResumed {
			resumedAt.Store(e.Step)
		}
	})
	n2 := nodetest.Start(t, cfg, append(nodetest.Options("a2", nodetest.Fast), events)...)
	cl2 := nodetest.Client(t, n2)
	done := waitTask(t, cl2, r.Task, 60*time.Second, isDone)
	if got := resumedAt.Load(); got != saved {
		t.Fatalf("the restarted node resumed from step %d, want %d (the step where it stopped)", got, saved)
	}
	if len(done.Results) != 1 {
		t.Fatalf("%d results", len(done.Results))
	}
	rc, err := object.ParseCID(done.Results[0].CID)
	if err != nil {
		t.Fatal(err)
	}
	env, err := n2.Store().Get(rc)
	if err != nil {
		t.Fatal(err)
	}
	got, err := object.OpenResult(env)
	if err != nil {
		t.Fatal(err)
	}
	if got.Executor != n2.ID().String() {
		t.Fatalf("result executor %s, want the node %s", got.Executor, n2.ID())
	}
	sameResult(t, got, reference(t, steps, seed), fmt.Sprintf("resumed from step %d", saved))
}
