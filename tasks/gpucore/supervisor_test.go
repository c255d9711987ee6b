//go:build unix

package gpucore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/airanode/airanode/bench"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/tasks"
	core "github.com/airanode/airanode/tasks/gpucore"
)

// TestSupervisorRun starts a core, checks the handshake, runs a task through it and compares the
// result, bit for bit, with the same evaluation run in this process.
func TestSupervisorRun(t *testing.T) {
	f := tinyTask(t)
	s, err := newSupervisor(t, f.blocks, []string{"serve"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	st := coreState(s, 0)
	if st.State != core.StateReady || st.PID <= 0 || st.Info.Class != "cpu-v1" || st.Info.Version != core.Version ||
		st.Info.Engine != bench.EvalEngine || !strings.HasPrefix(st.Info.Name, "cpu") || int(st.Info.PID) != st.PID {
		t.Fatalf("status after the handshake: %+v", st)
	}
	var rec recorder
	res, err := s.Execute(context.Background(), f.task, nil, rec.progress)
	if err != nil {
		t.Fatal(err)
	}
	sameResult(t, res, f.want)
	// Progress: every step, in order, ending at the total; one state per segment boundary and per
	// finished run (3 runs × 2 segments + 3).
	if rec.of != f.steps || len(rec.steps) < int(f.steps) || rec.steps[len(rec.steps)-1] != f.steps {
		t.Fatalf("progress: of %d, %d reports ending at %v, want %d steps", rec.of, len(rec.steps), rec.steps[len(rec.steps)-1:], f.steps)
	}
	for i := 1; i < len(rec.steps); i++ {
		if rec.steps[i] < rec.steps[i-1] {
			t.Fatalf("progress went back: %v", rec.steps)
		}
	}
	if len(rec.states) != 9 {
		t.Fatalf("%d states, want 9", len(rec.states))
	}
	if n, scores := f.blocks.counts(f.tc); n != 6 || !scores {
		t.Fatalf("%d checkpoints stored (want 6), scores stored: %v", n, scores)
	}
	if st := coreState(s, 0); st.State != core.StateReady || st.Restarts != 0 {
		t.Fatalf("status after the task: %+v", st)
	}
}

// TestSupervisorCrashResume kills the core with SIGKILL in the middle of a task: Execute fails with
// a retryable error, the core is restarted, and the task resumed from its last state ends on the
// same result as an uninterrupted run.
func TestSupervisorCrashResume(t *testing.T) {
	t.Parallel()
	f := tinyTask(t)
	s, err := newSupervisor(t, f.blocks, []string{"serve"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := coreState(s, 0).PID
	rec := recorder{onState: func(n int) error {
		if n == 4 { // run 1, first segment: mid-task, mid-run
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Error(err)
			}
		}
		return nil
	}}
	_, err = s.Execute(context.Background(), f.task, nil, rec.progress)
	if !errors.Is(err, core.ErrCrashed) || !core.Retryable(err) {
		t.Fatalf("after SIGKILL: %v (retryable %v), want a retryable ErrCrashed", err, core.Retryable(err))
	}
	contains(t, err, "killed")
	waitFor(t, "the restarted core", 20*time.Second, func() bool {
		st := coreState(s, 0)
		return st.State == core.StateReady && st.PID != pid
	})
	if st := coreState(s, 0); st.Restarts != 1 || !strings.Contains(st.LastError, "signal: killed") {
		t.Fatalf("status after the restart: %+v", st)
	}
	resume := rec.last()
	if resume == nil || len(rec.states) < 4 {
		t.Fatalf("states before the crash: %d", len(rec.states))
	}
	var rec2 recorder
	res, err := s.Execute(context.Background(), f.task, resume, rec2.progress)
	if err != nil {
		t.Fatal(err)
	}
	sameResult(t, res, f.want)
	if len(rec2.steps) == 0 || rec2.steps[0] <= resume.Step-1 {
		t.Fatalf("the resumed run started at step %v, the state was at %d", rec2.steps[:1], resume.Step)
	}
	if st := coreState(s, 0); st.Failures != 0 {
		t.Fatalf("a finished task should reset the failure count: %+v", st)
	}
}

// TestSupervisorText runs a text protocol, whose dataset the core reads from the node block by
// block.
func TestSupervisorText(t *testing.T) {
	ds := bench.NewMemStore()
	dir := t.TempDir()
	path := dir + "/corpus.txt"
	if err := os.WriteFile(path, []byte(strings.Repeat("the cat sat on the mat; ", 300)), 0o600); err != nil {
		t.Fatal(err)
	}
	dc, m, err := bench.ImportFiles(ds, []string{path}, 512)
	if err != nil {
		t.Fatal(err)
	}
	p := bench.Text(dc)
	p.Settings[0].SeqLen, p.Settings[0].Batch, p.Settings[0].Steps, p.Settings[0].TestExamples = 32, 2, 4, 4
	p.Warmup, p.EvalExamples, p.Segments = 1, 2, 2
	f, err := newFixture("width=16: A M", p, 3, ds)
	if err != nil {
		t.Fatal(err)
	}
	mb, _, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	f.blocks.put(dc, mb)
	for _, b := range m.Blocks {
		data, err := ds.Get(b.CID)
		if err != nil {
			t.Fatal(err)
		}
		f.blocks.put(b.CID, data)
	}
	s, err := newSupervisor(t, f.blocks, []string{"serve"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var rec recorder
	res, err := s.Execute(context.Background(), f.task, nil, rec.progress)
	if err != nil {
		t.Fatal(err)
	}
	sameResult(t, res, f.want)
}

// TestSupervisorTaskErrors: a task whose objects are missing fails before reaching a core; a
// core's failure to store a checkpoint fails the run; neither costs the core its health.
func TestSupervisorTaskErrors(t *testing.T) {
	f := tinyTask(t)
	s, err := newSupervisor(t, f.blocks, []string{"serve"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	missing := f.task
	missing.Seed = 7
	p := tinyProtocol()
	p.Seed = 99
	pc, _ := p.CID()
	missing.Protocol = pc.String()
	if _, err := s.Execute(context.Background(), missing, nil, func(tasks.Progress) error { return nil }); !errors.Is(err, core.ErrTask) || core.Retryable(err) {
		t.Fatalf("missing protocol: %v", err)
	}
	bad := f.task
	bad.Arch = "not a cid"
	if _, err := s.Execute(context.Background(), bad, nil, func(tasks.Progress) error { return nil }); !errors.Is(err, core.ErrTask) {
		t.Fatalf("bad task: %v", err)
	}
	f.blocks.mu.Lock()
	f.blocks.failPut = errors.New("disk full")
	f.blocks.mu.Unlock()
	_, err = s.Execute(context.Background(), f.task, nil, func(tasks.Progress) error { return nil })
	if !errors.Is(err, core.ErrRun) || core.Retryable(err) {
		t.Fatalf("checkpoint store failure: %v", err)
	}
	contains(t, err, "disk full")
	if st := coreState(s, 0); st.State != core.StateReady || st.Restarts != 0 {
		t.Fatalf("a failed task should leave the core ready: %+v", st)
	}
	// A resume state from another class (here: the node's own CPU trainer format) is ignored.
	f.blocks.mu.Lock()
	f.blocks.failPut = nil
	f.blocks.mu.Unlock()
	res, err := s.Execute(context.Background(), f.task, &tasks.Checkpoint{Step: 3, Data: []byte(`{"task":"x","runs":[]}`)}, func(tasks.Progress) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	sameResult(t, res, f.want)
}

// TestSupervisorStop: a progress callback that says stop, and a cancelled context, end the task
// promptly with that error and leave the core ready for the next task.
func TestSupervisorStop(t *testing.T) {
	f := tinyTask(t)
	s, err := newSupervisor(t, f.blocks, []string{"serve"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pid := coreState(s, 0).PID
	rec := recorder{onStep: func(step int64) error {
		if step >= 3 {
			return tasks.ErrStopped
		}
		return nil
	}}
	if _, err := s.Execute(context.Background(), f.task, nil, rec.progress); !errors.Is(err, tasks.ErrStopped) {
		t.Fatalf("stopped by progress: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rec2 := recorder{onStep: func(step int64) error {
		if step == 2 {
			cancel()
		}
		return nil
	}}
	if _, err := s.Execute(ctx, f.task, nil, rec2.progress); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if _, err := s.Execute(ctx, f.task, nil, rec2.progress); !errors.Is(err, context.Canceled) {
		t.Fatalf("already cancelled: %v", err)
	}
	res, err := s.Execute(context.Background(), f.task, nil, func(tasks.Progress) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	sameResult(t, res, f.want)
	if st := coreState(s, 0); st.PID != pid || st.Restarts != 0 {
		t.Fatalf("stopping tasks should not restart the core: %+v (pid was %d)", st, pid)
	}
}

// TestSupervisorPause holds a run in the progress callback (a paused node): the core waits, and
// the task completes normally once released, even with a short stall timeout.
func TestSupervisorPause(t *testing.T) {
	t.Parallel()
	f := tinyTask(t)
	s, err := newSupervisor(t, f.blocks, []string{"serve"}, func(c *core.Config) { c.StallTimeout = time.Second })
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	rec := recorder{onStep: func(step int64) error {
		once.Do(func() { time.Sleep(1500 * time.Millisecond) }) // longer than the stall timeout
		return nil
	}}
	res, err := s.Execute(context.Background(), f.task, nil, rec.progress)
	if err != nil {
		t.Fatal(err)
	}
	sameResult(t, res, f.want)
}

// TestSupervisorConcurrent runs more tasks than devices at once: they queue for the cores and all
// finish with the same result.
func TestSupervisorConcurrent(t *testing.T) {
	f := tinyTask(t)
	s, err := newSupervisor(t, f.blocks, []string{"serve", "serve"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	results := make([]object.Result, 3)
	for i := range 3 {
		wg.Go(func() {
			results[i], errs[i] = s.Execute(context.Background(), f.task, nil, func(tasks.Progress) error { return nil })
		})
	}
	wg.Wait()
	for i := range 3 {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		sameResult(t, results[i], f.want)
	}
}

// TestSupervisorMisbehaving covers cores that break the protocol at the handshake (New fails with
// the reason) and during a task (Execute fails with a clear, retryable error and the core is
// restarted). Nothing panics.
func TestSupervisorMisbehaving(t *testing.T) {
	t.Parallel()
	f := tinyTask(t)
	t.Run("start", func(t *testing.T) {
		for _, tc := range []struct {
			mode string
			want error
			text string
		}{
			{"exit", core.ErrCrashed, "no device here"},
			{"garbage", core.ErrFrameTooLarge, "an airanode core?"},
			{"version", core.ErrVersion, "version 9"},
			{"hang", core.ErrStalled, "no answer to hello"},
		} {
			t.Run(tc.mode, func(t *testing.T) {
				_, err := newSupervisor(t, f.blocks, []string{tc.mode}, func(c *core.Config) {
					if tc.mode == "hang" {
						c.HandshakeTimeout = time.Second
					}
				})
				if !errors.Is(err, core.ErrUnavailable) || !errors.Is(err, tc.want) {
					t.Fatalf("New: %v, want ErrUnavailable and %v", err, tc.want)
				}
				contains(t, err, tc.text)
			})
		}
	})
	t.Run("task", func(t *testing.T) {
		for _, tc := range []struct {
			mode      string
			want      error
			retryable bool
			text      string
		}{
			{"badframe", core.ErrProtocol, true, "unknown field"},
			{"oversize", core.ErrProtocol, true, "frame too large"},
			{"wrongkind", core.ErrProtocol, true, "unexpected info"},
			{"stall", core.ErrStalled, true, "nothing from the core"},
			{"panic", core.ErrRun, false, "kernel exploded"},
		} {
			t.Run(tc.mode, func(t *testing.T) {
				s, err := newSupervisor(t, f.blocks, []string{tc.mode}, func(c *core.Config) { c.StallTimeout = time.Second })
				if err != nil {
					t.Fatal(err)
				}
				pid := coreState(s, 0).PID
				_, err = s.Execute(context.Background(), f.task, nil, func(tasks.Progress) error { return nil })
				if !errors.Is(err, tc.want) || core.Retryable(err) != tc.retryable {
					t.Fatalf("Execute: %v (retryable %v), want %v (retryable %v)", err, core.Retryable(err), tc.want, tc.retryable)
				}
				contains(t, err, tc.text)
				waitFor(t, "the restarted core", 20*time.Second, func() bool {
					st := coreState(s, 0)
					return st.State == core.StateReady && st.PID != pid && st.Restarts == 1
				})
				if !processGone(pid) {
					t.Fatalf("the misbehaving core (pid %d) is still there", pid)
				}
			})
		}
	})
	t.Run("chatter", func(t *testing.T) {
		// The core completes its handshake at each of its two starts, then is given up: the node's
		// router counts on hearing each start before the give-up (gpucore.Config.OnReady).
		var mu sync.Mutex
		var heard []string
		hear := func(e string) { mu.Lock(); heard = append(heard, e); mu.Unlock() }
		s, err := newSupervisor(t, f.blocks, []string{"chatter"}, func(c *core.Config) {
			c.MaxRestarts = 1
			c.OnReady = func(ordinal int, _ core.Info) { hear(fmt.Sprintf("ready %d", ordinal)) }
			c.OnGiveUp = func(ordinal int) { hear(fmt.Sprintf("given up %d", ordinal)) }
		})
		if err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the chattering core to be given up", 20*time.Second, func() bool { return coreState(s, 0).State == core.StateFailed })
		contains(t, errors.New(coreState(s, 0).LastError), "while no task runs")
		waitFor(t, "OnGiveUp", 5*time.Second, func() bool { mu.Lock(); defer mu.Unlock(); return len(heard) >= 3 })
		mu.Lock()
		if want := []string{"ready 0", "ready 0", "given up 0"}; !slices.Equal(heard, want) {
			t.Errorf("the callbacks heard %q, want %q", heard, want)
		}
		mu.Unlock()
		_, err = s.Execute(context.Background(), f.task, nil, func(tasks.Progress) error { return nil })
		if !errors.Is(err, core.ErrUnavailable) {
			t.Fatalf("Execute with every core given up: %v", err)
		}
	})
}

// TestSupervisorRestart: a core that fails its first start is retried with backoff; one that keeps
// failing is given up after MaxRestarts while the other devices keep working, and OnGiveUp hears
// of it once. OnReady hears of each start that completed its handshake: the good core's, and the
// flaky core's second start.
func TestSupervisorRestart(t *testing.T) {
	t.Parallel()
	f := tinyTask(t)
	gaveUp, ready := make(chan int, 4), make(chan int, 8)
	s, err := newSupervisor(t, f.blocks, []string{"serve", "flaky", "exit"}, func(c *core.Config) {
		c.MaxRestarts = 2
		c.OnGiveUp = func(ordinal int) { gaveUp <- ordinal }
		c.OnReady = func(ordinal int, info core.Info) {
			if info.Class == "" || info.Name == "" {
				t.Errorf("OnReady(%d): no class or name in %+v", ordinal, info)
			}
			ready <- ordinal
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the flaky core", 20*time.Second, func() bool { return coreState(s, 1).State == core.StateReady })
	waitFor(t, "the broken core to be given up", 20*time.Second, func() bool { return coreState(s, 2).State == core.StateFailed })
	select {
	case o := <-gaveUp:
		if o != 2 {
			t.Fatalf("OnGiveUp(%d), want device 2", o)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OnGiveUp was not called")
	}
	if st := coreState(s, 1); st.Restarts != 1 || !strings.Contains(st.LastError, "first start fails") {
		t.Fatalf("flaky core: %+v", st)
	}
	if st := coreState(s, 2); st.Failures != 3 || st.Restarts != 2 || !strings.Contains(st.LastError, "no device here") {
		t.Fatalf("broken core: %+v", st)
	}
	res, err := s.Execute(context.Background(), f.task, nil, func(tasks.Progress) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	sameResult(t, res, f.want)
	if len(gaveUp) != 0 {
		t.Fatalf("OnGiveUp called again, for device %d", <-gaveUp)
	}
	// The state turns ready just before OnReady runs: wait for both calls, then for any other.
	var got []int
	for len(got) < 2 {
		select {
		case o := <-ready:
			got = append(got, o)
		case <-time.After(5 * time.Second):
			t.Fatalf("OnReady heard of devices %v, want [0 1]", got)
		}
	}
	for len(ready) > 0 {
		got = append(got, <-ready)
	}
	if slices.Sort(got); !slices.Equal(got, []int{0, 1}) {
		t.Fatalf("OnReady heard of devices %v, want [0 1] (once each)", got)
	}
}

// TestSupervisorClose: Close stops a running task (ErrClosed), shuts every core down, reaps the
// processes and leaves no goroutine behind; it is idempotent, and Execute afterwards fails.
func TestSupervisorClose(t *testing.T) {
	f := tinyTask(t)
	before := runtime.NumGoroutine()
	s, err := newSupervisor(t, f.blocks, []string{"serve", "serve"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pids := []int{coreState(s, 0).PID, coreState(s, 1).PID}
	started := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		_, err := s.Execute(context.Background(), f.task, nil, func(tasks.Progress) error {
			once.Do(func() { close(started) })
			return nil
		})
		done <- err
	}()
	<-started
	for range 2 {
		go s.Close() // concurrent Closes
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, core.ErrClosed) {
		t.Fatalf("the running task: %v, want ErrClosed", err)
	}
	for _, st := range s.Status() {
		if st.State != core.StateClosed || st.PID != 0 {
			t.Fatalf("status after Close: %+v", st)
		}
	}
	for _, pid := range pids {
		if !processGone(pid) {
			t.Fatalf("core pid %d survived Close", pid)
		}
	}
	if _, err := s.Execute(context.Background(), f.task, nil, nil); !errors.Is(err, core.ErrClosed) {
		t.Fatalf("Execute after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	checkGoroutines(t, before)
}

// TestConfig: bad configurations fail New with clear errors.
func TestConfig(t *testing.T) {
	blocks := newMemBlocks()
	for _, tc := range []struct {
		name string
		cfg  core.Config
		want error
	}{
		{"no blocks", core.Config{Binary: "/bin/true", Devices: []int{0}}, core.ErrConfig},
		{"no device", core.Config{Binary: "/bin/true", Blocks: blocks, ProcRoot: t.TempDir()}, core.ErrUnavailable},
		{"duplicate device", core.Config{Binary: "/bin/true", Blocks: blocks, Devices: []int{0, 0}}, core.ErrConfig},
		{"negative device", core.Config{Binary: "/bin/true", Blocks: blocks, Devices: []int{-1}}, core.ErrConfig},
		{"small frame cap", core.Config{Binary: "/bin/true", Blocks: blocks, Devices: []int{0}, MaxFrame: 1000}, core.ErrConfig},
		{"negative timeout", core.Config{Binary: "/bin/true", Blocks: blocks, Devices: []int{0}, CancelGrace: -1}, core.ErrConfig},
		{"missing binary", core.Config{Binary: t.TempDir() + "/nope", Blocks: blocks, Devices: []int{0}}, core.ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Logger = testLogger(t)
			s, err := core.New(tc.cfg)
			if !errors.Is(err, tc.want) {
				if s != nil {
					s.Close()
				}
				t.Fatalf("New: %v, want %v", err, tc.want)
			}
		})
	}
}

// TestProbe: a probe handshakes with a core and shuts it down; a core that does not start gives
// its reason; the context bounds the probe.
func TestProbe(t *testing.T) {
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cfg := core.Config{Binary: exe, Args: fakeArgs("serve"), Env: []string{fakeEnv + "=1"}, Logger: testLogger(t)}
	info, err := core.Probe(context.Background(), cfg, 0)
	if err != nil {
		t.Fatal(err)
	}
	if info.Class != "cpu-v1" || info.PID <= 0 || !processGone(int(info.PID)) {
		t.Fatalf("probe: %+v (process gone: %v)", info, processGone(int(info.PID)))
	}
	cfg.Args = fakeArgs("exit")
	if _, err := core.Probe(context.Background(), cfg, 0); !errors.Is(err, core.ErrCrashed) {
		t.Fatalf("probe of a core that exits: %v", err)
	} else {
		contains(t, err, "no device here", "exit status 3")
	}
	cfg.Args = fakeArgs("hang")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := core.Probe(ctx, cfg, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("probe of a hanging core: %v", err)
	}
}

// processGone reports whether pid no longer exists (exited and reaped).
func processGone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// TestSupervisorCancelCut cancels a run mid-segment: the core saves the step it reached (a cut,
// not the last segment boundary) and hands it over although the run was stopped, and a run
// resumed from it ends with the uninterrupted result, starting right after it.
func TestSupervisorCancelCut(t *testing.T) {
	t.Parallel()
	// One run of 240 steps in two segments: the cancellation reaches the core long before the
	// boundary at step 120, so only a cut can save the step it reached.
	p := tinyProtocol()
	p.Settings = p.Settings[:1]
	p.Settings[0].Steps = 240
	f, err := newFixture("width=16: A M", p, 43, nil)
	if err != nil {
		t.Fatal(err)
	}
	s, err := newSupervisor(t, f.blocks, []string{"serve"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	rec := recorder{onStep: func(step int64) error {
		if step == 10 {
			cancel()
		}
		return nil
	}}
	if _, err := s.Execute(ctx, f.task, nil, rec.progress); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	cut := rec.last()
	rec.mu.Lock()
	seen := slices.Max(rec.steps)
	rec.mu.Unlock()
	if cut == nil || cut.Step < seen || cut.Step >= 120 {
		t.Fatalf("last state at step %v, want a cut at step %d or later, before the boundary at 120", cut, seen)
	}
	var rec2 recorder
	res, err := s.Execute(context.Background(), f.task, cut, rec2.progress)
	if err != nil {
		t.Fatal(err)
	}
	sameResult(t, res, f.want)
	if len(rec2.steps) == 0 || rec2.steps[0] != cut.Step+1 {
		t.Fatalf("the resumed run reported steps from %v, the state was at %d", rec2.steps[:min(1, len(rec2.steps))], cut.Step)
	}
}
