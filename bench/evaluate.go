package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"time"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/arch"
	"github.com/airanode/airanode/gpu"
	"github.com/airanode/airanode/gpu/cpu"
	"github.com/airanode/airanode/object"
	"github.com/airanode/airanode/train"
)

// EvalEngine is the engine version Evaluate records in every Result (object.Result.Engine): the
// training engine's state format and this runner's conventions (seeding, segment layout, scoring).
const EvalEngine = "airanode-eval/1"

// Evaluation errors. Errors from Evaluate wrap one of these, a protocol or dataset sentinel of this
// package, an arch or train sentinel, or the context's error.
var (
	// ErrEvalOptions means options that cannot describe an evaluation: no protocol, an architecture
	// that does not bind to a setting, an engine that cannot build it.
	ErrEvalOptions = errors.New("bench: invalid evaluation options")
	// ErrResume means a resume state that does not belong to this evaluation or whose checkpoint is
	// missing or does not match its digest.
	ErrResume = errors.New("bench: cannot resume evaluation")
)

// CheckpointStore is where Evaluate keeps the checkpoint it takes at every segment boundary,
// as a raw block named by its CID (object.RawCID). Get is used only to resume. store.Store and
// MemStore implement it. Implementations must be safe for concurrent use.
type CheckpointStore interface {
	Put(c cid.Cid, data []byte) error
	Get(c cid.Cid) ([]byte, error)
}

// EvalOptions describes one evaluation: a candidate architecture trained and scored under a protocol
// with a seed — the work a Task names.
type EvalOptions struct {
	// Arch is the candidate, in any spelling: Evaluate normalises it, binds it to each setting's
	// vocabulary (and, for learned positions, sets its context to the setting's row length).
	Arch arch.Arch
	// Protocol is the evaluation protocol; it must be valid.
	Protocol *Protocol
	// Seed is the task's seed: every run initialises its model from it (the protocol's own seed
	// drives the data).
	Seed uint64
	// Search is the CID of the search the task belongs to, if any (object.Task.Search).
	Search string
	// Executor is the peer ID written into the Result; the caller may also set it afterwards.
	Executor string

	// Device runs the training. Nil means a CPU device with Threads threads, created and closed by
	// Evaluate. A caller-supplied device is left open.
	Device gpu.Device
	// Threads is the CPU device's thread count (0 means runtime.NumCPU()); ignored with Device.
	Threads int

	// Data holds the dataset of a text protocol; unused for MAD protocols.
	Data BlockStore
	// Checkpoints receives the checkpoint of every segment boundary. Nil means checkpoints are
	// still taken and named in the Result but their bytes are dropped (and a run cannot resume).
	Checkpoints CheckpointStore

	// Resume continues the evaluation recorded in a State saved from OnState (with its checkpoints
	// in Checkpoints). The outcome is bit-identical to an uninterrupted run.
	Resume *EvalState
	// OnState, if set, receives the evaluation's state after every segment boundary and every
	// finished run, once its checkpoint is in Checkpoints (and once more at a cancel, with
	// CheckpointOnCancel). Persisting the latest one is enough to resume after a crash. An error
	// stops the evaluation.
	OnState func(*EvalState) error
	// CheckpointOnCancel makes a cancelled evaluation save the run in progress before it returns:
	// when ctx is done between two optimizer steps of a run that has trained past its last segment
	// boundary, Evaluate takes a checkpoint at the current step, puts it into Checkpoints, hands
	// OnState a state whose Cut names it, and returns the context's error (joined with OnState's or
	// the store's error, if any). Resuming from that state loses no step. It needs Checkpoints and
	// OnState; without either it does nothing. Segment boundaries, digests and the Result are the
	// same with or without it.
	CheckpointOnCancel bool
	// Progress, if set, is called after every optimizer step and at every segment boundary.
	Progress func(Progress)
	// Logger receives debug logs (segment boundaries, checkpoints). Nil means slog.Default().
	Logger *slog.Logger
}

