package gpucore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/object"
)

// RunFunc runs one task on dev and returns its report. It talks to the node through job:
// progress, checkpoints and resume states go out, blocks come in. It must return promptly once ctx
// is done (a Cancel or Shutdown from the node). An error wrapping ErrTask means the task's inputs
// cannot describe a run (the node does not retry it); any other error is a failed run. Serve runs
// one RunFunc at a time, so the function may use dev freely.
type RunFunc func(ctx context.Context, dev gpu.Device, job *Job) (*Report, error)

// Report is what a RunFunc produces: the task's Result (its Executor is left to the node, which
// signs it) and, optionally, the canonical bytes of the protocol's Scores.
type Report struct {
	Result object.Result
	Scores []byte
}

// ServeOption configures Serve.
type ServeOption func(*serveOptions)

type serveOptions struct {
	memory   int64
	engine   string
	maxFrame int
	log      *slog.Logger
}

// WithMemory sets the device memory, in bytes, that the core reports in its Info.
func WithMemory(bytes int64) ServeOption { return func(o *serveOptions) { o.memory = max(bytes, 0) } }

// WithEngine sets the engine version the core reports in its Info.
func WithEngine(engine string) ServeOption { return func(o *serveOptions) { o.engine = engine } }

// WithMaxFrame sets the largest frame the core accepts (default DefaultMaxFrame).
func WithMaxFrame(n int) ServeOption { return func(o *serveOptions) { o.maxFrame = n } }

// WithLogger sets the core's logger (default slog.Default()). Never log to the protocol stream.
func WithLogger(l *slog.Logger) ServeOption { return func(o *serveOptions) { o.log = l } }

// Serve is the compute core's loop: it answers the node's Hello with an Info describing dev, then
// runs the node's tasks one at a time with run, relaying their progress, checkpoints, states and
// block requests, until the node sends Shutdown or closes r (both return nil), ctx is done (ctx's
// error), or the stream breaks (an error wrapping ErrFrame, ErrFrameTooLarge, ErrProtocol or
// ErrVersion, after an Error frame to the node when it can still be written). A run still going
// when Serve returns is cancelled and waited for, and its terminal Error frame is written.
//
// A run that panics is reported to the node (CodePanic) and ends Serve with an error wrapping
// ErrRun: the device may be left in a bad state, so the process should exit and be restarted.
//
// Serve uses dev only through run (and Name and Class for the Info). It reads r from one goroutine
// of its own: when Serve returns for any reason other than the end of r, that goroutine ends at the
// next read that returns, so close r to release it. w receives only whole frames.
func Serve(ctx context.Context, r io.Reader, w io.Writer, dev gpu.Device, run RunFunc, opts ...ServeOption) error {
	o := serveOptions{maxFrame: DefaultMaxFrame}
	for _, opt := range opts {
		opt(&o)
	}
	if o.log == nil {
		o.log = slog.Default()
	}
	if int64(o.maxFrame) < MinMaxFrame || o.maxFrame > MaxMaxFrame {
		return fmt.Errorf("%w: frame cap %d outside [%d, %d]", ErrConfig, o.maxFrame, MinMaxFrame, MaxMaxFrame)
	}
	if dev == nil || run == nil {
		return fmt.Errorf("%w: Serve needs a device and a run function", ErrConfig)
	}
	s := &server{w: w, dev: dev, run: run, o: o, log: o.log, peerMax: MinMaxFrame,
		in: make(chan inbound, 4), stop: make(chan struct{}), done: make(chan runOutcome, 1)}
	defer close(s.stop)
	go s.read(r)
	return s.loop(ctx)
}

type inbound struct {
	m   Message
	err error
}

type runOutcome struct {
	job      *Job
	rep      *Report
	err      error
	panicked bool
}

type server struct {
	o    serveOptions
	log  *slog.Logger
	dev  gpu.Device
	run  RunFunc
	in   chan inbound
	stop chan struct{}
	done chan runOutcome

	wmu     sync.Mutex
	w       io.Writer
	peerMax int // the node's frame cap, from its Hello

	hello bool
	cur   *Job // the run in progress (loop goroutine only)
}

// read feeds the loop with the node's messages until the stream ends or Serve returns.
func (s *server) read(r io.Reader) {
	for {
		m, err := ReadMessage(r, s.o.maxFrame)
		select {
		case s.in <- inbound{m, err}:
		case <-s.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

// send writes one frame; it is safe for concurrent use.
func (s *server) send(m Message) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	return WriteMessage(s.w, m, s.peerMax)
}

func (s *server) loop(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			s.stopRun()
			return ctx.Err()
		case out := <-s.done:
			if err := s.finish(out); err != nil {
				return err
			}
		case in := <-s.in:
			if in.err != nil {
				s.stopRun()
				if errors.Is(in.err, io.EOF) {
					s.log.Info("core: the node closed the connection")
					return nil
				}
				s.fail(in.err)
				return fmt.Errorf("core: read from node: %w", in.err)
			}
			done, err := s.handle(ctx, in.m)
			if done || err != nil {
				s.stopRun()
				return err
			}
		}
	}
}

