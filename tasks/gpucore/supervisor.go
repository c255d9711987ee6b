package gpucore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/bench"
	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/tasks"
)

// Defaults used where Config leaves a field zero.
const (
	DefaultHandshakeTimeout = 2 * time.Minute // a first CUDA context and PTX JIT can take a while
	DefaultStallTimeout     = 15 * time.Minute
	DefaultCancelGrace      = 30 * time.Second
	DefaultWriteTimeout     = time.Minute
	DefaultShutdownTimeout  = 10 * time.Second
	DefaultMaxRestarts      = 5
	DefaultBackoff          = time.Second
	DefaultMaxBackoff       = time.Minute
	DefaultStableAfter      = time.Minute
	exitGrace               = 5 * time.Second
)

// Core states, as Status reports them.
const (
	StateStarting   = "starting"   // spawned, handshake in progress
	StateReady      = "ready"      // idle, takes the next task
	StateBusy       = "busy"       // running a task
	StateRestarting = "restarting" // exited or failed to start; waiting to be started again
	StateFailed     = "failed"     // failed more often than MaxRestarts allows; given up
	StateClosed     = "closed"     // the Supervisor is closed
)

// Blocks is the node's block storage as the Supervisor uses it. Implementations must be safe for
// concurrent use; StoreBlocks adapts the node's store.
type Blocks interface {
	// Get returns block c: a task's architecture or protocol object, a dataset block, a checkpoint
	// to resume from. It may fetch from peers. The Supervisor verifies the bytes against c.
	Get(ctx context.Context, c cid.Cid) ([]byte, error)
	// PutCheckpoint keeps block c, a model checkpoint of task (already verified), for the retention
	// window.
	PutCheckpoint(ctx context.Context, task, c cid.Cid, data []byte) error
	// PutScores keeps the scores object c of a finished task (already verified to decode).
	PutScores(ctx context.Context, task, c cid.Cid, data []byte) error
}

// Config configures a Supervisor. Blocks is required; every zero field takes its default.
type Config struct {
	// Binary is the core executable; "" means FindBinary.
	Binary string
	// Args returns the core's arguments for a device; nil means "serve --device <ordinal>".
	Args func(ordinal int) []string
	// Env is added to the node's environment for every core (after CUDA_DEVICE_ORDER=PCI_BUS_ID,
	// which makes CUDA's ordinals follow the PCI order that gpu.DetectNVIDIA lists).
	Env []string
	// Devices are the CUDA ordinals to run a core on; nil means one per device gpu.DetectNVIDIA
	// finds under ProcRoot.
	Devices []int
	// ProcRoot is where the NVIDIA driver publishes its devices ("": gpu.DefaultProcRoot).
	ProcRoot string
	// Blocks stores and serves the blocks of tasks.
	Blocks Blocks

	// HandshakeTimeout bounds a core's start (spawn to Info): 0 means DefaultHandshakeTimeout.
	HandshakeTimeout time.Duration
	// StallTimeout is how long a running core may send nothing before it is killed (the node's own
	// waits, such as a paused run, do not count): 0 means DefaultStallTimeout, negative none.
	StallTimeout time.Duration
	// CancelGrace is how long a cancelled run may take to stop before its core is killed: 0 means
	// DefaultCancelGrace.
	CancelGrace time.Duration
	// WriteTimeout bounds one frame written to a core: 0 means DefaultWriteTimeout.
	WriteTimeout time.Duration
	// ShutdownTimeout is how long Close waits for a core to exit before killing it: 0 means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// MaxRestarts is how many consecutive failures (failed starts, crashes) a device may have
	// after its first before it is given up: 0 means DefaultMaxRestarts. A finished task, or a core
	// up for StableAfter, resets the count.
	MaxRestarts int
	// Backoff is the wait before the first restart, doubled for each further consecutive failure
	// up to MaxBackoff: 0 means DefaultBackoff and DefaultMaxBackoff.
	Backoff, MaxBackoff time.Duration
	// StableAfter: 0 means DefaultStableAfter.
	StableAfter time.Duration
	// OnGiveUp, if set, is called once for each device given up (its state is StateFailed by
	// then), from the goroutine that supervised it, with no lock held. It must not call Close.
	OnGiveUp func(ordinal int)
	// OnReady, if set, is called each time a device's core completes its handshake (its first
	// start and every restart; its state is StateReady by then), with what the core said, from the
	// goroutine that supervises the device, with no lock held, before that goroutine goes on: so
	// a device's OnReady calls come before its OnGiveUp. It must not call Close.
	OnReady func(ordinal int, info Info)
	// MaxFrame is the largest frame the node accepts from a core: 0 means DefaultMaxFrame.
	MaxFrame int

	// Logger receives the Supervisor's logs and the cores' standard error; nil means
	// slog.Default().
	Logger *slog.Logger
}

