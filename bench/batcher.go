package bench

import (
	"errors"
	"fmt"
)

// Batcher feeds one run of the engine: training batches by step and the test (or validation) set in
// fixed batches. Every method is deterministic: the same protocol gives the same bytes on every
// machine, whatever the call order.
//
// tokens and targets passed to Batch and TestBatch must each hold BatchSize()×SeqLen() values (row
// major: row b is tokens[b·SeqLen : (b+1)·SeqLen]); a target is the token the model should predict at
// that position, or Ignore (negative) where the position is unscored. Wrong lengths give ErrBatch and
// leave the buffers untouched. Batch matches train.Batcher, so a Batcher feeds the trainer directly.
type Batcher interface {
	// Batch fills the training batch of step (step ≥ 0).
	Batch(step int, tokens, targets []int32) error
	// BatchSize is the number of rows per batch; SeqLen the tokens per row; Vocab the vocabulary.
	BatchSize() int
	SeqLen() int
	Vocab() int
	// TestExamples is the size of the test set (or the number of validation windows).
	TestExamples() int
	// TestBatches is the number of batches covering the first n test examples.
	TestBatches(n int) int
	// TestBatch fills batch i of the first n test examples; rows past n are padding whose targets
	// are all Ignore, so they never count.
	TestBatch(i, n int, tokens, targets []int32) error
}

// ErrBatch means batch buffers of the wrong length.
var ErrBatch = errors.New("bench: wrong batch buffer length")

// Split names one of a setting's two example sets.
type Split int

// The splits.
const (
	Train Split = iota
	Test
)

func (s Split) String() string {
	if s == Test {
		return "test"
	}
	return "train"
}

// TaskBatcher is the Batcher of a MAD task setting. Training batches visit the training set epoch by
// epoch, each epoch in its own pseudo-random order drawn from (seed, epoch): the example at row b of
// step t is the ((t·Batch + b) mod N)-th of epoch ⌊(t·Batch + b)/N⌋. Examples are generated on demand
// from (seed, setting, split, index), so memory does not grow with the set sizes.
//
// A TaskBatcher reuses scratch buffers and is not safe for concurrent use; make one per goroutine
// (they are cheap, and all of them produce the same data).
type TaskBatcher struct {
	s    Setting
	seed uint64
	key  uint64 // the setting's data key
	g    *generator
}

// NewTaskBatcher returns the Batcher of setting i of p (a MAD setting).
func NewTaskBatcher(p *Protocol, i int) (*TaskBatcher, error) {
	if i < 0 || i >= len(p.Settings) {
		return nil, fmt.Errorf("%w: setting %d of %d", ErrInvalidProtocol, i, len(p.Settings))
	}
	return NewSettingBatcher(p.Settings[i], p.Seed)
}

// NewSettingBatcher returns the Batcher of one MAD setting with a data seed.
func NewSettingBatcher(s Setting, seed uint64) (*TaskBatcher, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if s.Task == TaskText {
		return nil, fmt.Errorf("%w: text settings use NewTextBatcher", ErrInvalidProtocol)
	}
	return &TaskBatcher{s: s, seed: seed, key: s.dataKey(), g: newGenerator(s)}, nil
}

// Setting returns the batcher's setting.
func (b *TaskBatcher) Setting() Setting { return b.s }

// BatchSize implements Batcher.
func (b *TaskBatcher) BatchSize() int { return b.s.Batch }

// SeqLen implements Batcher: the example length, Setting.ExampleLen.
func (b *TaskBatcher) SeqLen() int { return b.g.n }

// Vocab implements Batcher.
func (b *TaskBatcher) Vocab() int { return b.s.Vocab }

// TestExamples implements Batcher.
func (b *TaskBatcher) TestExamples() int { return b.s.TestExamples }

// Example fills tokens and targets (ExampleLen each) with example idx of a split. Indices wrap
// modulo the split's size.
func (b *TaskBatcher) Example(split Split, idx int, tokens, targets []int32) {
	n := b.s.TrainExamples
	stream := uint64(streamTrain)
	if split == Test {
		n, stream = b.s.TestExamples, streamTest
	}
	i := uint64(idx) % uint64(n)
	r := rng{key: derive(b.seed, b.key, stream, i)}
	b.g.fill(&r, tokens[:b.g.n:b.g.n], targets[:b.g.n:b.g.n], split == Train)
}

// TrainIndex returns which training example fills row of step's batch.
func (b *TaskBatcher) TrainIndex(step, row int) int {
	n := uint64(b.s.TrainExamples)
	g := uint64(step)*uint64(b.s.Batch) + uint64(row)
	p := newPerm(int(n), derive(b.seed, b.key, streamOrder, g/n))
	return int(p.at(g % n))
}

func (b *TaskBatcher) check(tokens, targets []int32) error {
	return checkBuffers(tokens, targets, b.s.Batch, b.g.n)
}

func checkBuffers(tokens, targets []int32, batch, seq int) error {
	if want := batch * seq; len(tokens) != want || len(targets) != want {
		return fmt.Errorf("%w: %d tokens and %d targets, want %d×%d = %d", ErrBatch, len(tokens), len(targets), batch, seq, want)
	}
	return nil
}

// Batch implements Batcher.
func (b *TaskBatcher) Batch(step int, tokens, targets []int32) error {
	if err := b.check(tokens, targets); err != nil {
		return err
	}
	L := b.g.n
	for row := range b.s.Batch {
		b.Example(Train, b.TrainIndex(step, row), tokens[row*L:(row+1)*L], targets[row*L:(row+1)*L])
	}
	return nil
}

// TestBatches implements Batcher.
func (b *TaskBatcher) TestBatches(n int) int {
	n = min(max(n, 0), b.s.TestExamples)
	return (n + b.s.Batch - 1) / b.s.Batch
}

// TestBatch implements Batcher.
func (b *TaskBatcher) TestBatch(i, n int, tokens, targets []int32) error {
	if err := b.check(tokens, targets); err != nil {
		return err
	}
	n = min(max(n, 0), b.s.TestExamples)
	L := b.g.n
	for row := range b.s.Batch {
		tk, tg := tokens[row*L:(row+1)*L], targets[row*L:(row+1)*L]
		if idx := i*b.s.Batch + row; i >= 0 && idx < n {
			b.Example(Test, idx, tk, tg)
			continue
		}
		clear(tk)
		for j := range tg {
			tg[j] = Ignore
		}
	}
	return nil
}