// Progress reports one step of an evaluation, for progress bars.
type Progress struct {
	// Run is the 0-based index of the run in Protocol.Runs(); Runs the number of runs.
	Run, Runs int
	// Setting is the run's setting index and Task its task.
	Setting int
	Task    string
	// Step is the number of steps the run has done, out of Steps.
	Step, Steps int
	// Loss is the training loss of the last step (nats).
	Loss float64
	// Segment is the 1-based segment that this step closed, or 0.
	Segment int
}

// EvalState is how far an evaluation has got. It holds no floats, so a caller can persist it as
// JSON (or canonical CBOR) and pass it back as EvalOptions.Resume.
type EvalState struct {
	// Task is the CID of the task being evaluated; a state resumes only the same task.
	Task string `json:"task"`
	// Runs are the scores of the finished runs, in Protocol.Runs() order.
	Runs []RunScore `json:"runs"`
	// Segments are every segment done so far, across runs (the Result's Segments so far).
	Segments []object.Segment `json:"segments"`
	// Partials are the partial scores of the run in progress (run len(Runs)), one per segment done.
	Partials []Partial `json:"partials,omitempty"`
	// Cut, when not nil, is the run in progress saved between two segment boundaries by a
	// cancelled evaluation (EvalOptions.CheckpointOnCancel): it resumes from there rather than
	// from the last boundary. States without it (the only kind before it existed) resume from the
	// last boundary.
	Cut *EvalCut `json:"cut,omitempty"`
}

// EvalCut is the run in progress saved in the middle of a segment.
type EvalCut struct {
	// Step is the number of steps done over the whole evaluation (counted as object.Segment.Step
	// counts them), strictly between the run's last boundary done and its next one.
	Step int64 `json:"step"`
	// Checkpoint is the raw CID of the checkpoint (Trainer.SaveCheckpoint) taken at Step.
	Checkpoint string `json:"checkpoint"`
	// LossSum is the IEEE 754 bits of the float64 sum, in step order, of the training losses of the
	// segment's steps done so far: the segment's mean loss continues from it bit for bit.
	LossSum uint64 `json:"loss_sum"`
}

// Step returns how many steps of the whole evaluation the state holds (counted as
// object.Segment.Step counts them): the cut's step, else the last segment's, else 0.
func (s *EvalState) Step() int64 {
	switch {
	case s.Cut != nil:
		return s.Cut.Step
	case len(s.Segments) > 0:
		return s.Segments[len(s.Segments)-1].Step
	}
	return 0
}

func (s *EvalState) clone() *EvalState {
	c := &EvalState{Task: s.Task, Runs: slices.Clone(s.Runs), Partials: slices.Clone(s.Partials)}
	if s.Cut != nil {
		cut := *s.Cut
		c.Cut = &cut
	}
	for i := range c.Runs {
		c.Runs[i].Segments = slices.Clone(c.Runs[i].Segments)
	}
	c.Segments = make([]object.Segment, len(s.Segments))
	for i, g := range s.Segments {
		g.Digest = slices.Clone(g.Digest)
		g.Metrics = slices.Clone(g.Metrics)
		c.Segments[i] = g
	}
	return c
}

// EvalReport is the outcome of Evaluate.
type EvalReport struct {
	// Task is the work evaluated, TaskCID its name; ArchCID names the normalised candidate (vocabulary
	// unbound) and ProtocolCID the protocol.
	Task        object.Task
	TaskCID     cid.Cid
	ArchCID     cid.Cid
	ProtocolCID cid.Cid
	// Result is the report to sign (object.Seal with KindResult): digest chain, checkpoints,
	// per-segment losses and partial scores, per-task metrics and the overall score. Executor is
	// EvalOptions.Executor.
	Result object.Result
	// Scores are the protocol's scores with every run's counts and partials (Scores.Check passes).
	Scores *Scores
	// Runs describe each run for display, in Protocol.Runs() order.
	Runs []RunReport
	// Device is the device's description.
	Device string
}

