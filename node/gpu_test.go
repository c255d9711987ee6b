package node_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/airanode/airanode/bench"
	"github.com/airanode/airanode/config"
	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/cpu"
	"github.com/airanode/airanode/node"
	"github.com/airanode/airanode/node/nodetest"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/tasks"
	"github.com/airanode/airanode/tasks/gpucore"
	"github.com/airanode/airanode/tasks/taskstest"
)

// Environment of the fake compute core (the test binary re-executed by a node's Supervisor).
const (
	fakeCoreEnv = "AIRANODE_NODE_TEST_CORE"     // "1": run as a core
	fakeCoreDir = "AIRANODE_NODE_TEST_CORE_DIR" // where the core leaves its marks
)

// init runs the fake core before the tests' TestMain (lifecycle_test.go) when the test binary is
// started as one.
func init() {
	if os.Getenv(fakeCoreEnv) == "1" {
		os.Exit(fakeCore(os.Args[1:]))
	}
}

// fakeCore is the compute core of these tests: gpucore.Serve with the CPU device and
// gpucore.EvalRun, as cmd/airanode-cuda serve does with the CUDA device, so its results are
// cpu-v1 bits. It leaves marks in $AIRANODE_NODE_TEST_CORE_DIR: start-<pid> when it starts, and
// run-<task cid> holding its pid when it runs a task. Modes:
//
//	serve  a real core
//	gate   a real core whose runs wait until the file "gate" exists
//	exit   prints a reason and exits 3 before the handshake
//	die    a real core that exits 2 s after its first frame (the handshake's answer): long
//	       enough for the node to count it up at start; its device declares "fake-gpu-v1"
//	small  a real core that reports 1 MiB of device memory
//	big    a real core that reports 1 TiB of device memory
//	class  a real core whose device declares the class "fake-gpu-v1"
//	late   device 0: a real core; device 1: exits before the handshake until the file "up-1"
//	       exists, then a real core whose device declares "fake-gpu-v1"
func fakeCore(args []string) int {
	fs := flag.NewFlagSet("fake-core", flag.ContinueOnError)
	device := fs.Int("device", -1, "")
	mode := fs.String("mode", "serve", "")
	if len(args) == 0 || args[0] != "serve" || fs.Parse(args[1:]) != nil || *device < 0 {
		fmt.Fprintln(os.Stderr, "fake core: usage: serve --device N --mode M")
		return 2
	}
	dir := os.Getenv(fakeCoreDir)
	pid := strconv.Itoa(os.Getpid())
	if err := os.WriteFile(filepath.Join(dir, "start-"+pid), nil, 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "fake core:", err)
		return 1
	}
	if *mode == "exit" {
		fmt.Fprintln(os.Stderr, "fake core: no device here")
		return 3
	}
	late := *mode == "late" && *device == 1
	if late {
		if _, err := os.Stat(filepath.Join(dir, "up-1")); err != nil {
			fmt.Fprintln(os.Stderr, "fake core: not ready yet")
			return 3
		}
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	dev, err := cpu.New(1, cpu.WithLogger(log))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake core:", err)
		return 1
	}
	defer dev.Close()
	run := func(ctx context.Context, d gpu.Device, job *gpucore.Job) (*gpucore.Report, error) {
		if err := os.WriteFile(filepath.Join(dir, "run-"+job.TaskCID.String()), []byte(pid), 0o600); err != nil {
			return nil, err
		}
		for *mode == "gate" {
			if _, err := os.Stat(filepath.Join(dir, "gate")); err == nil {
				break
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(10 * time.Millisecond):
			}
		}
		return gpucore.EvalRun(ctx, d, job)
	}
	var out io.Writer = os.Stdout
	if *mode == "die" {
		out = &dieAfterFirstWrite{w: os.Stdout}
	}
	opts := []gpucore.ServeOption{gpucore.WithLogger(log), gpucore.WithEngine(bench.EvalEngine)}
	switch *mode {
	case "small":
		opts = append(opts, gpucore.WithMemory(1<<20))
	case "big":
		opts = append(opts, gpucore.WithMemory(1<<40))
	}
	var d gpu.Device = dev
	if *mode == "class" || *mode == "die" || late {
		d = classedDevice{dev}
	}
	err = gpucore.Serve(ctx, os.Stdin, out, d, run, opts...)
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(os.Stderr, "fake core:", err)
		return 1
	}
	return 0
}