func (c *Config) fill() error {
	if c.Blocks == nil {
		return fmt.Errorf("%w: Blocks is required", ErrConfig)
	}
	if c.Binary == "" {
		b, err := FindBinary()
		if err != nil {
			return err
		}
		c.Binary = b
	}
	if c.Args == nil {
		c.Args = func(ordinal int) []string { return []string{"serve", "--device", strconv.Itoa(ordinal)} }
	}
	if c.Devices == nil {
		root := c.ProcRoot
		if root == "" {
			root = gpu.DefaultProcRoot
		}
		devs, _, err := gpu.DetectNVIDIA(root)
		if err != nil {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		for i := range devs {
			c.Devices = append(c.Devices, i)
		}
	}
	if len(c.Devices) == 0 {
		return fmt.Errorf("%w: no NVIDIA device", ErrUnavailable)
	}
	seen := map[int]bool{}
	for _, d := range c.Devices {
		if d < 0 || seen[d] {
			return fmt.Errorf("%w: device ordinals %v", ErrConfig, c.Devices)
		}
		seen[d] = true
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.HandshakeTimeout, DefaultHandshakeTimeout)
	def(&c.StallTimeout, DefaultStallTimeout)
	def(&c.CancelGrace, DefaultCancelGrace)
	def(&c.WriteTimeout, DefaultWriteTimeout)
	def(&c.ShutdownTimeout, DefaultShutdownTimeout)
	def(&c.Backoff, DefaultBackoff)
	def(&c.MaxBackoff, DefaultMaxBackoff)
	def(&c.StableAfter, DefaultStableAfter)
	if c.MaxRestarts == 0 {
		c.MaxRestarts = DefaultMaxRestarts
	}
	if c.MaxFrame == 0 {
		c.MaxFrame = DefaultMaxFrame
	}
	if c.HandshakeTimeout < 0 || c.CancelGrace < 0 || c.WriteTimeout < 0 || c.ShutdownTimeout < 0 ||
		c.Backoff < 0 || c.MaxBackoff < 0 || c.StableAfter < 0 || c.MaxRestarts < 0 ||
		int64(c.MaxFrame) < MinMaxFrame || c.MaxFrame > MaxMaxFrame {
		return fmt.Errorf("%w: negative duration, restart count or frame cap out of range", ErrConfig)
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// CoreStatus describes one device's core.
type CoreStatus struct {
	Ordinal int
	// State is one of the State constants.
	State string
	// Info is what the core said in its last handshake (zero before the first).
	Info Info
	// PID is the running process's ID (0 when none runs).
	PID int
	// Task is the CID of the task the core runs, if any.
	Task string
	// Restarts counts the core's restarts; Failures the consecutive failures now.
	Restarts, Failures int
	// LastError says why the core last failed.
	LastError string
	// Since is when the core entered State.
	Since time.Time
}

// Supervisor runs tasks on compute cores, one process per device. It implements tasks.Executor:
// Execute takes an idle core (waiting for one when all are busy or restarting), sends it the task
// with its objects and resume state, relays progress and checkpoints to the caller and the block
// store, and returns the Result. A core that crashes, stalls or breaks the protocol is killed and
// restarted in the background with exponential backoff; the task it held fails with a retryable
// error (Retryable reports true), which makes the tasks Manager run it again from its last
// checkpoint. A device that fails more than MaxRestarts times in a row is given up.
//
// All methods are safe for concurrent use.
type Supervisor struct {
	cfg    Config
	log    *slog.Logger
	ctx    context.Context // done on Close
	cancel context.CancelFunc
	ids    uint64 // run IDs (mu)

	mu      sync.Mutex
	cores   []*core
	next    int           // round-robin start for acquire
	changed chan struct{} // closed and replaced when a core's state changes
	closed  bool

	execs     sync.WaitGroup // Execute calls in flight
	wg        sync.WaitGroup // supervise goroutines
	closeOnce sync.Once
}

var _ tasks.Executor = (*Supervisor)(nil)

type core struct {
	ordinal            int
	state              string
	proc               *process
	info               Info
	task               string
	restarts, failures int
	lastErr            error
	since              time.Time
}

// runState is one task on one core: the core's messages for it arrive on in.
type runState struct {
	id uint64
	in chan Message
}

// New starts a core per device and waits for each one's first handshake. It fails (with every
// core's reason) only when no core starts; cores that failed to start are retried in the
// background.
func New(cfg Config) (*Supervisor, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Supervisor{cfg: cfg, log: cfg.Logger, ctx: ctx, cancel: cancel, changed: make(chan struct{})}
	firsts := make([]chan error, len(cfg.Devices))
	for i, d := range cfg.Devices {
		c := &core{ordinal: d, state: StateStarting, since: time.Now()}
		s.cores = append(s.cores, c)
		firsts[i] = make(chan error, 1)
		s.wg.Add(1)
		go s.supervise(c, firsts[i])
	}
	var errs []error
	for _, ch := range firsts {
		if err := <-ch; err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == len(cfg.Devices) {
		s.Close()
		return nil, fmt.Errorf("%w: no core started: %w", ErrUnavailable, errors.Join(errs...))
	}
	return s, nil
}

// Close cancels the running tasks (their Execute returns ErrClosed), asks every core to exit,
// kills those that do not within ShutdownTimeout, and waits for every process and goroutine. It is
// idempotent.
func (s *Supervisor) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.broadcast()
		s.mu.Unlock()
		s.cancel()
		s.execs.Wait()
		s.wg.Wait()
	})
	return nil
}

// Status describes every core, in device order.
func (s *Supervisor) Status() []CoreStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]CoreStatus, len(s.cores))
	for i, c := range s.cores {
		st := CoreStatus{Ordinal: c.ordinal, State: c.state, Info: c.info, Task: c.task,
			Restarts: c.restarts, Failures: c.failures, Since: c.since}
		if c.proc != nil && (c.state == StateReady || c.state == StateBusy) {
			st.PID = c.proc.pid()
		}
		if c.lastErr != nil {
			st.LastError = c.lastErr.Error()
		}
		out[i] = st
	}
	return out
}

