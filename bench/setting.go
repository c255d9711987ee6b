package bench

import (
	"fmt"
	"slices"
	"strings"

	"github.com/airanode/airanode/object"
)

// Task names: the six MAD tasks (their names in the MAD code) and byte-level text.
const (
	TaskRecall      = "in-context-recall"
	TaskFuzzyRecall = "fuzzy-in-context-recall"
	TaskNoisyRecall = "noisy-in-context-recall"
	TaskSelCopy     = "selective-copying"
	TaskCompression = "compression"
	TaskMemorize    = "memorization"
	TaskText        = "text"
)

// MADTasks lists the six MAD tasks in the order protocols and score tables use.
var MADTasks = []string{TaskRecall, TaskFuzzyRecall, TaskNoisyRecall, TaskSelCopy, TaskCompression, TaskMemorize}

// Ignore is the target of an unscored position. The engine skips every negative target.
const Ignore int32 = -1

// Bounds on a setting. They keep what a peer's protocol can make a node allocate or compute per
// example small; the full MAD grid fits well inside them.
const (
	MaxVocab         = 1 << 16
	MaxSeqLen        = 1 << 14
	MaxTrainExamples = 1 << 22
	MaxTestExamples  = 1 << 20
	MaxSteps         = 1 << 24
	MaxBatch         = 1 << 12
	MaxBatchTokens   = 1 << 24 // batch × example length
	MaxMotif         = 4
)

// Setting is one task at one difficulty: what to generate and how long to train on it. The zero
// value of an optional field means "not used by this task". Settings are part of a Protocol object,
// so every field is an integer or a string.
type Setting struct {
	// Task is one of the Task* names.
	Task string `json:"task"`
	// Vocab is the vocabulary size, special and noise tokens included (MAD's vocab_size).
	Vocab int `json:"vocab"`
	// SeqLen is MAD's seq_len, the task's difficulty knob. The model sees examples of ExampleLen()
	// tokens, which differs from SeqLen for some tasks (see ExampleLen). For text it is the window.
	SeqLen int `json:"seq_len"`
	// TrainExamples is the size of the training set (MAD tasks); 0 for text.
	TrainExamples int `json:"train_examples,omitempty"`
	// TestExamples is the size of the independent test set (MAD tasks) or the number of validation
	// windows (text).
	TestExamples int `json:"test_examples"`
	// Steps is the training budget in optimizer steps; Batch is the number of examples per step.
	Steps int `json:"steps"`
	Batch int `json:"batch"`
	// MultiQuery (recall tasks) scores every value whose key appeared before, not just the final probe.
	MultiQuery bool `json:"multi_query,omitempty"`
	// KeyMotif and ValueMotif (fuzzy recall) are the longest key and value motifs, in tokens.
	KeyMotif   int `json:"k_motif,omitempty"`
	ValueMotif int `json:"v_motif,omitempty"`
	// NoiseVocab (recall tasks) is the number of noise tokens, taken from the top of the vocabulary;
	// NoisePPM is the probability, in parts per million, that a key-value slot holds noise instead.
	NoiseVocab int `json:"noise_vocab,omitempty"`
	NoisePPM   int `json:"noise_ppm,omitempty"`
	// CopyTokens (selective copying) is the number of tokens to copy.
	CopyTokens int `json:"copy_tokens,omitempty"`
}

// String names the setting compactly, e.g. "in-context-recall v16 l128 n12800 mq".
func (s Setting) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s v%d l%d", s.Task, s.Vocab, s.SeqLen)
	if s.TrainExamples > 0 {
		fmt.Fprintf(&b, " n%d", s.TrainExamples)
	}
	if s.MultiQuery {
		b.WriteString(" mq")
	}
	if s.KeyMotif > 0 || s.ValueMotif > 0 {
		fmt.Fprintf(&b, " k%d v%d", s.KeyMotif, s.ValueMotif)
	}
	if s.NoiseVocab > 0 || s.NoisePPM > 0 {
		fmt.Fprintf(&b, " noise%d@%g", s.NoiseVocab, float64(s.NoisePPM)/ppm)
	}
	if s.CopyTokens > 0 {
		fmt.Fprintf(&b, " copy%d", s.CopyTokens)
	}
	return b.String()
}