// classedDevice is the "class" core's device: the CPU device under another class name.
type classedDevice struct{ gpu.Device }

func (classedDevice) Class() string { return "fake-gpu-v1" }

// dieAfterFirstWrite is the "die" core's output: 2 s after the first write the process exits.
type dieAfterFirstWrite struct {
	w    io.Writer
	once sync.Once
}

func (d *dieAfterFirstWrite) Write(p []byte) (int, error) {
	d.once.Do(func() { time.AfterFunc(2*time.Second, func() { os.Exit(4) }) })
	return d.w.Write(p)
}

// fakeProc writes an NVIDIA driver tree with n devices, as /proc/driver/nvidia has it, and returns
// its root.
func fakeProc(t *testing.T, n int) string {
	t.Helper()
	root := t.TempDir()
	for i := range n {
		d := filepath.Join(root, "gpus", fmt.Sprintf("0000:%02x:00.0", i+1))
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		info := fmt.Sprintf("Model: \t\t Fake GPU %d\nDevice Minor: \t %d\n", i, i)
		if err := os.WriteFile(filepath.Join(d, "information"), []byte(info), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "version"), []byte("NVRM version: fake 1.0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return root
}

// fakeCores returns the option that runs the fake core in mode on the devices of procRoot, with
// test-sized timeouts; the cores leave their marks in marks.
func fakeCores(t *testing.T, procRoot, mode, marks string, edit func(*gpucore.Config)) node.Option {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return node.WithGPUCores(func(c *gpucore.Config) {
		c.Binary, c.ProcRoot = exe, procRoot
		c.Args = func(ordinal int) []string {
			return []string{"serve", "--device", strconv.Itoa(ordinal), "--mode", mode}
		}
		c.Env = []string{fakeCoreEnv + "=1", fakeCoreDir + "=" + marks}
		c.HandshakeTimeout, c.ShutdownTimeout, c.CancelGrace = 20*time.Second, 10*time.Second, 10*time.Second
		c.Backoff, c.MaxBackoff = 20*time.Millisecond, 100*time.Millisecond
		if edit != nil {
			edit(c)
		}
	})
}

// marks lists the fake cores' marks in dir with the given prefix.
func marks(t *testing.T, dir, prefix string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if name, ok := strings.CutPrefix(e.Name(), prefix); ok {
			out = append(out, name)
		}
	}
	return out
}

// localResult returns the result this node published for task.
func localResult(t *testing.T, n *node.Node, task string) (object.Result, tasks.LocalRun) {
	t.Helper()
	tc, err := object.ParseCID(task)
	if err != nil {
		t.Fatal(err)
	}
	st, err := n.Manager().Get(tc)
	if err != nil || st.Local == nil || st.Local.State != tasks.RunDone {
		t.Fatalf("task %s here: %+v, %v", task, st.Local, err)
	}
	env, err := n.Store().Get(st.Local.Result)
	if err != nil {
		t.Fatal(err)
	}
	res, err := object.OpenResult(env)
	if err != nil {
		t.Fatal(err)
	}
	return res, *st.Local
}

// TestGPURouting starts a node on a machine with one (fake) NVIDIA device: it runs one core, its
// workers are the CPU's plus the core, and of two tasks running at once one runs on the core and
// the other on the CPU. Close stops the core and leaves no goroutine.
func TestGPURouting(t *testing.T) {
	warmGlobals(t)
	check := nodetest.Goroutines(t)
	dir := t.TempDir()
	n, err := node.New(context.Background(), gpuConfig(t),
		append(nodetest.Options("gpu", nodetest.Fast), fakeCores(t, fakeProc(t, 1), "gate", dir, nil))...)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if got := n.Workers(); got != 2 {
		t.Fatalf("workers %d, want 2 (1 CPU + 1 core)", got)
	}
	if s := marks(t, dir, "start-"); len(s) != 1 {
		t.Fatalf("%d cores started, want 1", len(s))
	}
	cl := nodetest.Client(t, n)
	ctx := context.Background()
	var ids []string
	for seed := range uint64(2) {
		r, err := cl.Submit(ctx, smokeRequest(t, 16, seed, 1))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.Task)
	}
	// The core holds its task at the gate; the other task must then make progress on the CPU.
	nodetest.WaitFor(t, 30*time.Second, func() error {
		ran := marks(t, dir, "run-")
		if len(ran) != 1 {
			return fmt.Errorf("the core runs %d tasks, want 1", len(ran))
		}
		other := ids[0]
		if ran[0] == ids[0] {
			other = ids[1]
		}
		// The status API shows the core and the task it runs.
		st, err := cl.Status(ctx)
		if err != nil {
			return err
		}
		if len(st.GPU) != 1 || st.GPU[0].Task != ran[0] || st.GPU[0].Class == "" {
			return fmt.Errorf("status lists cores %+v, want one running %s", st.GPU, ran[0])
		}
		if d := taskState(t, cl, other); d.Local == nil || (d.Local.Step == 0 && d.Local.State != tasks.RunDone) {
			return fmt.Errorf("the other task makes no progress on the CPU: %+v", d.Local)
		}
		return nil
	})
	if err := os.WriteFile(filepath.Join(dir, "gate"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, id := range ids {
		waitTask(t, cl, id, 60*time.Second, isDone)
		if res, _ := localResult(t, n, id); res.Class != cpu.Class {
			t.Fatalf("result class %q", res.Class)
		}
	}
	if ran := marks(t, dir, "run-"); len(ran) != 1 {
		t.Fatalf("the core ran %v, want one task", ran)
	}
	for range 2 {
		if err := n.Close(); err != nil {
			t.Fatal(err)
		}
	}
	check()
}

// TestGPUCoreCrash kills the core (SIGKILL) at the task's first checkpoint: the core is
// restarted, the task is re-run and completes with the result the CPU trainer computes for it,
// bit for bit (the fake core's device is the CPU's class).
func TestGPUCoreCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var killed atomic.Bool
	hook := node.WithEvents(func(e tasks.Event) {
		if e.Kind != tasks.EventCheckpoint || killed.Load() {
			return
		}
		b, err := os.ReadFile(filepath.Join(dir, "run-"+e.Task.String()))
		if err != nil {
			return
		}
		pid, err := strconv.Atoi(string(b))
		if err == nil && !killed.Swap(true) {
			err = syscall.Kill(pid, syscall.SIGKILL)
		}
		if err != nil {
			t.Error(err)
		}
	})
	n := nodetest.Start(t, gpuConfig(t),
		append(nodetest.Options("gpu", nodetest.Fast), hook, fakeCores(t, fakeProc(t, 1), "serve", dir, nil))...)
	cl := nodetest.Client(t, n)
	req := smokeRequest(t, 64, 7, 1)
	r, err := cl.Submit(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	waitTask(t, cl, r.Task, 60*time.Second, isDone)
	if !killed.Load() {
		t.Fatal("the core was never killed")
	}
	got, local := localResult(t, n, r.Task)
	if local.Failures != 1 {
		t.Fatalf("the crash should count as one failure: %+v", local)
	}
	nodetest.WaitFor(t, 20*time.Second, func() error {
		if s := marks(t, dir, "start-"); len(s) < 2 {
			return fmt.Errorf("%d core starts, want a restart", len(s))
		}
		return nil
	})

	// The same task on the CPU trainer's engine, in process.
	rep := reference(t, 64, 7)
	if rep.TaskCID.String() != r.Task {
		t.Fatalf("in-process task %s, submitted %s", rep.TaskCID, r.Task)
	}
	sameResult(t, got, rep, "after the core crash")
}

// TestGPUGiveUp: cores that start, answer their handshake and then keep dying are given up after
// MaxRestarts restarts, and each takes its worker and its class with it: the Manager's workers fall
// from the CPU's plus the cores' to the CPU's alone, the node stops advertising the cores' class,
// and a task still completes on the CPU. With two devices the two give-ups race each other.
func TestGPUGiveUp(t *testing.T) {
	t.Parallel()
	for _, devices := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d devices", devices), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			n := nodetest.Start(t, gpuConfig(t), append(nodetest.Options(fmt.Sprintf("gpu-%d", devices), nodetest.Fast),
				fakeCores(t, fakeProc(t, devices), "die", dir, func(c *gpucore.Config) { c.MaxRestarts = 1 }))...)
			if got := n.Workers(); got != 1+devices {
				t.Fatalf("workers at start %d, want %d (1 CPU + the cores)", got, 1+devices)
			}
			nodetest.WaitFor(t, 30*time.Second, func() error {
				if st := n.Manager().Stats(); st.Workers != 1 || st.Class != cpu.Class {
					return fmt.Errorf("%d workers, classes %q; want 1 and %q once the devices are given up", st.Workers, st.Class, cpu.Class)
				}
				return nil
			})
			cl := nodetest.Client(t, n)
			st, err := cl.Status(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if len(st.GPU) != devices {
				t.Fatalf("status lists cores %+v, want %d given up", st.GPU, devices)
			}
			for _, c := range st.GPU {
				if c.State != gpucore.StateFailed {
					t.Fatalf("status lists cores %+v, want every one given up", st.GPU)
				}
			}
			if st.Class != cpu.Class || st.Worker.Workers != 1 {
				t.Fatalf("status: classes %q, %d workers; want %q and 1", st.Class, st.Worker.Workers, cpu.Class)
			}
			if s := marks(t, dir, "start-"); len(s) != 2*devices {
				t.Fatalf("%d core starts, want %d (MaxRestarts 1)", len(s), 2*devices)
			}
			r, err := cl.Submit(context.Background(), smokeRequest(t, 16, 3, 1))
			if err != nil {
				t.Fatal(err)
			}
			waitTask(t, cl, r.Task, 60*time.Second, isDone)
			if res, _ := localResult(t, n, r.Task); res.Class != cpu.Class {
				t.Fatalf("result class %q", res.Class)
			}
			if ran := marks(t, dir, "run-"); len(ran) != 0 {
				t.Fatalf("a given-up core ran %v", ran)
			}
			// The workers stay at 1: the dead cores' share is not handed to the CPU.
			if w := n.Manager().Stats().Workers; w != 1 {
				t.Fatalf("%d workers after the task, want 1", w)
			}
		})
	}
}