// RunReport describes one run of an evaluation for display. Seconds is wall-clock time, not part of
// any object.
type RunReport struct {
	Setting, Sweep int
	Task           string
	// Params is the number of parameters of the model bound to the setting.
	Params int
	Steps  int
	Tokens int64
	// Metric is MetricAccuracy or MetricBPB and Value the run's final score in it.
	Metric string
	Value  int64
	// Chance is the setting's chance accuracy in ppm (Setting.ChancePPM).
	Chance int64
	// Seconds is the wall-clock time of the run's training and evaluation in this call (0 for runs
	// finished before a resume); CPUSeconds the process's CPU time over the same span.
	Seconds, CPUSeconds float64
	// Resumed reports that the run was finished before a resume (only its score is known).
	Resumed bool
}

// evalPlan is everything Evaluate validates before it trains anything.
type evalPlan struct {
	o        EvalOptions
	p        *Protocol
	pc       cid.Cid
	runs     []Run
	archs    []arch.Arch // bound architecture per setting
	batchers []Batcher   // per setting
	hypers   []train.Hyper
	offsets  []int64 // global step count at the start of each run
	metric   string
	report   *EvalReport
	log      *slog.Logger
}

// Evaluate runs a task: for every run of the protocol (each setting at each sweep point) it builds
// the candidate bound to the setting's vocabulary, trains it from the task's seed with the
// protocol's hyper-parameters for the setting's steps, cut into the protocol's segments; at every
// segment boundary it records the state digest, stores a checkpoint, the segment's mean training
// loss and a partial score on the protocol's EvalExamples; after the last step it scores the whole
// test set (accuracy, or bits per byte for text). It returns the Result and Scores.
//
// Conventions (docs/eval.md): runs go in Protocol.Runs() order; every
// run's Hyper is the protocol's learning rate, weight decay, warmup and MinLR with the engine's
// defaults for the AdamW betas, epsilon and gradient clipping (train.DefaultHyper) and Seed = the
// task's seed; the Result's Segments list every run's K segments in run order, with Step counting
// steps over the whole evaluation; Metrics are the per-task scores named by task and Score the
// overall score.
//
// Every input is checked before any training or any write: a bad protocol, an architecture that does
// not bind, a missing or corrupt dataset or a resume state that does not fit return an error and put
// nothing into Checkpoints. ctx cancels between steps; with EvalOptions.CheckpointOnCancel the run
// in progress is first saved at the step where it stopped (EvalState.Cut).
func Evaluate(ctx context.Context, o EvalOptions) (*EvalReport, error) {
	pl, err := planEval(o)
	if err != nil {
		return nil, err
	}
	dev := o.Device
	if dev == nil {
		threads := o.Threads
		if threads <= 0 {
			threads = runtime.NumCPU()
		}
		d, err := cpu.New(threads, cpu.WithLogger(pl.log))
		if err != nil {
			return nil, fmt.Errorf("bench: evaluate: %w", err)
		}
		defer d.Close()
		dev = d
	}
	pl.report.Device = dev.Name()
	st, err := pl.resumeState()
	if err != nil {
		return nil, err
	}
	scores, k := slices.Clone(st.Runs), pl.p.Segments
	for i := range pl.report.Runs {
		if i < len(st.Runs) {
			pl.report.Runs[i].Resumed = true
			pl.report.Runs[i].Value = st.Runs[i].Value
		}
	}
	for ri := len(st.Runs); ri < len(pl.runs); ri++ {
		start, cpu0 := time.Now(), cpuSeconds()
		rs, err := pl.run(ctx, dev, ri, st)
		if err != nil {
			return nil, err
		}
		scores = append(scores, rs)
		st.Runs = append(st.Runs, rs)
		st.Partials = nil
		rr := &pl.report.Runs[ri]
		rr.Value, rr.Seconds, rr.CPUSeconds = rs.Value, time.Since(start).Seconds(), cpuSeconds()-cpu0
		if o.OnState != nil {
			if err := o.OnState(st.clone()); err != nil {
				return nil, fmt.Errorf("bench: evaluate: save state: %w", err)
			}
		}
	}
	sc, err := Aggregate(pl.p, pl.pc, scores)
	if err != nil {
		return nil, err
	}
	r := &pl.report.Result
	r.Segments = st.Segments
	r.Score = sc.Overall
	r.Class = dev.Class()
	for _, t := range sc.Tasks {
		r.Metrics = append(r.Metrics, object.Metric{Name: t.Task, Value: t.Value})
	}
	if len(r.Segments) != len(pl.runs)*k {
		return nil, fmt.Errorf("bench: evaluate: %d segments for %d runs × %d", len(r.Segments), len(pl.runs), k)
	}
	if r.Executor != "" {
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("bench: evaluate: %w", err)
		}
	}
	pl.report.Scores = sc
	return pl.report, nil
}

