package bench

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/ipfs/go-cid"

	"github.com/airanode/airanode/object"
)

// ErrInvalidScores means scores that break a rule or a bound, or do not match their protocol.
var ErrInvalidScores = errors.New("bench: invalid scores")

// Metrics. Scores are fixed-point integers, never floats.
const (
	// MetricAccuracy is accuracy on the scored positions in parts per million (higher is better).
	MetricAccuracy = "accuracy_ppm"
	// MetricBPB is validation bits per byte in micro-bits (lower is better).
	MetricBPB = "bpb_micro"
)

// ScoresType is the Type field of every Scores object.
const ScoresType = "airanode/scores/1"

// Bounds on scores.
const (
	// MaxCount bounds a run's scored positions, so that fixed-point arithmetic cannot overflow.
	MaxCount = 1 << 40
	// MaxBPB bounds a bits-per-byte value (micro-bits): far above any model worth scoring.
	MaxBPB = 1_000_000_000
)

// Tally counts correct predictions on scored positions (targets ≥ 0). The zero value is empty.
// Not safe for concurrent use.
type Tally struct {
	Correct int64 `json:"correct"`
	Count   int64 `json:"count"`
}

// AddPredictions counts the positions where pred equals a non-negative target.
func (t *Tally) AddPredictions(pred, targets []int32) error {
	if len(pred) != len(targets) {
		return fmt.Errorf("%w: %d predictions for %d targets", ErrInvalidScores, len(pred), len(targets))
	}
	for i, y := range targets {
		if y < 0 {
			continue
		}
		t.Count++
		if pred[i] == y {
			t.Correct++
		}
	}
	return nil
}

// AddLogits scores logits (len(targets) rows of vocab values, row major): a position is correct when
// its argmax equals the target. Ties go to the lowest index; NaN never wins. Targets must be below
// vocab.
func (t *Tally) AddLogits(logits []float32, targets []int32, vocab int) error {
	if vocab < 1 || len(logits) != len(targets)*vocab {
		return fmt.Errorf("%w: %d logits for %d targets × vocab %d", ErrInvalidScores, len(logits), len(targets), vocab)
	}
	for i, y := range targets {
		if y < 0 {
			continue
		}
		if int(y) >= vocab {
			return fmt.Errorf("%w: target %d at position %d, vocab %d", ErrInvalidScores, y, i, vocab)
		}
		row := logits[i*vocab : (i+1)*vocab]
		best := 0
		for j, v := range row {
			if v > row[best] || (row[best] != row[best] && v == v) {
				best = j
			}
		}
		t.Count++
		if best == int(y) {
			t.Correct++
		}
	}
	return nil
}

// PPM returns the accuracy in parts per million, rounded half up (0 when nothing was scored).
func (t Tally) PPM() int64 { return ratioPPM(t.Correct, t.Count) }

func ratioPPM(num, den int64) int64 {
	if den <= 0 {
		return 0
	}
	return (num*ppm + den/2) / den
}

// LossTally accumulates cross-entropy (natural log) over scored bytes for bits per byte. Add batches
// in a fixed order: the float64 sum is deterministic for a fixed order. Not safe for concurrent use.
type LossTally struct {
	Nats  float64
	Count int64
}

// Add adds the summed loss of n scored positions.
func (t *LossTally) Add(sumNats float64, n int64) {
	t.Nats += sumNats
	t.Count += n
}

// AddMean adds a batch's mean loss over its n scored positions.
func (t *LossTally) AddMean(mean float64, n int64) {
	t.Nats += float64(mean * float64(n)) // explicit conversion: no fused multiply-add
	t.Count += n
}

// BitsPerByteMicro returns mean bits per scored byte in micro-bits, rounded half away from zero.
func (t LossTally) BitsPerByteMicro() (int64, error) {
	if t.Count <= 0 {
		return 0, fmt.Errorf("%w: no scored bytes", ErrInvalidScores)
	}
	v := t.Nats / float64(t.Count)
	v = v / math.Ln2
	v = v * 1e6
	if math.IsNaN(v) || v < 0 || v > MaxBPB {
		return 0, fmt.Errorf("%w: bits per byte %v out of range", ErrInvalidScores, v/1e6)
	}
	return int64(math.Round(v)), nil
}

// Scores is the outcome of evaluating one candidate on a protocol: every run's score with its
// per-segment partial scores, the best run per setting, the per-task means and the overall score.
// It is a canonical object (no floats); Aggregate builds it and Check re-derives it from a protocol.
type Scores struct {
	// Type is ScoresType.
	Type string `json:"type"`
	// Protocol is the protocol's CID.
	Protocol cid.Cid `json:"protocol"`
	// Metric is MetricAccuracy or MetricBPB.
	Metric string `json:"metric"`
	// Runs are the runs' scores, ordered by (setting, sweep).
	Runs []RunScore `json:"runs"`
	// Settings are the best run per setting, in setting order.
	Settings []SettingScore `json:"settings"`
	// Tasks are the mean of the settings' best values per task, in order of first appearance.
	Tasks []TaskScore `json:"tasks"`
	// Overall is the mean over tasks (MAD) or the text setting's value.
	Overall int64 `json:"overall"`
}

