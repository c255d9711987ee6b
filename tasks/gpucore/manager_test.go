//go:build unix

package gpucore_test

import (
	"context"
	"crypto/rand"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/store"
	"github.com/airanode/airanode/tasks"
	core "github.com/airanode/airanode/tasks/gpucore"
	"github.com/airanode/airanode/tasks/taskstest"
)

// TestSupervisorManager plugs a Supervisor into a tasks.Manager as its Executor, as the node
// does, and kills the core with SIGKILL right after the task's first checkpoint: the Manager runs
// the task again, from that checkpoint, and publishes the same result as an uninterrupted run.
func TestSupervisorManager(t *testing.T) {
	t.Parallel()
	f := tinyTask(t)
	st, err := store.Open("", store.Options{InMemory: true, MemTableSize: 8 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	f.blocks.mu.Lock()
	for k, v := range f.blocks.m {
		c, err := cid.Cast([]byte(k))
		if err == nil {
			err = st.Put(c, v)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	f.blocks.mu.Unlock()
	s, err := newSupervisor(t, &core.StoreBlocks{Store: st}, []string{"serve"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := coreState(s, 0).PID

	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, err := peer.IDFromPrivateKey(sk)
	if err != nil {
		t.Fatal(err)
	}
	ep := taskstest.NewNetwork().Join(id)
	var killed atomic.Bool
	var mu sync.Mutex
	var events []tasks.Event
	m, err := tasks.New(tasks.Config{
		Key: sk, Store: st, Bus: ep, Executor: s, Workers: 1, Class: "cpu-v1",
		Lease: 5 * time.Second, Heartbeat: 200 * time.Millisecond, RankDelay: 100 * time.Millisecond,
		Tick: 20 * time.Millisecond, CapabilityInterval: 300 * time.Millisecond, Warmup: -1, PublishTimeout: time.Second,
		OnEvent: func(e tasks.Event) {
			if e.Kind == tasks.EventCheckpoint && !killed.Swap(true) {
				if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
					t.Error(err)
				}
			}
			mu.Lock()
			events = append(events, e)
			mu.Unlock()
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ep.Attach(m)
	t.Cleanup(func() { ep.Leave(); m.Close() })
	tc, err := m.Submit(context.Background(), f.task, 1)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the task to be done", 40*time.Second, func() bool {
		st, err := m.Get(tc)
		return err == nil && st.Local != nil && st.Local.State == tasks.RunDone
	})
	status, _ := m.Get(tc)
	if status.Local.Failures != 1 {
		t.Fatalf("the crash should count as one failure: %+v", status.Local)
	}
	env, err := st.Get(status.Local.Result)
	if err != nil {
		t.Fatal(err)
	}
	res, err := object.OpenResult(env)
	if err != nil {
		t.Fatal(err)
	}
	want := f.want
	want.Executor = id.String()
	sameResult(t, res, want)

	mu.Lock()
	defer mu.Unlock()
	var failed, resumedAt int
	for _, e := range events {
		switch {
		case e.Kind == tasks.EventFailed:
			failed++
			if !core.Retryable(e.Err) {
				t.Fatalf("the crash was reported as %v", e.Err)
			}
		case e.Kind == tasks.EventProgress && failed == 1 && resumedAt == 0 && e.Step > 0:
			resumedAt = int(e.Step)
		}
	}
	if failed != 1 || resumedAt <= 1 {
		t.Fatalf("%d failures; the second run's first progress at step %d (it should resume after the checkpoint)", failed, resumedAt)
	}
}
