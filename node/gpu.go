package node

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/airanode/airanode/config"
	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/cpu"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/tasks"
	"github.com/airanode/airanode/tasks/gpucore"
)

// WithGPUCores edits the configuration of the node's GPU compute cores (a gpucore.Supervisor)
// after the node filled it from the Config: Binary from gpu_core, Blocks over the node's store,
// Logger. Devices left nil are found under ProcRoot (gpu.DetectNVIDIA) and narrowed to
// gpu_devices; an empty, non-nil Devices starts no core. It applies only with gpu = "auto", and
// only when the node trains itself (not with WithExecutor or WithDemoLiar). Tests use it to run a
// fake core on the CPU device.
func WithGPUCores(edit func(*gpucore.Config)) Option {
	return func(o *options) { o.gpuEdit = edit }
}

// startGPU starts a compute core per NVIDIA device when the configuration asks for it (gpu =
// "auto") and the machine has devices, and returns the executor that routes tasks between those
// cores and cpu. It returns nil, and the node trains on the CPU only, when gpu is "off", when no
// device is found or chosen, and when no core starts (a missing binary, a core that fails its
// handshake): those are logged, never fatal. blocks is the cores' block storage; its Retention
// may be set until the first task runs.
func (n *Node) startGPU(cpu tasks.Executor, blocks *gpucore.StoreBlocks, need tasks.Estimator) *router {
	if n.cfg.GPU == config.GPUOff {
		n.log.Debug("gpu: off in the configuration: training on the CPU only")
		return nil
	}
	log := n.log.With("component", "gpu")
	gc := gpucore.Config{Binary: n.cfg.GPUCore, Blocks: blocks, Logger: log}
	if n.o.gpuEdit != nil {
		n.o.gpuEdit(&gc)
	}
	// The router hears every core's handshake (router.ready: the first starts count the cores up
	// when the node starts, a later one brings a worker) and every device given up
	// (router.givenUp: it takes its worker with it), in each device's order: the Supervisor calls
	// a device's OnReady before its OnGiveUp, from the goroutine that supervises it.
	r := &router{cpu: cpu, cpuSlots: n.workers, need: need, log: log, counted: map[int]string{}}
	editedGiveUp, editedReady := gc.OnGiveUp, gc.OnReady
	gc.OnGiveUp = func(ordinal int) {
		if editedGiveUp != nil {
			editedGiveUp(ordinal)
		}
		r.givenUp(ordinal)
	}
	gc.OnReady = func(ordinal int, info gpucore.Info) {
		if editedReady != nil {
			editedReady(ordinal, info)
		}
		r.ready(ordinal, info.Class)
	}
	if gc.Devices == nil {
		root := gc.ProcRoot
		if root == "" {
			root = gpu.DefaultProcRoot
		}
		devs, drv, err := gpu.DetectNVIDIA(root)
		if err != nil {
			log.Warn("gpu: cannot list NVIDIA devices: training on the CPU only", "err", err)
			return nil
		}
		gc.Devices = chooseDevices(len(devs), n.cfg.GPUDevices, log)
		if len(devs) > 0 {
			log.Info("gpu: NVIDIA devices found", "devices", len(devs), "driver", drv.Version, "using", gc.Devices)
		}
	}
	if len(gc.Devices) == 0 {
		log.Info("gpu: no NVIDIA device to use: training on the CPU only")
		return nil
	}
	sup, err := gpucore.New(gc)
	if err != nil {
		log.Warn("gpu: no compute core started: training on the CPU only", "err", err)
		return nil
	}
	// The cores counted now are those the node starts with (New returns once every core is
	// ready or has failed once); any change after this goes to the Manager (setManager).
	r.sup = sup // before the router runs a task (Execute), so unguarded
	r.apply.Lock()
	r.started = len(r.counted)
	r.apply.Unlock()
	for _, st := range sup.Status() {
		switch st.State {
		case gpucore.StateReady, gpucore.StateBusy:
			log.Info("gpu: compute core ready", "device", st.Ordinal, "name", st.Info.Name, "class", st.Info.Class, "pid", st.PID)
		default:
			log.Warn("gpu: compute core not started: retrying in the background", "device", st.Ordinal, "state", st.State, "err", st.LastError)
		}
	}
	return r
}