// planEval checks every input and prepares the runs: protocol, architecture bindings, batchers
// (which load a text dataset), hyper-parameters and the task.
func planEval(o EvalOptions) (*evalPlan, error) {
	if o.Protocol == nil {
		return nil, fmt.Errorf("%w: no protocol", ErrEvalOptions)
	}
	p := o.Protocol
	_, pc, err := p.Encode()
	if err != nil {
		return nil, err
	}
	base, err := arch.Unbound(o.Arch)
	if err != nil {
		return nil, fmt.Errorf("%w: architecture: %w", ErrEvalOptions, err)
	}
	if err := checkKinds(base); err != nil {
		return nil, err
	}
	ac, err := arch.CID(base)
	if err != nil {
		return nil, fmt.Errorf("%w: architecture: %w", ErrEvalOptions, err)
	}
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	pl := &evalPlan{o: o, p: p, pc: pc, runs: p.Runs(), log: log, metric: MetricAccuracy}
	if p.IsText() {
		pl.metric = MetricBPB
	}
	for i, s := range p.Settings {
		b, err := NewBatcher(p, i, o.Data)
		if err != nil {
			return nil, err
		}
		a, err := BindSetting(base, b.Vocab(), b.SeqLen())
		if err != nil {
			return nil, fmt.Errorf("%w: architecture bound to setting %d (%s): %w", ErrEvalOptions, i, s, err)
		}
		pl.archs = append(pl.archs, a)
		pl.batchers = append(pl.batchers, b)
	}
	task := object.Task{Search: o.Search, Arch: ac.String(), Protocol: pc.String(), Seed: o.Seed}
	if err := task.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEvalOptions, err)
	}
	_, tc, err := object.Encode(task)
	if err != nil {
		return nil, fmt.Errorf("%w: task: %w", ErrEvalOptions, err)
	}
	rep := &EvalReport{Task: task, TaskCID: tc, ArchCID: ac, ProtocolCID: pc}
	var steps, tokens int64
	for _, r := range pl.runs {
		s := p.Settings[r.Setting]
		h := train.DefaultHyper(s.Steps)
		h.Segments, h.Warmup, h.Seed = p.Segments, p.Warmup, o.Seed
		h.LR, h.MinLR, h.WeightDecay = micro(r.LR), micro(p.MinLR), micro(r.WD)
		if err := h.Validate(); err != nil {
			return nil, fmt.Errorf("%w: setting %d: %w", ErrEvalOptions, r.Setting, err)
		}
		pl.hypers = append(pl.hypers, h)
		pl.offsets = append(pl.offsets, steps)
		n, err := arch.Params(pl.archs[r.Setting])
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrEvalOptions, err)
		}
		rr := RunReport{Setting: r.Setting, Sweep: r.Sweep, Task: s.Task, Params: int(n), Steps: s.Steps,
			Tokens: int64(s.Steps) * int64(s.Batch) * int64(pl.batchers[r.Setting].SeqLen()), Metric: pl.metric}
		if !p.IsText() {
			rr.Chance = s.ChancePPM()
		}
		rep.Runs = append(rep.Runs, rr)
		steps += int64(s.Steps)
		tokens += rr.Tokens
	}
	rep.Result = object.Result{Task: tc.String(), Executor: o.Executor, Engine: EvalEngine, Steps: steps, Tokens: tokens}
	pl.report = rep
	return pl, nil
}

// BindSetting returns a bound to a setting with the given vocabulary and row length: the
// vocabulary set, the context set to seqLen for learned positions, normalised and validated.
func BindSetting(a arch.Arch, vocab, seqLen int) (arch.Arch, error) {
	a.Vocab = vocab
	if a.Pos == arch.PosLearned {
		a.Context = seqLen
	}
	a, err := arch.Normalize(a)
	if err == nil {
		err = arch.Validate(a)
	}
	return a, err
}