// fail tells the node, when it still listens, why the connection ends.
func (s *server) fail(err error) {
	if e := s.send(&Error{Code: CodeProtocol, Message: trim(err.Error())}); e != nil {
		s.log.Debug("core: cannot report the failure", "err", e)
	}
}

// handle acts on one message from the node; done means Serve should return err (nil: cleanly).
func (s *server) handle(ctx context.Context, m Message) (done bool, err error) {
	if !s.hello {
		h, ok := m.(*Hello)
		if !ok {
			err := fmt.Errorf("%w: %s before hello", ErrProtocol, m.Kind())
			s.fail(err)
			return true, err
		}
		return s.handshake(h)
	}
	switch m := m.(type) {
	case *Run:
		s.start(ctx, m)
	case *Ack:
		s.deliver(m.ID, m.Seq, m)
	case *Block:
		s.deliver(m.ID, m.Seq, m)
	case *Cancel:
		if s.cur != nil && s.cur.ID == m.ID {
			s.log.Info("core: run cancelled by the node", "id", m.ID)
			s.cur.cancel()
		}
	case *Shutdown:
		s.log.Info("core: shutdown requested")
		return true, nil
	case *Error:
		err := fmt.Errorf("%w: the node reports %s: %s", ErrProtocol, m.Code, m.Message)
		return true, err
	default:
		err := fmt.Errorf("%w: unexpected %s from the node", ErrProtocol, m.Kind())
		s.fail(err)
		return true, err
	}
	return false, nil
}

func (s *server) handshake(h *Hello) (bool, error) {
	s.peerMax = int(h.MaxFrame)
	if h.MinVersion > Version || h.MaxVersion < Version {
		err := fmt.Errorf("%w: the node speaks versions %d-%d, this core %d", ErrVersion, h.MinVersion, h.MaxVersion, Version)
		if e := s.send(&Error{Code: CodeVersion, Message: err.Error()}); e != nil {
			s.log.Debug("core: cannot report the version mismatch", "err", e)
		}
		return true, err
	}
	info := &Info{Version: Version, Name: trimTo(s.dev.Name(), maxName), Class: s.dev.Class(),
		Engine: s.o.engine, Memory: s.o.memory, MaxFrame: int64(s.o.maxFrame), PID: int64(os.Getpid())}
	if err := s.send(info); err != nil {
		return true, err
	}
	s.hello = true
	s.log.Info("core: ready", "device", info.Name, "class", info.Class, "version", Version)
	return false, nil
}

// start begins run m, or answers busy.
func (s *server) start(ctx context.Context, m *Run) {
	if s.cur != nil {
		s.log.Warn("core: run while busy", "id", m.ID, "running", s.cur.ID)
		if err := s.send(&Error{ID: m.ID, Code: CodeBusy, Message: fmt.Sprintf("run %d is in progress", s.cur.ID)}); err != nil {
			s.log.Debug("core: cannot answer busy", "err", err)
		}
		return
	}
	task, err := m.decodeTask() // checked by ReadMessage already; this cannot fail
	if err != nil {
		if e := s.send(&Error{ID: m.ID, Code: CodeInvalid, Message: trim(err.Error())}); e != nil {
			s.log.Debug("core: cannot report an invalid run", "err", e)
		}
		return
	}
	tc := object.ObjectCID(m.Task) // canonical: checked by ReadMessage
	jctx, cancel := context.WithCancel(ctx)
	j := &Job{ID: m.ID, Task: task, TaskCID: tc, Arch: m.Arch, Protocol: m.Protocol, Resume: m.Resume,
		ResumeStep: m.ResumeStep, Log: s.log.With("task", tc.String(), "id", m.ID),
		s: s, ctx: jctx, cancel: cancel, parent: ctx, waiters: map[uint64]chan Message{}, inflight: map[uint64]struct{}{},
		window: make(chan struct{}, 1)}
	s.cur = j
	j.Log.Info("core: run", "resume_step", m.ResumeStep)
	go func() {
		out := runOutcome{job: j}
		defer func() {
			if p := recover(); p != nil {
				out.rep, out.err, out.panicked = nil, fmt.Errorf("%w: panic: %v", ErrRun, p), true
			}
			s.done <- out
		}()
		out.rep, out.err = s.run(jctx, s.dev, j)
	}()
}

