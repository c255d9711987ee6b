package bench

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/object"
)

// Sentinel errors. Errors returned by this package wrap one of them (or an object package sentinel
// for encoding failures).
var (
	// ErrInvalidProtocol means a protocol or one of its settings breaks a rule or a bound.
	ErrInvalidProtocol = errors.New("bench: invalid protocol")
	// ErrUnknownProtocol means a name that is not in the registry.
	ErrUnknownProtocol = errors.New("bench: unknown protocol")
	// ErrNeedData means the text protocol was asked for without a dataset, or a MAD protocol with one.
	ErrNeedData = errors.New("bench: dataset mismatch")
)

// ProtocolType is the Type field of every Protocol object.
const ProtocolType = "airanode/protocol/1"

// Schedules.
const (
	// ScheduleCosine is linear warmup from 0 to the learning rate over Warmup steps, then cosine decay
	// to MinLR at the last step.
	ScheduleCosine = "cosine"
)

// Bounds on a protocol.
const (
	MaxSettings = 256
	MaxSweep    = 16
	MaxSegments = 1024
	MaxName     = 64
	// MaxLR bounds learning rates and weight decays: 1.0 in micro-units.
	MaxLR = 1_000_000
)

// Hyper is one point of a learning-rate × weight-decay sweep, in micro-units (1e-6).
type Hyper struct {
	LR int64 `json:"lr_micro"`
	WD int64 `json:"wd_micro"`
}

// Protocol is an evaluation protocol: what to train a candidate on, for how long, and how to score
// it. It is a canonical object named by its CID; it holds no floats (learning rates and weight decays
// are micro-units) and no time budget (budgets are steps, hence tokens).
//
// Every setting is trained from scratch once per sweep point (or once with LR and WD when Sweep is
// empty); a setting's score is its best run; a task's score is the mean over its settings; the
// protocol's score is the mean over tasks (MAD's aggregation).
type Protocol struct {
	// Type is ProtocolType.
	Type string `json:"type"`
	// Name is a short label ("mad-lite"); the CID, not the name, identifies the protocol.
	Name string `json:"name"`
	// Settings are the task settings, each with its own budget (steps, batch).
	Settings []Setting `json:"settings"`
	// LR and WD are the learning rate and AdamW's decoupled weight decay, in micro-units.
	LR int64 `json:"lr_micro"`
	WD int64 `json:"wd_micro"`
	// Sweep, when not empty, replaces LR and WD: every setting runs once per point.
	Sweep []Hyper `json:"sweep,omitempty"`
	// Schedule names the learning-rate schedule (ScheduleCosine); Warmup is in steps; MinLR is the
	// final learning rate in micro-units.
	Schedule string `json:"schedule"`
	Warmup   int    `json:"warmup"`
	MinLR    int64  `json:"min_lr_micro"`
	// EvalExamples is how many test examples (from the start of the test set) the per-segment partial
	// scores use; the final score uses the whole test set.
	EvalExamples int `json:"eval_examples"`
	// Seed drives data generation (training and test sets, training order). Model initialisation is
	// seeded by the task, not the protocol.
	Seed uint64 `json:"seed"`
	// Segments is the number of training segments per run (digest and checkpoint boundaries).
	Segments int `json:"segments"`
	// Data is the dataset manifest of a text protocol; undefined for MAD protocols.
	Data cid.Cid `json:"data,omitempty"`
}

// Run is one training run of a protocol: a setting at one sweep point.
type Run struct {
	Setting int   // index into Settings
	Sweep   int   // index into Sweep (0 when Sweep is empty)
	LR, WD  int64 // micro-units
}

// RunOffsets returns the step, counted over the whole evaluation, at which each of Runs() starts,
// and the total steps: the step numbers of a Result's segments and of a task's progress.
func (p *Protocol) RunOffsets() (offsets []int64, total int64) {
	runs := p.Runs()
	offsets = make([]int64, len(runs))
	for i, r := range runs {
		offsets[i] = total
		total += int64(p.Settings[r.Setting].Steps)
	}
	return offsets, total
}

// Runs lists the protocol's runs, setting-major.
func (p *Protocol) Runs() []Run {
	sw := p.Sweep
	if len(sw) == 0 {
		sw = []Hyper{{LR: p.LR, WD: p.WD}}
	}
	runs := make([]Run, 0, len(p.Settings)*len(sw))
	for i := range p.Settings {
		for j, h := range sw {
			runs = append(runs, Run{Setting: i, Sweep: j, LR: h.LR, WD: h.WD})
		}
	}
	return runs
}

// Tokens is the protocol's total training budget in tokens, over all runs.
func (p *Protocol) Tokens() int64 {
	n := int64(max(1, len(p.Sweep)))
	var t int64
	for _, s := range p.Settings {
		t += s.Tokens() * n
	}
	return t
}