// RunScore is the final score of one run and its partial scores at segment boundaries.
type RunScore struct {
	Setting int `json:"setting"`
	Sweep   int `json:"sweep"`
	// Count is the number of scored positions (accuracy) or bytes (bits per byte).
	Count int64 `json:"count"`
	// Correct is the number of correct argmax predictions (accuracy only).
	Correct int64 `json:"correct,omitempty"`
	// Value is the metric's value.
	Value int64 `json:"value"`
	// Segments are the partial scores measured at the end of each segment on the protocol's
	// EvalExamples (for early stopping and learning curves).
	Segments []Partial `json:"segments,omitempty"`
}

// Partial is a score measured at a segment boundary.
type Partial struct {
	Segment int   `json:"segment"`
	Step    int   `json:"step"` // steps completed
	Count   int64 `json:"count"`
	Correct int64 `json:"correct,omitempty"`
	Value   int64 `json:"value"`
}

// SettingScore is the best run of one setting.
type SettingScore struct {
	Setting int   `json:"setting"`
	Sweep   int   `json:"sweep"` // the best run's sweep index
	Value   int64 `json:"value"`
}

// TaskScore is the mean over one task's settings.
type TaskScore struct {
	Task  string `json:"task"`
	Value int64  `json:"value"`
}

// AccuracyRun builds the RunScore of an accuracy run from its final tally and partial tallies
// (partials[k] measured after steps[k] steps, at the end of segment k).
func AccuracyRun(setting, sweep int, final Tally, partials []Tally, steps []int) RunScore {
	r := RunScore{Setting: setting, Sweep: sweep, Count: final.Count, Correct: final.Correct, Value: final.PPM()}
	for k, t := range partials {
		st := 0
		if k < len(steps) {
			st = steps[k]
		}
		r.Segments = append(r.Segments, Partial{Segment: k, Step: st, Count: t.Count, Correct: t.Correct, Value: t.PPM()})
	}
	return r
}

// TextRun builds the RunScore of a bits-per-byte run.
func TextRun(setting, sweep int, final LossTally, partials []LossTally, steps []int) (RunScore, error) {
	v, err := final.BitsPerByteMicro()
	if err != nil {
		return RunScore{}, err
	}
	r := RunScore{Setting: setting, Sweep: sweep, Count: final.Count, Value: v}
	for k, t := range partials {
		pv, err := t.BitsPerByteMicro()
		if err != nil {
			return RunScore{}, fmt.Errorf("segment %d: %w", k, err)
		}
		st := 0
		if k < len(steps) {
			st = steps[k]
		}
		r.Segments = append(r.Segments, Partial{Segment: k, Step: st, Count: t.Count, Value: pv})
	}
	return r, nil
}

// checkValue checks one metric value (and its counts) against the metric's rules.
func checkValue(metric string, count, correct, value int64) error {
	if count < 1 || count > MaxCount {
		return fmt.Errorf("count %d outside [1, %d]", count, int64(MaxCount))
	}
	switch metric {
	case MetricAccuracy:
		if correct < 0 || correct > count {
			return fmt.Errorf("correct %d outside [0, %d]", correct, count)
		}
		if want := ratioPPM(correct, count); value != want {
			return fmt.Errorf("value %d, but %d/%d is %d ppm", value, correct, count, want)
		}
	case MetricBPB:
		if correct != 0 {
			return fmt.Errorf("correct %d on a bits-per-byte score", correct)
		}
		if value < 0 || value > MaxBPB {
			return fmt.Errorf("bits per byte %d µ outside [0, %d]", value, MaxBPB)
		}
	default:
		return fmt.Errorf("unknown metric %q", metric)
	}
	return nil
}

