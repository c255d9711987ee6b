package gpucore_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/bench"
	"github.com/airanode/airanode/gpu/cpu"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/tasks"
	core "github.com/airanode/airanode/tasks/gpucore"
)

// tinyProtocol is a three-setting MAD protocol that trains in milliseconds: 2 segments per run.
func tinyProtocol() *bench.Protocol {
	set := func(task string, vocab, seq int) bench.Setting {
		return bench.Setting{Task: task, Vocab: vocab, SeqLen: seq, TrainExamples: 64, TestExamples: 12, Steps: 6, Batch: 4}
	}
	rc := set(bench.TaskRecall, 8, 16)
	rc.MultiQuery = true
	sc := set(bench.TaskSelCopy, 8, 16)
	sc.CopyTokens = 4
	mem := set(bench.TaskMemorize, 16, 8)
	mem.TrainExamples = 16
	return &bench.Protocol{
		Type: bench.ProtocolType, Name: "tiny", Settings: []bench.Setting{rc, sc, mem},
		LR: 3000, Schedule: bench.ScheduleCosine, Warmup: 1, MinLR: 10, EvalExamples: 8, Seed: 7, Segments: 2,
	}
}

// memBlocks is an in-memory core.Blocks that records what it stores.
type memBlocks struct {
	mu          sync.Mutex
	m           map[string][]byte
	checkpoints map[string]int // task → checkpoints stored
	scores      map[string]cid.Cid
	failPut     error
}

func newMemBlocks() *memBlocks {
	return &memBlocks{m: map[string][]byte{}, checkpoints: map[string]int{}, scores: map[string]cid.Cid{}}
}

func (b *memBlocks) put(c cid.Cid, data []byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.m[c.KeyString()] = append([]byte(nil), data...)
}

func (b *memBlocks) Get(_ context.Context, c cid.Cid) ([]byte, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d, ok := b.m[c.KeyString()]
	if !ok {
		return nil, fmt.Errorf("block %s: not found", c)
	}
	return append([]byte(nil), d...), nil
}

func (b *memBlocks) PutCheckpoint(_ context.Context, task, c cid.Cid, data []byte) error {
	if err := object.VerifyBlock(c, data); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.failPut != nil {
		return b.failPut
	}
	b.m[c.KeyString()] = append([]byte(nil), data...)
	b.checkpoints[task.String()]++
	return nil
}

func (b *memBlocks) PutScores(_ context.Context, task, c cid.Cid, data []byte) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.m[c.KeyString()] = append([]byte(nil), data...)
	b.scores[task.String()] = c
	return nil
}

func (b *memBlocks) counts(task cid.Cid) (checkpoints int, scores bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.scores[task.String()]
	return b.checkpoints[task.String()], ok
}

// fixture is a task with its objects in a block store, and its uninterrupted result computed in
// this process on the CPU device.
type fixture struct {
	blocks *memBlocks
	task   object.Task
	tc     cid.Cid
	want   object.Result
	steps  int64
}

var (
	fixtureOnce sync.Once
	fixtureVal  *fixture
	fixtureErr  error
)

// tinyTask returns the shared fixture: the tiny protocol with a small attention + MLP model.
func tinyTask(t testing.TB) *fixture {
	t.Helper()
	fixtureOnce.Do(func() { fixtureVal, fixtureErr = newFixture("width=16: A M", tinyProtocol(), 42, nil) })
	if fixtureErr != nil {
		t.Fatal(fixtureErr)
	}
	f := *fixtureVal
	f.blocks = newMemBlocks()
	fixtureVal.blocks.mu.Lock()
	for k, v := range fixtureVal.blocks.m {
		f.blocks.m[k] = v
	}
	fixtureVal.blocks.mu.Unlock()
	return &f
}