// ExampleLen is the number of tokens in one example (one row of a batch):
//
//   - multi-query in-context and noisy recall: SeqLen−1 (MAD drops the last token to shift targets);
//   - single-query recall, fuzzy recall, selective copying, memorisation, text: SeqLen;
//   - compression: 2·SeqLen−2 (SeqLen−1 tokens, the compression token, then the reconstruction).
func (s Setting) ExampleLen() int {
	switch s.Task {
	case TaskRecall, TaskNoisyRecall:
		if s.MultiQuery {
			return s.SeqLen - 1
		}
		return s.SeqLen
	case TaskCompression:
		return 2*s.SeqLen - 2
	default:
		return s.SeqLen
	}
}

// Tokens is the setting's training budget in tokens: Steps × Batch × ExampleLen.
func (s Setting) Tokens() int64 { return int64(s.Steps) * int64(s.Batch) * int64(s.ExampleLen()) }

// dataKey identifies the data a setting generates: the fields that shape an example (not the
// example counts, so a smaller training set is a prefix of a larger one, nor the budget).
func (s Setting) dataKey() uint64 {
	d := s
	d.TrainExamples, d.TestExamples, d.Steps, d.Batch = 0, 0, 0, 0
	b, err := object.Marshal(d)
	if err != nil { // a Setting holds only ints, strings and bools: cannot fail
		return hashKey([]byte(d.String()))
	}
	return hashKey(b)
}

// Validate checks a setting against its task's rules and the package bounds. Errors wrap
// ErrInvalidProtocol.
func (s Setting) Validate() error {
	if err := s.validate(); err != nil {
		return fmt.Errorf("%w: setting %s: %w", ErrInvalidProtocol, s.Task, err)
	}
	return nil
}