// Aggregate checks the runs of protocol p (CID pc) and computes the per-setting, per-task and
// overall scores: a setting's score is its best run (highest accuracy or lowest bits per byte; ties
// go to the lower sweep index), a task's score the mean of its settings' scores, the overall score
// the mean over tasks (all means rounded half up). Every run of p must be present exactly once.
func Aggregate(p *Protocol, pc cid.Cid, runs []RunScore) (*Scores, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidScores, fmt.Sprintf(format, a...))
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	metric := MetricAccuracy
	if p.IsText() {
		metric = MetricBPB
	}
	nsweep := max(1, len(p.Sweep))
	if len(runs) != len(p.Settings)*nsweep {
		return nil, bad("%d runs, protocol has %d", len(runs), len(p.Settings)*nsweep)
	}
	sorted := slices.Clone(runs)
	slices.SortFunc(sorted, func(a, b RunScore) int {
		if a.Setting != b.Setting {
			return a.Setting - b.Setting
		}
		return a.Sweep - b.Sweep
	})
	for i, r := range sorted {
		if r.Setting != i/nsweep || r.Sweep != i%nsweep {
			return nil, bad("run (setting %d, sweep %d) missing or repeated", i/nsweep, i%nsweep)
		}
		if err := checkValue(metric, r.Count, r.Correct, r.Value); err != nil {
			return nil, bad("run (setting %d, sweep %d): %v", r.Setting, r.Sweep, err)
		}
		if len(r.Segments) > p.Segments {
			return nil, bad("run (setting %d, sweep %d): %d partial scores for %d segments", r.Setting, r.Sweep, len(r.Segments), p.Segments)
		}
		prev := 0
		for k, s := range r.Segments {
			if s.Segment != k || s.Step <= prev || s.Step > p.Settings[r.Setting].Steps {
				return nil, bad("run (setting %d, sweep %d): partial %d at segment %d step %d", r.Setting, r.Sweep, k, s.Segment, s.Step)
			}
			prev = s.Step
			if err := checkValue(metric, s.Count, s.Correct, s.Value); err != nil {
				return nil, bad("run (setting %d, sweep %d) segment %d: %v", r.Setting, r.Sweep, k, err)
			}
		}
	}
	out := &Scores{Type: ScoresType, Protocol: pc, Metric: metric, Runs: sorted}
	better := func(a, b int64) bool {
		if metric == MetricBPB {
			return a < b
		}
		return a > b
	}
	for si := range p.Settings {
		best := SettingScore{Setting: si, Sweep: 0, Value: sorted[si*nsweep].Value}
		for j := 1; j < nsweep; j++ {
			if v := sorted[si*nsweep+j].Value; better(v, best.Value) {
				best.Sweep, best.Value = j, v
			}
		}
		out.Settings = append(out.Settings, best)
	}
	var sum int64
	for _, task := range p.Tasks() {
		var ts, n int64
		for si, s := range p.Settings {
			if s.Task == task {
				ts += out.Settings[si].Value
				n++
			}
		}
		v := (ts + n/2) / n
		out.Tasks = append(out.Tasks, TaskScore{Task: task, Value: v})
		sum += v
	}
	nt := int64(len(out.Tasks))
	out.Overall = (sum + nt/2) / nt
	return out, nil
}

// Check verifies that s is exactly what Aggregate derives from its runs for protocol p with CID pc.
func (s *Scores) Check(p *Protocol, pc cid.Cid) error {
	if s.Type != ScoresType {
		return fmt.Errorf("%w: type %q, want %q", ErrInvalidScores, s.Type, ScoresType)
	}
	if !s.Protocol.Equals(pc) {
		return fmt.Errorf("%w: scores for protocol %s, not %s", ErrInvalidScores, s.Protocol, pc)
	}
	want, err := Aggregate(p, pc, s.Runs)
	if err != nil {
		return err
	}
	if !slices.EqualFunc(s.Runs, want.Runs, runEqual) {
		return fmt.Errorf("%w: runs not in (setting, sweep) order", ErrInvalidScores)
	}
	if s.Metric != want.Metric || s.Overall != want.Overall || !slices.Equal(s.Settings, want.Settings) || !slices.Equal(s.Tasks, want.Tasks) {
		return fmt.Errorf("%w: aggregates do not follow from the runs (overall %d, want %d)", ErrInvalidScores, s.Overall, want.Overall)
	}
	return nil
}

func runEqual(a, b RunScore) bool {
	return a.Setting == b.Setting && a.Sweep == b.Sweep && a.Count == b.Count && a.Correct == b.Correct &&
		a.Value == b.Value && slices.Equal(a.Segments, b.Segments)
}

// validateShape checks the bounds of decoded scores that need no protocol.
func (s *Scores) validateShape() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidScores, fmt.Sprintf(format, a...))
	}
	if s.Type != ScoresType {
		return bad("type %q, want %q", s.Type, ScoresType)
	}
	if err := object.CheckCID(s.Protocol); err != nil || s.Protocol.Prefix().Codec != cid.DagCBOR {
		return bad("protocol %s is not an object CID", s.Protocol)
	}
	if s.Metric != MetricAccuracy && s.Metric != MetricBPB {
		return bad("unknown metric %q", s.Metric)
	}
	if len(s.Runs) == 0 || len(s.Runs) > MaxSettings*MaxSweep {
		return bad("%d runs", len(s.Runs))
	}
	if len(s.Settings) == 0 || len(s.Settings) > MaxSettings || len(s.Tasks) == 0 || len(s.Tasks) > len(s.Settings) {
		return bad("%d settings and %d tasks", len(s.Settings), len(s.Tasks))
	}
	for i, r := range s.Runs {
		if err := checkValue(s.Metric, r.Count, r.Correct, r.Value); err != nil {
			return bad("run %d: %v", i, err)
		}
		if len(r.Segments) > MaxSegments {
			return bad("run %d: %d partial scores", i, len(r.Segments))
		}
	}
	return nil
}

// Encode returns the canonical bytes and CID of s.
func (s *Scores) Encode() ([]byte, cid.Cid, error) {
	if err := s.validateShape(); err != nil {
		return nil, cid.Undef, err
	}
	return object.Encode(s)
}

// UnmarshalScores decodes canonical scores bytes and checks their shape (Check against the protocol
// completes the validation).
func UnmarshalScores(b []byte) (*Scores, error) {
	var s Scores
	if err := object.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode scores: %w", err)
	}
	if err := s.validateShape(); err != nil {
		return nil, err
	}
	return &s, nil
}