// CheckArch reports whether Evaluate would build a (any spelling) under every setting of p: its
// layer kinds are the engine's and the architecture bound to each setting (BindSetting) is valid.
// data holds the text protocol's dataset (unused for MAD protocols). It trains nothing. Errors
// wrap ErrEvalOptions, or the batcher's error for a setting whose data is missing.
func CheckArch(a arch.Arch, p *Protocol, data BlockStore) error {
	if p == nil {
		return fmt.Errorf("%w: no protocol", ErrEvalOptions)
	}
	if err := checkKinds(a); err != nil {
		return err
	}
	if err := Binds(a, p); err != nil {
		return fmt.Errorf("%w: %w", ErrEvalOptions, err)
	}
	if p.IsText() {
		if data == nil {
			return fmt.Errorf("%w: text protocol needs a block store", ErrNeedData)
		}
		if _, err := NewTextBatcher(p, data); err != nil { // the dataset is held and intact
			return fmt.Errorf("protocol dataset: %w", err)
		}
	}
	return nil
}

// Binds checks that a builds under every setting of p: bound to the setting's vocabulary (and,
// with learned positions, its example length; BindSetting) it is a valid model.
func Binds(a arch.Arch, p *Protocol) error {
	for i, s := range p.Settings {
		if _, err := BindSetting(a, s.Vocab, s.ExampleLen()); err != nil {
			return fmt.Errorf("architecture %s does not build under protocol setting %d (%s): %w", arch.Print(a), i, s, err)
		}
	}
	return nil
}

// checkKinds rejects primitives the engine does not build, before anything is allocated.
func checkKinds(a arch.Arch) error {
	for i, l := range a.Layers {
		switch l.Kind {
		case train.KindAttention, train.KindSwiGLU, train.KindGELU, train.KindMamba:
		default:
			return fmt.Errorf("%w: layer %d: the engine does not build %q", ErrEvalOptions, i, l.Kind)
		}
	}
	return nil
}

// micro converts micro-units to float32 (the division is exact IEEE arithmetic, so the bits are the
// same everywhere).
func micro(v int64) float32 { return float32(float64(v) / 1e6) }

// resumeState checks EvalOptions.Resume against the plan and returns the state to continue from (a
// fresh one without Resume).
func (pl *evalPlan) resumeState() (*EvalState, error) {
	tc := pl.report.Result.Task
	rs := pl.o.Resume
	if rs == nil {
		return &EvalState{Task: tc}, nil
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrResume, fmt.Sprintf(format, a...))
	}
	if rs.Task != tc {
		return nil, bad("state of task %s, not %s", rs.Task, tc)
	}
	k := pl.p.Segments
	if len(rs.Runs) > len(pl.runs) || len(rs.Partials) > k || (len(rs.Runs) == len(pl.runs) && len(rs.Partials) > 0) {
		return nil, bad("%d runs and %d partials for a protocol of %d runs × %d segments", len(rs.Runs), len(rs.Partials), len(pl.runs), k)
	}
	if want := len(rs.Runs)*k + len(rs.Partials); len(rs.Segments) != want {
		return nil, bad("%d segments, want %d", len(rs.Segments), want)
	}
	for i, r := range rs.Runs {
		if r.Setting != pl.runs[i].Setting || r.Sweep != pl.runs[i].Sweep {
			return nil, bad("run %d is (setting %d, sweep %d), want (%d, %d)", i, r.Setting, r.Sweep, pl.runs[i].Setting, pl.runs[i].Sweep)
		}
		if err := checkValue(pl.metric, r.Count, r.Correct, r.Value); err != nil {
			return nil, bad("run %d: %v", i, err)
		}
	}
	for i, g := range rs.Segments {
		ri, j := i/k, i%k
		bounds := boundaries(pl.hypers[ri])
		if g.Step != pl.offsets[ri]+int64(bounds[j]) || len(g.Digest) != object.DigestSize {
			return nil, bad("segment %d: step %d, digest of %d bytes", i, g.Step, len(g.Digest))
		}
	}
	for j, pt := range rs.Partials {
		if pt.Segment != j || pt.Step != boundaries(pl.hypers[len(rs.Runs)])[j] {
			return nil, bad("partial %d at segment %d step %d", j, pt.Segment, pt.Step)
		}
	}
	if len(rs.Partials) > 0 && rs.Cut == nil {
		if pl.o.Checkpoints == nil {
			return nil, bad("no checkpoint store to resume run %d from", len(rs.Runs))
		}
		if _, err := object.ParseCID(rs.Segments[len(rs.Segments)-1].Checkpoint); err != nil {
			return nil, bad("last segment has no checkpoint: %v", err)
		}
	}
	if rs.Cut != nil {
		if err := pl.checkCut(rs); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrResume, err)
		}
	}
	return rs.clone(), nil
}