// IsText reports whether the protocol is byte-level language modelling on a dataset.
func (p *Protocol) IsText() bool { return len(p.Settings) > 0 && p.Settings[0].Task == TaskText }

// Tasks returns the distinct tasks of the protocol in order of first appearance.
func (p *Protocol) Tasks() []string {
	var ts []string
	for _, s := range p.Settings {
		if !slices.Contains(ts, s.Task) {
			ts = append(ts, s.Task)
		}
	}
	return ts
}

// Validate checks every rule and bound; a protocol from a peer must pass it before use. Errors wrap
// ErrInvalidProtocol and name the offending field.
func (p *Protocol) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidProtocol, fmt.Sprintf(format, a...))
	}
	if p.Type != ProtocolType {
		return bad("type %q, want %q", p.Type, ProtocolType)
	}
	if err := checkName(p.Name); err != nil {
		return bad("name: %v", err)
	}
	if len(p.Settings) == 0 || len(p.Settings) > MaxSettings {
		return bad("%d settings, want 1 to %d", len(p.Settings), MaxSettings)
	}
	text := 0
	minSteps := MaxSteps
	for i, s := range p.Settings {
		if err := s.validate(); err != nil {
			return bad("setting %d (%s): %v", i, s.Task, err)
		}
		if s.Task == TaskText {
			text++
		}
		minSteps = min(minSteps, s.Steps)
		if p.EvalExamples > s.TestExamples {
			return bad("eval_examples %d over setting %d's test_examples %d", p.EvalExamples, i, s.TestExamples)
		}
		for j := range i {
			if p.Settings[j] == s {
				return bad("settings %d and %d are the same", j, i)
			}
		}
	}
	switch {
	case text > 0 && len(p.Settings) != 1:
		return bad("a text protocol has exactly one setting")
	case text == 1 && !p.Data.Defined():
		return bad("text protocol without a dataset")
	case text == 0 && p.Data.Defined():
		return bad("dataset %s on a protocol without a text setting", p.Data)
	}
	if p.Data.Defined() {
		if err := object.CheckCID(p.Data); err != nil || p.Data.Prefix().Codec != cid.DagCBOR {
			return bad("dataset %s is not an object CID", p.Data)
		}
	}
	checkHyper := func(what string, h Hyper) error {
		if h.LR <= 0 || h.LR > MaxLR || h.WD < 0 || h.WD > MaxLR {
			return bad("%s: lr %d µ and wd %d µ must be in (0, %d] and [0, %d]", what, h.LR, h.WD, MaxLR, MaxLR)
		}
		return nil
	}
	if err := checkHyper("lr/wd", Hyper{p.LR, p.WD}); err != nil {
		return err
	}
	if len(p.Sweep) > MaxSweep {
		return bad("%d sweep points, at most %d", len(p.Sweep), MaxSweep)
	}
	for i, h := range p.Sweep {
		if err := checkHyper(fmt.Sprintf("sweep %d", i), h); err != nil {
			return err
		}
		if slices.Contains(p.Sweep[:i], h) {
			return bad("sweep point %d repeats an earlier one", i)
		}
	}
	if p.Schedule != ScheduleCosine {
		return bad("schedule %q, want %q", p.Schedule, ScheduleCosine)
	}
	if p.Warmup < 0 || p.Warmup >= minSteps {
		return bad("warmup %d must be in [0, %d) (the shortest setting's steps)", p.Warmup, minSteps)
	}
	if p.MinLR < 0 || p.MinLR > p.LR {
		return bad("min_lr %d µ must be in [0, lr %d µ]", p.MinLR, p.LR)
	}
	for i, h := range p.Sweep {
		if p.MinLR > h.LR {
			return bad("min_lr %d µ over sweep %d's lr %d µ", p.MinLR, i, h.LR)
		}
	}
	if p.EvalExamples < 1 {
		return bad("eval_examples %d, want at least 1", p.EvalExamples)
	}
	if p.Segments < 1 || p.Segments > MaxSegments || p.Segments > minSteps {
		return bad("segments %d must be in [1, %d] and at most the shortest setting's %d steps", p.Segments, MaxSegments, minSteps)
	}
	return nil
}

// checkName accepts 1 to MaxName characters from [a-z0-9._-].
func checkName(s string) error {
	if s == "" || len(s) > MaxName {
		return fmt.Errorf("%d characters, want 1 to %d", len(s), MaxName)
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_') {
			return fmt.Errorf("%q: character %q outside [a-z0-9._-]", s, c)
		}
	}
	return nil
}

// Encode validates p and returns its canonical bytes and CID.
func (p *Protocol) Encode() ([]byte, cid.Cid, error) {
	if err := p.Validate(); err != nil {
		return nil, cid.Undef, err
	}
	return object.Encode(p)
}