// chooseDevices returns the CUDA ordinals to run a core on among the found devices (ordinals
// 0..found-1): want when it is not empty, less the ordinals no device has (logged), or else all.
func chooseDevices(found int, want []int, log *slog.Logger) []int {
	out := []int{}
	if len(want) == 0 {
		for i := range found {
			out = append(out, i)
		}
		return out
	}
	for _, d := range want {
		if d < 0 || d >= found {
			log.Warn("gpu: gpu_devices names a device this machine does not have: skipped", "ordinal", d, "devices", found)
			continue
		}
		out = append(out, d)
	}
	return out
}

// router is the node's executor when it has GPU compute cores: it runs each task either on an
// idle core (through the Supervisor) or on the CPU trainer. The rule, decided when the task
// starts (and again at each re-run: the Manager re-runs a task after a core crashed):
//
//  1. A task resumed from a CPU trainer's state runs on the CPU while fewer tasks run there than
//     the node has CPU workers, so that it continues where it stopped.
//  2. Otherwise it runs on a core when one is idle (the cores up, ready or busy, outnumber the
//     tasks this router runs on cores) and the task fits the cores' memory: its estimated training
//     memory is at most the smallest device memory a core reports, less coreReserve (the CUDA
//     context, the module and the allocator's slack). A task too big for the GPUs runs on the CPU
//     rather than failing on a core again and again.
//  3. Otherwise it runs on the CPU. The tasks Manager's Workers (CPU workers + cores counted)
//     bound the tasks that run at once, so the CPU takes more than its workers only while a core
//     is restarting. A device given up takes its worker with it: the router lowers the Manager's
//     Workers by one (givenUp), so the CPU is not left running the dead core's share for good,
//     and the node stops advertising a class that no core left declares. A core that comes up
//     only after the node started (the Supervisor's retries) brings its worker and class
//     (ready), as if it had been up at start.
//
// A resume state that the chosen side did not write is ignored by it (the run starts over): the
// CPU trainer and the cores keep different state formats, and a core resumes only states of its
// own class. A core that dies between the choice and the task reaching it makes the Supervisor
// wait for its restart; every device given up makes it refuse the task at once (ErrUnavailable,
// before anything ran), and the router then runs the task on the CPU.
//
// Results name their reproducibility class: the CPU trainer's is cpu.Class, a core's the class
// its device declares.
//
// A router is safe for concurrent use, one Execute per running task.
type router struct {
	cpu      tasks.Executor
	sup      *gpucore.Supervisor
	cpuSlots int             // the node's CPU workers
	started  int             // cores up when the node started: the Manager's Workers start with them
	need     tasks.Estimator // a task's memory need (nil: every task fits)
	log      *slog.Logger

	// apply guards counted and mgr and orders the changes to the Manager's workers and classes
	// (givenUp, ready, setManager), so that the classes of an earlier change never overwrite a
	// later one's.
	apply   sync.Mutex
	counted map[int]string // the cores that came up and were not given up since: ordinal → class
	mgr     *tasks.Manager // set once the Manager exists (setManager)

	mu            sync.Mutex
	onCore, onCPU int // tasks running on each side
}

// setManager tells the router the tasks Manager whose Workers and classes count its cores (it
// was made with the started cores' workers and the classes of a moment before), and applies the
// cores given up or come up since: counted − started workers, and the classes the cores counted
// now declare (a core given up and another come up leave the count as it was, not the classes).
func (r *router) setManager(m *tasks.Manager) {
	r.apply.Lock()
	defer r.apply.Unlock()
	r.mgr = m
	r.update(len(r.counted) - r.started)
}

// givenUp handles a device the Supervisor gave up: if the Manager's Workers count its core, one
// worker fewer, and the classes without the core's unless another core declares it too.
func (r *router) givenUp(ordinal int) {
	r.apply.Lock()
	defer r.apply.Unlock()
	if _, ok := r.counted[ordinal]; !ok {
		return
	}
	delete(r.counted, ordinal)
	if r.mgr != nil {
		r.update(-1)
	}
}

// ready handles a core that completed its handshake: one the router does not count yet (its first
// start, or one after the node started) brings one worker and its class. A restart of a counted
// core changes nothing, its class included (a device's class is its kernels', the same binary's at
// every start). A device's handshakes all come before its give-up (gpucore.Config.OnReady), so a
// device given up is never counted again.
func (r *router) ready(ordinal int, class string) {
	r.apply.Lock()
	defer r.apply.Unlock()
	if _, ok := r.counted[ordinal]; ok {
		return
	}
	r.counted[ordinal] = class
	if r.mgr != nil {
		r.update(1)
	}
}