// broadcast wakes everyone waiting for a state change (s.mu held).
func (s *Supervisor) broadcast() {
	close(s.changed)
	s.changed = make(chan struct{})
}

func (s *Supervisor) setState(c *core, state string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c.state, c.since = state, time.Now()
	if state != StateReady && state != StateBusy {
		c.proc = nil
	}
	s.broadcast()
}

// supervise keeps device c's core running until Close or until the device is given up.
func (s *Supervisor) supervise(c *core, first chan<- error) {
	defer s.wg.Done()
	log := s.log.With("device", c.ordinal)
	for {
		p, err := s.startCore(c, log)
		if err == nil {
			s.mu.Lock()
			c.proc, c.info, c.state, c.since = p, p.info, StateReady, time.Now()
			s.broadcast()
			s.mu.Unlock()
			log.Info("core ready", "name", p.info.Name, "class", p.info.Class, "pid", p.pid())
			if s.cfg.OnReady != nil {
				s.cfg.OnReady(c.ordinal, p.info)
			}
		}
		if first != nil { // New returns once every core is ready or has failed once
			first <- err
			first = nil
		}
		if err == nil {
			select {
			case <-p.done:
			case <-s.ctx.Done():
				p.shutdown(s.cfg.ShutdownTimeout)
				s.setState(c, StateClosed)
				return
			}
			err = fmt.Errorf("%w: device %d: the core (pid %d) exited: %s", ErrCrashed, c.ordinal, p.pid(), p.exit())
			if time.Since(p.started) >= s.cfg.StableAfter {
				s.mu.Lock()
				c.failures = 0
				s.mu.Unlock()
			}
		}
		if s.ctx.Err() != nil {
			s.setState(c, StateClosed)
			return
		}
		s.mu.Lock()
		c.failures++
		c.lastErr = err
		n := c.failures
		giveUp := n > s.cfg.MaxRestarts
		c.proc, c.since = nil, time.Now()
		if giveUp {
			c.state = StateFailed
		} else {
			c.state = StateRestarting
			c.restarts++
		}
		s.broadcast()
		s.mu.Unlock()
		if giveUp {
			log.Error("core failed too often: device given up", "failures", n, "err", err)
			if s.cfg.OnGiveUp != nil {
				s.cfg.OnGiveUp(c.ordinal)
			}
			return
		}
		wait := s.backoff(n)
		log.Warn("core failed: restarting", "failures", n, "in", wait, "err", err)
		select {
		case <-time.After(wait):
		case <-s.ctx.Done():
			s.setState(c, StateClosed)
			return
		}
	}
}