// checkCut checks the cut of a resume state whose other fields passed resumeState's checks.
func (pl *evalPlan) checkCut(rs *EvalState) error {
	ri, done, cut := len(rs.Runs), len(rs.Partials), rs.Cut
	if ri >= len(pl.runs) || done >= pl.p.Segments {
		return fmt.Errorf("a cut after the last segment of run %d", ri)
	}
	bounds := boundaries(pl.hypers[ri])
	lo := 0
	if done > 0 {
		lo = bounds[done-1]
	}
	off, hi := pl.offsets[ri], bounds[done]
	if cut.Step <= off+int64(lo) || cut.Step >= off+int64(hi) {
		return fmt.Errorf("cut at step %d, not inside run %d's segment %d (steps %d to %d)", cut.Step, ri, done+1, off+int64(lo), off+int64(hi))
	}
	if f := math.Float64frombits(cut.LossSum); math.IsNaN(f) || math.IsInf(f, 0) {
		return fmt.Errorf("cut loss sum %v", f)
	}
	if pl.o.Checkpoints == nil {
		return fmt.Errorf("no checkpoint store to resume run %d from", ri)
	}
	if _, err := object.ParseCID(cut.Checkpoint); err != nil {
		return fmt.Errorf("cut has no checkpoint: %w", err)
	}
	return nil
}

// boundaries returns the steps at the end of each segment of a run with hyper-parameters h (the
// trainer's rule: segment j ends after floor(j·Steps/K) steps).
func boundaries(h train.Hyper) []int {
	b := make([]int, h.Segments)
	for j := range b {
		b[j] = int(int64(j+1) * int64(h.Steps) / int64(h.Segments))
	}
	return b
}