// CID returns the protocol's CID (it must be valid).
func (p *Protocol) CID() (cid.Cid, error) {
	_, c, err := p.Encode()
	return c, err
}

// DecodeProtocol checks that b hashes to c, decodes it strictly and validates it.
func DecodeProtocol(c cid.Cid, b []byte) (*Protocol, error) {
	var p Protocol
	if err := object.Decode(c, b, &p); err != nil {
		return nil, fmt.Errorf("decode protocol: %w", err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// UnmarshalProtocol decodes canonical protocol bytes (without a CID to check) and validates them.
func UnmarshalProtocol(b []byte) (*Protocol, error) {
	var p Protocol
	if err := object.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("decode protocol: %w", err)
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return &p, nil
}

// Registry names.
const (
	NameMADLite = "mad-lite"
	NameMAD     = "mad"
	NameText    = "text"
)

// Names lists the registered protocol names, sorted.
func Names() []string { return []string{NameMAD, NameMADLite, NameText} }

// Lookup returns a fresh copy of the named protocol. The text protocol needs a dataset manifest CID
// (data); the MAD protocols take none (data must be cid.Undef).
func Lookup(name string, data cid.Cid) (*Protocol, error) {
	switch name {
	case NameMADLite, NameMAD:
		if data.Defined() {
			return nil, fmt.Errorf("%w: protocol %q takes no dataset (got %s)", ErrNeedData, name, data)
		}
		if name == NameMAD {
			return MAD(), nil
		}
		return MADLite(), nil
	case NameText:
		if !data.Defined() {
			return nil, fmt.Errorf("%w: protocol %q needs a dataset CID (import one with `airanode data import`)", ErrNeedData, name)
		}
		p := Text(data)
		if err := p.Validate(); err != nil {
			return nil, err
		}
		return p, nil
	default:
		return nil, fmt.Errorf("%w: %q (known: %s)", ErrUnknownProtocol, name, strings.Join(Names(), ", "))
	}
}

// DefaultSeed is the data seed of the built-in protocols (MAD's default seed).
const DefaultSeed = 12345

// MADLite returns the default protocol: one setting per MAD task, sized so that the whole suite for a
// ~0.5M-parameter transformer trains in about 5 minutes on two cores while `A M A M` beats chance on
// every task (docs/protocols.md has the calibration table). The recall tasks get the largest budget,
// at batch 64 and a constant learning rate after warmup (MinLR = LR): a transformer leaves the
// "most frequent value" plateau of multi-query recall only after several hundred steps at a high
// learning rate, and not at all with batches of 16 or 32 or a decaying rate within this budget.
// Fuzzy recall uses one-token keys and values of one or two tokens: with two-token keys a
// transformer stays below chance at this budget. Score: mean test accuracy over the six tasks.
func MADLite() *Protocol {
	const train, test = 4096, 256
	set := func(task string, vocab, seq, steps, batch int) Setting {
		return Setting{Task: task, Vocab: vocab, SeqLen: seq, TrainExamples: train, TestExamples: test, Steps: steps, Batch: batch}
	}
	cr := set(TaskRecall, 16, 64, 1000, 64)
	cr.MultiQuery = true
	fr := set(TaskFuzzyRecall, 16, 64, 800, 64)
	fr.MultiQuery, fr.KeyMotif, fr.ValueMotif = true, 1, 2
	nr := set(TaskNoisyRecall, 32, 64, 750, 64)
	nr.MultiQuery, nr.NoiseVocab, nr.NoisePPM = true, 16, 200_000
	sc := set(TaskSelCopy, 16, 64, 1000, 16)
	sc.CopyTokens = 8
	c := set(TaskCompression, 16, 32, 300, 16)
	m := set(TaskMemorize, 256, 32, 300, 16)
	m.TrainExamples = 256
	return &Protocol{
		Type:         ProtocolType,
		Name:         NameMADLite,
		Settings:     []Setting{cr, fr, nr, sc, c, m},
		LR:           3000, // 3e-3
		WD:           0,
		Schedule:     ScheduleCosine,
		Warmup:       30,
		MinLR:        3000, // constant after warmup (see above)
		EvalExamples: 128,
		Seed:         DefaultSeed,
		Segments:     4,
	}
}

// madEpochs and madBatch are MAD's training length and batch size; a setting's steps are
// ceil(epochs × train examples / batch), MAD's 200 epochs expressed as a step budget.
const (
	madEpochs = 200
	madBatch  = 128
	madTest   = 1280
)

// MADSettings returns the 66 settings of the MAD benchmark (research/nas.md §3.1, the mad-lab task
// configs): for each task the baseline, then each "changes" value varied alone from the baseline.
// Counts per task: recall 11, fuzzy recall 11, noisy recall 14, selective copying 13, compression 11,
// memorisation 6.
func MADSettings() []Setting {
	type change struct {
		apply  func(*Setting, int)
		values []int
	}
	vocab := func(s *Setting, v int) { s.Vocab = v }
	seq := func(s *Setting, v int) { s.SeqLen = v }
	train := func(s *Setting, v int) { s.TrainExamples = v }
	noise := func(s *Setting, v int) { s.NoisePPM = v }
	copyN := func(s *Setting, v int) { s.CopyTokens = v }
	trainSizes := []int{6400, 3200, 1600, 800}
	grid := []struct {
		base    Setting
		changes []change
	}{
		{Setting{Task: TaskRecall, Vocab: 16, SeqLen: 128, TrainExamples: 12800, MultiQuery: true},
			[]change{{vocab, []int{32, 64, 128}}, {seq, []int{256, 512, 1024}}, {train, trainSizes}}},
		{Setting{Task: TaskFuzzyRecall, Vocab: 16, SeqLen: 128, TrainExamples: 12800, MultiQuery: true, KeyMotif: 3, ValueMotif: 3},
			[]change{{vocab, []int{32, 64, 128}}, {seq, []int{256, 512, 1024}}, {train, trainSizes}}},
		{Setting{Task: TaskNoisyRecall, Vocab: 32, SeqLen: 128, TrainExamples: 12800, MultiQuery: true, NoiseVocab: 16, NoisePPM: 200_000},
			[]change{{vocab, []int{48, 80, 144}}, {seq, []int{256, 512, 1024}}, {train, trainSizes}, {noise, []int{400_000, 600_000, 800_000}}}},
		{Setting{Task: TaskSelCopy, Vocab: 16, SeqLen: 256, TrainExamples: 12800, CopyTokens: 16},
			[]change{{vocab, []int{32, 64, 128}}, {seq, []int{512, 1024}}, {train, trainSizes}, {copyN, []int{32, 64, 96}}}},
		{Setting{Task: TaskCompression, Vocab: 16, SeqLen: 32, TrainExamples: 12800},
			[]change{{vocab, []int{32, 64, 128}}, {seq, []int{64, 128, 256}}, {train, trainSizes}}},
		{Setting{Task: TaskMemorize, Vocab: 256, SeqLen: 32, TrainExamples: 256},
			[]change{{vocab, []int{512, 1024, 2048, 4096, 8192}}}},
	}
	budget := func(s Setting) Setting {
		s.TestExamples = madTest
		s.Batch = madBatch
		s.Steps = (madEpochs*s.TrainExamples + madBatch - 1) / madBatch
		return s
	}
	var out []Setting
	for _, t := range grid {
		out = append(out, budget(t.base))
		for _, c := range t.changes {
			for _, v := range c.values {
				s := t.base
				c.apply(&s, v)
				out = append(out, budget(s))
			}
		}
	}
	return out
}

// MADSweep is MAD's learning-rate × weight-decay sweep: lr ∈ {1e-4, 5e-4, 1e-3} × wd ∈ {0, 0.1}.
func MADSweep() []Hyper {
	var h []Hyper
	for _, lr := range []int64{100, 500, 1000} {
		for _, wd := range []int64{0, 100_000} {
			h = append(h, Hyper{LR: lr, WD: wd})
		}
	}
	return h
}

// MAD returns the full MAD protocol: the 66 settings × the 6-point sweep (396 runs), MAD's budget
// (200 epochs at batch 128, expressed in steps), cosine decay to 1e-6 without warmup, and 1,280 test
// examples per setting.
func MAD() *Protocol {
	return &Protocol{
		Type:         ProtocolType,
		Name:         NameMAD,
		Settings:     MADSettings(),
		LR:           500, // MAD's default 5e-4, used only without the sweep
		WD:           0,
		Sweep:        MADSweep(),
		Schedule:     ScheduleCosine,
		Warmup:       0,
		MinLR:        1, // 1e-6
		EvalExamples: 256,
		Seed:         DefaultSeed,
		Segments:     8,
	}
}

// Text returns the byte-level language-modelling protocol on the dataset manifest data: 256-byte
// windows, batch 16, 2,000 steps (8.2M tokens), validation bits per byte over up to 512 windows.
func Text(data cid.Cid) *Protocol {
	return &Protocol{
		Type: ProtocolType,
		Name: NameText,
		Settings: []Setting{{
			Task: TaskText, Vocab: 256, SeqLen: 256, TestExamples: 512, Steps: 2000, Batch: 16,
		}},
		LR:           1000,
		WD:           100_000,
		Schedule:     ScheduleCosine,
		Warmup:       100,
		MinLR:        10,
		EvalExamples: 64,
		Seed:         DefaultSeed,
		Segments:     4,
		Data:         data,
	}
}