// backoff is the wait before restart number n (n ≥ 1).
func (s *Supervisor) backoff(n int) time.Duration {
	d := s.cfg.Backoff
	for i := 1; i < n && d < s.cfg.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, s.cfg.MaxBackoff)
}

// startCore spawns c's core and completes the handshake. Close aborts it.
func (s *Supervisor) startCore(c *core, log *slog.Logger) (*process, error) {
	s.setState(c, StateStarting)
	p, err := spawn(&s.cfg, c.ordinal, log)
	if err != nil {
		return nil, err
	}
	hs := p.start(s.cfg.MaxFrame, s.cfg.HandshakeTimeout, exitGrace)
	stop := context.AfterFunc(s.ctx, p.kill)
	defer stop()
	if err := <-hs; err != nil {
		<-p.done
		return nil, fmt.Errorf("device %d: %w (%s)", c.ordinal, err, p.exit())
	}
	return p, nil
}

// Execute implements tasks.Executor: it runs task on an idle core, resuming from resume (a state
// a core reported earlier, possibly on another device of the same class). Errors wrap ErrTask (the
// task's objects are missing or bad), ErrRun (the core reported a failure), ErrCrashed,
// ErrStalled or ErrProtocol (retryable: the core was restarted), ErrUnavailable, ErrClosed, or
// the error progress returned or the context's.
func (s *Supervisor) Execute(ctx context.Context, task object.Task, resume *tasks.Checkpoint, progress func(tasks.Progress) error) (res object.Result, err error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return object.Result{}, ErrClosed
	}
	s.execs.Add(1)
	s.ids++
	id := s.ids
	s.mu.Unlock()
	defer s.execs.Done()
	// Close cancels what Execute waits for (block reads, a free core); the caller sees ErrClosed.
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)()
	defer func() {
		if err != nil && parent.Err() == nil && s.ctx.Err() != nil && errors.Is(err, context.Canceled) {
			err = fmt.Errorf("%w (%w)", ErrClosed, err)
		}
	}()
	return s.execute(ctx, id, task, resume, progress)
}

// execute is Execute once registered.
func (s *Supervisor) execute(ctx context.Context, id uint64, task object.Task, resume *tasks.Checkpoint, progress func(tasks.Progress) error) (object.Result, error) {
	if err := task.Validate(); err != nil {
		return object.Result{}, fmt.Errorf("%w: %w", ErrTask, err)
	}
	tb, tc, err := object.Encode(task)
	if err != nil {
		return object.Result{}, fmt.Errorf("%w: %w", ErrTask, err)
	}
	ab, err := s.object(ctx, task.Arch, "arch")
	if err != nil {
		return object.Result{}, err
	}
	pb, err := s.object(ctx, task.Protocol, "protocol")
	if err != nil {
		return object.Result{}, err
	}
	run := &Run{ID: id, Task: tb, Arch: ab, Protocol: pb}
	if resume != nil && len(resume.Data) > 0 {
		run.Resume, run.ResumeStep = resume.Data, min(max(resume.Step, 0), object.MaxCounter)
	}
	c, p, err := s.acquire(ctx, tc)
	if err != nil {
		return object.Result{}, err
	}
	r := &runState{id: id, in: make(chan Message, ProgressWindow+4)}
	p.setRun(r)
	log := s.log.With("device", c.ordinal, "task", tc.String())
	log.Info("core: task started", "resume_step", run.ResumeStep)
	res, healthy, err := s.drive(ctx, c, p, r, run, tc, progress, log)
	s.release(c, p, healthy, err == nil)
	if err != nil {
		log.Warn("core: task ended", "err", err, "retryable", Retryable(err))
		return object.Result{}, err
	}
	log.Info("core: task done", "score", res.Score)
	return res, nil
}

