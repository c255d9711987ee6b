package bench

import "fmt"

// TextBatcher is the Batcher of byte-level language modelling (vocab 256) on a Corpus. Row b of
// training step t is a window of SeqLen+1 bytes starting at a uniform offset of the training bytes drawn
// from (seed, t, b): the first SeqLen are the tokens, the last SeqLen (shifted by one) the targets.
// The validation set is the consecutive windows val[w·SeqLen : w·SeqLen+SeqLen+1], w = 0, 1, …, capped
// at the setting's TestExamples. Every position is scored.
//
// A TextBatcher only reads its corpus after construction and is safe for concurrent use.
type TextBatcher struct {
	s      Setting
	seed   uint64
	corpus *Corpus
	nval   int
}

// NewTextBatcher loads p's dataset from st and returns the Batcher of its text setting.
func NewTextBatcher(p *Protocol, st BlockStore) (*TextBatcher, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if !p.IsText() {
		return nil, fmt.Errorf("%w: protocol %q is not a text protocol", ErrInvalidProtocol, p.Name)
	}
	c, err := LoadCorpus(st, p.Data)
	if err != nil {
		return nil, err
	}
	return NewCorpusBatcher(p.Settings[0], p.Seed, c)
}

// NewCorpusBatcher returns the Batcher of a text setting over a loaded corpus.
func NewCorpusBatcher(s Setting, seed uint64, c *Corpus) (*TextBatcher, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	if s.Task != TaskText {
		return nil, fmt.Errorf("%w: setting %s is not text", ErrInvalidProtocol, s.Task)
	}
	if len(c.Train) < s.SeqLen+1 {
		return nil, fmt.Errorf("%w: %d training bytes, need a window of %d", ErrDatasetTooSmall, len(c.Train), s.SeqLen+1)
	}
	nval := min(s.TestExamples, (len(c.Val)-1)/s.SeqLen)
	if nval < 1 {
		return nil, fmt.Errorf("%w: %d validation bytes, need a window of %d", ErrDatasetTooSmall, len(c.Val), s.SeqLen+1)
	}
	return &TextBatcher{s: s, seed: seed, corpus: c, nval: nval}, nil
}

// Dataset returns the manifest of the loaded corpus.
func (b *TextBatcher) Dataset() *Manifest { return b.corpus.Manifest }

// BatchSize implements Batcher.
func (b *TextBatcher) BatchSize() int { return b.s.Batch }

// SeqLen implements Batcher.
func (b *TextBatcher) SeqLen() int { return b.s.SeqLen }

// Vocab implements Batcher: 256.
func (b *TextBatcher) Vocab() int { return 256 }

// TestExamples implements Batcher: the number of validation windows, at most the setting's
// TestExamples (fewer when the validation split is short).
func (b *TextBatcher) TestExamples() int { return b.nval }

func window(src []byte, off int, tokens, targets []int32) {
	for i := range tokens {
		tokens[i] = int32(src[off+i])
		targets[i] = int32(src[off+i+1])
	}
}

// Batch implements Batcher.
func (b *TextBatcher) Batch(step int, tokens, targets []int32) error {
	if err := checkBuffers(tokens, targets, b.s.Batch, b.s.SeqLen); err != nil {
		return err
	}
	L := b.s.SeqLen
	span := len(b.corpus.Train) - L // offsets in [0, span)
	for row := range b.s.Batch {
		r := rng{key: derive(b.seed, streamWindows, uint64(step), uint64(row))}
		window(b.corpus.Train, r.intn(span), tokens[row*L:(row+1)*L], targets[row*L:(row+1)*L])
	}
	return nil
}

// TestBatches implements Batcher.
func (b *TextBatcher) TestBatches(n int) int {
	n = min(max(n, 0), b.nval)
	return (n + b.s.Batch - 1) / b.s.Batch
}

// TestBatch implements Batcher.
func (b *TextBatcher) TestBatch(i, n int, tokens, targets []int32) error {
	if err := checkBuffers(tokens, targets, b.s.Batch, b.s.SeqLen); err != nil {
		return err
	}
	n = min(max(n, 0), b.nval)
	L := b.s.SeqLen
	for row := range b.s.Batch {
		tk, tg := tokens[row*L:(row+1)*L], targets[row*L:(row+1)*L]
		if w := i*b.s.Batch + row; i >= 0 && w < n {
			window(b.corpus.Val, w*L, tk, tg)
			continue
		}
		clear(tk)
		for j := range tg {
			tg[j] = Ignore
		}
	}
	return nil
}

// NewBatcher returns the Batcher of setting i of p: a TaskBatcher for MAD settings, a
// TextBatcher (loading the dataset from st) for text. st may be nil for MAD protocols.
func NewBatcher(p *Protocol, i int, st BlockStore) (Batcher, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if i < 0 || i >= len(p.Settings) {
		return nil, fmt.Errorf("%w: setting %d of %d", ErrInvalidProtocol, i, len(p.Settings))
	}
	if p.IsText() {
		if st == nil {
			return nil, fmt.Errorf("%w: text protocol needs a block store", ErrNeedData)
		}
		return NewTextBatcher(p, st)
	}
	return NewTaskBatcher(p, i)
}

var (
	_ Batcher = (*TaskBatcher)(nil)
	_ Batcher = (*TextBatcher)(nil)
)