// finish sends the terminal frame of a finished run. It returns an error when Serve must end.
func (s *server) finish(out runOutcome) error {
	j := out.job
	s.cur = nil
	j.cancel()
	if out.err == nil && out.rep == nil {
		out.err = fmt.Errorf("%w: the run function returned no report", ErrRun)
	}
	if out.err == nil && out.rep.Result.Task != j.TaskCID.String() {
		out.err = fmt.Errorf("%w: the report is of task %q, not %s", ErrRun, out.rep.Result.Task, j.TaskCID)
	}
	var msg Message
	if out.err == nil {
		msg = &Result{ID: j.ID, Result: out.rep.Result, Scores: out.rep.Scores}
		j.Log.Info("core: run done", "score", out.rep.Result.Score)
	} else {
		code := CodeFailed
		switch {
		case out.panicked:
			code = CodePanic
		case j.ctx.Err() != nil && errors.Is(out.err, j.ctx.Err()):
			code = CodeCanceled
		case errors.Is(out.err, ErrTask):
			code = CodeInvalid
		}
		msg = &Error{ID: j.ID, Code: code, Message: trim(out.err.Error())}
		j.Log.Warn("core: run ended", "code", code, "err", out.err)
	}
	err := s.send(msg)
	if err != nil && out.err == nil {
		// A result the node cannot take (over its frame cap, a bad field): say so instead.
		j.Log.Warn("core: cannot send the result", "err", err)
		err = s.send(&Error{ID: j.ID, Code: CodeFailed, Message: trim("send result: " + err.Error())})
	}
	if out.panicked {
		return out.err
	}
	if err != nil {
		s.log.Warn("core: cannot write to the node", "err", err)
	}
	return nil
}

// stopRun cancels the run in progress, if any, waits for it and sends its terminal frame.
func (s *server) stopRun() {
	if s.cur == nil {
		return
	}
	s.cur.cancel()
	if err := s.finish(<-s.done); err != nil {
		s.log.Warn("core: run ended badly", "err", err)
	}
}

// deliver hands a reply to the run that waits for it; replies to nothing are dropped (a reply
// racing a cancellation).
func (s *server) deliver(id, seq uint64, m Message) {
	if s.cur == nil || s.cur.ID != id || !s.cur.deliver(seq, m) {
		s.log.Debug("core: reply to nothing", "kind", m.Kind(), "id", id, "seq", seq)
	}
}

// Job is one task given to a RunFunc, with the calls that talk to the node. Its methods are safe
// for concurrent use, though a RunFunc normally calls them from its own goroutine.
type Job struct {
	// ID names the run on the connection.
	ID uint64
	// Task is the task, TaskCID its name.
	Task    object.Task
	TaskCID cid.Cid
	// Arch and Protocol are the objects the task names, verified against its CIDs.
	Arch, Protocol []byte
	// Resume is the state to continue from (a State this core sent in an earlier run of the task),
	// or nil to start from scratch; ResumeStep is the step it was taken at.
	Resume     []byte
	ResumeStep int64
	// Log is the core's logger with the task's attributes.
	Log *slog.Logger

	s      *server
	ctx    context.Context
	cancel context.CancelFunc
	parent context.Context // the server's: ends at shutdown

	mu       sync.Mutex
	seq      uint64
	waiters  map[uint64]chan Message // requests waiting for their reply
	inflight map[uint64]struct{}     // progress frames not yet acknowledged
	window   chan struct{}           // signalled when a progress frame is acknowledged
}

// deliver hands m to the request seq; it reports whether anyone waited for it.
func (j *Job) deliver(seq uint64, m Message) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	if _, ok := j.inflight[seq]; ok {
		if _, isAck := m.(*Ack); isAck {
			delete(j.inflight, seq)
			select {
			case j.window <- struct{}{}:
			default:
			}
			return true
		}
		return false
	}
	ch, ok := j.waiters[seq]
	if ok {
		delete(j.waiters, seq)
		ch <- m // buffered: never blocks
	}
	return ok
}

// next returns a new sequence number.
func (j *Job) next() uint64 {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.seq++
	return j.seq
}

// Progress reports that step of of steps are done, with the last step's training loss (nats). It
// waits while ProgressWindow earlier reports are unacknowledged (the node holds a paused run here),
// and returns the context's error once the run is cancelled.
func (j *Job) Progress(step, of int64, loss float64) error {
	for {
		j.mu.Lock()
		n := len(j.inflight)
		j.mu.Unlock()
		if n < ProgressWindow {
			break
		}
		select {
		case <-j.window:
		case <-j.ctx.Done():
			return j.ctx.Err()
		}
	}
	if err := j.ctx.Err(); err != nil {
		return err
	}
	seq := j.next()
	j.mu.Lock()
	j.inflight[seq] = struct{}{}
	j.mu.Unlock()
	of = min(max(of, 0), object.MaxCounter)
	step = min(max(step, 0), of)
	return j.s.send(&Progress{ID: j.ID, Seq: seq, Step: step, Of: of, Loss: lossMicro(loss)})
}