// object reads and verifies one of the task's objects.
func (s *Supervisor) object(ctx context.Context, cs, what string) ([]byte, error) {
	c, err := object.ParseCID(cs)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrTask, what, err)
	}
	b, err := s.cfg.Blocks.Get(ctx, c)
	if err == nil {
		err = object.Verify(c, b)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s %s: %w", ErrTask, what, c, err)
	}
	return b, nil
}

// acquire takes an idle core for task tc, waiting for one.
func (s *Supervisor) acquire(ctx context.Context, tc cid.Cid) (*core, *process, error) {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return nil, nil, ErrClosed
		}
		alive := false
		var last []error
		for i := range s.cores {
			c := s.cores[(s.next+i)%len(s.cores)]
			if c.state == StateReady && c.proc != nil && !c.proc.exited() {
				c.state, c.since, c.task = StateBusy, time.Now(), tc.String()
				s.next = (s.next + i + 1) % len(s.cores)
				p := c.proc
				s.broadcast()
				s.mu.Unlock()
				return c, p, nil
			}
			if c.state != StateFailed && c.state != StateClosed {
				alive = true
			} else if c.lastErr != nil {
				last = append(last, c.lastErr)
			}
		}
		ch := s.changed
		s.mu.Unlock()
		if !alive {
			return nil, nil, fmt.Errorf("%w: every core was given up: %w", ErrUnavailable, errors.Join(last...))
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

// release hands core c back after a run: ready when it is healthy, killed otherwise (its
// supervisor restarts it).
func (s *Supervisor) release(c *core, p *process, healthy, success bool) {
	p.setRun(nil)
	if !healthy {
		p.kill()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if success {
		c.failures = 0
	}
	if c.proc == p && c.state == StateBusy {
		c.task, c.since = "", time.Now()
		if healthy && !p.killed() && !p.exited() {
			c.state = StateReady
		} else {
			c.state = StateRestarting
		}
		s.broadcast()
	}
}

// drive sends run to the core and handles its messages until the run ends. healthy reports
// whether the core can take another task.
func (s *Supervisor) drive(ctx context.Context, c *core, p *process, r *runState, run *Run, tc cid.Cid,
	progress func(tasks.Progress) error, log *slog.Logger) (res object.Result, healthy bool, err error) {
	if err := p.send(run); err != nil {
		if errors.Is(err, ErrFrameTooLarge) {
			return res, true, fmt.Errorf("%w: %w", ErrTask, err)
		}
		return res, false, retryable(fmt.Errorf("device %d: send run: %w", c.ordinal, err))
	}
	var stall <-chan time.Time
	var stallT *time.Timer
	if s.cfg.StallTimeout > 0 {
		stallT = time.NewTimer(s.cfg.StallTimeout)
		defer stallT.Stop()
		stall = stallT.C
	}
	var stopErr error
	var grace <-chan time.Time
	var graceT *time.Timer
	defer func() {
		if graceT != nil {
			graceT.Stop()
		}
	}()
	stop := func(err error) {
		if stopErr != nil {
			return
		}
		stopErr = err
		log.Info("core: stopping the task", "reason", err)
		if e := p.send(&Cancel{ID: r.id}); e != nil {
			log.Debug("core: cancel not sent", "err", e)
		}
		graceT = time.NewTimer(s.cfg.CancelGrace)
		grace = graceT.C
	}
	h := &handler{s: s, ctx: ctx, p: p, r: r, tc: tc, progress: progress, log: log, stopErr: &stopErr, stop: stop}
	ctxDone, closing := ctx.Done(), s.ctx.Done()
	for {
		var m Message
		select {
		case m = <-r.in:
		case <-p.done:
			select {
			case m = <-r.in: // what the core said before it went away comes first
			default:
				return res, false, s.ended(c, p, stopErr)
			}
		case <-ctxDone:
			ctxDone = nil
			if s.ctx.Err() != nil {
				stop(ErrClosed)
			} else {
				stop(ctx.Err())
			}
			continue
		case <-closing:
			closing = nil
			stop(ErrClosed)
			continue
		case <-stall:
			p.kill()
			return res, false, retryable(fmt.Errorf("%w: device %d: nothing from the core for %v", ErrStalled, c.ordinal, s.cfg.StallTimeout))
		case <-grace:
			p.kill()
			log.Warn("core: the task did not stop in time: core killed", "grace", s.cfg.CancelGrace)
			return res, false, stopErr
		}
		if done, res, healthy, err := h.handle(m); done {
			return res, healthy, err
		}
		if stallT != nil {
			stallT.Reset(s.cfg.StallTimeout)
		}
	}
}

// ended is the error of a run whose core went away without a terminal message.
func (s *Supervisor) ended(c *core, p *process, stopErr error) error {
	if stopErr != nil {
		return stopErr
	}
	if errors.Is(p.readErr, ErrFrame) || errors.Is(p.readErr, ErrFrameTooLarge) || errors.Is(p.readErr, ErrProtocol) {
		return retryable(fmt.Errorf("%w: device %d: the core (pid %d) sent a bad frame and was killed: %w", ErrProtocol, c.ordinal, p.pid(), p.readErr))
	}
	return retryable(fmt.Errorf("%w: device %d: the core (pid %d) went away mid-task: %s", ErrCrashed, c.ordinal, p.pid(), p.exit()))
}

// handler handles one run's messages (drive's goroutine only).
type handler struct {
	s        *Supervisor
	ctx      context.Context
	p        *process
	r        *runState
	tc       cid.Cid
	progress func(tasks.Progress) error
	log      *slog.Logger
	stopErr  *error
	stop     func(error)
}

// ack answers a request; a failed write kills the core, which drive then sees.
func (h *handler) ack(id, seq uint64, errText string) {
	if err := h.p.send(&Ack{ID: id, Seq: seq, Err: trim(errText)}); err != nil {
		h.log.Debug("core: ack not sent", "err", err)
	}
}

// handle acts on one message; done means the run is over with res or err.
func (h *handler) handle(m Message) (done bool, res object.Result, healthy bool, err error) {
	violation := func(format string, a ...any) (bool, object.Result, bool, error) {
		return true, res, false, retryable(fmt.Errorf("%w: device %d: %s", ErrProtocol, h.p.ordinal, fmt.Sprintf(format, a...)))
	}
	id := h.r.id
	switch m := m.(type) {
	case *Progress:
		if m.ID != id {
			return violation("progress of run %d during run %d", m.ID, id)
		}
		if *h.stopErr == nil {
			if err := h.progress(tasks.Progress{Step: m.Step, Of: m.Of}); err != nil {
				h.stop(err)
			}
		}
		h.ack(id, m.Seq, "")
	case *Checkpoint:
		if m.ID != id {
			return violation("checkpoint of run %d during run %d", m.ID, id)
		}
		// Stored also after the run was stopped: the state a cancelled run saves last names it.
		msg := ""
		c, _ := object.ParseCID(m.CID) // checked by ReadMessage
		if err := h.s.cfg.Blocks.PutCheckpoint(context.WithoutCancel(h.ctx), h.tc, c, m.Data); err != nil {
			h.log.Warn("core: cannot store a checkpoint", "cid", m.CID, "err", err)
			msg = "store checkpoint: " + err.Error()
		}
		h.ack(id, m.Seq, msg)
	case *State:
		if m.ID != id {
			return violation("state of run %d during run %d", m.ID, id)
		}
		// Handed to the node also after the run was stopped: a cancelled run's last state is the
		// step it reached, which the node keeps when it shuts down (tasks.Executor) and drops
		// when it gave the task up.
		msg := ""
		ck := &tasks.Checkpoint{Step: m.Step, Data: m.Data}
		if err := h.progress(tasks.Progress{Step: m.Step, Of: m.Of, Checkpoint: ck}); err != nil {
			msg = "run stopped"
			if *h.stopErr == nil {
				h.stop(err)
			}
		}
		h.ack(id, m.Seq, msg)
	case *Get:
		if m.ID != id {
			return violation("get of run %d during run %d", m.ID, id)
		}
		h.get(m)
	case *Result:
		if m.ID != id {
			return violation("result of run %d during run %d", m.ID, id)
		}
		if rc, err := object.ParseCID(m.Result.Task); err != nil || !rc.Equals(h.tc) {
			return true, res, true, fmt.Errorf("%w: the core reports task %q, not %s", ErrRun, m.Result.Task, h.tc)
		}
		h.scores(m.Scores)
		return true, m.Result, true, nil
	case *Error:
		if m.ID != id && m.ID != 0 {
			return violation("error of run %d during run %d", m.ID, id)
		}
		healthy, err := h.runError(m)
		return true, res, healthy, err
	default:
		return violation("unexpected %s", m.Kind())
	}
	return false, res, true, nil
}

// get answers a block request.
func (h *handler) get(m *Get) {
	c, _ := object.ParseCID(m.CID) // checked by ReadMessage
	reply := &Block{ID: m.ID, Seq: m.Seq, CID: m.CID}
	data, err := h.s.cfg.Blocks.Get(h.ctx, c)
	if err == nil {
		err = object.VerifyBlock(c, data)
	}
	if err == nil && int64(len(data))+64<<10 > h.p.info.MaxFrame {
		err = fmt.Errorf("%w: block of %d bytes, the core's cap is %d", ErrFrameTooLarge, len(data), h.p.info.MaxFrame)
	}
	if err != nil {
		reply.Err = trim(err.Error())
	} else {
		reply.Data = data
	}
	if err := h.p.send(reply); err != nil {
		h.log.Debug("core: block not sent", "err", err)
	}
}

// scores keeps a result's scores, if they decode; they are not part of the Result, so a failure
// is only logged.
func (h *handler) scores(b []byte) {
	if len(b) == 0 {
		return
	}
	if _, err := bench.UnmarshalScores(b); err != nil {
		h.log.Warn("core: scores do not decode", "err", err)
		return
	}
	if err := h.s.cfg.Blocks.PutScores(h.ctx, h.tc, object.ObjectCID(b), b); err != nil {
		h.log.Warn("core: cannot store the scores", "err", err)
	}
}

// runError turns a core's Error into the run's error; healthy reports whether the core may take
// another task.
func (h *handler) runError(m *Error) (healthy bool, err error) {
	d := h.p.ordinal
	switch m.Code {
	case CodeCanceled:
		if *h.stopErr != nil {
			return true, *h.stopErr
		}
		// Nobody asked: the core is stopping (a signal). It will exit and be restarted.
		return false, retryable(fmt.Errorf("%w: device %d: the core cancelled the task: %s", ErrCrashed, d, m.Message))
	case CodeInvalid:
		return true, fmt.Errorf("%w: device %d: %s", ErrTask, d, m.Message)
	case CodeFailed:
		return true, fmt.Errorf("%w: device %d: %s", ErrRun, d, m.Message)
	case CodePanic:
		return false, fmt.Errorf("%w: device %d: the core panicked: %s", ErrRun, d, m.Message)
	default:
		return false, retryable(fmt.Errorf("%w: device %d: the core reports %s: %s", ErrProtocol, d, m.Code, m.Message))
	}
}

// exited reports whether the process has ended (its reader stopped and it was reaped).
func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// retryableError marks an error after which running the task again can succeed: the core that
// held it was restarted.
type retryableError struct{ err error }

func (e *retryableError) Error() string   { return e.err.Error() }
func (e *retryableError) Unwrap() error   { return e.err }
func (e *retryableError) Retryable() bool { return true }

func retryable(err error) error { return &retryableError{err} }

// Retryable reports whether err says the task may succeed if run again: its core crashed,
// stalled or broke the protocol and was restarted. The error has a method Retryable() bool, so
// callers that do not import this package can test for it with errors.As.
func Retryable(err error) bool {
	var r interface{ Retryable() bool }
	return errors.As(err, &r) && r.Retryable()
}