// run trains and scores run ri, continuing from the partial state in st (segments and partials of
// this run already done). It appends every new segment to st.Segments and its partial to
// st.Partials, and returns the run's score.
func (pl *evalPlan) run(ctx context.Context, dev gpu.Device, ri int, st *EvalState) (RunScore, error) {
	r := pl.runs[ri]
	s := pl.p.Settings[r.Setting]
	b := pl.batchers[r.Setting]
	h := pl.hypers[ri]
	fail := func(err error) error {
		return fmt.Errorf("bench: evaluate run %d (%s): %w", ri, s, err)
	}
	m, err := train.NewModel(dev, pl.archs[r.Setting], train.Shape{Batch: b.BatchSize(), Seq: b.SeqLen()})
	if err != nil {
		return RunScore{}, fail(err)
	}
	var segLoss float64
	var segSteps int
	prog := Progress{Run: ri, Runs: len(pl.runs), Setting: r.Setting, Task: s.Task, Steps: s.Steps}
	onEvent := func(ev train.Event) {
		if ev.Kind == train.EventStep {
			segLoss += ev.Loss
			segSteps++
		}
		if pl.o.Progress != nil {
			prog.Step, prog.Loss, prog.Segment = ev.Step, ev.Loss, 0
			if ev.Kind == train.EventSegment {
				prog.Segment = ev.Segment
			}
			pl.o.Progress(prog)
		}
	}
	t, err := train.NewTrainer(m, h, train.WithEvents(onEvent), train.WithLogger(pl.log))
	if err != nil {
		m.Close()
		return RunScore{}, fail(err)
	}
	defer t.Close()
	bounds := boundaries(h)
	switch {
	case st.Cut != nil:
		if err := pl.restoreCut(t, ri, st.Cut); err != nil {
			return RunScore{}, fmt.Errorf("%w: run %d: %w", ErrResume, ri, err)
		}
	case len(st.Partials) > 0:
		if err := pl.restore(t, st.Segments[len(st.Segments)-1]); err != nil {
			return RunScore{}, fmt.Errorf("%w: run %d: %w", ErrResume, ri, err)
		}
	}
	var buf bytes.Buffer
	for j, bound := range bounds {
		if j < len(st.Partials) {
			continue
		}
		segLoss, segSteps = 0, 0
		if st.Cut != nil {
			// The segment continues from the cut: its loss sum too.
			segLoss, segSteps = math.Float64frombits(st.Cut.LossSum), t.Step()-segStart(bounds, j)
		}
		if err := t.RunUntil(ctx, b, bound); err != nil {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) && t.Step() > segStart(bounds, j) {
				return RunScore{}, pl.cancelled(t, ri, st, segLoss, fail(err))
			}
			return RunScore{}, fail(err)
		}
		st.Cut = nil
		d, err := t.Digest()
		if err != nil {
			return RunScore{}, fail(err)
		}
		buf.Reset()
		if err := t.SaveCheckpoint(&buf); err != nil {
			return RunScore{}, fail(err)
		}
		ck := object.RawCID(buf.Bytes())
		if pl.o.Checkpoints != nil {
			if err := pl.o.Checkpoints.Put(ck, buf.Bytes()); err != nil {
				return RunScore{}, fail(fmt.Errorf("store checkpoint: %w", err))
			}
		}
		part, err := pl.score(m, b, pl.p.EvalExamples)
		if err != nil {
			return RunScore{}, fail(err)
		}
		part.Segment, part.Step = j, bound
		seg := object.Segment{
			Step: pl.offsets[ri] + int64(bound), Digest: slices.Clone(d[:]), Checkpoint: ck.String(),
			Loss:    meanMicro(segLoss, segSteps),
			Metrics: []object.Metric{{Name: pl.metric, Value: part.Value}},
		}
		st.Segments = append(st.Segments, seg)
		st.Partials = append(st.Partials, part)
		pl.log.Debug("bench: segment done", "run", ri, "task", s.Task, "segment", j+1, "step", bound,
			"digest", d.String(), "checkpoint", ck.String(), pl.metric, part.Value)
		if pl.o.OnState != nil {
			if err := pl.o.OnState(st.clone()); err != nil {
				return RunScore{}, fmt.Errorf("bench: evaluate: save state: %w", err)
			}
		}
	}
	final, err := pl.score(m, b, b.TestExamples())
	if err != nil {
		return RunScore{}, fail(err)
	}
	return RunScore{Setting: r.Setting, Sweep: r.Sweep, Count: final.Count, Correct: final.Correct,
		Value: final.Value, Segments: slices.Clone(st.Partials)}, nil
}

// segStart is the step at which segment j (0-based) of a run with these boundaries starts.
func segStart(bounds []int, j int) int {
	if j == 0 {
		return 0
	}
	return bounds[j-1]
}

// cancelled saves run ri, stopped by its context between two segment boundaries, when
// EvalOptions.CheckpointOnCancel asks for it: a checkpoint at the trainer's step, then OnState with
// st.Cut naming it. It returns stopped (the context's error), joined with any error of the save.
func (pl *evalPlan) cancelled(t *train.Trainer, ri int, st *EvalState, segLoss float64, stopped error) error {
	o := pl.o
	if !o.CheckpointOnCancel || o.Checkpoints == nil || o.OnState == nil {
		return stopped
	}
	var buf bytes.Buffer
	if err := t.SaveCheckpoint(&buf); err != nil {
		return errors.Join(stopped, fmt.Errorf("bench: evaluate: checkpoint on cancel: %w", err))
	}
	ck := object.RawCID(buf.Bytes())
	if err := o.Checkpoints.Put(ck, buf.Bytes()); err != nil {
		return errors.Join(stopped, fmt.Errorf("bench: evaluate: checkpoint on cancel: store checkpoint: %w", err))
	}
	s := st.clone()
	s.Cut = &EvalCut{Step: pl.offsets[ri] + int64(t.Step()), Checkpoint: ck.String(), LossSum: math.Float64bits(segLoss)}
	pl.log.Debug("bench: cancelled mid-segment, state saved", "run", ri, "step", t.Step(), "checkpoint", ck.String())
	if err := o.OnState(s); err != nil {
		return errors.Join(stopped, fmt.Errorf("bench: evaluate: save state: %w", err))
	}
	return stopped
}