func (s Setting) validate() error {
	inRange := func(name string, v, lo, hi int) error {
		if v < lo || v > hi {
			return fmt.Errorf("%s %d outside [%d, %d]", name, v, lo, hi)
		}
		return nil
	}
	unused := func(name string, v int) error {
		if v != 0 {
			return fmt.Errorf("%s is not an option of %s", name, s.Task)
		}
		return nil
	}
	first := func(errs ...error) error {
		for _, e := range errs {
			if e != nil {
				return e
			}
		}
		return nil
	}
	if s.Task != TaskText && !slices.Contains(MADTasks, s.Task) {
		return fmt.Errorf("unknown task %q", s.Task)
	}
	if err := first(
		inRange("vocab", s.Vocab, 2, MaxVocab),
		inRange("seq_len", s.SeqLen, 2, MaxSeqLen),
		inRange("test_examples", s.TestExamples, 1, MaxTestExamples),
		inRange("steps", s.Steps, 1, MaxSteps),
		inRange("batch", s.Batch, 1, MaxBatch),
		inRange("noise_ppm", s.NoisePPM, 0, ppm-1),
		inRange("noise_vocab", s.NoiseVocab, 0, MaxVocab),
		inRange("k_motif", s.KeyMotif, 0, MaxMotif),
		inRange("v_motif", s.ValueMotif, 0, MaxMotif),
		inRange("copy_tokens", s.CopyTokens, 0, MaxSeqLen),
	); err != nil {
		return err
	}
	if s.Task == TaskText {
		if s.TrainExamples != 0 {
			return fmt.Errorf("train_examples is not an option of text (the corpus is the training set)")
		}
	} else if err := inRange("train_examples", s.TrainExamples, 1, MaxTrainExamples); err != nil {
		return err
	}
	if s.Batch*s.ExampleLen() > MaxBatchTokens {
		return fmt.Errorf("batch %d × example length %d over %d tokens", s.Batch, s.ExampleLen(), MaxBatchTokens)
	}
	recall := s.Task == TaskRecall || s.Task == TaskNoisyRecall || s.Task == TaskFuzzyRecall
	if !recall {
		if s.MultiQuery {
			return fmt.Errorf("multi_query is not an option of %s", s.Task)
		}
		if err := first(unused("noise_vocab", s.NoiseVocab), unused("noise_ppm", s.NoisePPM)); err != nil {
			return err
		}
	}
	if s.Task != TaskFuzzyRecall {
		if err := first(unused("k_motif", s.KeyMotif), unused("v_motif", s.ValueMotif)); err != nil {
			return err
		}
	}
	if s.Task != TaskSelCopy {
		if err := unused("copy_tokens", s.CopyTokens); err != nil {
			return err
		}
	}
	if s.NoisePPM > 0 && s.NoiseVocab == 0 {
		return fmt.Errorf("noise_ppm %d needs a noise vocabulary", s.NoisePPM)
	}
	switch s.Task {
	case TaskRecall, TaskNoisyRecall:
		if s.SeqLen%2 != 0 || s.SeqLen < 4 {
			return fmt.Errorf("seq_len %d must be even and at least 4 (key-value pairs)", s.SeqLen)
		}
		if nk, nv := s.recallVocab(); nk < 1 || nv < 1 {
			return fmt.Errorf("vocab %d leaves no key or value tokens (noise %d, multi_query %v)", s.Vocab, s.NoiseVocab, s.MultiQuery)
		}
	case TaskFuzzyRecall:
		if s.KeyMotif < 1 || s.ValueMotif < 1 {
			return fmt.Errorf("k_motif and v_motif must be at least 1")
		}
		nk, nv := s.recallVocab()
		if nk < s.KeyMotif || nv < s.ValueMotif {
			return fmt.Errorf("vocab %d gives %d key and %d value tokens, fewer than the motif sizes %d and %d",
				s.Vocab, nk, nv, s.KeyMotif, s.ValueMotif)
		}
		if min := 2*(s.KeyMotif+s.ValueMotif) + 2; s.SeqLen < min {
			return fmt.Errorf("seq_len %d below %d for motifs %d+%d", s.SeqLen, min, s.KeyMotif, s.ValueMotif)
		}
	case TaskSelCopy:
		if s.CopyTokens < 1 {
			return fmt.Errorf("copy_tokens must be at least 1")
		}
		if s.SeqLen <= 2*s.CopyTokens+1 {
			return fmt.Errorf("seq_len %d must exceed 2×copy_tokens+1 = %d", s.SeqLen, 2*s.CopyTokens+1)
		}
		if s.Vocab < 3 {
			return fmt.Errorf("vocab %d below 3 (data, blank and copy tokens)", s.Vocab)
		}
	case TaskCompression:
		if s.Vocab < 2 || s.SeqLen < 3 {
			return fmt.Errorf("vocab %d and seq_len %d must be at least 2 and 3", s.Vocab, s.SeqLen)
		}
	case TaskMemorize:
		if s.Vocab < 4 {
			return fmt.Errorf("vocab %d below 4 (keys, values and the insert token)", s.Vocab)
		}
		if s.SeqLen%2 != 0 {
			return fmt.Errorf("seq_len %d must be even (key, insert pairs)", s.SeqLen)
		}
	case TaskText:
		if s.Vocab != 256 {
			return fmt.Errorf("vocab %d: byte-level text has vocab 256", s.Vocab)
		}
	default:
		return fmt.Errorf("unknown task %q", s.Task)
	}
	return nil
}

// recallVocab returns the number of key and value tokens of a recall task. As in MAD: the
// non-special vocabulary is Vocab minus the copy-prefix token (single query) or the pad token (fuzzy)
// and minus the noise tokens; keys are its first half, values the rest.
func (s Setting) recallVocab() (keys, values int) {
	ns := s.nonSpecial()
	return ns / 2, ns - ns/2
}

func (s Setting) nonSpecial() int {
	ns := s.Vocab - s.NoiseVocab
	if s.Task == TaskFuzzyRecall {
		ns-- // pad token
	}
	if !s.MultiQuery {
		ns-- // copy prefix
	}
	return ns
}

// ChancePPM is the accuracy, in parts per million, of guessing each scored target uniformly from the
// tokens that can appear there: the value tokens (recall tasks), the data tokens (selective copying,
// compression), the values of the fixed map (memorisation), all 256 bytes (text).
func (s Setting) ChancePPM() int64 {
	n := 0
	switch s.Task {
	case TaskRecall, TaskNoisyRecall, TaskFuzzyRecall:
		_, n = s.recallVocab()
	case TaskSelCopy:
		n = s.Vocab - 2
	case TaskCompression:
		n = s.Vocab - 1
	case TaskMemorize:
		n = (s.Vocab - 1) / 2
	case TaskText:
		n = 256
	}
	if n < 1 {
		return 0
	}
	return ratioPPM(1, int64(n))
}