// newFixture stores the objects of (spec, p, seed) and evaluates the task in process; data holds
// a text protocol's dataset blocks.
func newFixture(spec string, p *bench.Protocol, seed uint64, data *bench.MemStore) (*fixture, error) {
	a, err := arch.Parse(spec)
	if err == nil {
		a, err = arch.Normalize(a)
	}
	if err != nil {
		return nil, err
	}
	ab, ac, err := arch.Encode(a)
	if err != nil {
		return nil, err
	}
	pb, pc, err := p.Encode()
	if err != nil {
		return nil, err
	}
	f := &fixture{blocks: newMemBlocks(), task: object.Task{Arch: ac.String(), Protocol: pc.String(), Seed: seed}}
	f.blocks.put(ac, ab)
	f.blocks.put(pc, pb)
	if _, f.tc, err = object.Encode(f.task); err != nil {
		return nil, err
	}
	dev, err := cpu.New(1)
	if err != nil {
		return nil, err
	}
	defer dev.Close()
	o := bench.EvalOptions{Arch: a, Protocol: p, Seed: seed, Device: dev}
	if data != nil {
		o.Data = data
	}
	rep, err := bench.Evaluate(context.Background(), o)
	if err != nil {
		return nil, err
	}
	if !rep.TaskCID.Equals(f.tc) {
		return nil, fmt.Errorf("fixture: task %s, evaluation %s", f.tc, rep.TaskCID)
	}
	f.want, f.steps = rep.Result, rep.Result.Steps
	return f, nil
}

// newSupervisor starts a Supervisor whose devices run the fake core in the given modes (one per
// device), with test-sized timeouts; cfg adjusts the Config. Close runs at cleanup.
func newSupervisor(t *testing.T, blocks core.Blocks, modes []string, cfg func(*core.Config)) (*core.Supervisor, error) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	devices := make([]int, len(modes))
	for i := range devices {
		devices[i] = i
	}
	c := core.Config{
		Binary: exe, Args: fakeArgs(modes...), Devices: devices, Blocks: blocks,
		Env:              []string{fakeEnv + "=1", "AIRANODE_CORE_TEST_DIR=" + t.TempDir()},
		HandshakeTimeout: 20 * time.Second, StallTimeout: 30 * time.Second, CancelGrace: 10 * time.Second,
		ShutdownTimeout: 10 * time.Second, Backoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond,
		Logger: testLogger(t),
	}
	if cfg != nil {
		cfg(&c)
	}
	s, err := core.New(c)
	if err == nil {
		t.Cleanup(func() { s.Close() })
	}
	return s, err
}

// recorder is a progress callback that records what it sees and can act on it.
type recorder struct {
	mu      sync.Mutex
	steps   []int64
	of      int64
	states  []tasks.Checkpoint
	onState func(n int) error // called with the number of states so far
	onStep  func(step int64) error
}

func (r *recorder) progress(p tasks.Progress) error {
	r.mu.Lock()
	r.of = p.Of
	var act func() error
	if p.Checkpoint != nil {
		r.states = append(r.states, tasks.Checkpoint{Step: p.Checkpoint.Step, Data: append([]byte(nil), p.Checkpoint.Data...)})
		if r.onState != nil {
			n := len(r.states)
			act = func() error { return r.onState(n) }
		}
	} else {
		r.steps = append(r.steps, p.Step)
		if r.onStep != nil {
			act = func() error { return r.onStep(p.Step) }
		}
	}
	r.mu.Unlock()
	if act != nil {
		return act()
	}
	return nil
}

func (r *recorder) last() *tasks.Checkpoint {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.states) == 0 {
		return nil
	}
	c := r.states[len(r.states)-1]
	return &c
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// coreState returns device i's status.
func coreState(s *core.Supervisor, i int) core.CoreStatus { return s.Status()[i] }

// sameResult fails unless got equals want field by field (the Executor aside).
func sameResult(t *testing.T, got, want object.Result) {
	t.Helper()
	gb, err1 := object.Marshal(got)
	wb, err2 := object.Marshal(want)
	if err := errors.Join(err1, err2); err != nil {
		t.Fatal(err)
	}
	if string(gb) != string(wb) {
		t.Fatalf("results differ:\n got  %+v\n want %+v", got, want)
	}
}

// checkGoroutines waits for the goroutine count to fall back to before.
func checkGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// contains fails unless err's text mentions every part.
func contains(t *testing.T, err error, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Fatalf("error %v does not mention %q", err, p)
		}
	}
}

// testLogger logs to t while the test runs (and nowhere after it ended).
func testLogger(t *testing.T) *slog.Logger {
	w := &testWriter{t: t}
	t.Cleanup(func() {
		w.mu.Lock()
		w.done = true
		w.mu.Unlock()
	})
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Log(strings.TrimSpace(string(b)))
	}
	return len(b), nil
}