// TestGPULateCore: of two devices, one core comes up at start and the other fails its starts until
// the test lets it up (the file up-1), after the node started, on one of the Supervisor's retries:
// the late core brings its worker and its class (the Manager's workers go from the CPU's and one
// core's to two cores', and the node advertises the late core's class), and the status lists both
// cores ready.
func TestGPULateCore(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Retries 200 ms apart, and enough of them that the device is not given up however slowly the
	// checks below run.
	n := nodetest.Start(t, gpuConfig(t), append(nodetest.Options("gpu-late", nodetest.Fast),
		fakeCores(t, fakeProc(t, 2), "late", dir, func(c *gpucore.Config) {
			c.Backoff, c.MaxBackoff, c.MaxRestarts = 200*time.Millisecond, 200*time.Millisecond, 1000
		}))...)
	if got := n.Workers(); got != 2 {
		t.Fatalf("workers at start %d, want 2 (1 CPU + the core up at start)", got)
	}
	if st := n.Manager().Stats(); st.Class != cpu.Class {
		t.Fatalf("classes at start %q, want %q (core 0 is the CPU's class)", st.Class, cpu.Class)
	}
	if err := os.WriteFile(filepath.Join(dir, "up-1"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	want := cpu.Class + " fake-gpu-v1"
	nodetest.WaitFor(t, 30*time.Second, func() error {
		if st := n.Manager().Stats(); st.Workers != 3 || st.Class != want {
			return fmt.Errorf("%d workers, classes %q; want 3 and %q once the late core is up", st.Workers, st.Class, want)
		}
		return nil
	})
	st, err := nodetest.Client(t, n).Status(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(st.GPU) != 2 || st.Class != want || st.Worker.Workers != 3 {
		t.Fatalf("status: cores %+v, classes %q, %d workers; want 2 cores, %q, 3", st.GPU, st.Class, st.Worker.Workers, want)
	}
	for _, c := range st.GPU {
		if c.State != gpucore.StateReady {
			t.Fatalf("status lists cores %+v, want both ready", st.GPU)
		}
	}
}

// TestGPUMemory: a task whose estimated memory does not fit the memory a core reports (less the
// core's reserve) runs on the CPU even with the core idle; one that fits runs on the core.
func TestGPUMemory(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		mode   string
		onCore bool
	}{{"small", false}, {"big", true}} {
		t.Run(tc.mode, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			n := nodetest.Start(t, gpuConfig(t), append(nodetest.Options("gpu-"+tc.mode, nodetest.Fast),
				fakeCores(t, fakeProc(t, 1), tc.mode, dir, nil))...)
			cl := nodetest.Client(t, n)
			r, err := cl.Submit(context.Background(), smokeRequest(t, 16, 5, 1))
			if err != nil {
				t.Fatal(err)
			}
			waitTask(t, cl, r.Task, 60*time.Second, isDone)
			if ran := marks(t, dir, "run-"); (len(ran) == 1) != tc.onCore {
				t.Fatalf("core %s ran %v; want it to run the task: %v", tc.mode, ran, tc.onCore)
			}
		})
	}
}

// TestGPUClasses: a node whose core declares another class advertises both classes (its status and
// its capability), and a peer sees them, with the workers, in its peer list.
func TestGPUClasses(t *testing.T) {
	t.Parallel()
	g := nodetest.Start(t, gpuConfig(t), append(nodetest.Options("gpu-class", nodetest.Fast),
		fakeCores(t, fakeProc(t, 1), "class", t.TempDir(), nil))...)
	if got := g.Status().Class; got != "cpu-v1 fake-gpu-v1" {
		t.Fatalf("status class %q, want both classes", got)
	}
	c := nodetest.Start(t, nodetest.Config(t.TempDir(), g.Addrs()[:1]...), nodetest.Options("cpu", nodetest.Fast)...)
	seen := func(n *node.Node, id string, classes string, workers int64) error {
		for _, p := range n.Peers() {
			if p.ID != id {
				continue
			}
			if p.Capability == nil {
				return fmt.Errorf("no capability heard from %s yet", id)
			}
			if cp := *p.Capability; cp.Classes != classes || cp.Workers != workers || !cp.Accepting || cp.AgeSeconds < 0 {
				return fmt.Errorf("capability of %s: %+v, want classes %q and %d workers, accepting", id, cp, classes, workers)
			}
			return nil
		}
		return fmt.Errorf("%s not among the peers", id)
	}
	nodetest.WaitFor(t, 30*time.Second, func() error {
		if err := seen(c, g.ID().String(), "cpu-v1 fake-gpu-v1", int64(g.Workers())); err != nil {
			return err
		}
		return seen(g, c.ID().String(), "cpu-v1", int64(c.Workers()))
	})
}

// TestGPUNoCore: with gpu = "off", without a device, with gpu_devices naming no device, without
// the core binary and with a core that fails to start, the node starts, runs no core and counts
// only its CPU workers; the last one still trains on the CPU.
func TestGPUNoCore(t *testing.T) {
	t.Parallel()
	proc := fakeProc(t, 1)
	tests := []struct {
		name  string
		cfg   func(*config.Config)
		root  string
		mode  string
		edit  func(*gpucore.Config)
		start int  // core starts expected
		train bool // run a task: on the CPU
	}{
		{name: "gpu off", cfg: func(c *config.Config) { c.GPU = config.GPUOff }, root: proc, mode: "serve"},
		{name: "no device", root: t.TempDir(), mode: "serve"},
		{name: "gpu_devices names no device", cfg: func(c *config.Config) { c.GPUDevices = []int{1} }, root: proc, mode: "serve"},
		{name: "devices given empty", root: proc, mode: "serve", edit: func(c *gpucore.Config) { c.Devices = []int{} }},
		{name: "binary missing", root: proc, mode: "serve", edit: func(c *gpucore.Config) { c.Binary = filepath.Join(t.TempDir(), "airanode-cuda") }},
		{name: "core fails to start", root: proc, mode: "exit", start: 1, train: true,
			// No restart may come before New gives up and closes the Supervisor.
			edit: func(c *gpucore.Config) { c.Backoff, c.MaxBackoff = time.Minute, time.Minute }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := gpuConfig(t)
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			n := nodetest.Start(t, cfg, append(nodetest.Options("gpu", nodetest.Fast), fakeCores(t, tc.root, tc.mode, dir, tc.edit))...)
			if got := n.Workers(); got != 1 {
				t.Fatalf("workers %d, want 1 (the CPU only)", got)
			}
			if s := marks(t, dir, "start-"); len(s) != tc.start {
				t.Fatalf("%d core starts, want %d", len(s), tc.start)
			}
			if !tc.train {
				return
			}
			cl := nodetest.Client(t, n)
			r, err := cl.Submit(context.Background(), smokeRequest(t, 8, 1, 1))
			if err != nil {
				t.Fatal(err)
			}
			waitTask(t, cl, r.Task, 60*time.Second, isDone)
			if ran := marks(t, dir, "run-"); len(ran) != 0 {
				t.Fatalf("a core ran %v", ran)
			}
			if s := marks(t, dir, "start-"); len(s) != tc.start {
				t.Fatalf("%d core starts after the task, want %d (no restart after a failed start)", len(s), tc.start)
			}
		})
	}
}

// TestGPUUnusedWithExecutor: a node given its own executor, or a demo liar, starts no core.
func TestGPUUnusedWithExecutor(t *testing.T) {
	t.Parallel()
	for name, opt := range map[string]node.Option{
		"executor":  node.WithExecutor(&taskstest.CounterExecutor{}),
		"demo liar": node.WithDemoLiar(time.Second),
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			n := nodetest.Start(t, gpuConfig(t),
				append(nodetest.Options("gpu", nodetest.Fast), opt, fakeCores(t, fakeProc(t, 1), "serve", dir, nil))...)
			if got := n.Workers(); got != 1 {
				t.Fatalf("workers %d, want 1", got)
			}
			if s := marks(t, dir, "start-"); len(s) != 0 {
				t.Fatalf("%d core starts, want none", len(s))
			}
		})
	}
}

// gpuConfig is a test node's configuration with GPUs on (nodetest turns them off).
func gpuConfig(t *testing.T) config.Config {
	c := nodetest.Config(t.TempDir())
	c.GPU = config.GPUAuto
	return c
}