// loadCheckpoint loads the checkpoint block named ref into t, checking it against its CID.
func (pl *evalPlan) loadCheckpoint(t *train.Trainer, ref string) (cid.Cid, error) {
	c, err := object.ParseCID(ref)
	if err != nil {
		return cid.Undef, err
	}
	data, err := pl.o.Checkpoints.Get(c)
	if err != nil {
		return c, fmt.Errorf("checkpoint %s: %w", c, err)
	}
	if err := object.VerifyBlock(c, data); err != nil {
		return c, fmt.Errorf("checkpoint %s: %w", c, err)
	}
	if err := t.LoadCheckpoint(bytes.NewReader(data)); err != nil {
		return c, fmt.Errorf("checkpoint %s: %w", c, err)
	}
	return c, nil
}

// restoreCut loads the checkpoint of a cut and checks that it is at the cut's step.
func (pl *evalPlan) restoreCut(t *train.Trainer, ri int, cut *EvalCut) error {
	c, err := pl.loadCheckpoint(t, cut.Checkpoint)
	if err != nil {
		return err
	}
	if want := cut.Step - pl.offsets[ri]; int64(t.Step()) != want {
		return fmt.Errorf("checkpoint %s is at step %d of the run, the cut says %d", c, t.Step(), want)
	}
	return nil
}

// restore loads the checkpoint of the last segment done and checks that it reproduces the segment's
// digest.
func (pl *evalPlan) restore(t *train.Trainer, last object.Segment) error {
	c, err := pl.loadCheckpoint(t, last.Checkpoint)
	if err != nil {
		return err
	}
	d, err := t.Digest()
	if err != nil {
		return err
	}
	if !bytes.Equal(d[:], last.Digest) {
		return fmt.Errorf("checkpoint %s has digest %s, the chain says %x", c, d, last.Digest)
	}
	return nil
}

// score evaluates m on the first n test examples of b: accuracy (MAD) or bits per byte (text).
func (pl *evalPlan) score(m *train.Model, b Batcher, n int) (Partial, error) {
	rows := b.BatchSize() * b.SeqLen()
	tokens, targets, pred := make([]int32, rows), make([]int32, rows), make([]int32, rows)
	var acc Tally
	var loss LossTally
	for i := range b.TestBatches(n) {
		if err := b.TestBatch(i, n, tokens, targets); err != nil {
			return Partial{}, err
		}
		e, err := m.Predict(tokens, targets, pred)
		if err != nil {
			return Partial{}, err
		}
		if err := acc.AddPredictions(pred, targets); err != nil {
			return Partial{}, err
		}
		loss.Add(e.LossSum, int64(e.Tokens))
	}
	if pl.metric == MetricBPB {
		v, err := loss.BitsPerByteMicro()
		if err != nil {
			return Partial{}, err
		}
		return Partial{Count: loss.Count, Value: v}, nil
	}
	if acc.Count == 0 {
		return Partial{}, fmt.Errorf("%w: no scored positions in %d test examples", ErrInvalidScores, n)
	}
	return Partial{Count: acc.Count, Correct: acc.Correct, Value: acc.PPM()}, nil
}

// meanMicro is sum/n in micro-units, rounded half away from zero.
func meanMicro(sum float64, n int) int64 {
	if n == 0 {
		return 0
	}
	return int64(math.Round(sum / float64(n) * 1e6))
}