// advertised is the node's classes: the CPU trainer's, then those of the cores counted, by ordinal.
func (r *router) advertised() string {
	r.apply.Lock()
	defer r.apply.Unlock()
	return r.classes()
}

// classes is advertised with r.apply held.
func (r *router) classes() string {
	out := []string{cpu.Class}
	for _, o := range slices.Sorted(maps.Keys(r.counted)) {
		if c := r.counted[o]; !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return strings.Join(out, " ")
}

// update adds delta workers to the Manager (in one step, never below one worker; negative for
// cores given up) and sets the classes the node advertises (the Manager announces only a change);
// r.apply must be held and r.mgr set.
func (r *router) update(delta int) {
	w := r.mgr.AddWorkers(delta)
	class := r.classes()
	switch err := r.mgr.SetClass(class); {
	case err != nil:
		r.log.Warn("gpu: the advertised classes cannot change", "workers", w, "classes", class, "err", err)
	case delta < 0:
		r.log.Warn("gpu: a device was given up", "workers", w, "classes", class)
	case delta > 0:
		r.log.Info("gpu: a compute core came up after the node started", "workers", w, "classes", class)
	}
}

var _ tasks.Executor = (*router)(nil)

// Execute implements tasks.Executor.
func (r *router) Execute(ctx context.Context, task object.Task, resume *tasks.Checkpoint, progress func(tasks.Progress) error) (object.Result, error) {
	if r.take(resume, r.fits(ctx, task)) {
		res, err := r.sup.Execute(ctx, task, resume, progress)
		r.mu.Lock()
		r.onCore--
		r.mu.Unlock()
		if !errors.Is(err, gpucore.ErrUnavailable) {
			return res, err
		}
		r.log.Warn("gpu: every compute core was given up: the task runs on the CPU", "err", err)
		r.mu.Lock()
		r.onCPU++
		r.mu.Unlock()
	}
	defer func() {
		r.mu.Lock()
		r.onCPU--
		r.mu.Unlock()
	}()
	return r.cpu.Execute(ctx, task, resume, progress)
}

// coreReserve is the device memory a core keeps for itself: the CUDA context, the kernels' module
// and the allocator's slack.
const coreReserve = 512 << 20

// fits reports whether task's estimated memory fits every core that is up (a core that reports no
// memory fits anything; so does a task whose need cannot be estimated: the Manager estimated it
// before claiming it).
func (r *router) fits(ctx context.Context, task object.Task) bool {
	if r.need == nil {
		return true
	}
	n, err := r.need(ctx, task)
	if err != nil {
		return true
	}
	for _, st := range r.sup.Status() {
		up := st.State == gpucore.StateReady || st.State == gpucore.StateBusy
		if up && st.Info.Memory > 0 && n.Memory > st.Info.Memory-coreReserve {
			r.log.Info("gpu: the task needs more memory than a GPU has: it runs on the CPU",
				"task_memory", n.Memory, "device", st.Ordinal, "device_memory", st.Info.Memory)
			return false
		}
	}
	return true
}

// take picks the side a task runs on (true: a core) and counts it there; a task that does not fit
// the cores' memory always runs on the CPU.
func (r *router) take(resume *tasks.Checkpoint, fits bool) bool {
	up := 0
	for _, st := range r.sup.Status() {
		if st.State == gpucore.StateReady || st.State == gpucore.StateBusy {
			up++
		}
	}
	kind := stateKind(resume)
	r.mu.Lock()
	defer r.mu.Unlock()
	core := fits && r.onCore < up && !(kind == stateCPU && r.onCPU < r.cpuSlots)
	if core {
		r.onCore++
	} else {
		r.onCPU++
	}
	return core
}

// Kinds of resume state.
const (
	stateNone = iota // no state: a fresh run
	stateCPU         // the CPU trainer's (bench.EvalState in JSON)
	stateCore        // a compute core's (gpucore.StateFormat)
)

// stateKind tells which side wrote a resume state.
func stateKind(c *tasks.Checkpoint) int {
	if c == nil || len(c.Data) == 0 {
		return stateNone
	}
	var h struct {
		Format string `json:"format"`
	}
	if json.Unmarshal(c.Data, &h) == nil && h.Format == gpucore.StateFormat {
		return stateCore
	}
	return stateCPU
}

// close stops the cores (idempotent).
func (r *router) close() error { return r.sup.Close() }