// lossMicro converts a loss in nats to micro-nats for display (not a result-bearing value).
func lossMicro(loss float64) int64 {
	if math.IsNaN(loss) {
		return 0
	}
	v := math.Round(loss * 1e6)
	return int64(min(max(v, -float64(object.MaxCounter)), float64(object.MaxCounter)))
}

// request sends m (whose Seq is seq) and waits for the node's reply.
func (j *Job) request(seq uint64, m Message, late bool) (Message, error) {
	ch := make(chan Message, 1)
	j.mu.Lock()
	j.waiters[seq] = ch
	j.mu.Unlock()
	drop := func() {
		j.mu.Lock()
		delete(j.waiters, seq)
		j.mu.Unlock()
	}
	// A late request (the checkpoint and state of a cancelled run) goes out after the run was
	// cancelled too, and waits for its answer up to LateGrace after that.
	stop := j.ctx.Done()
	if late {
		stop = j.parent.Done()
	}
	if j.ctx.Err() != nil && !late || j.parent.Err() != nil {
		drop()
		return nil, context.Cause(j.ctx)
	}
	if err := j.s.send(m); err != nil {
		drop()
		return nil, err
	}
	cancelled := j.ctx.Done()
	if !late {
		cancelled = nil
	}
	var grace <-chan time.Time
	for {
		select {
		case r := <-ch:
			return r, nil
		case <-stop:
			drop()
			return nil, context.Cause(j.ctx)
		case <-cancelled:
			cancelled = nil
			t := time.NewTimer(LateGrace)
			defer t.Stop()
			grace = t.C
		case <-grace:
			drop()
			return nil, fmt.Errorf("no answer within %v of the cancellation: %w", LateGrace, context.Cause(j.ctx))
		}
	}
}

// LateGrace is how long a cancelled run waits for the node to take its last checkpoint and state.
const LateGrace = 5 * time.Second

// PutBlock hands the node a block to keep (a model checkpoint) and waits until it has stored it.
// data must hash to c.
func (j *Job) PutBlock(c cid.Cid, data []byte) error {
	if err := object.VerifyBlock(c, data); err != nil {
		return fmt.Errorf("core: put block: %w", err)
	}
	seq := j.next()
	r, err := j.request(seq, &Checkpoint{ID: j.ID, Seq: seq, CID: c.String(), Data: data}, true)
	if err != nil {
		return fmt.Errorf("core: put block %s: %w", c, err)
	}
	return ackErr(r, "put block "+c.String())
}

// SaveState hands the node the run's resume state at step of of steps and waits until it is
// stored durably. Every block the state needs must have been put first.
func (j *Job) SaveState(step, of int64, data []byte) error {
	seq := j.next()
	of = min(max(of, 0), object.MaxCounter)
	step = min(max(step, 0), of)
	r, err := j.request(seq, &State{ID: j.ID, Seq: seq, Step: step, Of: of, Data: data}, true)
	if err != nil {
		return fmt.Errorf("core: save state: %w", err)
	}
	return ackErr(r, "save state")
}

func ackErr(r Message, what string) error {
	a, ok := r.(*Ack)
	if !ok {
		return fmt.Errorf("%w: %s answered with %s", ErrProtocol, what, r.Kind())
	}
	if a.Err != "" {
		return fmt.Errorf("core: %s: the node says: %s", what, a.Err)
	}
	return nil
}

// GetBlock asks the node for block c (a dataset block, a checkpoint to resume from) and returns
// its bytes, verified against c.
func (j *Job) GetBlock(c cid.Cid) ([]byte, error) {
	seq := j.next()
	r, err := j.request(seq, &Get{ID: j.ID, Seq: seq, CID: c.String()}, false)
	if err != nil {
		return nil, fmt.Errorf("core: get %s: %w", c, err)
	}
	b, ok := r.(*Block)
	if !ok {
		return nil, fmt.Errorf("%w: get %s answered with %s", ErrProtocol, c, r.Kind())
	}
	if b.CID != c.String() {
		return nil, fmt.Errorf("%w: get %s answered with block %s", ErrProtocol, c, b.CID)
	}
	if b.Err != "" {
		return nil, fmt.Errorf("core: get %s: the node says: %s", c, b.Err)
	}
	return b.Data, nil // verified by ReadMessage
}

// Context returns the run's context (done when the node cancels the run).
func (j *Job) Context() context.Context { return j.ctx }

func trim(s string) string { return trimTo(s, maxText) }

// trimTo returns s as valid UTF-8 (the codec rejects anything else) of at most n bytes.
func trimTo(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
